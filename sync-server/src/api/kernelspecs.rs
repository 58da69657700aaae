//! What kernels a notebook's runtime can run.
//!
//! The server asks the agent binary (`runtime-agent --list-kernels`) rather
//! than searching for kernelspecs itself: the agent is what will start the
//! kernel, with its own search path, so its answer is the one that holds.

use super::{ApiError, ApiResult};
use crate::app::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;

/// The agent answers from its kernelspec directories; a slow disk is the
/// only thing that could make it take long.
const LIST_TIMEOUT: Duration = Duration::from_secs(15);

/// `GET /api/kernelspecs`: `{"default": …, "kernelspecs": [{"name",
/// "display_name", "language"}]}`, wasm-python first.
pub async fn kernelspecs(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let binary = &state.config.agent_binary;
    let run = tokio::process::Command::new(binary)
        .arg("--list-kernels")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(LIST_TIMEOUT, run).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            return Err(ApiError::runtime_unavailable(format!(
                "cannot run the runtime agent {}: {e}",
                binary.display()
            )))
        }
        Err(_) => {
            return Err(ApiError::runtime_unavailable(format!(
                "the runtime agent {} did not list its kernels within {} s",
                binary.display(),
                LIST_TIMEOUT.as_secs()
            )))
        }
    };
    if !output.status.success() {
        return Err(ApiError::runtime_unavailable(format!(
            "the runtime agent {} failed to list its kernels ({})",
            binary.display(),
            output.status
        )));
    }
    let listed: Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        ApiError::runtime_unavailable(format!(
            "the runtime agent {} listed its kernels in a form this server does not read: {e}",
            binary.display()
        ))
    })?;
    let kernels = listed
        .get("kernels")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    Ok(Json(serde_json::json!({
        "default": state.config.runtime.default_kernel,
        "kernelspecs": kernels,
    })))
}
