//! Tokens: minting, listing one's own, revoking.
//!
//! A token acts as one user. A runtime token is scoped to one notebook and
//! remembers the role its issuer minted it with (see `auth::role_in`);
//! listing shows every token by id, never its secret; revoking deletes it
//! and closes the connections open with it.

use super::{runtime_manager, ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::{self, Principal};
use crate::store::{MintedAs, NewToken, TokenRecord, TokenScope};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

/// Longest lifetime a token may be given, and the longest label.
const MAX_EXPIRY_SECONDS: u64 = 10 * 365 * 24 * 3600;
const MAX_LABEL_CHARS: usize = 100;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TokenOptions {
    /// Seconds until the token stops working; none: until revoked.
    #[serde(default)]
    expires_in_seconds: Option<u64>,
    #[serde(default)]
    label: Option<String>,
}

impl TokenOptions {
    /// An empty body means the defaults.
    fn from_body(body: &[u8]) -> ApiResult<Self> {
        let options: TokenOptions = if body.iter().all(u8::is_ascii_whitespace) {
            TokenOptions::default()
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!(
                    "the body must be JSON {{\"expires_in_seconds\"?, \"label\"?}}: {e}"
                ))
            })?
        };
        if let Some(s) = options.expires_in_seconds {
            if s == 0 || s > MAX_EXPIRY_SECONDS {
                return Err(ApiError::bad_request(format!(
                    "expires_in_seconds must be 1 to {MAX_EXPIRY_SECONDS}"
                )));
            }
        }
        if let Some(label) = &options.label {
            if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
                return Err(ApiError::bad_request(format!(
                    "a label is at most {MAX_LABEL_CHARS} printable characters"
                )));
            }
        }
        Ok(options)
    }

    fn expires_at_ms(&self) -> Option<i64> {
        self.expires_in_seconds
            .map(|s| schema::clock::now_ms().saturating_add((s as i64).saturating_mul(1000)))
    }
}

fn describe(t: &TokenRecord, current: &str) -> serde_json::Value {
    let (kind, notebook) = match &t.scope {
        TokenScope::User => ("user", None),
        TokenScope::Runtime { notebook_id } => ("runtime", Some(notebook_id.clone())),
    };
    let expired = t
        .expires_at_ms
        .is_some_and(|at| at <= schema::clock::now_ms());
    json!({
        "id": t.id,
        "kind": kind,
        "notebook_id": notebook,
        "issued_by": t.issued_by,
        "minted_as": t.minted_as.map(MintedAs::as_str),
        "created_at_ms": t.created_at_ms,
        "expires_at_ms": t.expires_at_ms,
        "expired": expired,
        "label": t.label,
        "current": t.id == current,
    })
}

/// A runtime token for one notebook, minted by an owner or editor. An
/// editor's token runs the notebook but never reads its secret values.
pub async fn create_runtime_token(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let minted_as = runtime_manager(&state, &who, &id).await?;
    let options = TokenOptions::from_body(&body)?;
    let scope = TokenScope::Runtime {
        notebook_id: id.clone(),
    };
    let (token, token_id) = auth::issue_token(
        state.store.as_ref(),
        &NewToken {
            user_id: &who.user.id,
            issued_by: &who.user.id,
            scope: &scope,
            minted_as: Some(minted_as),
            expires_at_ms: options.expires_at_ms(),
            label: options.label.as_deref(),
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "token_id": token_id,
            "notebook_id": id,
            "minted_as": minted_as.as_str(),
            "reads_secrets": minted_as != MintedAs::Editor,
        })),
    ))
}

/// Another user token for oneself (for a script, say), with an optional
/// expiry and label.
pub async fn create_token(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    if who.scope != TokenScope::User {
        return Err(ApiError::forbidden("a runtime token cannot mint tokens"));
    }
    let options = TokenOptions::from_body(&body)?;
    let (token, token_id) = auth::issue_token(
        state.store.as_ref(),
        &NewToken {
            user_id: &who.user.id,
            issued_by: &who.user.id,
            scope: &TokenScope::User,
            minted_as: None,
            expires_at_ms: options.expires_at_ms(),
            label: options.label.as_deref(),
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "token_id": token_id})),
    ))
}

/// The caller's own tokens (user tokens and the runtime tokens they minted).
pub async fn list_tokens(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> ApiResult<Json<serde_json::Value>> {
    let tokens = state.store.tokens_of_user(&who.user.id).await?;
    let listed: Vec<_> = tokens.iter().map(|t| describe(t, &who.token_id)).collect();
    Ok(Json(json!({ "tokens": listed })))
}

/// Revoke one of one's own tokens (a server admin may revoke anyone's):
/// it stops working at once, open connections included.
pub async fn revoke_token(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(token_id): Path<String>,
) -> ApiResult<StatusCode> {
    let found = state.store.token_by_id(&token_id).await?;
    let Some((token, hash)) = found.filter(|(t, _)| {
        t.user.id == who.user.id || (who.user.is_admin && who.scope == TokenScope::User)
    }) else {
        return Err(ApiError::not_found(format!("no token {token_id}")));
    };
    if who.scope != TokenScope::User && token.id != who.token_id {
        return Err(ApiError::forbidden(
            "a runtime token can revoke only itself",
        ));
    }
    state.store.delete_token(&token.id).await?;
    state.rooms.revoke(&hash).await;
    tracing::info!(token_id = %token.id, "token revoked");
    Ok(StatusCode::NO_CONTENT)
}
