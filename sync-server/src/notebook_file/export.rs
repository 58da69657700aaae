//! A notebook's current state as an nbformat 4.5 file: cells in order with
//! their ids, sources, metadata and attachments, and for each the outputs
//! and execution count of the run it shows (`RuntimeDoc::shown_executions`),
//! large payloads and long streams read back whole from their blobs.
//!
//! Cell types nbformat lacks become ones Jupyter opens without complaint,
//! the original recorded under `metadata.cathode` so a re-import restores
//! it: an AI cell is a markdown cell (its prompt) with its outputs and
//! execution count in that metadata, a SQL cell a code cell (its results
//! are outputs like any other).

use super::outputs::{blobs_of, export_output, split_lines};
use super::CATHODE_KEY;
use schema::{CellId, CellType, ExecutionRecord, NotebookDoc, RuntimeDoc};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// Notebook metadata nbformat never writes into a file.
const TRANSIENT_METADATA: [&str; 3] = ["orig_nbformat", "orig_nbformat_minor", "signature"];

/// What an export reads from the documents, read once so that the blobs
/// can be fetched between reading and writing.
pub struct ExportSource {
    cells: Vec<(schema::Cell, Option<Value>)>,
    metadata: BTreeMap<String, Value>,
    shown: HashMap<CellId, ExecutionRecord>,
}

impl ExportSource {
    pub fn read(notebook: &NotebookDoc, runtime: &RuntimeDoc) -> schema::Result<Self> {
        let mut cells = Vec::new();
        for cell in notebook.cells()? {
            let attachments = notebook.attachments(&cell.id)?;
            cells.push((cell, attachments));
        }
        Ok(Self {
            cells,
            metadata: notebook.notebook_metadata()?,
            // What each cell shows, as a person cleared it.
            shown: schema::apply_clears(runtime.shown_executions()?, &notebook.outputs_cleared()?),
        })
    }

    /// The blobs the export inlines, each once.
    pub fn blobs_needed(&self) -> Vec<String> {
        let mut needed: Vec<String> = self
            .cells
            .iter()
            .filter_map(|(cell, _)| self.shown.get(&cell.id))
            .flat_map(|record| record.outputs.iter().flat_map(blobs_of))
            .collect();
        needed.sort();
        needed.dedup();
        needed
    }

    /// The file, with `blobs` (by sha256) inlined where outputs name them.
    pub fn write(&self, blobs: &HashMap<String, Vec<u8>>) -> Value {
        let cells: Vec<Value> = self
            .cells
            .iter()
            .map(|(cell, attachments)| self.cell(cell, attachments.as_ref(), blobs))
            .collect();
        // As `nbformat.write` strips them (`strip_transient`): they describe
        // the file an import read, not this one.
        let metadata: Map<String, Value> = self
            .metadata
            .iter()
            .filter(|(k, _)| !TRANSIENT_METADATA.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        json!({
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": metadata,
            "cells": cells,
        })
    }

    fn cell(
        &self,
        cell: &schema::Cell,
        attachments: Option<&Value>,
        blobs: &HashMap<String, Vec<u8>>,
    ) -> Value {
        let mut metadata: Map<String, Value> = cell
            .metadata
            .iter()
            .filter(|(k, _)| k.as_str() != "trusted")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let shown = self.shown.get(&cell.id);
        let outputs: Vec<Value> = shown
            .map(|r| r.outputs.iter().map(|o| export_output(o, blobs)).collect())
            .unwrap_or_default();
        let count = shown.and_then(|r| r.execution_count);
        let file_type = match cell.cell_type {
            CellType::Code => "code",
            CellType::Markdown => "markdown",
            CellType::Raw => "raw",
            CellType::Sql => {
                ours(&mut metadata).insert("cell_type".into(), json!("sql"));
                "code"
            }
            CellType::Ai => {
                let ours = ours(&mut metadata);
                ours.insert("cell_type".into(), json!("ai"));
                if !outputs.is_empty() {
                    ours.insert("outputs".into(), Value::Array(outputs.clone()));
                }
                if let Some(count) = count {
                    ours.insert("execution_count".into(), json!(count));
                }
                "markdown"
            }
        };
        let mut out = Map::new();
        out.insert("id".into(), json!(cell.id.as_str()));
        out.insert("cell_type".into(), json!(file_type));
        out.insert("metadata".into(), Value::Object(metadata));
        out.insert("source".into(), split_lines(&cell.source));
        if file_type == "code" {
            out.insert("execution_count".into(), json!(count));
            out.insert("outputs".into(), Value::Array(outputs));
        } else if let Some(attachments) = attachments {
            if matches!(cell.cell_type, CellType::Markdown | CellType::Raw) {
                out.insert("attachments".into(), attachments.clone());
            }
        }
        Value::Object(out)
    }
}

/// The cell's `metadata.cathode` object, made if missing (or replacing a
/// value that is not an object, which nothing of ours writes).
fn ours(metadata: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let entry = metadata
        .entry(CATHODE_KEY.to_owned())
        .or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    match entry {
        Value::Object(map) => map,
        _ => unreachable!("made an object just above"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::import;
    use super::*;
    use schema::{ImportedCell, ImportedExecution, OutputManifest, StreamName};

    fn documents() -> (NotebookDoc, RuntimeDoc) {
        let mut nb = NotebookDoc::create("nb-1").unwrap();
        let mut rt = RuntimeDoc::create("nb-1").unwrap();
        let cell = |id: &str, cell_type, source: &str| ImportedCell {
            id: CellId::from(id),
            cell_type,
            source: source.into(),
            metadata: BTreeMap::from([("tags".into(), json!(["t"]))]),
            attachments: None,
        };
        nb.import_cells(&[
            cell("m", CellType::Markdown, "# Title\n\ntext"),
            cell("c", CellType::Code, "print('hi')\n1"),
            cell("a", CellType::Ai, "explain the data"),
            cell("s", CellType::Sql, "select 1"),
        ])
        .unwrap();
        nb.set_notebook_metadata(
            "kernelspec",
            Some(&json!({"name": "python3", "display_name": "Python 3"})),
        )
        .unwrap();
        let stream = |text: &str| OutputManifest::Stream {
            name: StreamName::Stdout,
            text: text.into(),
            truncated: None,
        };
        rt.import_executions(
            &[
                ImportedExecution {
                    cell_id: CellId::from("c"),
                    execution_count: Some(7),
                    outputs: vec![stream("hi\n")],
                },
                ImportedExecution {
                    cell_id: CellId::from("a"),
                    execution_count: Some(8),
                    outputs: vec![stream("the answer\n")],
                },
            ],
            1,
        )
        .unwrap();
        (nb, rt)
    }

    #[test]
    fn cells_outputs_and_metadata_are_written() {
        let (nb, rt) = documents();
        let source = ExportSource::read(&nb, &rt).unwrap();
        assert!(source.blobs_needed().is_empty());
        let file = source.write(&HashMap::new());
        assert_eq!(file["nbformat_minor"], 5);
        assert_eq!(file["metadata"]["kernelspec"]["name"], "python3");
        let cells = file["cells"].as_array().unwrap();
        assert_eq!(cells.len(), 4);
        assert_eq!(cells[0]["source"], json!(["# Title\n", "\n", "text"]));
        assert_eq!(cells[1]["execution_count"], 7);
        assert_eq!(cells[1]["outputs"][0]["text"], json!(["hi\n"]));
        assert_eq!(cells[1]["metadata"]["tags"], json!(["t"]));
        assert_eq!(cells[2]["cell_type"], "markdown");
        assert_eq!(cells[2]["metadata"]["cathode"]["cell_type"], "ai");
        assert!(cells[2].get("outputs").is_none());
        assert_eq!(cells[3]["cell_type"], "code");
        assert_eq!(cells[3]["execution_count"], Value::Null);
        super::super::validate::validate(&file).unwrap();
    }

    #[test]
    fn a_re_import_gives_the_same_notebook() {
        let (nb, rt) = documents();
        let first = ExportSource::read(&nb, &rt).unwrap().write(&HashMap::new());
        let again = import::read(&serde_json::to_vec(&first).unwrap()).unwrap();
        assert!(again.repairs.is_empty());
        let types: Vec<_> = again.cells.iter().map(|c| c.cell_type).collect();
        assert_eq!(
            types,
            [
                CellType::Markdown,
                CellType::Code,
                CellType::Ai,
                CellType::Sql
            ]
        );
        let mut nb2 = NotebookDoc::create("nb-2").unwrap();
        let mut rt2 = RuntimeDoc::create("nb-2").unwrap();
        nb2.import_cells(&again.cells).unwrap();
        for (k, v) in &again.metadata {
            nb2.set_notebook_metadata(k, Some(v)).unwrap();
        }
        rt2.import_executions(&again.executions, 2).unwrap();
        let second = ExportSource::read(&nb2, &rt2)
            .unwrap()
            .write(&HashMap::new());
        assert_eq!(first, second);
    }
}
