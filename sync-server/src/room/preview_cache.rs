//! The preview (`schema::preview`) a room last built of each document, as
//! JSON text, kept until that document changes.
//!
//! Why: a room builds a preview while every peer's sync waits, and for 200
//! cells of 2 KB that is about 10 ms, nearly all of it Automerge reading
//! the sources' text. A class opening the same notebook at once, or people
//! reloading it, ask for the same version again and again; the same
//! heads give the same JSON. What it costs: one document's JSON per
//! document (about 430 KB for those 200 cells), for as long as the room
//! stays open.

use schema::automerge::{Automerge, ChangeHash};
use schema::preview::DocumentPreview;
use schema::DocKind;
use std::sync::Arc;

/// Both documents' previews as JSON text (`{"heads": [...], "doc": {...}}`).
#[derive(Clone, Debug)]
pub struct PreviewJson {
    pub notebook: Arc<str>,
    pub runtime: Arc<str>,
}

#[derive(Default)]
pub struct PreviewCache {
    kept: [Option<Kept>; 2],
}

struct Kept {
    heads: Vec<ChangeHash>,
    json: Arc<str>,
}

impl PreviewCache {
    /// Both documents' previews, built again only for a document whose
    /// heads moved since the last one.
    pub fn previews(
        &mut self,
        notebook: &Automerge,
        runtime: &Automerge,
    ) -> schema::Result<PreviewJson> {
        Ok(PreviewJson {
            notebook: self.json(DocKind::Notebook, notebook.get_heads(), || {
                schema::preview::notebook_preview(notebook)
            })?,
            runtime: self.json(DocKind::Runtime, runtime.get_heads(), || {
                schema::preview::runtime_preview(runtime)
            })?,
        })
    }

    /// The kept JSON for `kind` at `heads`, or `build`'s, kept in its place.
    /// A failed build keeps nothing.
    fn json(
        &mut self,
        kind: DocKind,
        heads: Vec<ChangeHash>,
        build: impl FnOnce() -> schema::Result<DocumentPreview>,
    ) -> schema::Result<Arc<str>> {
        let slot = &mut self.kept[kind.index()];
        if let Some(kept) = slot.as_ref().filter(|k| k.heads == heads) {
            return Ok(kept.json.clone());
        }
        let text = serde_json::to_string(&build()?)
            .map_err(|_| schema::SchemaError::Malformed { field: "document" })?;
        let json: Arc<str> = Arc::from(text);
        *slot = Some(Kept {
            heads,
            json: json.clone(),
        });
        Ok(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn preview(n: i64) -> schema::Result<DocumentPreview> {
        Ok(DocumentPreview {
            heads: vec![],
            doc: serde_json::json!({ "n": n }),
        })
    }

    #[test]
    fn the_same_heads_are_built_once_and_new_heads_again() {
        let mut cache = PreviewCache::default();
        let builds = Cell::new(0);
        let build = |n| {
            builds.set(builds.get() + 1);
            preview(n)
        };
        let a = vec![ChangeHash([1; 32])];
        let b = vec![ChangeHash([2; 32])];
        let first = cache
            .json(DocKind::Notebook, a.clone(), || build(1))
            .unwrap();
        let again = cache
            .json(DocKind::Notebook, a.clone(), || build(2))
            .unwrap();
        assert_eq!(builds.get(), 1);
        assert!(Arc::ptr_eq(&first, &again));
        assert!(first.contains("\"n\":1"));
        // The other document has a place of its own.
        cache
            .json(DocKind::Runtime, a.clone(), || build(3))
            .unwrap();
        assert_eq!(builds.get(), 2);
        let moved = cache.json(DocKind::Notebook, b, || build(4)).unwrap();
        assert_eq!(builds.get(), 3);
        assert!(moved.contains("\"n\":4"));
        let back = cache.json(DocKind::Notebook, a, || build(5)).unwrap();
        assert!(back.contains("\"n\":5"), "only the latest version is kept");
    }

    #[test]
    fn a_failed_build_keeps_nothing() {
        let mut cache = PreviewCache::default();
        let heads = vec![ChangeHash([7; 32])];
        let failed = cache.json(DocKind::Notebook, heads.clone(), || {
            Err(schema::SchemaError::Malformed { field: "x" })
        });
        assert!(failed.is_err());
        let built = cache.json(DocKind::Notebook, heads, || preview(9)).unwrap();
        assert!(built.contains("\"n\":9"));
    }

    #[test]
    fn previews_of_real_documents_follow_their_changes() {
        let mut notebook = schema::NotebookDoc::create("nb").unwrap();
        let runtime = schema::RuntimeDoc::create("nb").unwrap();
        let mut cache = PreviewCache::default();
        let before = cache
            .previews(notebook.automerge(), runtime.automerge())
            .unwrap();
        let same = cache
            .previews(notebook.automerge(), runtime.automerge())
            .unwrap();
        assert!(Arc::ptr_eq(&before.notebook, &same.notebook));
        notebook
            .create_cell(schema::CellType::Code, schema::Placement::End, "x = 1")
            .unwrap();
        let after = cache
            .previews(notebook.automerge(), runtime.automerge())
            .unwrap();
        assert!(after.notebook.contains("x = 1") && !before.notebook.contains("x = 1"));
        assert!(Arc::ptr_eq(&before.runtime, &after.runtime));
    }
}
