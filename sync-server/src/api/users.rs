//! Users: who am I, and (for server admins) new users.

use super::{display_name, json_body, ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::{self, Principal};
use crate::store::{NewToken, TokenScope};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

const MAX_NAME_CHARS: usize = 100;

pub async fn me(Extension(who): Extension<Principal>) -> ApiResult<Json<serde_json::Value>> {
    let runtime_notebook = match &who.scope {
        TokenScope::Runtime { notebook_id } => Some(notebook_id.clone()),
        TokenScope::User => None,
    };
    Ok(Json(json!({
        "user_id": who.user.id,
        "name": who.user.name,
        "is_admin": who.user.is_admin,
        "runtime_notebook": runtime_notebook,
        "token_id": who.token_id,
        "token_expires_at_ms": who.expires_at_ms,
    })))
}

#[derive(Deserialize)]
pub struct CreateUser {
    name: String,
    #[serde(default)]
    is_admin: bool,
}

pub async fn create_user(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Result<Json<CreateUser>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    if !(who.user.is_admin && who.scope == TokenScope::User) {
        return Err(ApiError::forbidden("only a server admin can create users"));
    }
    let body = json_body(body)?;
    let name = display_name(&body.name, MAX_NAME_CHARS)?;
    let user = state.store.create_user(&name, body.is_admin).await?;
    let (token, token_id) = auth::issue_token(
        state.store.as_ref(),
        &NewToken {
            user_id: &user.id,
            issued_by: &who.user.id,
            scope: &TokenScope::User,
            minted_as: None,
            expires_at_ms: None,
            label: Some("created with the user"),
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user_id": user.id, "name": user.name, "token": token, "token_id": token_id})),
    ))
}
