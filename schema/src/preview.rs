//! A notebook's two documents as plain JSON, in the shape a browser's
//! Automerge materialises them, with their heads: what a page shows while
//! its own replica is still loading (web-client `model/preview.ts`).
//!
//! Why it exists: a page applying the initial sync of 200 cells of 2 KB
//! spends about half a second in Automerge (one operation per character)
//! before it can show anything. The same cells as JSON parse in a few
//! milliseconds, so the page shows them at once and takes its replica over
//! when it has one. The heads say which version the JSON is, so typing done
//! before that lands where it was typed, whatever arrived meanwhile.
//!
//! The runtime document keeps, for each cell, only the two executions a page
//! reads when it opens (the newest, for the queued or running mark, and the
//! newest that started, whose outputs it shows): old runs' outputs are what
//! makes that document large, and nothing on first sight reads them.

use crate::{Result, SchemaError};
use automerge::{AutoSerde, Automerge};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// One document as the page will first read it.
#[derive(Debug, Serialize)]
pub struct DocumentPreview {
    /// The version `doc` shows (hex change hashes, as Automerge's `getHeads`).
    pub heads: Vec<String>,
    pub doc: Value,
}

/// Both documents, as `GET /api/notebooks/{id}/preview` sends them.
#[derive(Debug, Serialize)]
pub struct NotebookPreview {
    pub notebook: DocumentPreview,
    pub runtime: DocumentPreview,
}

pub fn preview(notebook: &Automerge, runtime: &Automerge) -> Result<NotebookPreview> {
    Ok(NotebookPreview {
        notebook: notebook_preview(notebook)?,
        runtime: runtime_preview(runtime)?,
    })
}

/// The notebook document whole.
pub fn notebook_preview(doc: &Automerge) -> Result<DocumentPreview> {
    crate::access::check_root(doc, crate::notebook::KIND)?;
    preview_of(doc)
}

/// The runtime document, with each cell's executions cut to the two a page
/// reads when it opens.
pub fn runtime_preview(doc: &Automerge) -> Result<DocumentPreview> {
    crate::access::check_root(doc, crate::runtime::KIND)?;
    let mut preview = preview_of(doc)?;
    if let Some(executions) = preview
        .doc
        .get_mut("executions")
        .and_then(Value::as_object_mut)
    {
        keep_opening_executions(executions);
    }
    Ok(preview)
}

fn preview_of(doc: &Automerge) -> Result<DocumentPreview> {
    let json = serde_json::to_value(AutoSerde::from(doc))
        .map_err(|_| SchemaError::Malformed { field: "document" })?;
    Ok(DocumentPreview {
        heads: doc.get_heads().iter().map(|h| h.to_string()).collect(),
        doc: json,
    })
}

/// An execution's place in the queue: the order `RuntimeDoc::executions`
/// and the page's `executionsInOrder` agree on.
fn queue_key<'a>(id: &'a str, x: &Value) -> (i64, i64, &'a str) {
    let num = |field: &str| x.get(field).and_then(Value::as_i64).unwrap_or(0);
    (num("queue_seq"), num("queued_at"), id)
}

/// Keep, per cell, the newest execution and the newest that started.
fn keep_opening_executions(executions: &mut Map<String, Value>) {
    let mut newest: HashMap<&str, (i64, i64, &str)> = HashMap::new();
    let mut shown: HashMap<&str, (i64, i64, &str)> = HashMap::new();
    for (id, x) in executions.iter() {
        let Some(cell) = x.get("cell_id").and_then(Value::as_str) else {
            continue;
        };
        let key = queue_key(id, x);
        let started = x.get("started_at").is_some_and(|v| !v.is_null());
        for (pick, counts) in [(&mut newest, true), (&mut shown, started)] {
            if counts && pick.get(cell).is_none_or(|best| key > *best) {
                pick.insert(cell, key);
            }
        }
    }
    let keep: std::collections::HashSet<String> = newest
        .values()
        .chain(shown.values())
        .map(|(_, _, id)| (*id).to_owned())
        .collect();
    executions.retain(|id, _| keep.contains(id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NotebookDoc, Placement, RuntimeDoc};

    #[test]
    fn the_notebook_preview_is_the_document_as_json_with_its_heads() {
        let mut notebook = NotebookDoc::create("nb").unwrap();
        let id = notebook
            .create_cell(crate::CellType::Code, Placement::End, "print('é')")
            .unwrap();
        let preview = notebook_preview(notebook.automerge()).unwrap();
        assert_eq!(preview.doc["cells"][id.as_str()]["source"], "print('é')");
        assert_eq!(preview.doc["kind"], "notebook");
        let heads: Vec<String> = notebook.heads().iter().map(|h| h.to_string()).collect();
        assert_eq!(preview.heads, heads);
    }

    #[test]
    fn a_preview_refuses_the_wrong_kind_of_document() {
        let runtime = RuntimeDoc::create("nb").unwrap();
        assert!(matches!(
            notebook_preview(runtime.automerge()),
            Err(SchemaError::WrongKind { .. })
        ));
    }

    #[test]
    fn each_cell_keeps_its_newest_execution_and_the_newest_that_started() {
        let mut executions = serde_json::json!({
            "old": {"cell_id": "a", "queue_seq": 1, "started_at": 10},
            "shown": {"cell_id": "a", "queue_seq": 2, "started_at": 20},
            "queued": {"cell_id": "a", "queue_seq": 3, "started_at": null},
            "b-only": {"cell_id": "b", "queue_seq": 4},
            "b-old": {"cell_id": "b", "queue_seq": 0, "started_at": 5},
        });
        keep_opening_executions(executions.as_object_mut().unwrap());
        let mut kept: Vec<&String> = executions.as_object().unwrap().keys().collect();
        kept.sort();
        assert_eq!(kept, ["b-old", "b-only", "queued", "shown"]);
    }
}
