//! Papermill-style parameters: values given on the command line (`-p`,
//! `-r`, `-y`, `-f`) written as a new code cell after the cell tagged
//! `parameters` (or at the top), tagged `injected-parameters`, so the run
//! overrides the notebook's defaults and the executed notebook shows what
//! it ran with.

use anyhow::{bail, Context};
use cathode_client::NotebookClient;
use schema::{CellId, CellType, Placement};
use serde_json::{json, Value};

/// The tag of the cell whose values the parameters override.
pub const PARAMETERS_TAG: &str = "parameters";
/// The tag of the cell a run adds (papermill's name for it).
pub const INJECTED_TAG: &str = "injected-parameters";

/// Parameters in the order given; a later value for a name replaces an
/// earlier one in place.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Parameters(Vec<(String, Value)>);

impl Parameters {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn set(&mut self, name: &str, value: Value) -> anyhow::Result<()> {
        if !is_identifier(name) {
            bail!("parameter {name:?} is not a Python name (letters, digits and '_', not starting with a digit)");
        }
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
        Ok(())
    }

    /// `-p name value`: the value typed as papermill types it.
    pub fn set_typed(&mut self, name: &str, raw: &str) -> anyhow::Result<()> {
        self.set(name, typed(raw))
    }

    /// Every top-level key of a YAML mapping (`-y` text, `-f` file).
    pub fn set_yaml(&mut self, yaml: &str, what: &str) -> anyhow::Result<()> {
        // YAML's own mapping keeps the file's order (a JSON map would sort).
        let value: yaml_serde::Value =
            yaml_serde::from_str(yaml).with_context(|| format!("reading {what} as YAML"))?;
        let Some(map) = value.as_mapping() else {
            bail!("{what} must be a YAML mapping of parameter names to values");
        };
        for (name, value) in map {
            let Some(name) = name.as_str() else {
                bail!("{what}: parameter names must be text, not {name:?}");
            };
            let value = serde_json::to_value(value)
                .with_context(|| format!("{what}: the value of {name} has no JSON form"))?;
            self.set(name, value)?;
        }
        Ok(())
    }

    /// The injected cell's source.
    pub fn python_source(&self) -> String {
        let mut source = String::from("# Parameters\n");
        for (name, value) in &self.0 {
            source.push_str(&format!("{name} = {}\n", python_literal(value)));
        }
        source
    }
}

/// As papermill's `-p`: `True`/`False`, `None`, an integer, a float, else
/// the text itself.
pub fn typed(raw: &str) -> Value {
    match raw {
        "True" | "true" => return json!(true),
        "False" | "false" => return json!(false),
        "None" => return Value::Null,
        _ => {}
    }
    if let Ok(i) = raw.parse::<i64>() {
        return json!(i);
    }
    match raw.parse::<f64>() {
        Ok(f) if f.is_finite() => json!(f),
        _ => json!(raw),
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
        && !is_keyword(name)
}

fn is_keyword(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield",
    ];
    KEYWORDS.contains(&name)
}

/// A JSON value as the Python literal of the same value.
pub fn python_literal(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            // Debug is the shortest text that reads back as the same
            // float, with a '.' or an exponent, as Python's repr.
            (_, _, Some(f)) if f.is_finite() => format!("{f:?}"),
            _ => "float('nan')".into(),
        },
        Value::String(s) => python_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_literal).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", python_string(k), python_literal(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

fn python_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn tags(cell: &schema::Cell) -> Vec<&str> {
    cell.metadata
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The language the notebook's kernel speaks, as its metadata says.
fn language(metadata: &std::collections::BTreeMap<String, Value>) -> Option<String> {
    metadata
        .get("kernelspec")
        .and_then(|k| k.get("language"))
        .or_else(|| metadata.get("language_info").and_then(|l| l.get("name")))
        .and_then(Value::as_str)
        .map(str::to_lowercase)
}

/// Write the parameters cell into the notebook, replacing one an earlier
/// run injected; returns the new cell.
pub async fn inject(client: &NotebookClient, parameters: &Parameters) -> anyhow::Result<CellId> {
    let source = parameters.python_source();
    let injected = client
        .edit_notebook(move |nb| {
            if let Some(lang) = language(&nb.notebook_metadata()?) {
                if lang != "python" {
                    return Ok(Err(lang));
                }
            }
            let cells = nb.cells()?;
            for cell in &cells {
                if tags(cell).contains(&INJECTED_TAG) {
                    nb.delete_cell(&cell.id)?;
                }
            }
            let placement = match cells.iter().find(|c| tags(c).contains(&PARAMETERS_TAG)) {
                Some(cell) => Placement::After(cell.id.clone()),
                None => Placement::Start,
            };
            let id = nb.create_cell(CellType::Code, placement, &source)?;
            nb.set_metadata(&id, "tags", Some(&json!([INJECTED_TAG])))?;
            Ok::<_, schema::SchemaError>(Ok(id))
        })
        .await??;
    match injected {
        Ok(id) => Ok(id),
        Err(lang) => {
            bail!("parameters are written as Python, and this notebook's kernel speaks {lang}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_typed_as_papermill_types_them() {
        assert_eq!(typed("3"), json!(3));
        assert_eq!(typed("-2.5"), json!(-2.5));
        assert_eq!(typed("True"), json!(true));
        assert_eq!(typed("None"), Value::Null);
        assert_eq!(typed("nan"), json!("nan"));
        assert_eq!(typed("2024-01-01"), json!("2024-01-01"));
    }

    #[test]
    fn literals_are_python() {
        assert_eq!(python_literal(&json!(1.0)), "1.0");
        assert_eq!(python_literal(&json!(1e300)), "1e300");
        assert_eq!(python_literal(&json!(null)), "None");
        assert_eq!(
            python_literal(&json!("a \"q\" \\ \n\u{1}")),
            r#""a \"q\" \\ \n\u0001""#
        );
        assert_eq!(
            python_literal(&json!({"k": [1, false, "x"]})),
            r#"{"k": [1, False, "x"]}"#
        );
    }

    #[test]
    fn yaml_and_flags_combine_in_order() {
        let mut p = Parameters::default();
        p.set_typed("alpha", "0.5").unwrap();
        p.set_yaml("ratio: 3\nname: run 1\nalpha: 0.1\nitems: [1, 2]\n", "-y")
            .unwrap();
        assert_eq!(
            p.python_source(),
            "# Parameters\nalpha = 0.1\nratio = 3\nname = \"run 1\"\nitems = [1, 2]\n"
        );
        assert!(p.set_yaml("- 1\n- 2\n", "-y").is_err());
        assert!(p.set_typed("class", "1").is_err());
        assert!(p.set_typed("1x", "1").is_err());
        assert!(p.set_yaml(": :", "-y").is_err());
    }
}
