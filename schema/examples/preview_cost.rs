//! What building a notebook's preview (`schema::preview`) costs for 200
//! cells of 2 KB, in parts: reading every source's text alone, the
//! documents as JSON values, those values as bytes, and the same JSON by
//! `AutoSerde` (which `schema::preview` used to be built with).
mod common;
use schema::RuntimeDoc;
use std::time::Instant;

fn main() {
    let nb = common::two_hundred_cells();
    let runtime = RuntimeDoc::create("n").unwrap();
    {
        use schema::automerge::{ReadDoc, ROOT};
        let doc = nb.automerge();
        let (_, cells) = doc.get(ROOT, "cells").unwrap().unwrap();
        let t = Instant::now();
        let mut n = 0;
        for item in doc.map_range(&cells, ..) {
            let (_, src) = doc.get(item.id(), "source").unwrap().unwrap();
            n += doc.text(&src).unwrap().len();
        }
        println!("text of every source ({n} bytes): {:?}", t.elapsed());
        let t = Instant::now();
        let by_autoserde = serde_json::to_value(schema::automerge::AutoSerde::from(doc)).unwrap();
        println!("the notebook by AutoSerde: {:?}", t.elapsed());
        assert!(by_autoserde.is_object());
    }
    for _ in 0..3 {
        let t = Instant::now();
        let preview = (
            schema::preview::notebook_preview(nb.automerge()).unwrap(),
            schema::preview::runtime_preview(runtime.automerge()).unwrap(),
        );
        let built = t.elapsed();
        let t = Instant::now();
        let bytes = serde_json::to_vec(&preview).unwrap();
        println!(
            "preview as JSON values: {built:?}; as {} bytes: {:?}",
            bytes.len(),
            t.elapsed()
        );
    }
}
