//! The secrets REST API. Owners set and delete values; owners and editors
//! list names; only the notebook's own runtime token ever reads values.

use crate::api::{role, ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::{self, Principal};
use crate::error::ServerError;
use crate::store::TokenScope;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use schema::wire::Role;
use serde::Deserialize;
use serde_json::json;

fn secret_error(e: ServerError) -> ApiError {
    match e {
        ServerError::InvalidSecret(message) => ApiError::bad_request(message),
        ServerError::SecretsDisabled => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "secrets_disabled",
            ServerError::SecretsDisabled.to_string(),
        ),
        ServerError::SecretUnreadable(name) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "secret_unreadable",
            format!("secret {name} cannot be opened with this server's master key"),
        ),
        other => other.into(),
    }
}

pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let (_, my_role) = role(&state, &who, &id).await?;
    if my_role == Role::Viewer {
        return Err(ApiError::forbidden(
            "viewers cannot see a notebook's secrets",
        ));
    }
    let secrets = state
        .vault
        .list(state.store.as_ref(), &id)
        .await
        .map_err(secret_error)?;
    Ok(Json(
        json!({"enabled": state.vault.enabled(), "secrets": secrets}),
    ))
}

#[derive(Deserialize)]
pub struct SetSecret {
    value: String,
}

pub async fn put(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, name)): Path<(String, String)>,
    body: Result<Json<SetSecret>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<StatusCode> {
    let (_, my_role) = role(&state, &who, &id).await?;
    if my_role != Role::Owner || who.scope != TokenScope::User {
        return Err(ApiError::forbidden("only an owner can set secrets"));
    }
    let Json(body) = body.map_err(|_| {
        // The rejection's text may quote the body, and the body is a secret.
        ApiError::bad_request("the body must be JSON: {\"value\": \"...\"}")
    })?;
    state
        .vault
        .put(state.store.as_ref(), &id, &name, &body.value, &who.user.id)
        .await
        .map_err(secret_error)?;
    tracing::info!(notebook_id = %id, secret = %name, "secret set");
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (_, my_role) = role(&state, &who, &id).await?;
    if my_role != Role::Owner || who.scope != TokenScope::User {
        return Err(ApiError::forbidden("only an owner can delete secrets"));
    }
    if !state.store.delete_secret(&id, &name).await? {
        return Err(ApiError::not_found(format!("no secret {name}")));
    }
    tracing::info!(notebook_id = %id, secret = %name, "secret deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Values in clear, for the notebook's runtime agent alone.
pub async fn reveal_for_runtime(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (_, my_role) = role(&state, &who, &id).await?;
    if my_role != Role::Runtime {
        return Err(ApiError::forbidden(
            "secret values go only to the notebook's runtime agent",
        ));
    }
    if !auth::may_read_secrets(state.store.as_ref(), &who, &id).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "secrets_withheld",
            "this runtime token was minted by an editor: secret values go only to agents \
             started with a token minted by an owner (or by the server)",
        ));
    }
    let secrets = if state.vault.enabled() {
        state
            .vault
            .reveal_all(state.store.as_ref(), &id)
            .await
            .map_err(secret_error)?
    } else {
        Vec::new()
    };
    let values: serde_json::Map<String, serde_json::Value> = secrets
        .iter()
        .map(|(name, value)| (name.clone(), json!(value.as_str())))
        .collect();
    tracing::info!(notebook_id = %id, count = values.len(), "secrets delivered to the runtime");
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "secrets": values })),
    )
        .into_response())
}
