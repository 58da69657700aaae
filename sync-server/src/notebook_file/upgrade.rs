//! Files from nbformat 2 and 3 become nbformat 4 as `nbformat.read` makes
//! them (its `v4.convert.upgrade`): worksheets flattened, heading cells
//! become markdown headings, `input`/`prompt_number` become `source`/
//! `execution_count`, `pyout`/`pyerr` become `execute_result`/`error`, the
//! short MIME keys (`png`, `html`, ...) become MIME types, and the
//! original version is kept in `metadata.orig_nbformat`. A file nbformat
//! cannot upgrade (no metadata, no worksheets, a worksheet without cells)
//! is refused with the same reason.

use serde_json::{json, Map, Value};

/// The v3 short names of MIME types.
fn mime_of(key: &str) -> &str {
    match key {
        "text" => "text/plain",
        "html" => "text/html",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpeg" => "image/jpeg",
        "latex" => "text/latex",
        "json" => "application/json",
        "javascript" => "application/javascript",
        other => other,
    }
}

/// Upgrade `nb` in place when it is older than v4; v4 files are untouched.
pub fn upgrade(nb: &mut Value) -> Result<(), String> {
    let Some(top) = nb.as_object_mut() else {
        return Ok(()); // validation says what is wrong
    };
    let version = match top.get("nbformat").and_then(Value::as_i64) {
        Some(v @ (2 | 3)) => v,
        _ => return Ok(()),
    };
    let meta = match top.remove("metadata") {
        Some(Value::Object(m)) => m,
        _ => {
            return Err(format!(
                "this nbformat {version} notebook could not be converted to v4: it is missing a key: metadata"
            ))
        }
    };
    let worksheets = match top.remove("worksheets") {
        Some(Value::Array(w)) => w,
        _ => {
            return Err(format!(
            "this nbformat {version} notebook could not be converted to v4: it has no 'worksheets'"
        ))
        }
    };
    let mut cells = Vec::new();
    for (w, sheet) in worksheets.into_iter().enumerate() {
        let Some(Value::Array(sheet_cells)) = sheet.get("cells").cloned() else {
            return Err(format!(
                "this nbformat {version} notebook could not be converted to v4: worksheets[{w}] has no 'cells'"
            ));
        };
        for mut cell in sheet_cells {
            rejoin_lines(&mut cell);
            cells.push(upgrade_cell(cell));
        }
    }
    let mut meta = meta;
    meta.remove("name");
    meta.remove("signature");
    let orig_minor = top
        .get("nbformat_minor")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    meta.insert("orig_nbformat".into(), json!(version));
    meta.insert("orig_nbformat_minor".into(), json!(orig_minor));
    *nb = json!({"nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": cells});
    Ok(())
}

/// Lines as nbformat 2 and 3 stored them, joined as their readers join
/// them (`_join_lines`): lines written by `splitlines(True)` keep their
/// ends, so they are concatenated; lines written by `splitlines()` lost
/// them, so they are joined with newlines.
fn join_lines(lines: &[Value]) -> Value {
    let lines: Vec<&str> = lines.iter().filter_map(Value::as_str).collect();
    if lines.first().is_some_and(|l| l.ends_with(['\n', '\r'])) {
        json!(lines.concat())
    } else {
        json!(lines.join("\n"))
    }
}

/// The multiline fields nbformat 2 and 3 join on reading: a code cell's
/// input and its outputs' text payloads, other cells' source.
fn rejoin_lines(cell: &mut Value) {
    const MULTILINE_OUTPUTS: [&str; 6] = ["text", "html", "svg", "latex", "javascript", "json"];
    let Some(c) = cell.as_object_mut() else {
        return;
    };
    let rejoin = |v: &mut Value| {
        if let Value::Array(lines) = v {
            *v = join_lines(lines);
        }
    };
    if c.get("cell_type").and_then(Value::as_str) == Some("code") {
        if let Some(input) = c.get_mut("input") {
            rejoin(input);
        }
        for output in c
            .get_mut("outputs")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for key in MULTILINE_OUTPUTS {
                if let Some(v) = output.get_mut(key) {
                    rejoin(v);
                }
            }
        }
    } else {
        for key in ["source", "rendered"] {
            if let Some(v) = c.get_mut(key) {
                rejoin(v);
            }
        }
    }
}

fn upgrade_cell(cell: Value) -> Value {
    let Value::Object(mut c) = cell else {
        return cell;
    };
    if !c.get("metadata").is_some_and(Value::is_object) {
        c.insert("metadata".into(), json!({}));
    }
    match c.get("cell_type").and_then(Value::as_str) {
        Some("code") => {
            c.remove("language");
            if let Some(collapsed) = c.remove("collapsed") {
                if let Some(meta) = c.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("collapsed".into(), collapsed);
                }
            }
            let source = c.remove("input").unwrap_or_else(|| json!(""));
            c.insert("source".into(), source);
            let count = c.remove("prompt_number").unwrap_or(Value::Null);
            c.insert("execution_count".into(), count);
            let outputs = match c.remove("outputs") {
                Some(Value::Array(o)) => o.into_iter().map(upgrade_output).collect(),
                _ => Vec::new(),
            };
            c.insert("outputs".into(), Value::Array(outputs));
        }
        Some("heading") => {
            let level = c
                .remove("level")
                .and_then(|l| l.as_u64())
                .unwrap_or(1)
                .clamp(1, 6);
            let source = match c.get("source") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(lines)) => lines.iter().filter_map(Value::as_str).collect(),
                _ => String::new(),
            };
            let single_line = source.lines().collect::<Vec<_>>().join(" ");
            c.insert("cell_type".into(), json!("markdown"));
            c.insert(
                "source".into(),
                json!(format!("{} {single_line}", "#".repeat(level as usize))),
            );
        }
        Some("html") => {
            c.insert("cell_type".into(), json!("markdown"));
        }
        _ => {}
    }
    Value::Object(c)
}

fn upgrade_output(output: Value) -> Value {
    let Value::Object(mut o) = output else {
        return output;
    };
    let kind = o
        .get("output_type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match kind.as_deref() {
        Some(kind @ ("pyout" | "display_data")) => {
            let mut out = Map::new();
            let metadata = match o.remove("metadata") {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            if kind == "pyout" {
                out.insert("output_type".into(), json!("execute_result"));
                let count = o.remove("prompt_number").unwrap_or(Value::Null);
                out.insert("execution_count".into(), count);
            } else {
                out.insert("output_type".into(), json!("display_data"));
            }
            o.remove("output_type");
            let mut data = Map::new();
            for (key, value) in o {
                let mime = mime_of(&key).to_owned();
                // A v3 JSON payload is a string holding JSON.
                let value = match (&value, mime.as_str()) {
                    (Value::String(s), "application/json") => {
                        serde_json::from_str(s).unwrap_or(value)
                    }
                    _ => value,
                };
                data.insert(mime, value);
            }
            // Per-MIME metadata moves to its MIME type's name.
            let metadata: Map<String, Value> = metadata
                .into_iter()
                .map(|(k, v)| (mime_of(&k).to_owned(), v))
                .collect();
            out.insert("data".into(), Value::Object(data));
            out.insert("metadata".into(), Value::Object(metadata));
            Value::Object(out)
        }
        Some("pyerr") => {
            o.insert("output_type".into(), json!("error"));
            Value::Object(o)
        }
        Some("stream") => {
            let name = o.remove("stream").unwrap_or_else(|| json!("stdout"));
            o.insert("name".into(), name);
            Value::Object(o)
        }
        _ => Value::Object(o),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v3_notebook_becomes_v4() {
        let mut nb = json!({
            "nbformat": 3, "nbformat_minor": 0,
            "metadata": {"name": "x"},
            "worksheets": [{"cells": [
                {"cell_type": "heading", "level": 2, "source": "Title\nmore", "metadata": {}},
                {"cell_type": "code", "input": "1", "prompt_number": 4, "collapsed": false, "language": "python",
                 "outputs": [
                    {"output_type": "pyout", "prompt_number": 4, "text": "1", "png": "AAAA", "metadata": {"png": {"width": 3}}},
                    {"output_type": "stream", "stream": "stderr", "text": "e"},
                    {"output_type": "pyerr", "ename": "E", "evalue": "v", "traceback": []}]}
            ]}]
        });
        upgrade(&mut nb).unwrap();
        assert_eq!(
            nb["metadata"],
            json!({"orig_nbformat": 3, "orig_nbformat_minor": 0})
        );
        let cells = nb["cells"].as_array().unwrap();
        assert_eq!(cells[0]["cell_type"], "markdown");
        assert_eq!(cells[0]["source"], "## Title more");
        assert_eq!(cells[1]["source"], "1");
        assert_eq!(cells[1]["execution_count"], 4);
        assert_eq!(cells[1]["metadata"]["collapsed"], false);
        let out = &cells[1]["outputs"];
        assert_eq!(out[0]["output_type"], "execute_result");
        assert_eq!(out[0]["data"]["image/png"], "AAAA");
        assert_eq!(out[0]["metadata"]["image/png"]["width"], 3);
        assert_eq!(out[1]["name"], "stderr");
        assert_eq!(out[2]["output_type"], "error");
        crate::notebook_file::validate::validate(&nb).unwrap();
    }

    #[test]
    fn what_nbformat_cannot_upgrade_is_refused() {
        let mut no_meta = json!({"nbformat": 3, "nbformat_minor": 0, "worksheets": []});
        assert!(upgrade(&mut no_meta).unwrap_err().contains("metadata"));
        let mut no_sheets = json!({"nbformat": 3, "nbformat_minor": 0, "metadata": {}});
        assert!(upgrade(&mut no_sheets).unwrap_err().contains("worksheets"));
        let mut no_cells = json!({"nbformat": 3, "metadata": {}, "worksheets": [{}]});
        assert!(upgrade(&mut no_cells).unwrap_err().contains("cells"));
    }

    #[test]
    fn lines_are_joined_as_the_old_readers_joined_them() {
        let mut nb = json!({
            "nbformat": 3, "nbformat_minor": 0, "metadata": {},
            "worksheets": [{"cells": [
                {"cell_type": "markdown", "source": ["# Title", "", "text"]},
                {"cell_type": "code", "input": ["a = 1\n", "b = 2"],
                 "outputs": [{"output_type": "stream", "stream": "stdout", "text": ["x", "y"]}]}
            ]}]
        });
        upgrade(&mut nb).unwrap();
        assert_eq!(nb["cells"][0]["source"], "# Title\n\ntext");
        assert_eq!(nb["cells"][1]["source"], "a = 1\nb = 2");
        assert_eq!(nb["cells"][1]["outputs"][0]["text"], "x\ny");
    }
}
