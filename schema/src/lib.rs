//! The two documents of a cathode notebook and the only code that knows
//! their layout.
//!
//! Every read and write of a document goes through the typed functions here,
//! and every write commits exactly one [`DocumentEvent`] in its change
//! message, so the Automerge change log doubles as the event log. The wire
//! framing shared by the server, the Rust client and the browser lives here
//! too ([`wire`]), because it is part of the contract between peers.

mod access;
pub mod approval;
pub mod attribution;
pub mod cleared;
pub mod clock;
pub mod control;
pub mod error;
pub mod event;
pub mod ids;
pub mod imported;
pub mod kernel_query;
pub mod layout;
pub mod notebook;
pub mod notebook_meta;
pub mod output;
pub mod position;
pub mod preview;
pub mod runtime;
mod txn;
pub mod undo;
pub mod wire;

/// The layout version this binary writes and the newest it will open.
pub const SCHEMA_VERSION: u64 = 1;

pub use approval::{ApprovalAnswer, ApprovalDecision, ApprovalRequest};
pub use attribution::{attribution_in, Attribution};
pub use automerge;
pub use cleared::{apply_clears, OutputsCleared};
pub use control::{
    sealed_answer_info, AnswerValue, Control, ControlKind, InputRequest, SealedAnswer,
};
pub use error::{Result, SchemaError};
pub use event::{history, DocumentEvent, HistoryEntry};
pub use ids::{CellId, ExecutionId, RequestId, SessionId};
pub use imported::{ImportedCell, ImportedExecution, IMPORTED_BY};
pub use kernel_query::{KernelAnswer, KernelQuery, KernelReply, KernelRequest};
pub use notebook::{Cell, CellType, NotebookDoc, Placement, PriorRequest, RunOptions, RunRequest};
pub use notebook_meta::kernel_named_in;
pub use output::{MimeBundle, MimePayload, OutputManifest, StreamName, Truncation};
pub use runtime::{
    lease_holder, ExecutionRecord, ExecutionState, Lease, LeaseClaim, RuntimeDoc, SessionRecord,
    SessionStatus,
};
pub use undo::UndoReport;

/// Which of a notebook's two documents a message is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    Notebook,
    Runtime,
}

impl DocKind {
    pub const ALL: [DocKind; 2] = [DocKind::Notebook, DocKind::Runtime];

    pub fn as_u8(self) -> u8 {
        match self {
            Self::Notebook => 0,
            Self::Runtime => 1,
        }
    }

    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Notebook),
            1 => Some(Self::Runtime),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notebook => "notebook",
            Self::Runtime => "runtime",
        }
    }

    pub fn index(self) -> usize {
        self.as_u8() as usize
    }
}
