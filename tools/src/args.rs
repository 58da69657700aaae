//! A tool call's arguments, checked: the model's JSON parsed and held to
//! its tool's schema, each problem said in words the model can act on.

use schema::{CellId, CellType, Placement};
use serde_json::{Map, Value};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Args {
    CreateCell {
        source: String,
        cell_type: CellType,
        placement: Placement,
    },
    ModifyCell {
        cell_id: CellId,
        source: String,
    },
    DeleteCell {
        cell_id: CellId,
    },
    MoveCell {
        cell_id: CellId,
        placement: Placement,
    },
    ExecuteCell {
        cell_id: CellId,
        timeout: Duration,
    },
    ReadCell {
        cell_id: CellId,
    },
    ListVariables,
    InspectVariable {
        name: String,
    },
    RunScratch {
        code: String,
        timeout: Duration,
    },
}

fn string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("'{key}' must be a string, not {other}")),
    }
}

fn required(obj: &Map<String, Value>, key: &str) -> Result<String, String> {
    string(obj, key)?.ok_or_else(|| format!("'{key}' is required"))
}

fn cell_id(obj: &Map<String, Value>) -> Result<CellId, String> {
    let id = required(obj, "cell_id")?;
    if !schema::ids::is_valid_id(&id) {
        return Err(format!("{id:?} is not a cell id"));
    }
    Ok(CellId(id))
}

fn seconds(obj: &Map<String, Value>, default: u64, max: u64) -> Result<Duration, String> {
    match obj.get("timeout_seconds") {
        None | Some(Value::Null) => Ok(Duration::from_secs(default)),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=max).contains(&n) => Ok(Duration::from_secs(n)),
            _ => Err(format!(
                "'timeout_seconds' must be an integer from 1 to {max}, not {v}"
            )),
        },
    }
}

fn placement(obj: &Map<String, Value>) -> Result<Placement, String> {
    let after = string(obj, "after_cell_id")?;
    let before = string(obj, "before_cell_id")?;
    let position = string(obj, "position")?;
    match (after, before, position.as_deref()) {
        (Some(a), None, None) => Ok(Placement::After(CellId(a))),
        (None, Some(b), None) => Ok(Placement::Before(CellId(b))),
        (None, None, Some("start")) => Ok(Placement::Start),
        (None, None, Some("end") | None) => Ok(Placement::End),
        (None, None, Some(other)) => Err(format!(
            "'position' must be \"start\" or \"end\", not {other:?}"
        )),
        _ => Err("give one of 'after_cell_id', 'before_cell_id' or 'position'".into()),
    }
}

fn known_keys(obj: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unknown argument '{k}' (allowed: {})",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

/// Parse and check a call's arguments.
pub fn parse(tool: &str, arguments: &str) -> Result<Args, String> {
    let text = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    let value: Value = serde_json::from_str(text)
        .map_err(|e| format!("the arguments are not valid JSON ({e}); send a JSON object"))?;
    let Value::Object(obj) = value else {
        return Err("the arguments must be a JSON object".into());
    };
    let place = ["after_cell_id", "before_cell_id", "position"];
    Ok(match tool {
        "create_cell" => {
            known_keys(&obj, &["source", "cell_type", place[0], place[1], place[2]])?;
            let cell_type = match string(&obj, "cell_type")?.as_deref() {
                None | Some("code") => CellType::Code,
                Some("markdown") => CellType::Markdown,
                Some("raw") => CellType::Raw,
                Some(other) => {
                    return Err(format!(
                        "'cell_type' must be one of code, markdown, raw, not {other:?}"
                    ))
                }
            };
            Args::CreateCell {
                source: required(&obj, "source")?,
                cell_type,
                placement: placement(&obj)?,
            }
        }
        "modify_cell" => {
            known_keys(&obj, &["cell_id", "source"])?;
            Args::ModifyCell {
                cell_id: cell_id(&obj)?,
                source: required(&obj, "source")?,
            }
        }
        "delete_cell" => {
            known_keys(&obj, &["cell_id"])?;
            Args::DeleteCell {
                cell_id: cell_id(&obj)?,
            }
        }
        "move_cell" => {
            known_keys(&obj, &["cell_id", place[0], place[1], place[2]])?;
            Args::MoveCell {
                cell_id: cell_id(&obj)?,
                placement: placement(&obj)?,
            }
        }
        "execute_cell" => {
            known_keys(&obj, &["cell_id", "timeout_seconds"])?;
            Args::ExecuteCell {
                cell_id: cell_id(&obj)?,
                timeout: seconds(&obj, 120, 3600)?,
            }
        }
        "read_cell" => {
            known_keys(&obj, &["cell_id"])?;
            Args::ReadCell {
                cell_id: cell_id(&obj)?,
            }
        }
        "list_variables" => {
            known_keys(&obj, &[])?;
            Args::ListVariables
        }
        "inspect_variable" => {
            known_keys(&obj, &["name"])?;
            Args::InspectVariable {
                name: required(&obj, "name")?,
            }
        }
        "run_scratch" => {
            known_keys(&obj, &["code", "timeout_seconds"])?;
            Args::RunScratch {
                code: required(&obj, "code")?,
                timeout: seconds(&obj, 60, 600)?,
            }
        }
        other => return Err(format!("there is no tool named {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_arguments_parse() {
        assert_eq!(
            parse(
                "create_cell",
                r#"{"source": "x = 1", "after_cell_id": "c-1"}"#
            )
            .unwrap(),
            Args::CreateCell {
                source: "x = 1".into(),
                cell_type: CellType::Code,
                placement: Placement::After(CellId::from("c-1")),
            }
        );
        assert_eq!(
            parse(
                "execute_cell",
                r#"{"cell_id": "c-1", "timeout_seconds": 5}"#
            )
            .unwrap(),
            Args::ExecuteCell {
                cell_id: CellId::from("c-1"),
                timeout: Duration::from_secs(5)
            }
        );
        assert_eq!(parse("list_variables", "").unwrap(), Args::ListVariables);
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        let why = parse("create_cell", "{\"source\": \"x").unwrap_err();
        assert!(why.contains("not valid JSON"), "{why}");
        assert!(parse("create_cell", "{}")
            .unwrap_err()
            .contains("'source' is required"));
        assert!(
            parse("create_cell", r#"{"source": "", "cell_type": "sql"}"#)
                .unwrap_err()
                .contains("cell_type")
        );
        assert!(parse(
            "execute_cell",
            r#"{"cell_id": "c", "timeout_seconds": 1.5}"#
        )
        .unwrap_err()
        .contains("integer"));
        assert!(parse("delete_cell", r#"{"cell_id": "../x"}"#)
            .unwrap_err()
            .contains("not a cell id"));
        assert!(parse("read_cell", r#"{"cell_id": "c", "extra": 1}"#)
            .unwrap_err()
            .contains("unknown argument"));
        assert!(parse("rm_rf", "{}").unwrap_err().contains("no tool"));
        assert!(parse(
            "move_cell",
            r#"{"cell_id": "c", "after_cell_id": "a", "position": "end"}"#
        )
        .unwrap_err()
        .contains("one of"));
    }
}
