//! Notebook-level metadata and cell attachments: what a `.ipynb` file
//! carries besides cells' sources and metadata.
//!
//! Notebook metadata is a map at the root, one JSON string per key (as a
//! cell's metadata), so two people changing different keys (a kernelspec,
//! a title) both keep their change. The map is created with the document
//! by the server: a replica creating it later could race another doing the
//! same, and one side's keys would vanish. A document made before the map
//! existed reads as empty metadata and refuses writes (`NotInitialised`).
//!
//! A cell's attachments (`{name: {mime: base64}}`, markdown and raw cells)
//! are one JSON string: they are replaced whole, never merged, as Jupyter
//! treats them.

use crate::access::{get_obj, get_str};
use crate::error::{Result, SchemaError};
use crate::event::DocumentEvent;
use crate::ids::CellId;
use crate::notebook::NotebookDoc;
use crate::txn::commit_as;
use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ROOT};
use serde_json::Value;
use std::collections::BTreeMap;

/// Longest metadata key the layout accepts (as for cell metadata).
pub const MAX_METADATA_KEY_BYTES: usize = 256;

impl NotebookDoc {
    /// The notebook's metadata (`kernelspec`, `language_info`, anything a
    /// file brought), key by key. Values that are not JSON are skipped.
    pub fn notebook_metadata(&self) -> Result<BTreeMap<String, Value>> {
        let mut out = BTreeMap::new();
        let Some(meta) = get_obj(&self.doc, &ROOT, "metadata", ObjType::Map)? else {
            // Reading works before the replica has synced only if the root
            // is there at all.
            crate::access::check_root(&self.doc, "notebook")?;
            return Ok(out);
        };
        for key in self.doc.keys(&meta) {
            if let Some(raw) = get_str(&self.doc, &meta, &key)? {
                if let Ok(value) = serde_json::from_str(&raw) {
                    out.insert(key, value);
                }
            }
        }
        Ok(out)
    }

    /// Set one notebook metadata key; `None` removes it.
    pub fn set_notebook_metadata(&mut self, key: &str, value: Option<&Value>) -> Result<()> {
        if key.len() > MAX_METADATA_KEY_BYTES {
            return Err(SchemaError::KeyTooLong(key.to_owned()));
        }
        let meta = get_obj(&self.doc, &ROOT, "metadata", ObjType::Map)?
            .ok_or(SchemaError::NotInitialised("metadata"))?;
        let event = DocumentEvent::NotebookMetadataChanged {
            key: key.to_owned(),
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            match value {
                Some(v) => tx.put(&meta, key, v.to_string())?,
                None => tx.delete(&meta, key)?,
            }
            Ok(())
        })
    }

    /// A cell's attachments as the file had them, if any.
    pub fn attachments(&self, id: &CellId) -> Result<Option<Value>> {
        let obj = self.cell_obj(id)?;
        Ok(
            get_str(&self.doc, &obj, "attachments")?
                .and_then(|raw| serde_json::from_str(&raw).ok()),
        )
    }

    /// Replace a cell's attachments whole; `None` removes them.
    pub fn set_attachments(&mut self, id: &CellId, attachments: Option<&Value>) -> Result<()> {
        let obj = self.cell_obj(id)?;
        let event = DocumentEvent::AttachmentsChanged {
            cell_id: id.clone(),
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            match attachments {
                Some(v) => tx.put(&obj, "attachments", v.to_string())?,
                None => tx.delete(&obj, "attachments")?,
            }
            Ok(())
        })
    }
}

/// The kernel a notebook names (`metadata.kernelspec.name`), read from a
/// notebook document held as plain Automerge (the server's rooms hold it
/// so): the kernel the server starts when someone runs a cell.
pub fn kernel_named_in(doc: &automerge::Automerge) -> Option<String> {
    let meta = get_obj(doc, &ROOT, "metadata", ObjType::Map).ok()??;
    let raw = get_str(doc, &meta, "kernelspec").ok()??;
    let spec: Value = serde_json::from_str(&raw).ok()?;
    spec.get("name")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use crate::{CellType, NotebookDoc, Placement};
    use serde_json::json;

    #[test]
    fn notebook_metadata_round_trips_key_by_key() {
        let mut nb = NotebookDoc::create("nb-1").unwrap();
        assert!(nb.notebook_metadata().unwrap().is_empty());
        let spec = json!({"name": "python3", "display_name": "Python 3", "language": "python"});
        nb.set_notebook_metadata("kernelspec", Some(&spec)).unwrap();
        nb.set_notebook_metadata("title", Some(&json!("T")))
            .unwrap();
        nb.set_notebook_metadata("title", None).unwrap();
        let meta = nb.notebook_metadata().unwrap();
        assert_eq!(meta.len(), 1);
        assert_eq!(meta["kernelspec"]["name"], "python3");
        assert_eq!(
            super::kernel_named_in(nb.automerge()).as_deref(),
            Some("python3")
        );
        let long = "k".repeat(257);
        assert!(nb.set_notebook_metadata(&long, Some(&json!(1))).is_err());
    }

    #[test]
    fn concurrent_metadata_keys_both_survive() {
        let mut a = NotebookDoc::create("nb-1").unwrap();
        let mut fork = a.automerge().fork();
        fork.set_actor(automerge::ActorId::random());
        let mut b = NotebookDoc::from_automerge(fork).unwrap();
        a.set_notebook_metadata("kernelspec", Some(&json!({"name": "ir"})))
            .unwrap();
        b.set_notebook_metadata("title", Some(&json!("x"))).unwrap();
        a.automerge_mut().merge(b.automerge_mut()).unwrap();
        assert_eq!(a.notebook_metadata().unwrap().len(), 2);
    }

    #[test]
    fn a_document_without_the_map_reads_empty_and_refuses_writes() {
        // As documents created before notebook metadata existed.
        let mut doc = automerge::AutoCommit::new();
        use automerge::transaction::Transactable;
        doc.put(automerge::ROOT, "schema_version", 1).unwrap();
        doc.put(automerge::ROOT, "kind", "notebook").unwrap();
        doc.put_object(automerge::ROOT, "cells", automerge::ObjType::Map)
            .unwrap();
        let mut nb = NotebookDoc::from_automerge(doc.document().clone()).unwrap();
        assert!(nb.notebook_metadata().unwrap().is_empty());
        assert!(nb.set_notebook_metadata("k", Some(&json!(1))).is_err());
        assert!(NotebookDoc::replica().notebook_metadata().is_err());
    }

    #[test]
    fn attachments_are_replaced_whole() {
        let mut nb = NotebookDoc::create("nb-1").unwrap();
        let c = nb
            .create_cell(CellType::Markdown, Placement::End, "![a](attachment:a.png)")
            .unwrap();
        assert_eq!(nb.attachments(&c).unwrap(), None);
        let att = json!({"a.png": {"image/png": "iVBORw0KGgo="}});
        nb.set_attachments(&c, Some(&att)).unwrap();
        assert_eq!(nb.attachments(&c).unwrap(), Some(att));
        nb.set_attachments(&c, None).unwrap();
        assert_eq!(nb.attachments(&c).unwrap(), None);
    }
}
