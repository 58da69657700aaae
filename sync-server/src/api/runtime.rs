//! `…/runtime`: start, stop and inspect the notebook's agent.

use super::{role, ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::Principal;
use crate::runtimes::RuntimeStatus;
use crate::store::TokenScope;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use schema::wire::Role;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StartRuntime {
    kernel: Option<String>,
}

/// A kernel name as Jupyter names kernelspec directories.
fn valid_kernel_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

async fn may_manage(state: &AppState, who: &Principal, id: &str) -> ApiResult<()> {
    let (_, my_role) = role(state, who, id).await?;
    match (my_role, &who.scope) {
        (Role::Owner | Role::Editor, TokenScope::User) => Ok(()),
        _ => Err(ApiError::forbidden(
            "only an owner or editor can start or stop a runtime",
        )),
    }
}

/// `POST /api/notebooks/{id}/runtime` `{"kernel"?}`: start (or restart)
/// the notebook's agent.
pub async fn start_runtime(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<RuntimeStatus>)> {
    may_manage(&state, &who, &id).await?;
    let request: StartRuntime = if body.is_empty() {
        StartRuntime::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("body must be {{\"kernel\": name}}: {e}")))?
    };
    let kernel = request.kernel.unwrap_or_else(|| "wasm-python".to_owned());
    if !valid_kernel_name(&kernel) {
        return Err(ApiError::bad_request(
            "a kernel name is 1 to 100 letters, digits, '-', '_' or '.'",
        ));
    }
    match state.runtimes.start_agent(&id, &kernel, &who.user.id).await {
        Ok(status) => Ok((StatusCode::CREATED, Json(status))),
        Err(message) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "runtime_unavailable",
            message,
        )),
    }
}

/// `GET /api/notebooks/{id}/runtime`: anyone with a role reads the state.
pub async fn runtime_status(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<RuntimeStatus>> {
    role(&state, &who, &id).await?;
    Ok(Json(state.runtimes.status(&id).await))
}

/// `DELETE /api/notebooks/{id}/runtime`: stop the agent.
pub async fn stop_runtime(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<RuntimeStatus>> {
    may_manage(&state, &who, &id).await?;
    Ok(Json(state.runtimes.stop_agent(&id).await))
}
