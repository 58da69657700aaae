//! The one event type every kernel emits, and the small value types around it.
//!
//! These mirror Jupyter's iopub/stdin messages closely on purpose: the runtime
//! agent turns them into output manifests, and keeping Jupyter's shapes means
//! `.ipynb` import/export and nbformat semantics (display ids, clear_output
//! wait) carry over without translation.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A MIME bundle: MIME type to data (text, base64 for binary images, JSON).
pub type MimeBundle = Map<String, Value>;

/// Which standard stream a `Stream` event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamName {
    Stdout,
    Stderr,
}

impl StreamName {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamName::Stdout => "stdout",
            StreamName::Stderr => "stderr",
        }
    }
}

/// The kernel's execution state as Jupyter reports it in `status` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelState {
    Starting,
    Idle,
    Busy,
    Restarting,
    Dead,
}

/// How a kernel process (or WASM instance) ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// Exit code, when the process exited normally (or the guest called `exit`).
    pub code: Option<i32>,
    /// Signal number, when the process was killed by a signal.
    pub signal: Option<i32>,
    /// Human-readable reason, e.g. "process exited with status 1" or
    /// "heartbeat lost" or "wasm trap: out of memory".
    pub reason: String,
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// One thing a kernel said while running (or outside of) an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KernelEvent {
    Stream {
        name: StreamName,
        text: String,
    },
    DisplayData {
        data: MimeBundle,
        metadata: Map<String, Value>,
        /// `transient.display_id`, so later `UpdateDisplayData` can replace it.
        display_id: Option<String>,
    },
    UpdateDisplayData {
        data: MimeBundle,
        metadata: Map<String, Value>,
        display_id: String,
    },
    ExecuteResult {
        execution_count: Option<u64>,
        data: MimeBundle,
        metadata: Map<String, Value>,
    },
    Error {
        ename: String,
        evalue: String,
        traceback: Vec<String>,
    },
    ClearOutput {
        wait: bool,
    },
    /// The code asked for input (`input()`, `getpass()`); answer it with
    /// [`crate::Kernel::answer_input`] or [`crate::Execution::answer_input`].
    InputRequest {
        prompt: String,
        password: bool,
    },
    Status {
        state: KernelState,
    },
    /// The kernel process or instance is gone.
    Died {
        status: ExitStatus,
    },
}

/// What the caller says to an `InputRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputAnswer {
    /// The line the user typed (without trailing newline).
    Value(String),
    /// The user declined: the kernel raises (e.g. `EOFError`/`KeyboardInterrupt`
    /// in Python) instead of waiting forever.
    Decline,
}

/// How an execution ended, from the kernel's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyStatus {
    Ok,
    Error,
    Aborted,
}

/// The final reply of one execution (Jupyter's `execute_reply`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteReply {
    pub status: ReplyStatus,
    pub execution_count: Option<u64>,
    /// Jupyter payloads (e.g. `set_next_input`, `page`), passed through as JSON.
    pub payloads: Vec<Value>,
    /// For `status == Error`: the exception's name and value.
    pub ename: Option<String>,
    pub evalue: Option<String>,
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecuteRequest {
    pub code: String,
    pub silent: bool,
    pub store_history: bool,
    /// Whether the kernel may ask for input. We serve stdin, so this defaults to
    /// true; an unanswered request is declined when the execution is dropped.
    pub allow_stdin: bool,
    pub stop_on_error: bool,
}

impl ExecuteRequest {
    pub fn new(code: impl Into<String>) -> Self {
        ExecuteRequest {
            code: code.into(),
            silent: false,
            store_history: true,
            allow_stdin: true,
            stop_on_error: true,
        }
    }
}

/// Result of a completion request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub matches: Vec<String>,
    pub cursor_start: usize,
    pub cursor_end: usize,
    pub metadata: Map<String, Value>,
}

/// Result of an inspection request (`obj?`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    pub found: bool,
    pub data: MimeBundle,
    pub metadata: Map<String, Value>,
}

/// Result of `is_complete`: whether a console should run the code or continue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum IsComplete {
    Complete,
    Incomplete { indent: String },
    Invalid,
    Unknown,
}

/// Static facts about a running kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelInfo {
    /// Implementation, e.g. "ipython", "bash_kernel", "wasm-python".
    pub implementation: String,
    pub language: String,
    pub language_version: String,
    pub banner: String,
}
