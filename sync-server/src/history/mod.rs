//! The notebook's history as people read it: the event log of the
//! notebook document grouped into bursts of work (`bursts.rs`), and the
//! notebook as it was after any change of it (`at.rs`).
//!
//! What a change touched (its cells, an AI run's attribution, a restore's
//! target) is in its message, so it is read once per change and kept in
//! the derived `change_details` table (`detail_of`); the grouping itself
//! reads only the log's narrow columns.

pub mod at;
pub mod bursts;

use schema::automerge::Change;
use schema::DocumentEvent;
use serde::{Deserialize, Serialize};

/// What the history view keeps of one change's message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeDetail {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<String>,
    /// `ai:<model>` when an AI run made the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_run: Option<String>,
    /// The change was part of restoring the notebook (or a cell) to how it
    /// was after this notebook change (`restore: {"to_seq"}` beside the
    /// event in the message, written by the browser's history panel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_to: Option<i64>,
}

/// The detail of one stored change; a change that does not decode reads
/// as having none (it is still listed, by its event type).
pub fn detail_of(bytes: &[u8]) -> ChangeDetail {
    let Ok(change) = Change::from_bytes(bytes.to_vec()) else {
        return ChangeDetail::default();
    };
    let Some(message) = change.message() else {
        return ChangeDetail::default();
    };
    detail_of_message(message)
}

/// The detail of a change message.
pub fn detail_of_message(message: &str) -> ChangeDetail {
    let mut detail = ChangeDetail::default();
    if let Some(event) = DocumentEvent::from_message(message) {
        detail.cells = cells_of(&event);
    }
    if let Some(attribution) = schema::attribution_in(message) {
        detail.by = Some(attribution.by);
        detail.on_behalf_of = Some(attribution.on_behalf_of);
        detail.ai_run = Some(attribution.ai_run);
    }
    detail.restore_to = serde_json::from_str::<serde_json::Value>(message)
        .ok()
        .and_then(|v| v.get("restore")?.get("to_seq")?.as_i64());
    detail
}

fn cells_of(event: &DocumentEvent) -> Vec<String> {
    use DocumentEvent as E;
    match event {
        E::CellCreated { cell_id, .. }
        | E::CellMoved { cell_id }
        | E::CellDeleted { cell_id }
        | E::SourceEdited { cell_id }
        | E::CellTypeChanged { cell_id, .. }
        | E::MetadataChanged { cell_id, .. }
        | E::AttachmentsChanged { cell_id }
        | E::ExecutionRequested { cell_id, .. } => vec![cell_id.to_string()],
        E::CellOutputsCleared { cells } => cells.iter().map(|c| c.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// The kind of work a change was, as the history lists it.
pub fn kind_of(event_type: &str, detail: &ChangeDetail) -> &'static str {
    if detail.restore_to.is_some() {
        return "restore";
    }
    if detail.by.as_deref().is_some_and(|b| b.starts_with("ai:")) {
        return "ai_run";
    }
    match event_type {
        "CellCreated" => "created",
        "SourceEdited" | "CellTypeChanged" => "edited",
        "CellMoved" => "moved",
        "CellDeleted" => "deleted",
        "ExecutionRequested" | "RunAllRequested" => "ran",
        "CellsImported" | "ExecutionsImported" => "import",
        "CellOutputsCleared" => "cleared_outputs",
        "MetadataChanged" | "NotebookMetadataChanged" | "AttachmentsChanged" => "metadata",
        "AiRunUndone" => "undid_ai_run",
        "ControlRequested" => "control",
        "InputAnswered" | "ApprovalAnswered" => "answered",
        "NotebookCreated" => "created_notebook",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_and_kinds_from_messages() {
        let edit = detail_of_message(r#"{"event":"SourceEdited","cell_id":"c1"}"#);
        assert_eq!(edit.cells, vec!["c1".to_owned()]);
        assert_eq!(kind_of("SourceEdited", &edit), "edited");
        let ai = detail_of_message(
            r#"{"event":"CellCreated","cell_id":"c2","cell_type":"code","attribution":{"by":"ai:m","on_behalf_of":"ada","ai_run":"x-1"}}"#,
        );
        assert_eq!(ai.ai_run.as_deref(), Some("x-1"));
        assert_eq!(kind_of("CellCreated", &ai), "ai_run");
        let restore = detail_of_message(
            r#"{"event":"CellCreated","cell_id":"c3","cell_type":"code","restore":{"to_seq":7}}"#,
        );
        assert_eq!(restore.restore_to, Some(7));
        assert_eq!(kind_of("CellCreated", &restore), "restore");
        let cleared = detail_of_message(r#"{"event":"CellOutputsCleared","cells":["a","b"]}"#);
        assert_eq!(cleared.cells.len(), 2);
        assert_eq!(kind_of("CellOutputsCleared", &cleared), "cleared_outputs");
        assert_eq!(detail_of(b"not a change"), ChangeDetail::default());
    }
}
