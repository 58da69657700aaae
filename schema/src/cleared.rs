//! Clearing a cell's outputs, as Jupyter's "Clear Outputs" does.
//!
//! The clear is a fact of the notebook document, not an edit of the
//! runtime's: editors cannot write the runtime document, and a person
//! clearing outputs before sharing or exporting a notebook should not need
//! a kernel running (or started) for it. A cell records which execution's
//! outputs it cleared and how many of them there were (`outputs_cleared`,
//! one JSON string, replaced whole). Every reader of what a cell shows
//! (the browser, export, the AI's context, the tools) applies it with
//! [`OutputsCleared::apply`]:
//!
//! - the cleared outputs are hidden; outputs the same execution writes
//!   after the clear (it was still running) show, as in Jupyter;
//! - a finished execution's count is hidden too (Jupyter's cleared cell
//!   shows `[ ]`);
//! - the next run of the cell shows as usual: the clear names an
//!   execution, and a newer one is not it.
//!
//! The runtime's records stay whole: history still holds what ran.

use crate::access::{get_obj, get_str};
use crate::error::{Result, SchemaError};
use crate::event::DocumentEvent;
use crate::ids::{CellId, ExecutionId};
use crate::notebook::NotebookDoc;
use crate::runtime::{ExecutionRecord, ExecutionState};
use crate::txn::commit_as;
use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Which execution's outputs a cell cleared, and how many it had then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputsCleared {
    pub execution_id: ExecutionId,
    pub outputs: usize,
}

impl OutputsCleared {
    /// What `record` shows after this clear: unchanged unless it is the
    /// execution cleared.
    pub fn apply(&self, mut record: ExecutionRecord) -> ExecutionRecord {
        if record.execution_id != self.execution_id {
            return record;
        }
        let hidden = self.outputs.min(record.outputs.len());
        record.outputs.drain(..hidden);
        if !matches!(
            record.state,
            ExecutionState::Queued | ExecutionState::Running
        ) {
            record.execution_count = None;
        }
        record
    }

    /// The clear of the execution `record` (for `NotebookDoc::clear_outputs`).
    pub fn of(record: &ExecutionRecord) -> Self {
        Self {
            execution_id: record.execution_id.clone(),
            outputs: record.outputs.len(),
        }
    }
}

/// Apply each cell's clear to the executions cells show
/// (`RuntimeDoc::shown_executions`).
pub fn apply_clears(
    shown: HashMap<CellId, ExecutionRecord>,
    clears: &HashMap<CellId, OutputsCleared>,
) -> HashMap<CellId, ExecutionRecord> {
    shown
        .into_iter()
        .map(|(cell, record)| {
            let record = match clears.get(&cell) {
                Some(clear) => clear.apply(record),
                None => record,
            };
            (cell, record)
        })
        .collect()
}

const FIELD: &str = "outputs_cleared";

impl NotebookDoc {
    /// Clear the outputs each cell shows: `cleared` pairs a cell with the
    /// execution it shows now ([`OutputsCleared::of`]). One change for all
    /// of them, so "clear all outputs" is one step in history. Cells that
    /// no longer exist are skipped (a collaborator deleted them).
    pub fn clear_outputs(&mut self, cleared: &[(CellId, OutputsCleared)]) -> Result<usize> {
        let mut targets = Vec::new();
        for (cell, clear) in cleared {
            let Ok(obj) = self.cell_obj(cell) else {
                continue;
            };
            let raw = serde_json::to_string(clear)
                .map_err(|_| SchemaError::Malformed { field: FIELD })?;
            targets.push((obj, raw, cell.clone()));
        }
        if targets.is_empty() {
            return Ok(0);
        }
        let event = DocumentEvent::CellOutputsCleared {
            cells: targets.iter().map(|(_, _, c)| c.clone()).collect(),
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            for (obj, raw, _) in &targets {
                tx.put(obj, FIELD, raw.as_str())?;
            }
            Ok(())
        })?;
        Ok(targets.len())
    }

    /// One cell's clear, if any (unreadable as none, as below).
    pub fn outputs_cleared_of(&self, cell: &CellId) -> Result<Option<OutputsCleared>> {
        let obj = self.cell_obj(cell)?;
        Ok(get_str(&self.doc, &obj, FIELD)?.and_then(|raw| serde_json::from_str(&raw).ok()))
    }

    /// Every cell's clear, by cell (unreadable values are ignored: a clear
    /// only ever hides, so ignoring one shows the outputs).
    pub fn outputs_cleared(&self) -> Result<HashMap<CellId, OutputsCleared>> {
        let cells = self.cells_obj()?;
        let mut out = HashMap::new();
        for key in self.doc.keys(&cells) {
            let Some(cell) = get_obj(&self.doc, &cells, &key, ObjType::Map)? else {
                continue;
            };
            if let Some(raw) = get_str(&self.doc, &cell, FIELD)? {
                if let Ok(clear) = serde_json::from_str::<OutputsCleared>(&raw) {
                    out.insert(CellId(key), clear);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CellType, OutputManifest, Placement, RunRequest, RuntimeDoc, StreamName};

    fn printed(text: &str) -> OutputManifest {
        OutputManifest::Stream {
            name: StreamName::Stdout,
            text: text.to_owned(),
            truncated: None,
        }
    }

    #[test]
    fn a_clear_hides_what_was_shown_and_not_what_came_after() {
        let mut nb = NotebookDoc::create("nb").unwrap();
        let mut rt = RuntimeDoc::create("nb").unwrap();
        let a = nb
            .create_cell(CellType::Code, Placement::End, "print(1)")
            .unwrap();
        let b = nb
            .create_cell(CellType::Code, Placement::End, "print(2)")
            .unwrap();
        let mut run = |cell: &CellId, text: &str, finish: bool| {
            let x = rt
                .queue_execution(cell, &RunRequest::new("ada", nb.heads()), 1)
                .unwrap();
            rt.start_execution(&x, 7, 2).unwrap();
            rt.append_output(&x, &printed(text)).unwrap();
            if finish {
                rt.finish_execution(&x, ExecutionState::Done, 3).unwrap();
            }
            x
        };
        run(&a, "one\n", true);
        let running = run(&b, "two\n", false);
        let shown = rt.shown_executions().unwrap();
        let clears: Vec<_> = shown
            .iter()
            .map(|(c, r)| (c.clone(), OutputsCleared::of(r)))
            .collect();
        assert_eq!(nb.clear_outputs(&clears).unwrap(), 2);

        // b was still running: what it prints after the clear shows.
        rt.append_output(&running, &printed("three\n")).unwrap();
        let after = apply_clears(
            rt.shown_executions().unwrap(),
            &nb.outputs_cleared().unwrap(),
        );
        assert_eq!(
            nb.outputs_cleared_of(&a).unwrap(),
            nb.outputs_cleared().unwrap().remove(&a)
        );
        assert!(after[&a].outputs.is_empty());
        assert_eq!(
            after[&a].execution_count, None,
            "a cleared finished cell shows [ ]"
        );
        assert_eq!(after[&b].outputs, vec![printed("three\n")]);
        assert_eq!(after[&b].execution_count, Some(7), "still running");

        // The next run of a shows whole.
        let again = rt
            .queue_execution(&a, &RunRequest::new("ada", nb.heads()), 1)
            .unwrap();
        rt.start_execution(&again, 8, 4).unwrap();
        rt.append_output(&again, &printed("one again\n")).unwrap();
        let next = apply_clears(
            rt.shown_executions().unwrap(),
            &nb.outputs_cleared().unwrap(),
        );
        assert_eq!(next[&a].outputs, vec![printed("one again\n")]);
        assert_eq!(next[&a].execution_count, Some(8));
    }

    #[test]
    fn a_clear_of_a_deleted_cell_writes_nothing() {
        let mut nb = NotebookDoc::create("nb").unwrap();
        let a = nb.create_cell(CellType::Code, Placement::End, "1").unwrap();
        nb.delete_cell(&a).unwrap();
        let clear = OutputsCleared {
            execution_id: ExecutionId("x".into()),
            outputs: 1,
        };
        let heads = nb.heads();
        assert_eq!(nb.clear_outputs(&[(a, clear)]).unwrap(), 0);
        assert_eq!(nb.heads(), heads);
    }
}
