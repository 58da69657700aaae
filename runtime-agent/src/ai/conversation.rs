//! Earlier AI turns, rebuilt from the notebook: each AI cell above the one
//! running holds its prompt (the cell's source) and, in its outputs (see
//! `mime.rs`), the replies, tool calls and tool results of its run. They
//! become chat messages again, so a follow-up prompt has its history,
//! streamed replies included.

use super::mime;
use schema::{MimePayload, OutputManifest};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One model turn as its outputs recorded it.
#[derive(Default)]
struct Turn {
    reply: String,
    calls: Vec<(String, String, Value)>,
    results: BTreeMap<String, Value>,
}

fn payload<'a>(output: &'a OutputManifest, mime: &str) -> Option<&'a Value> {
    match output {
        OutputManifest::DisplayData { data, .. } => match data.get(mime) {
            Some(MimePayload::Inline { value }) => Some(value),
            _ => None,
        },
        _ => None,
    }
}

fn reply_text(output: &OutputManifest) -> Option<(&str, &str)> {
    let OutputManifest::DisplayData {
        data, display_id, ..
    } = output
    else {
        return None;
    };
    let id = display_id.as_deref()?.strip_prefix("ai-reply-")?;
    match data.get("text/markdown") {
        Some(MimePayload::Inline {
            value: Value::String(s),
        }) => Some((id, s.as_str())),
        _ => None,
    }
}

/// The chat messages of one earlier AI cell: its prompt, then each turn's
/// reply and tool calls with their results.
pub fn messages_of(prompt: &str, outputs: &[OutputManifest]) -> Vec<Value> {
    let mut turns: BTreeMap<u64, Turn> = BTreeMap::new();
    for output in outputs {
        if let Some((turn, text)) = reply_text(output) {
            let n = turn.parse().unwrap_or(0);
            turns.entry(n).or_default().reply = text.to_owned();
        }
        if let Some(call) = payload(output, mime::TOOL_CALL) {
            let n = call["turn"].as_u64().unwrap_or(0);
            let id = call["call_id"].as_str().unwrap_or("").to_owned();
            let tool = call["tool"].as_str().unwrap_or("").to_owned();
            turns
                .entry(n)
                .or_default()
                .calls
                .push((id, tool, call["arguments"].clone()));
        }
        if let Some(result) = payload(output, mime::TOOL_RESULT) {
            let n = result["turn"].as_u64().unwrap_or(0);
            let id = result["call_id"].as_str().unwrap_or("").to_owned();
            turns
                .entry(n)
                .or_default()
                .results
                .insert(id, json!({"ok": result["ok"], "result": result["result"]}));
        }
    }
    let mut messages = vec![json!({"role": "user", "content": prompt})];
    for turn in turns.into_values() {
        if turn.reply.is_empty() && turn.calls.is_empty() {
            continue;
        }
        let mut assistant = json!({"role": "assistant", "content": turn.reply});
        if !turn.calls.is_empty() {
            assistant["tool_calls"] = Value::Array(
                turn.calls
                    .iter()
                    .map(|(id, tool, args)| {
                        let text = match args {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        json!({"id": id, "type": "function",
                               "function": {"name": tool, "arguments": text}})
                    })
                    .collect(),
            );
        }
        messages.push(assistant);
        // Every call needs its answer, or providers refuse the history.
        for (id, _, _) in &turn.calls {
            let content = turn
                .results
                .get(id)
                .map(Value::to_string)
                .unwrap_or_else(|| json!({"error": "no result: the run ended first"}).to_string());
            messages.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
        }
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema::MimeBundle;

    fn display(id: &str, mime: &str, value: Value) -> OutputManifest {
        let mut data = MimeBundle::new();
        data.insert(mime.into(), MimePayload::Inline { value });
        OutputManifest::DisplayData {
            data,
            metadata: Value::Null,
            display_id: Some(id.into()),
        }
    }

    #[test]
    fn a_run_becomes_its_messages_again() {
        let outputs = vec![
            display(
                "ai-call-a",
                mime::TOOL_CALL,
                json!({"call_id": "a", "tool": "create_cell",
                "arguments": {"source": "x = 1"}, "status": "done", "turn": 1}),
            ),
            display(
                "ai-result-a",
                mime::TOOL_RESULT,
                json!({"call_id": "a", "tool": "create_cell",
                "ok": true, "result": {"cell_id": "c-1"}, "turn": 1}),
            ),
            display("ai-reply-2", "text/markdown", json!("Done: x is 1.")),
        ];
        let m = messages_of("make x", &outputs);
        assert_eq!(m.len(), 4);
        assert_eq!(m[0]["content"], "make x");
        assert_eq!(m[1]["tool_calls"][0]["function"]["name"], "create_cell");
        assert_eq!(
            m[1]["tool_calls"][0]["function"]["arguments"],
            "{\"source\":\"x = 1\"}"
        );
        assert_eq!(m[2]["role"], "tool");
        assert!(m[2]["content"].as_str().unwrap().contains("c-1"));
        assert_eq!(m[3]["content"], "Done: x is 1.");
    }
}
