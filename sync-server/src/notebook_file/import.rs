//! A whole `.ipynb` file as what the server writes into a new notebook's
//! two documents: cells (ids kept when valid), their outputs as imported
//! executions, notebook metadata, and the blobs large outputs go to.
//!
//! Order matters and is nbformat's own (`nbformat.read`): upgrade an old
//! format, repair cell ids (missing, invalid or repeated ones get new ids,
//! and the reply says which), then validate. Nothing is written anywhere
//! here: a file that fails comes back as one message naming every
//! problem, and the caller creates nothing.

use super::outputs::{import_output, joined, NewBlobs};
use super::{upgrade, validate, CATHODE_KEY};
use schema::{CellId, CellType, ImportedCell, ImportedExecution};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};

/// The file's contents, ready to be written.
#[derive(Debug)]
pub struct ImportedNotebook {
    pub cells: Vec<ImportedCell>,
    pub executions: Vec<ImportedExecution>,
    pub metadata: BTreeMap<String, Value>,
    pub blobs: NewBlobs,
    /// What was changed to make the file importable (repaired ids), each
    /// naming the cell, as nbformat warns of the same repairs.
    pub repairs: Vec<String>,
}

impl ImportedNotebook {
    /// The kernel the file was saved with (`metadata.kernelspec.name`).
    pub fn kernel_name(&self) -> Option<&str> {
        self.metadata
            .get("kernelspec")
            .and_then(|k| k.get("name"))
            .and_then(Value::as_str)
    }
}

/// Parse, upgrade, repair and validate `bytes`; the message of an error
/// says what is wrong and where.
pub fn read(bytes: &[u8]) -> Result<ImportedNotebook, String> {
    let mut nb: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("the file is not JSON: {e} (an .ipynb file is a JSON document)"))?;
    // Whether the file itself had to carry ids: only a 4.5 file (or later)
    // did; an upgraded v2 or v3 file gets its minor version from upgrade.
    let had_ids = nb.get("nbformat").and_then(Value::as_i64) == Some(4)
        && nb.get("nbformat_minor").and_then(Value::as_i64) >= Some(5);
    upgrade::upgrade(&mut nb)?;
    let repairs = repair_ids(&mut nb, had_ids);
    validate::validate(&nb)?;
    Ok(convert(nb, repairs))
}

/// Give every cell a valid, unique id, as `nbformat.validate` repairs them
/// (a missing id in a 4.5 file, an invalid one, a repeated one). Cells of
/// files before 4.5 have none, and get one silently: they could not have
/// had one.
fn repair_ids(nb: &mut Value, had_ids: bool) -> Vec<String> {
    let Some(cells) = nb.get_mut("cells").and_then(Value::as_array_mut) else {
        return Vec::new();
    };
    let mut repairs = Vec::new();
    let mut taken: HashSet<String> = HashSet::new();
    for (i, cell) in cells.iter_mut().enumerate() {
        let Some(cell) = cell.as_object_mut() else {
            continue; // validation names it
        };
        let why = match cell.get("id") {
            None if !had_ids => None,
            None => Some("it had no id".to_owned()),
            Some(Value::String(id)) if !schema::ids::is_valid_id(id) => Some(format!(
                "its id {id:?} is not 1 to 64 letters, digits, '-' or '_'"
            )),
            Some(Value::String(id)) if taken.contains(id) => {
                Some(format!("its id {id:?} was used by an earlier cell"))
            }
            Some(Value::String(_)) => {
                if let Some(Value::String(id)) = cell.get("id") {
                    taken.insert(id.clone());
                }
                continue;
            }
            Some(_) => Some("its id was not a string".to_owned()),
        };
        let fresh = loop {
            let id = CellId::random().as_str().to_owned();
            if taken.insert(id.clone()) {
                break id;
            }
        };
        if let Some(why) = why {
            repairs.push(format!("cells[{i}]: {why}; it is now {fresh:?}"));
        }
        cell.insert("id".into(), Value::String(fresh));
    }
    repairs
}

/// The cell type cathode gives a cell: its own (ai, sql) when an export
/// recorded it in the cell's metadata, else the file's.
fn cell_type_of(file_type: &str, metadata: &Map<String, Value>) -> CellType {
    let ours = metadata
        .get(CATHODE_KEY)
        .and_then(|c| c.get("cell_type"))
        .and_then(Value::as_str)
        .and_then(CellType::parse);
    match (ours, file_type) {
        (Some(t @ (CellType::Ai | CellType::Sql)), _) => t,
        (_, "markdown") => CellType::Markdown,
        (_, "raw") => CellType::Raw,
        _ => CellType::Code,
    }
}

/// The cell's metadata as kept: everything, but the export's own record
/// of what the cell was (the document holds that as the cell's type, and
/// its outputs as an execution).
fn kept_metadata(metadata: &Map<String, Value>) -> BTreeMap<String, Value> {
    let mut kept: BTreeMap<String, Value> = metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(Value::Object(ours)) = kept.get_mut(CATHODE_KEY) {
        ours.remove("cell_type");
        ours.remove("outputs");
        ours.remove("execution_count");
        if ours.is_empty() {
            kept.remove(CATHODE_KEY);
        }
    }
    kept
}

fn convert(nb: Value, repairs: Vec<String>) -> ImportedNotebook {
    let mut blobs = NewBlobs::new();
    let mut cells = Vec::new();
    let mut executions = Vec::new();
    let empty = Map::new();
    for cell in nb["cells"].as_array().into_iter().flatten() {
        let Some(obj) = cell.as_object() else {
            continue;
        };
        let file_type = obj
            .get("cell_type")
            .and_then(Value::as_str)
            .unwrap_or("code");
        let metadata = obj
            .get("metadata")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let cell_type = cell_type_of(file_type, metadata);
        let id = CellId::from(obj.get("id").and_then(Value::as_str).unwrap_or_default());
        // A code cell's outputs are its own; an AI cell exported as
        // markdown carries its outputs in its metadata.
        let ours = metadata.get(CATHODE_KEY);
        let (outputs, count) = match file_type {
            "code" => (obj.get("outputs"), obj.get("execution_count")),
            _ => (
                ours.and_then(|c| c.get("outputs")),
                ours.and_then(|c| c.get("execution_count")),
            ),
        };
        let count = count.and_then(Value::as_i64);
        let outputs: Vec<_> = outputs
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|o| import_output(o, count, &mut blobs))
            .collect();
        if !outputs.is_empty() || count.is_some() {
            executions.push(ImportedExecution {
                cell_id: id.clone(),
                execution_count: count,
                outputs,
            });
        }
        cells.push(ImportedCell {
            id,
            cell_type,
            source: obj.get("source").map(joined).unwrap_or_default(),
            metadata: kept_metadata(metadata),
            attachments: obj.get("attachments").cloned(),
        });
    }
    let metadata = nb["metadata"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    ImportedNotebook {
        cells,
        executions,
        metadata,
        blobs,
        repairs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(cells: Value, minor: i64) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "nbformat": 4, "nbformat_minor": minor,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}, "custom": {"k": [1]}},
            "cells": cells,
        }))
        .unwrap()
    }

    #[test]
    fn ids_are_kept_when_valid_and_repaired_otherwise() {
        let bytes = file(
            json!([
                {"id": "keep-me", "cell_type": "markdown", "metadata": {}, "source": "# a"},
                {"id": "keep-me", "cell_type": "markdown", "metadata": {}, "source": "b"},
                {"id": "$bad", "cell_type": "raw", "metadata": {}, "source": "c"},
                {"cell_type": "code", "metadata": {}, "source": "d", "outputs": [], "execution_count": null},
            ]),
            5,
        );
        let nb = read(&bytes).unwrap();
        let ids: Vec<_> = nb.cells.iter().map(|c| c.id.as_str().to_owned()).collect();
        assert_eq!(ids[0], "keep-me");
        assert!(ids.iter().all(|id| schema::ids::is_valid_id(id)));
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 4, "{ids:?}");
        assert_eq!(nb.repairs.len(), 3, "{:?}", nb.repairs);
        assert!(nb.repairs[0].starts_with("cells[1]: its id \"keep-me\" was used"));
        assert!(nb.repairs[1].contains("\"$bad\""));
        assert!(nb.repairs[2].contains("no id"));
        assert_eq!(nb.kernel_name(), Some("python3"));
        assert_eq!(nb.metadata["custom"], json!({"k": [1]}));
    }

    #[test]
    fn files_before_4_5_get_ids_without_a_repair_note() {
        let nb = read(&file(
            json!([{"cell_type": "markdown", "metadata": {}, "source": ["a\n", "b"]}]),
            4,
        ))
        .unwrap();
        assert!(nb.repairs.is_empty());
        assert_eq!(nb.cells[0].source, "a\nb");
    }

    #[test]
    fn outputs_become_one_execution_per_code_cell() {
        let nb = read(&file(
            json!([
                {"id": "a", "cell_type": "code", "metadata": {"tags": ["x"]}, "source": "1",
                 "execution_count": 3, "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": ["hi\n"]},
                    {"output_type": "execute_result", "execution_count": 3, "metadata": {},
                     "data": {"text/plain": "1"}}]},
                {"id": "b", "cell_type": "code", "metadata": {}, "source": "", "execution_count": null, "outputs": []},
            ]),
            5,
        ))
        .unwrap();
        assert_eq!(nb.executions.len(), 1);
        assert_eq!(nb.executions[0].execution_count, Some(3));
        assert_eq!(nb.executions[0].outputs.len(), 2);
        assert_eq!(nb.cells[0].metadata["tags"], json!(["x"]));
    }

    #[test]
    fn cathode_cell_types_come_back_from_an_export() {
        let nb = read(&file(
            json!([
                {"id": "ai1", "cell_type": "markdown", "source": "explain",
                 "metadata": {"cathode": {"cell_type": "ai", "model": "m", "execution_count": 2,
                   "outputs": [{"output_type": "display_data", "metadata": {},
                                "data": {"text/markdown": "It is..."}}]}}},
                {"id": "q1", "cell_type": "code", "source": "select 1", "execution_count": 4, "outputs": [],
                 "metadata": {"cathode": {"cell_type": "sql"}}},
            ]),
            5,
        ))
        .unwrap();
        assert_eq!(nb.cells[0].cell_type, CellType::Ai);
        assert_eq!(nb.cells[0].metadata["cathode"], json!({"model": "m"}));
        assert_eq!(nb.cells[1].cell_type, CellType::Sql);
        assert!(!nb.cells[1].metadata.contains_key("cathode"));
        assert_eq!(nb.executions.len(), 2);
        assert_eq!(nb.executions[0].cell_id.as_str(), "ai1");
        assert_eq!(nb.executions[0].execution_count, Some(2));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        assert!(read(b"{not json").unwrap_err().contains("not JSON"));
        let why = read(&file(
            json!([{"id": "x", "cell_type": "markdown", "metadata": {}}]),
            5,
        ))
        .unwrap_err();
        assert!(
            why.contains("cells[0]") && why.contains("'source'"),
            "{why}"
        );
    }
}
