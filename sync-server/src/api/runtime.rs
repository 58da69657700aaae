//! `…/runtime`: start, stop and inspect the notebook's agent.

use super::{role, runtime_manager, ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::Principal;
use crate::runtimes::{valid_kernel_name, RuntimeStatus, StartAgent};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StartRuntime {
    kernel: Option<String>,
    /// A headless run's agent (`cathode-run`): IPython history in memory.
    #[serde(default)]
    headless: bool,
    /// The kernel's working directory instead of the notebook's folder: a
    /// path on the server's machine, so server administrators only.
    workdir: Option<std::path::PathBuf>,
}

/// `POST /api/notebooks/{id}/runtime` `{"kernel"?}`: start (or restart)
/// the notebook's agent; without a kernel, the one it last ran (or the
/// server's default).
pub async fn start_runtime(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<RuntimeStatus>)> {
    runtime_manager(&state, &who, &id).await?;
    let request: StartRuntime = if body.is_empty() {
        StartRuntime::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "body must be {{\"kernel\"?: name, \"headless\"?: bool, \"workdir\"?: path}}: {e}"
            ))
        })?
    };
    if let Some(kernel) = &request.kernel {
        if !valid_kernel_name(kernel) {
            return Err(ApiError::bad_request(
                "a kernel name is 1 to 100 letters, digits, '-', '_' or '.'",
            ));
        }
    }
    if let Some(dir) = &request.workdir {
        check_workdir(&who, dir).await?;
    }
    let start = StartAgent {
        kernel: request.kernel,
        headless: request.headless,
        workdir: request.workdir,
    };
    state
        .runtimes
        .start_agent(&id, start, &who.user.id)
        .await
        .map(|status| (StatusCode::CREATED, Json(status)))
        .map_err(ApiError::runtime_unavailable)
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
    runtime_manager(&state, &who, &id).await?;
    Ok(Json(state.runtimes.stop_agent(&id).await))
}

/// A working directory other than the notebook's folder names a place on
/// the server's machine: only its administrators may choose one, and it
/// must be an existing absolute directory.
async fn check_workdir(who: &Principal, dir: &std::path::Path) -> ApiResult<()> {
    if !who.user.is_admin {
        return Err(ApiError::forbidden(
            "only a server administrator may choose a runtime's working directory; \
             others' kernels run in the notebook's own folder (see the files API)",
        ));
    }
    if !dir.is_absolute() {
        return Err(ApiError::bad_request(format!(
            "the working directory {} must be an absolute path",
            dir.display()
        )));
    }
    match tokio::fs::metadata(dir).await {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(ApiError::bad_request(format!(
            "the working directory {} is not a directory",
            dir.display()
        ))),
        Err(e) => Err(ApiError::bad_request(format!(
            "the working directory {}: {e}",
            dir.display()
        ))),
    }
}
