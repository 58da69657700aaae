//! Writing a whole notebook file into the documents at once: the server
//! does it when a `.ipynb` is imported, before any peer has the notebook.
//!
//! One change carries all the cells, and one all their outputs, rather
//! than a change per cell and field: a thousand-cell notebook is then two
//! events in the log, not tens of thousands, and a peer syncing it applies
//! two changes (Automerge's apply is slow per change, see ARCHITECTURE).

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
        let event = DocumentEvent::CellsImported { cells: cells.len() };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            for (cell, position) in cells.iter().zip(&positions) {
                let obj = tx.put_object(&cells_obj, cell.id.as_str(), ObjType::Map)?;
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
