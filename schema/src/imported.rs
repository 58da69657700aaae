//! Writing a whole notebook file into the documents at once: the server
//! does it when a `.ipynb` is imported, before any peer has the notebook.
//!
//! The cells go in changes of about [`IMPORT_CHANGE_SOURCE_BYTES`] of
//! source each, and all their outputs in one change, rather than a change
//! per cell and field: a thousand-cell notebook is then a few hundred
//! events in the log, not tens of thousands. Not one change for all the
//! cells either: a browser applies a change in one piece, and 200 cells of
//! 2 KB in one change held its main thread for about 400 ms while it
//! loaded them (a key typed meanwhile waited as long). Applied a change at
//! a time with pauses between, the same cells cost the same in all (a few
//! per cent either way; in Node, timed by hand with a throwaway script: 26
//! changes of 8 cells each took at most 22 ms apiece, 201 of one cell 5 ms).

use crate::error::{Result, SchemaError};
use crate::event::DocumentEvent;
use crate::ids::{is_valid_id, CellId, ExecutionId, RequestId};
use crate::notebook::{CellType, NotebookDoc};
use crate::output::OutputManifest;
use crate::position::{evenly_spaced, key_between};
use crate::runtime::RuntimeDoc;
use crate::txn::{commit, commit_as};
use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ROOT};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// About how much source one change of an import carries (at least one
/// cell each): see the module's comment.
pub const IMPORT_CHANGE_SOURCE_BYTES: usize = 8 * 1024;

/// Who "requested" an imported execution: the UI and an export tell
/// imported outputs from ones a runtime produced by this.
pub const IMPORTED_BY: &str = "import:ipynb";

/// A cell as a file holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedCell {
    pub id: CellId,
    pub cell_type: CellType,
    pub source: String,
    pub metadata: BTreeMap<String, Value>,
    pub attachments: Option<Value>,
}

/// The outputs a file carried for one cell, as one finished execution.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedExecution {
    pub cell_id: CellId,
    pub execution_count: Option<i64>,
    pub outputs: Vec<OutputManifest>,
}

impl NotebookDoc {
    /// Append `cells`, in order, after the cells already there, keeping
    /// their ids. Every id must be valid and new (the importer makes them
    /// so); nothing is written otherwise.
    pub fn import_cells(&mut self, cells: &[ImportedCell]) -> Result<()> {
        let cells_obj = self.cells_obj()?;
        let mut seen = HashSet::new();
        for cell in cells {
            let id = cell.id.as_str();
            let taken = self.doc.get(&cells_obj, id)?.is_some();
            if !is_valid_id(id) || taken || !seen.insert(id) {
                return Err(SchemaError::BadCellId(id.to_owned()));
            }
            if let Some(key) = cell
                .metadata
                .keys()
                .find(|k| k.len() > crate::notebook_meta::MAX_METADATA_KEY_BYTES)
            {
                return Err(SchemaError::KeyTooLong(key.clone()));
            }
        }
        // After the last cell: every new key starts with a key greater
        // than it, so the new cells sort after it and among themselves.
        let prefix = match self.cell_order()?.last() {
            Some((_, last)) => key_between(Some(last), None),
            None => String::new(),
        };
        let positions = evenly_spaced(cells.len());
        let mut start = 0;
        while start < cells.len() {
            let mut end = start + 1;
            let mut bytes = cells[start].source.len();
            while end < cells.len() && bytes + cells[end].source.len() <= IMPORT_CHANGE_SOURCE_BYTES
            {
                bytes += cells[end].source.len();
                end += 1;
            }
            self.import_cell_range(
                &cells_obj,
                &prefix,
                &cells[start..end],
                &positions[start..end],
            )?;
            start = end;
        }
        Ok(())
    }

    /// One change of an import: `cells` at `positions` (after `prefix`).
    fn import_cell_range(
        &mut self,
        cells_obj: &automerge::ObjId,
        prefix: &str,
        cells: &[ImportedCell],
        positions: &[String],
    ) -> Result<()> {
        let event = DocumentEvent::CellsImported { cells: cells.len() };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            for (cell, position) in cells.iter().zip(positions) {
                let obj = tx.put_object(cells_obj, cell.id.as_str(), ObjType::Map)?;
                tx.put(&obj, "cell_type", cell.cell_type.as_str())?;
                tx.put(&obj, "position", format!("{prefix}{position}"))?;
                let text = tx.put_object(&obj, "source", ObjType::Text)?;
                if !cell.source.is_empty() {
                    tx.splice_text(&text, 0, 0, &cell.source)?;
                }
                let meta = tx.put_object(&obj, "metadata", ObjType::Map)?;
                for (key, value) in &cell.metadata {
                    tx.put(&meta, key.as_str(), value.to_string())?;
                }
                if let Some(attachments) = &cell.attachments {
                    tx.put(&obj, "attachments", attachments.to_string())?;
                }
            }
            Ok(())
        })
    }
}

impl RuntimeDoc {
    /// Record imported outputs as finished executions (state `done`, or
    /// `error` when an error output is among them), requested by
    /// [`IMPORTED_BY`], queued before anything a runtime queues later.
    pub fn import_executions(
        &mut self,
        imported: &[ImportedExecution],
        now_ms: i64,
    ) -> Result<Vec<ExecutionId>> {
        let executions = crate::access::require_obj(&self.doc, &ROOT, "executions", ObjType::Map)?;
        let first_seq =
            crate::access::get_i64(&self.doc, &ROOT, "last_queue_seq")?.unwrap_or(0) + 1;
        let ids: Vec<ExecutionId> = imported.iter().map(|_| ExecutionId::random()).collect();
        let event = DocumentEvent::ExecutionsImported {
            executions: imported.len(),
        };
        commit(&mut self.doc, &event, |tx| {
            let mut seq = first_seq - 1;
            for (record, id) in imported.iter().zip(&ids) {
                seq += 1;
                // As `ExecutionState::{Error, Done}` spell themselves; the
                // test reads them back.
                let state = if record
                    .outputs
                    .iter()
                    .any(|o| matches!(o, OutputManifest::Error { .. }))
                {
                    "error"
                } else {
                    "done"
                };
                let x = tx.put_object(&executions, id.as_str(), ObjType::Map)?;
                tx.put(&x, "cell_id", record.cell_id.as_str())?;
                tx.put(&x, "request_id", RequestId::random().as_str())?;
                tx.put(&x, "requested_by", IMPORTED_BY)?;
                tx.put(&x, "source_heads", "")?;
                tx.put(&x, "state", state)?;
                tx.put(&x, "queued_at", now_ms)?;
                tx.put(&x, "queue_seq", seq)?;
                if let Some(count) = record.execution_count {
                    tx.put(&x, "execution_count", count)?;
                }
                tx.put(&x, "started_at", now_ms)?;
                tx.put(&x, "ended_at", now_ms)?;
                let outputs = tx.put_object(&x, "outputs", ObjType::List)?;
                for (i, output) in record.outputs.iter().enumerate() {
                    tx.insert(&outputs, i, output.to_json())?;
                }
            }
            if !imported.is_empty() {
                tx.put(ROOT, "last_queue_seq", seq)?;
            }
            Ok(())
        })?;
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExecutionState, Placement, StreamName};
    use serde_json::json;

    fn cell(id: &str, source: &str) -> ImportedCell {
        ImportedCell {
            id: CellId::from(id),
            cell_type: CellType::Code,
            source: source.into(),
            metadata: BTreeMap::from([("tags".to_owned(), json!(["a"]))]),
            attachments: None,
        }
    }

    #[test]
    fn a_large_import_goes_in_changes_of_bounded_source() {
        let mut nb = NotebookDoc::create("nb-1").unwrap();
        let before = nb.automerge().get_changes(&[]).len();
        let big = "x".repeat(3000);
        let mut cells: Vec<ImportedCell> = (0..10).map(|i| cell(&format!("c{i}"), &big)).collect();
        // One cell larger than a change's share still goes in, alone.
        cells[4].source = "y".repeat(IMPORT_CHANGE_SOURCE_BYTES + 1);
        nb.import_cells(&cells).unwrap();
        let changes = nb.automerge().get_changes(&[]);
        let imported = &changes[before..];
        // 3000 + 3000 fit, a third does not; the oversized cell is alone.
        assert_eq!(imported.len(), 6, "{} changes", imported.len());
        let order: Vec<String> = nb
            .cell_order()
            .unwrap()
            .into_iter()
            .map(|(id, _)| id.to_string())
            .collect();
        let expected: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
        assert_eq!(order, expected);
        assert_eq!(
            nb.source(&CellId::from("c4")).unwrap().len(),
            IMPORT_CHANGE_SOURCE_BYTES + 1
        );
    }

    #[test]
    fn imported_cells_keep_ids_order_and_fields() {
        let mut nb = NotebookDoc::create("nb-1").unwrap();
        let existing = nb.create_cell(CellType::Code, Placement::End, "0").unwrap();
        let mut md = cell("md-1", "# hi");
        md.cell_type = CellType::Markdown;
        md.attachments = Some(json!({"a.png": {"image/png": "AAAA"}}));
        let many: Vec<ImportedCell> = std::iter::once(md)
            .chain((0..100).map(|i| cell(&format!("c{i}"), &format!("x = {i}"))))
            .collect();
        nb.import_cells(&many).unwrap();
        let cells = nb.cells().unwrap();
        assert_eq!(cells.len(), 102);
        assert_eq!(cells[0].id, existing);
        assert_eq!(cells[1].id.as_str(), "md-1");
        assert_eq!(cells[1].cell_type, CellType::Markdown);
        assert_eq!(cells[101].source, "x = 99");
        assert_eq!(cells[5].metadata["tags"], json!(["a"]));
        assert!(nb.attachments(&cells[1].id).unwrap().is_some());
        // One change for all of them.
        assert_eq!(nb.automerge().get_changes(&[]).len(), 3);
    }

    #[test]
    fn bad_or_taken_ids_write_nothing() {
        let mut nb = NotebookDoc::create("nb-1").unwrap();
        for bad in [vec![cell("$x", "")], vec![cell("a", ""), cell("a", "")]] {
            assert!(matches!(
                nb.import_cells(&bad),
                Err(SchemaError::BadCellId(_))
            ));
        }
        nb.import_cells(&[cell("a", "")]).unwrap();
        assert!(nb.import_cells(&[cell("a", "")]).is_err());
        assert_eq!(nb.cells().unwrap().len(), 1);
    }

    #[test]
    fn imported_executions_read_back_as_finished_records() {
        let mut rt = RuntimeDoc::create("nb-1").unwrap();
        let ok = ImportedExecution {
            cell_id: CellId::from("a"),
            execution_count: Some(3),
            outputs: vec![OutputManifest::Stream {
                name: StreamName::Stdout,
                text: "hi\n".into(),
                truncated: None,
            }],
        };
        let failed = ImportedExecution {
            cell_id: CellId::from("b"),
            execution_count: None,
            outputs: vec![OutputManifest::Error {
                ename: "E".into(),
                evalue: "v".into(),
                traceback: vec![],
            }],
        };
        let ids = rt.import_executions(&[ok.clone(), failed], 5).unwrap();
        let records = rt.executions().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].execution_id, ids[0]);
        assert_eq!(records[0].requested_by, IMPORTED_BY);
        assert_eq!(records[0].state, ExecutionState::Done);
        assert_eq!(records[0].execution_count, Some(3));
        assert_eq!(records[0].outputs, ok.outputs);
        assert_eq!(records[1].state, ExecutionState::Error);
        assert_eq!(records[1].execution_count, None);
        assert!(rt.queued_in_order().unwrap().is_empty());
        // A runtime's next execution queues after them.
        let next = rt
            .queue_execution(
                &CellId::from("a"),
                &crate::RunRequest::new("ada", vec![]),
                6,
            )
            .unwrap();
        assert_eq!(rt.execution(&next).unwrap().queue_seq, 3);
    }
}
