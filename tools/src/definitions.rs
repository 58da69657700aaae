//! What the model is told about each tool: a description and a real JSON
//! Schema (integers, enums, required fields), sent as OpenAI tool
//! definitions and served over MCP as they are.

use serde_json::{json, Value};

pub struct ToolDefinition {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: Value,
}

fn placement() -> Value {
    json!({
        "after_cell_id": {"type": "string", "description": "Put the cell right after this cell."},
        "before_cell_id": {"type": "string", "description": "Put the cell right before this cell."},
        "position": {"type": "string", "enum": ["start", "end"],
                     "description": "At the start or the end of the notebook (when no cell is named)."}
    })
}

fn merged(a: Value, b: Value) -> Value {
    let mut out = a.as_object().cloned().unwrap_or_default();
    if let Some(b) = b.as_object() {
        out.extend(b.clone());
    }
    Value::Object(out)
}

pub fn definitions() -> Vec<ToolDefinition> {
    vec![
        ToolDefinition {
            name: "create_cell",
            description: "Create a cell. Without a place it goes at the end. Returns its id.",
            parameters: json!({
                "type": "object",
                "properties": merged(json!({
                    "source": {"type": "string", "description": "The cell's text."},
                    "cell_type": {"type": "string", "enum": ["code", "markdown", "raw"], "default": "code"}
                }), placement()),
                "required": ["source"],
                "additionalProperties": false
            }),
        },
        ToolDefinition {
            name: "modify_cell",
            description: "Replace a cell's source with new text. Only what differs from the text you last saw is changed, so people editing the cell at the same time keep their work.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "cell_id": {"type": "string"},
                    "source": {"type": "string", "description": "The cell's whole new text."}
                },
                "required": ["cell_id", "source"],
                "additionalProperties": false
            }),
        },
        ToolDefinition {
            name: "delete_cell",
            description: "Delete a cell.",
            parameters: json!({
                "type": "object",
                "properties": {"cell_id": {"type": "string"}},
                "required": ["cell_id"],
                "additionalProperties": false
            }),
        },
        ToolDefinition {
            name: "move_cell",
            description: "Move a cell after or before another one, or to the start or end.",
            parameters: json!({
                "type": "object",
                "properties": merged(json!({"cell_id": {"type": "string"}}), placement()),
                "required": ["cell_id"],
                "additionalProperties": false
            }),
        },
        ToolDefinition {
            name: "execute_cell",
            description: "Run a code cell on the notebook's kernel (queued like a person's run) and wait for it. Returns its state, execution count and outputs (long ones cut, errors with their traceback).",
            parameters: json!({
                "type": "object",
                "properties": {
                    "cell_id": {"type": "string"},
                    "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 3600, "default": 120,
                        "description": "Stop waiting after this long (the cell keeps running)."}
                },
                "required": ["cell_id"],
                "additionalProperties": false
            }),
        },
        ToolDefinition {
            name: "read_cell",
            description: "Read a cell: its type, source, execution count, state and its outputs in full.",
            parameters: json!({
                "type": "object",
                "properties": {"cell_id": {"type": "string"}},
                "required": ["cell_id"],
                "additionalProperties": false
            }),
        },
        ToolDefinition {
            name: "list_variables",
            description: "The kernel's variables: names, types, and for arrays and data frames their shape, dtypes and first rows; sizes of containers.",
            parameters: json!({"type": "object", "properties": {}, "additionalProperties": false}),
        },
        ToolDefinition {
            name: "inspect_variable",
            description: "One kernel variable in more detail: its type, repr, and for data frames columns, dtypes and rows.",
            parameters: json!({
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
                "additionalProperties": false
            }),
        },
        ToolDefinition {
            name: "run_scratch",
            description: "Run Python in the kernel without creating a cell (to check something). Its output comes back to you and is shown in the AI cell; variables it defines stay in the kernel.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 600, "default": 60}
                },
                "required": ["code"],
                "additionalProperties": false
            }),
        },
    ]
}

/// The definitions as OpenAI chat-completions `tools`.
pub fn openai_tools(allowed: impl Fn(&str) -> bool) -> Vec<Value> {
    definitions()
        .into_iter()
        .filter(|d| allowed(d.name))
        .map(|d| {
            json!({"type": "function", "function": {
                "name": d.name, "description": d.description, "parameters": d.parameters}})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_are_real_json_schema() {
        for d in definitions() {
            assert_eq!(d.parameters["type"], "object", "{}", d.name);
            for required in d.parameters["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                assert!(
                    d.parameters["properties"].get(name).is_some(),
                    "{} requires {name} it does not define",
                    d.name
                );
            }
        }
        let exec = definitions()
            .into_iter()
            .find(|d| d.name == "execute_cell")
            .unwrap();
        assert_eq!(
            exec.parameters["properties"]["timeout_seconds"]["type"],
            "integer"
        );
        let create = definitions()
            .into_iter()
            .find(|d| d.name == "create_cell")
            .unwrap();
        assert_eq!(
            create.parameters["properties"]["cell_type"]["enum"],
            json!(["code", "markdown", "raw"])
        );
    }
}
