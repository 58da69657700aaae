//! Semantic events carried in change messages.
//!
//! Every change either document receives is made by one typed function in
//! this crate, and that function writes what it meant as a JSON event in the
//! change's message. The Automerge change log is therefore also the event log:
//! it can be replayed, audited and shown as history without a second store.

use crate::ids::{CellId, ExecutionId, RequestId, SessionId};
use crate::notebook::CellType;
use crate::runtime::{ExecutionState, SessionStatus};
use automerge::{Automerge, ChangeHash};
use serde::{Deserialize, Serialize};

/// What one change meant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum DocumentEvent {
    NotebookCreated {
        notebook_id: String,
    },
    RuntimeDocCreated {
        notebook_id: String,
    },
    CellCreated {
        cell_id: CellId,
        cell_type: CellType,
    },
    CellMoved {
        cell_id: CellId,
    },
    CellDeleted {
        cell_id: CellId,
    },
    SourceEdited {
        cell_id: CellId,
    },
    CellTypeChanged {
        cell_id: CellId,
        cell_type: CellType,
    },
    MetadataChanged {
        cell_id: CellId,
        key: String,
    },
    NotebookMetadataChanged {
        key: String,
    },
    AttachmentsChanged {
        cell_id: CellId,
    },
    /// A person cleared cells' outputs (`cleared.rs`).
    CellOutputsCleared {
        cells: Vec<CellId>,
    },
    /// A whole notebook file's cells, written by the server at import.
    CellsImported {
        cells: usize,
    },
    /// The outputs an imported file carried, one finished execution per
    /// cell, written by the server at import.
    ExecutionsImported {
        executions: usize,
    },
    ExecutionRequested {
        cell_id: CellId,
        request_id: RequestId,
    },
    /// Every code cell asked to run, in order, as one batch.
    RunAllRequested {
        batch: String,
        cells: usize,
    },
    RuntimeClaimed {
        session_id: SessionId,
    },
    LeaseRenewed {
        session_id: SessionId,
    },
    LeaseReleased {
        session_id: SessionId,
    },
    SessionStatusChanged {
        session_id: SessionId,
        status: SessionStatus,
    },
    ExecutionQueued {
        execution_id: ExecutionId,
        cell_id: CellId,
    },
    ExecutionStarted {
        execution_id: ExecutionId,
    },
    OutputAppended {
        execution_id: ExecutionId,
    },
    OutputReplaced {
        execution_id: ExecutionId,
    },
    OutputsCleared {
        execution_id: ExecutionId,
    },
    /// `update_display_data` reached outputs of other executions (a display
    /// made in an earlier cell): every output showing it, in one change.
    DisplayUpdated {
        display_id: String,
        outputs: usize,
    },
    ExecutionFinished {
        execution_id: ExecutionId,
        state: ExecutionState,
    },
    ControlRequested {
        control_id: String,
    },
    ControlHandled {
        control_id: String,
    },
    InputRequested {
        execution_id: ExecutionId,
    },
    InputAnswered {
        execution_id: ExecutionId,
    },
    /// An AI run waits (`pending`) or waits no more for an approval.
    ApprovalRequested {
        execution_id: ExecutionId,
        pending: bool,
    },
    ApprovalAnswered {
        execution_id: ExecutionId,
        seq: u32,
    },
    /// Everything one AI run changed in the notebook was reverted.
    AiRunUndone {
        ai_run: ExecutionId,
    },
    InputClosed {
        execution_id: ExecutionId,
    },
}

impl DocumentEvent {
    /// The event's name, as stored in the event log's `event_type` column.
    pub fn name(&self) -> &'static str {
        match self {
            Self::NotebookCreated { .. } => "NotebookCreated",
            Self::RuntimeDocCreated { .. } => "RuntimeDocCreated",
            Self::CellCreated { .. } => "CellCreated",
            Self::CellMoved { .. } => "CellMoved",
            Self::CellDeleted { .. } => "CellDeleted",
            Self::SourceEdited { .. } => "SourceEdited",
            Self::CellTypeChanged { .. } => "CellTypeChanged",
            Self::MetadataChanged { .. } => "MetadataChanged",
            Self::NotebookMetadataChanged { .. } => "NotebookMetadataChanged",
            Self::AttachmentsChanged { .. } => "AttachmentsChanged",
            Self::CellOutputsCleared { .. } => "CellOutputsCleared",
            Self::CellsImported { .. } => "CellsImported",
            Self::ExecutionsImported { .. } => "ExecutionsImported",
            Self::ExecutionRequested { .. } => "ExecutionRequested",
            Self::RunAllRequested { .. } => "RunAllRequested",
            Self::RuntimeClaimed { .. } => "RuntimeClaimed",
            Self::LeaseRenewed { .. } => "LeaseRenewed",
            Self::LeaseReleased { .. } => "LeaseReleased",
            Self::SessionStatusChanged { .. } => "SessionStatusChanged",
            Self::ExecutionQueued { .. } => "ExecutionQueued",
            Self::ExecutionStarted { .. } => "ExecutionStarted",
            Self::OutputAppended { .. } => "OutputAppended",
            Self::OutputReplaced { .. } => "OutputReplaced",
            Self::OutputsCleared { .. } => "OutputsCleared",
            Self::DisplayUpdated { .. } => "DisplayUpdated",
            Self::ExecutionFinished { .. } => "ExecutionFinished",
            Self::ControlRequested { .. } => "ControlRequested",
            Self::ControlHandled { .. } => "ControlHandled",
            Self::InputRequested { .. } => "InputRequested",
            Self::InputAnswered { .. } => "InputAnswered",
            Self::InputClosed { .. } => "InputClosed",
            Self::ApprovalRequested { .. } => "ApprovalRequested",
            Self::ApprovalAnswered { .. } => "ApprovalAnswered",
            Self::AiRunUndone { .. } => "AiRunUndone",
        }
    }

    pub(crate) fn to_message(&self) -> String {
        // Serialising a plain enum of strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parse a change message; `None` for changes not made through this crate.
    pub fn from_message(message: &str) -> Option<Self> {
        serde_json::from_str(message).ok()
    }
}

/// The name of the event in a change message, or `"Unknown"`; what the
/// server stores beside each change without understanding the schema.
pub fn event_name(message: Option<&str>) -> &'static str {
    message
        .and_then(DocumentEvent::from_message)
        .map(|e| e.name())
        .unwrap_or("Unknown")
}

/// One change of a document's history, read back as a typed event.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEntry {
    pub hash: ChangeHash,
    pub actor: String,
    pub seq: u64,
    /// Seconds since the epoch, as the author's clock said.
    pub time: i64,
    /// `None` when the message is not a cathode event (a foreign writer).
    pub event: Option<DocumentEvent>,
    /// Who made it on whose behalf, when an AI run did.
    pub attribution: Option<crate::attribution::Attribution>,
}

/// The document's changes in causal order, each with its event.
pub fn history(doc: &Automerge) -> Vec<HistoryEntry> {
    doc.get_changes(&[])
        .into_iter()
        .map(|change| HistoryEntry {
            hash: change.hash(),
            actor: change.actor_id().to_hex_string(),
            seq: change.seq(),
            time: change.timestamp(),
            event: change.message().and_then(DocumentEvent::from_message),
            attribution: change
                .message()
                .and_then(crate::attribution::attribution_in),
        })
        .collect()
}
