//! The nbformat 4.5 JSON schema's rules, as far as an import depends on
//! them, checked on the parsed file before anything is created.
//!
//! Every problem names where it is (`cells[2] (id "abc").outputs[0]`) and
//! which field, the way nbformat's own messages do, so a user can find it
//! in the file. Missing, invalid and duplicate cell ids are not problems
//! here: the importer repairs them, as `nbformat.read` does.

use serde_json::{Map, Value};

/// At most this many problems are reported: the first few say enough.
const MAX_PROBLEMS: usize = 10;

#[derive(Default)]
pub struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, at: &str, what: impl AsRef<str>) {
        if self.0.len() < MAX_PROBLEMS {
            self.0.push(format!("{at}: {}", what.as_ref()));
        }
    }

    pub fn into_result(self) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0.join("; "))
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string, or an array of strings (nbformat's `multiline_string`).
pub fn is_multiline(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Array(items) => items.iter().all(Value::is_string),
        _ => false,
    }
}

fn want(
    p: &mut Problems,
    at: &str,
    obj: &Map<String, Value>,
    key: &str,
    ok: fn(&Value) -> bool,
    what: &str,
) {
    match obj.get(key) {
        None => p.add(at, format!("'{key}' is a required property")),
        Some(v) if !ok(v) => p.add(at, format!("'{key}' must be {what}, not {}", type_name(v))),
        Some(_) => {}
    }
}

fn optional(
    p: &mut Problems,
    at: &str,
    obj: &Map<String, Value>,
    key: &str,
    ok: fn(&Value) -> bool,
    what: &str,
) {
    if let Some(v) = obj.get(key) {
        if !ok(v) {
            p.add(at, format!("'{key}' must be {what}, not {}", type_name(v)));
        }
    }
}

fn only_keys(p: &mut Problems, at: &str, obj: &Map<String, Value>, allowed: &[&str]) {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            p.add(
                at,
                format!("unknown property '{key}' (nbformat 4.5 allows no others)"),
            );
        }
    }
}

/// Check a v4 notebook (after any upgrade from v2 or v3).
pub fn validate(nb: &Value) -> Result<(), String> {
    let mut p = Problems::default();
    let Some(top) = nb.as_object() else {
        return Err(format!(
            "the file must hold a JSON object, not {}",
            type_name(nb)
        ));
    };
    match top.get("nbformat").and_then(Value::as_i64) {
        Some(4) => {}
        Some(v) => {
            return Err(format!(
                "nbformat {v} is not supported (only 4, and 2 or 3 upgraded to 4)"
            ))
        }
        None => return Err("'nbformat' is a required property and must be an integer".into()),
    }
    match top.get("nbformat_minor") {
        Some(v) if v.as_i64().is_some_and(|m| m >= 0) => {}
        Some(v) => p.add(
            "notebook",
            format!(
                "'nbformat_minor' must be a non-negative integer, not {}",
                type_name(v)
            ),
        ),
        None => p.add("notebook", "'nbformat_minor' is a required property"),
    }
    only_keys(
        &mut p,
        "notebook",
        top,
        &["metadata", "nbformat_minor", "nbformat", "cells"],
    );
    want(
        &mut p,
        "notebook",
        top,
        "metadata",
        Value::is_object,
        "an object",
    );
    if let Some(meta) = top.get("metadata").and_then(Value::as_object) {
        notebook_metadata(&mut p, meta);
    }
    match top.get("cells") {
        Some(Value::Array(cells)) => {
            for (i, cell) in cells.iter().enumerate() {
                self::cell(&mut p, i, cell);
            }
        }
        Some(v) => p.add(
            "notebook",
            format!("'cells' must be an array, not {}", type_name(v)),
        ),
        None => p.add("notebook", "'cells' is a required property"),
    }
    p.into_result()
}

fn notebook_metadata(p: &mut Problems, meta: &Map<String, Value>) {
    let at = "metadata";
    if let Some(spec) = meta.get("kernelspec") {
        match spec.as_object() {
            Some(spec) => {
                want(
                    p,
                    "metadata.kernelspec",
                    spec,
                    "name",
                    Value::is_string,
                    "a string",
                );
                want(
                    p,
                    "metadata.kernelspec",
                    spec,
                    "display_name",
                    Value::is_string,
                    "a string",
                );
            }
            None => p.add(
                at,
                format!("'kernelspec' must be an object, not {}", type_name(spec)),
            ),
        }
    }
    if let Some(info) = meta.get("language_info") {
        match info.as_object() {
            Some(info) => {
                want(
                    p,
                    "metadata.language_info",
                    info,
                    "name",
                    Value::is_string,
                    "a string",
                );
                for key in ["file_extension", "mimetype", "pygments_lexer"] {
                    optional(
                        p,
                        "metadata.language_info",
                        info,
                        key,
                        Value::is_string,
                        "a string",
                    );
                }
                optional(
                    p,
                    "metadata.language_info",
                    info,
                    "codemirror_mode",
                    |v| v.is_string() || v.is_object(),
                    "a string or an object",
                );
            }
            None => p.add(
                at,
                format!("'language_info' must be an object, not {}", type_name(info)),
            ),
        }
    }
    optional(
        p,
        at,
        meta,
        "orig_nbformat",
        |v| v.as_i64().is_some_and(|n| n >= 1),
        "an integer of at least 1",
    );
    optional(p, at, meta, "title", Value::is_string, "a string");
    optional(p, at, meta, "authors", Value::is_array, "an array");
}

fn cell_at(i: usize, cell: &Map<String, Value>) -> String {
    match cell.get("id").and_then(Value::as_str) {
        Some(id) => format!("cells[{i}] (id {id:?})"),
        None => format!("cells[{i}]"),
    }
}

fn cell(p: &mut Problems, i: usize, cell: &Value) {
    let Some(obj) = cell.as_object() else {
        p.add(
            &format!("cells[{i}]"),
            format!("a cell must be an object, not {}", type_name(cell)),
        );
        return;
    };
    let at = cell_at(i, obj);
    optional(p, &at, obj, "id", Value::is_string, "a string");
    let kind = match obj.get("cell_type").and_then(Value::as_str) {
        Some(k @ ("code" | "markdown" | "raw")) => k,
        Some(other) => {
            p.add(&at, format!("'cell_type' {other:?} is not one of code, markdown, raw (nbformat 4 has no other; cathode keeps no cell it cannot write back)"));
            return;
        }
        None => {
            p.add(
                &at,
                "'cell_type' is a required property and must be a string",
            );
            return;
        }
    };
    want(
        p,
        &at,
        obj,
        "source",
        is_multiline,
        "a string or an array of strings",
    );
    want(p, &at, obj, "metadata", Value::is_object, "an object");
    if let Some(meta) = obj.get("metadata").and_then(Value::as_object) {
        cell_metadata(p, &format!("{at}.metadata"), kind, meta);
    }
    match kind {
        "code" => {
            only_keys(
                p,
                &at,
                obj,
                &[
                    "id",
                    "cell_type",
                    "metadata",
                    "source",
                    "outputs",
                    "execution_count",
                ],
            );
            want(
                p,
                &at,
                obj,
                "execution_count",
                |v| v.is_null() || v.as_i64().is_some_and(|n| n >= 0),
                "a non-negative integer or null",
            );
            match obj.get("outputs") {
                Some(Value::Array(outputs)) => {
                    for (j, output) in outputs.iter().enumerate() {
                        self::output(p, &format!("{at}.outputs[{j}]"), output);
                    }
                }
                Some(v) => p.add(
                    &at,
                    format!("'outputs' must be an array, not {}", type_name(v)),
                ),
                None => p.add(&at, "'outputs' is a required property"),
            }
        }
        _ => {
            only_keys(
                p,
                &at,
                obj,
                &["id", "cell_type", "metadata", "source", "attachments"],
            );
            if let Some(att) = obj.get("attachments") {
                match att.as_object() {
                    Some(att) => {
                        for (name, bundle) in att {
                            if !bundle.as_object().is_some_and(|b| {
                                b.values().all(|v| is_multiline(v) || v.is_object())
                            }) {
                                p.add(&format!("{at}.attachments[{name:?}]"), "an attachment must be a MIME bundle (an object of MIME type to data)");
                            }
                        }
                    }
                    None => p.add(
                        &at,
                        format!("'attachments' must be an object, not {}", type_name(att)),
                    ),
                }
            }
        }
    }
}

fn is_tags(v: &Value) -> bool {
    let Some(tags) = v.as_array() else {
        return false;
    };
    let mut seen = std::collections::HashSet::new();
    tags.iter().all(|t| {
        t.as_str()
            .is_some_and(|s| !s.is_empty() && !s.contains(',') && seen.insert(s))
    })
}

fn cell_metadata(p: &mut Problems, at: &str, kind: &str, meta: &Map<String, Value>) {
    optional(p, at, meta, "name", Value::is_string, "a string");
    optional(
        p,
        at,
        meta,
        "tags",
        is_tags,
        "an array of unique strings without commas",
    );
    optional(p, at, meta, "jupyter", Value::is_object, "an object");
    if let Some(jupyter) = meta.get("jupyter").and_then(Value::as_object) {
        optional(
            p,
            &format!("{at}.jupyter"),
            jupyter,
            "source_hidden",
            Value::is_boolean,
            "a boolean",
        );
        if kind == "code" {
            optional(
                p,
                &format!("{at}.jupyter"),
                jupyter,
                "outputs_hidden",
                Value::is_boolean,
                "a boolean",
            );
        }
    }
    match kind {
        "code" => {
            optional(p, at, meta, "collapsed", Value::is_boolean, "a boolean");
            optional(
                p,
                at,
                meta,
                "scrolled",
                |v| v.is_boolean() || v == "auto",
                "a boolean or \"auto\"",
            );
            optional(p, at, meta, "execution", Value::is_object, "an object");
            if let Some(exec) = meta.get("execution").and_then(Value::as_object) {
                for (key, value) in exec {
                    if (key.starts_with("iopub.") || key.starts_with("shell."))
                        && !value.is_string()
                    {
                        p.add(
                            &format!("{at}.execution"),
                            format!("'{key}' must be a string, not {}", type_name(value)),
                        );
                    }
                }
            }
        }
        "raw" => optional(p, at, meta, "format", Value::is_string, "a string"),
        _ => {}
    }
}

fn is_bundle(v: &Value) -> bool {
    v.as_object().is_some_and(|b| {
        b.values()
            .all(|v| is_multiline(v) || v.is_object() || v.is_array())
    })
}

fn output(p: &mut Problems, at: &str, output: &Value) {
    let Some(obj) = output.as_object() else {
        p.add(
            at,
            format!("an output must be an object, not {}", type_name(output)),
        );
        return;
    };
    match obj.get("output_type").and_then(Value::as_str) {
        Some("stream") => {
            only_keys(p, at, obj, &["output_type", "name", "text"]);
            want(
                p,
                at,
                obj,
                "name",
                |v| v == "stdout" || v == "stderr",
                "\"stdout\" or \"stderr\"",
            );
            want(
                p,
                at,
                obj,
                "text",
                is_multiline,
                "a string or an array of strings",
            );
        }
        Some(kind @ ("display_data" | "execute_result")) => {
            if kind == "execute_result" {
                only_keys(
                    p,
                    at,
                    obj,
                    &["output_type", "execution_count", "data", "metadata"],
                );
                want(
                    p,
                    at,
                    obj,
                    "execution_count",
                    |v| v.is_null() || v.as_i64().is_some_and(|n| n >= 0),
                    "a non-negative integer or null",
                );
            } else {
                only_keys(
                    p,
                    at,
                    obj,
                    &["output_type", "data", "metadata", "transient"],
                );
            }
            want(
                p,
                at,
                obj,
                "data",
                is_bundle,
                "a MIME bundle (an object of MIME type to data)",
            );
            want(p, at, obj, "metadata", Value::is_object, "an object");
        }
        Some("error") => {
            only_keys(p, at, obj, &["output_type", "ename", "evalue", "traceback"]);
            want(p, at, obj, "ename", Value::is_string, "a string");
            want(p, at, obj, "evalue", Value::is_string, "a string");
            want(
                p,
                at,
                obj,
                "traceback",
                |v| v.as_array().is_some_and(|t| t.iter().all(Value::is_string)),
                "an array of strings",
            );
        }
        Some(other) => p.add(
            at,
            format!(
                "'output_type' {other:?} is not one of stream, display_data, execute_result, error"
            ),
        ),
        None => p.add(
            at,
            "'output_type' is a required property and must be a string",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nb(cells: Value, metadata: Value) -> Value {
        json!({"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": cells})
    }

    #[test]
    fn a_good_notebook_passes() {
        let good = nb(
            json!([
                {"id": "a", "cell_type": "markdown", "metadata": {"tags": ["x"]}, "source": ["# t\n", "b"],
                 "attachments": {"i.png": {"image/png": "AAAA"}}},
                {"id": "b", "cell_type": "code", "metadata": {"collapsed": true, "scrolled": "auto"},
                 "source": "1", "execution_count": 3, "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": "hi"},
                    {"output_type": "execute_result", "execution_count": 3, "data": {"text/plain": ["1"]}, "metadata": {}},
                    {"output_type": "error", "ename": "E", "evalue": "v", "traceback": []}]}
            ]),
            json!({"kernelspec": {"name": "python3", "display_name": "Python 3"}, "anything": [1]}),
        );
        validate(&good).unwrap();
    }

    #[test]
    fn problems_name_the_cell_and_the_field() {
        let bad = nb(
            json!([
                {"cell_type": "markdown", "metadata": {}},
                {"id": "c1", "cell_type": "code", "metadata": {"tags": "x"}, "source": "", "execution_count": null,
                 "outputs": [{"output_type": "bad stream"}]}
            ]),
            json!({"kernelspec": "python"}),
        );
        let why = validate(&bad).unwrap_err();
        assert!(
            why.contains("cells[0]: 'source' is a required property"),
            "{why}"
        );
        assert!(
            why.contains("cells[1] (id \"c1\").metadata: 'tags'"),
            "{why}"
        );
        assert!(
            why.contains("cells[1] (id \"c1\").outputs[0]: 'output_type' \"bad stream\""),
            "{why}"
        );
        assert!(
            why.contains("metadata: 'kernelspec' must be an object"),
            "{why}"
        );
    }

    #[test]
    fn other_versions_and_shapes_are_refused() {
        assert!(validate(&json!([])).unwrap_err().contains("JSON object"));
        assert!(validate(&json!({"nbformat": 5}))
            .unwrap_err()
            .contains("nbformat 5"));
        let why = validate(&json!({"nbformat": 4, "metadata": {}, "cells": []})).unwrap_err();
        assert!(
            why.contains("'nbformat_minor' is a required property"),
            "{why}"
        );
    }
}
