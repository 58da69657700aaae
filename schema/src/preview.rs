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
use automerge::{Automerge, ObjId, ObjType, ReadDoc, ValueRef, ROOT};
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
    Ok(DocumentPreview {
        heads: doc.get_heads().iter().map(|h| h.to_string()).collect(),
        doc: object_json(doc, &ROOT, ObjType::Map)?,
    })
}

/// An object as JSON, in the shape `AutoSerde` gives (and the browser's
/// Automerge materialises). Why not `AutoSerde` itself: it looks every key
/// up again after listing it, and took 14 ms for 200 cells of 2 KB where
/// this walk takes 9.5 ms, nearly all of it Automerge reading the sources'
/// text (the `preview_cost` example). The room waits while it runs.
fn object_json(doc: &Automerge, obj: &ObjId, kind: ObjType) -> Result<Value> {
    Ok(match kind {
        ObjType::Map | ObjType::Table => {
            let mut map = Map::new();
            for item in doc.map_range(obj, ..) {
                let id = matches!(item.value, ValueRef::Object(_)).then(|| item.id());
                let value = value_json(doc, item.value, id)?;
                map.insert(item.key.into_owned(), value);
            }
            Value::Object(map)
        }
        ObjType::List => {
            let mut list = Vec::new();
            for item in doc.list_range(obj, ..) {
                let id = matches!(item.value, ValueRef::Object(_)).then(|| item.id());
                list.push(value_json(doc, item.value, id)?);
            }
            Value::Array(list)
        }
        ObjType::Text => Value::String(doc.text(obj).map_err(|_| malformed())?),
    })
}

/// One value of a map or list; `id` is the object's, for an object.
fn value_json(doc: &Automerge, value: ValueRef<'_>, id: Option<ObjId>) -> Result<Value> {
    match (value.into_value(), id) {
        (automerge::Value::Object(kind), Some(id)) => object_json(doc, &id, kind),
        (automerge::Value::Scalar(scalar), _) => {
            serde_json::to_value(scalar.as_ref()).map_err(|_| malformed())
        }
        (automerge::Value::Object(_), None) => Err(malformed()),
    }
}

fn malformed() -> SchemaError {
    SchemaError::Malformed { field: "document" }
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
    fn the_json_walk_gives_what_autoserde_gives() {
        use automerge::transaction::Transactable;
        use automerge::{AutoCommit, AutoSerde, ScalarValue};
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "kind", "notebook").unwrap();
        let map = doc.put_object(ROOT, "map", ObjType::Map).unwrap();
        doc.put(&map, "int", -3_i64).unwrap();
        doc.put(&map, "uint", ScalarValue::Uint(7)).unwrap();
        doc.put(&map, "float", 1.5_f64).unwrap();
        doc.put(&map, "bool", true).unwrap();
        doc.put(&map, "null", ScalarValue::Null).unwrap();
        doc.put(&map, "when", ScalarValue::Timestamp(1_700_000_000_000))
            .unwrap();
        doc.put(&map, "count", ScalarValue::counter(4)).unwrap();
        doc.put(&map, "bytes", ScalarValue::Bytes(vec![1, 2]))
            .unwrap();
        let list = doc.put_object(&map, "list", ObjType::List).unwrap();
        doc.insert(&list, 0, "a").unwrap();
        let inner = doc.insert_object(&list, 1, ObjType::Map).unwrap();
        doc.put(&inner, "x", 1_i64).unwrap();
        let text = doc.insert_object(&list, 2, ObjType::Text).unwrap();
        doc.splice_text(&text, 0, 0, "naïve 🦀").unwrap();
        let doc = doc.document().clone();
        let expected = serde_json::to_value(AutoSerde::from(&doc)).unwrap();
        assert_eq!(object_json(&doc, &ROOT, ObjType::Map).unwrap(), expected);
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
