//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong talking to a kernel.
///
/// Errors that come from outside the process (a kernel's messages, files on
/// disk, a guest's requests) always surface here, never as a panic.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("no kernelspec named {0:?} (searched: {1})")]
    KernelSpecNotFound(String, String),
    #[error("invalid kernelspec at {path}: {reason}")]
    InvalidKernelSpec { path: PathBuf, reason: String },
    #[error("failed to launch kernel {name:?}: {source}")]
    Launch {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("kernel did not become ready within {0:?}")]
    StartTimeout(std::time::Duration),
    #[error("kernel died ({0})")]
    Died(String),
    #[error("kernel is shut down")]
    ShutDown,
    #[error("transport error: {0}")]
    Transport(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("request timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("no input request is pending")]
    NoInputPending,
    #[error("not supported by this kernel: {0}")]
    Unsupported(String),
    #[error("wasm artifacts missing or invalid: {0}")]
    Artifacts(String),
    #[error("wasm runtime error: {0}")]
    Wasm(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<zeromq::ZmqError> for KernelError {
    fn from(e: zeromq::ZmqError) -> Self {
        KernelError::Transport(e.to_string())
    }
}

pub type Result<T, E = KernelError> = std::result::Result<T, E>;
