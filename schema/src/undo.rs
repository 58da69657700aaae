//! Undoing one AI run: every change its edits made to the notebook (found
//! by the attribution in their messages) reverted by new changes, never by
//! rewriting history, so the undo can itself be seen, and later edits by
//! people survive it.
//!
//! - cells the run created are deleted;
//! - cells it deleted come back with their id, type, source, metadata and
//!   attachments, where they were;
//! - cells it moved go back to where they were before its first move;
//! - sources it edited go back to their text before its first edit, as
//!   the smallest splices from the text it left, made at the heads of its
//!   last edit and merged: what people typed after that is kept;
//! - cell types it changed go back.
//!
//! What cannot be undone: runs the AI started (their outputs stay, as
//! any run's), and a person's edit made between two of the AI's edits to
//! the same cell (it is in the text the AI left, so reverting to the text
//! before the AI's first edit drops it; the person can redo it).

use crate::attribution::Attribution;
use crate::error::{Result, SchemaError};
use crate::event::{history, DocumentEvent};
use crate::ids::{CellId, ExecutionId};
use crate::notebook::NotebookDoc;
use crate::txn::commit_as;
use automerge::transaction::Transactable;
use automerge::{ChangeHash, ObjType, ReadDoc, ROOT};
use std::collections::BTreeMap;

/// What an undo did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UndoReport {
    pub deleted: Vec<CellId>,
    pub restored: Vec<CellId>,
    pub moved_back: Vec<CellId>,
    pub sources_reverted: Vec<CellId>,
}

/// What the run did to one cell, with the heads around its first and last
/// change to it.
#[derive(Default)]
struct Touched {
    created: bool,
    deleted_at: Option<Vec<ChangeHash>>,
    first_move_before: Option<Vec<ChangeHash>>,
    first_edit_before: Option<Vec<ChangeHash>>,
    last_edit: Option<ChangeHash>,
    first_type_before: Option<Vec<ChangeHash>>,
}

impl NotebookDoc {
    /// Revert what AI run `ai_run` changed (see the module docs); the new
    /// changes carry `attribution`. Ends with an `AiRunUndone` change.
    pub fn undo_ai_run(
        &mut self,
        ai_run: &ExecutionId,
        attribution: &Attribution,
    ) -> Result<UndoReport> {
        let mut touched: BTreeMap<CellId, Touched> = BTreeMap::new();
        for entry in history(&self.doc) {
            let by_run = entry
                .attribution
                .as_ref()
                .is_some_and(|a| a.ai_run == ai_run.as_str() && a.by.starts_with("ai:"));
            if !by_run {
                continue;
            }
            let Some(change) = self.doc.get_change_by_hash(&entry.hash) else {
                continue;
            };
            let before = change.deps().to_vec();
            match entry.event {
                Some(DocumentEvent::CellCreated { cell_id, .. }) => {
                    touched.entry(cell_id).or_default().created = true;
                }
                Some(DocumentEvent::CellDeleted { cell_id }) => {
                    touched.entry(cell_id).or_default().deleted_at = Some(before);
                }
                Some(DocumentEvent::CellMoved { cell_id }) => {
                    let t = touched.entry(cell_id).or_default();
                    t.first_move_before.get_or_insert(before);
                }
                Some(DocumentEvent::SourceEdited { cell_id }) => {
                    let t = touched.entry(cell_id).or_default();
                    t.first_edit_before.get_or_insert(before);
                    t.last_edit = Some(entry.hash);
                }
                Some(DocumentEvent::CellTypeChanged { cell_id, .. }) => {
                    let t = touched.entry(cell_id).or_default();
                    t.first_type_before.get_or_insert(before);
                }
                _ => {}
            }
        }
        let previous = self.attribution.replace(attribution.clone());
        let done = self.revert(&touched);
        self.attribution = previous;
        let report = done?;
        let answers = crate::access::require_obj(&self.doc, &ROOT, "input_answers", ObjType::Map)?;
        let event = DocumentEvent::AiRunUndone {
            ai_run: ai_run.clone(),
        };
        let note = serde_json::json!({"undone_by": attribution.on_behalf_of}).to_string();
        commit_as(&mut self.doc, Some(attribution), &event, |tx| {
            tx.put(&answers, format!("{ai_run}#undone").as_str(), note)?;
            Ok(())
        })?;
        Ok(report)
    }

    fn revert(&mut self, touched: &BTreeMap<CellId, Touched>) -> Result<UndoReport> {
        let mut report = UndoReport::default();
        for (id, t) in touched {
            let exists = self.cell(id).is_ok();
            if t.created {
                if exists {
                    self.delete_cell(id)?;
                    report.deleted.push(id.clone());
                }
                continue;
            }
            if let Some(before) = &t.deleted_at {
                if !exists {
                    self.restore_cell_from(id, before)?;
                    report.restored.push(id.clone());
                }
                continue;
            }
            if !exists {
                continue;
            }
            if let Some(before) = &t.first_move_before {
                let then = self.at(before)?;
                let position = then.cell(id)?.position;
                let obj = self.cell_obj(id)?;
                let event = DocumentEvent::CellMoved {
                    cell_id: id.clone(),
                };
                commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
                    tx.put(&obj, "position", position.as_str())?;
                    Ok(())
                })?;
                report.moved_back.push(id.clone());
            }
            if let (Some(before), Some(last)) = (&t.first_edit_before, &t.last_edit) {
                let text = self.at(before)?.source(id)?;
                self.rewrite_source_seen_at(id, &[*last], &text)?;
                report.sources_reverted.push(id.clone());
            }
            if let Some(before) = &t.first_type_before {
                let cell_type = self.at(before)?.cell(id)?.cell_type;
                self.set_cell_type(id, cell_type)?;
            }
        }
        Ok(report)
    }

    /// The document as it stood at `heads`.
    fn at(&self, heads: &[ChangeHash]) -> Result<NotebookDoc> {
        NotebookDoc::from_automerge(self.doc.fork_at(heads)?)
    }

    /// Bring back a deleted cell as it was at `heads`, under its own id.
    fn restore_cell_from(&mut self, id: &CellId, heads: &[ChangeHash]) -> Result<()> {
        let then = self.at(heads)?;
        let cell = then.cell(id)?;
        let attachments = then.attachments(id)?;
        let cells = self.cells_obj()?;
        if self.doc.get(&cells, id.as_str())?.is_some() {
            return Err(SchemaError::BadCellId(id.to_string()));
        }
        let event = DocumentEvent::CellCreated {
            cell_id: id.clone(),
            cell_type: cell.cell_type,
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            let obj = tx.put_object(&cells, id.as_str(), ObjType::Map)?;
            tx.put(&obj, "cell_type", cell.cell_type.as_str())?;
            tx.put(&obj, "position", cell.position.as_str())?;
            let text = tx.put_object(&obj, "source", ObjType::Text)?;
            if !cell.source.is_empty() {
                tx.splice_text(&text, 0, 0, &cell.source)?;
            }
            let meta = tx.put_object(&obj, "metadata", ObjType::Map)?;
            for (key, value) in &cell.metadata {
                tx.put(&meta, key.as_str(), value.to_string())?;
            }
            if let Some(a) = &attachments {
                tx.put(&obj, "attachments", a.to_string())?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CellType, Placement};

    fn ai(run: &str) -> Attribution {
        Attribution {
            by: "ai:p/m".into(),
            on_behalf_of: "ada".into(),
            ai_run: run.into(),
        }
    }

    #[test]
    fn a_run_is_undone_and_later_human_edits_survive() {
        let mut nb = NotebookDoc::create("n").unwrap();
        let kept = nb
            .create_cell(CellType::Code, Placement::End, "x = 1")
            .unwrap();
        let moved = nb
            .create_cell(CellType::Markdown, Placement::End, "# moved")
            .unwrap();
        let gone = nb
            .create_cell(CellType::Code, Placement::End, "print('gone')")
            .unwrap();
        nb.set_metadata(&gone, "tags", Some(&serde_json::json!(["t"])))
            .unwrap();
        let order_before = nb.cell_ids().unwrap();

        nb.set_attribution(Some(ai("x-1")));
        let made = nb
            .create_cell(CellType::Code, Placement::End, "y = 2")
            .unwrap();
        nb.set_source(&kept, "x = 10").unwrap();
        nb.move_cell(&moved, Placement::Start).unwrap();
        nb.delete_cell(&gone).unwrap();
        nb.set_attribution(None);
        // A person edits the cell the AI changed, after it did.
        nb.splice_source(&kept, 6, 0, "\n# mine").unwrap();

        let undo = Attribution {
            by: "undo".into(),
            on_behalf_of: "bob".into(),
            ai_run: "x-1".into(),
        };
        let report = nb.undo_ai_run(&ExecutionId::from("x-1"), &undo).unwrap();
        assert_eq!(report.deleted, vec![made.clone()]);
        assert_eq!(report.restored, vec![gone.clone()]);
        assert!(nb.cell(&made).is_err());
        assert_eq!(nb.source(&kept).unwrap(), "x = 1\n# mine");
        assert_eq!(nb.cell_ids().unwrap(), order_before);
        let back = nb.cell(&gone).unwrap();
        assert_eq!(back.source, "print('gone')");
        assert_eq!(back.metadata["tags"], serde_json::json!(["t"]));
        let last = history(nb.automerge()).into_iter().last().unwrap();
        assert!(matches!(
            last.event,
            Some(DocumentEvent::AiRunUndone { .. })
        ));
        // Undoing twice finds nothing more of the run's to revert.
        let again = nb.undo_ai_run(&ExecutionId::from("x-1"), &undo).unwrap();
        assert!(again.deleted.is_empty() && again.restored.is_empty());
    }
}
