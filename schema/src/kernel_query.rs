//! Asking the notebook's kernel something that is not a run: completion
//! and inspection while a person types.
//!
//! These are ephemeral and directed: a request goes from one peer through
//! the server to the runtime agent, and its reply back to that peer only.
//! Nothing enters a document or the event log (a keystroke's completion is
//! nobody else's business and not history). The server checks each
//! request's sender (completion runs code in the kernel's namespace, so a
//! viewer may not ask) and relays within bounds.
//!
//! Cursor positions count Unicode code points, as Jupyter's messaging
//! protocol (5.2 and later) does; a browser converts from its UTF-16
//! offsets at the edge.

use serde::{Deserialize, Serialize};

/// A question for the kernel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KernelQuery {
    /// Jupyter's `complete_request`.
    Complete { code: String, cursor_pos: usize },
    /// Jupyter's `inspect_request` (Shift-Tab).
    Inspect {
        code: String,
        cursor_pos: usize,
        #[serde(default)]
        detail_level: u8,
    },
}

/// The kernel's answer, or why there is none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum KernelAnswer {
    Complete {
        matches: Vec<String>,
        cursor_start: usize,
        cursor_end: usize,
        /// Each match's kind (`function`, `module`, ...) where the kernel
        /// says; empty when it does not.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        kinds: Vec<String>,
    },
    Inspect {
        found: bool,
        /// A MIME bundle (`text/plain` at least when found).
        data: serde_json::Map<String, serde_json::Value>,
    },
    /// A cell is running and the kernel cannot answer beside it.
    Busy,
    /// No answer: no runtime, not allowed, too many requests, a kernel
    /// error. Said plainly for the person.
    Unavailable { reason: String },
}

/// Frame `0x30`. `from` is set by the server when it hands the request to
/// the runtime agent (a client's own `from` is ignored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelRequest {
    /// The asker's id for this request; the reply carries it back.
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub query: KernelQuery,
}

/// Frame `0x31`. `to` is set by the runtime agent (the `from` of the
/// request); the server removes it before passing the reply on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelReply {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub answer: KernelAnswer,
}
