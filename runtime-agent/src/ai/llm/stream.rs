//! A chat completion stream's chunks put together: content and reasoning
//! text as they come, tool calls assembled from their fragments by
//! `index` (only a call's first fragment carries its `id` and `name`; the
//! rest carry argument pieces), the finish reason and, with
//! `stream_options.include_usage`, the usage in a last chunk whose
//! `choices` is empty.

use serde_json::Value;

/// What one chunk brought, in order, for the caller to show as it comes.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    Content(String),
    Reasoning(String),
    /// A tool call's first fragment: its name is known.
    ToolCallStarted {
        index: usize,
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments' JSON text as the model wrote it (may be invalid).
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// One model response, whole.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    pub content: String,
    pub reasoning: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
}

#[derive(Default)]
pub struct Assembler {
    response: Response,
    /// Tool calls by their stream index (indexes may arrive out of order).
    calls: Vec<(usize, ToolCall)>,
}

/// A chunk the provider sent as an error object instead of a completion.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamError(pub String);

impl Assembler {
    /// Take one chunk's JSON; returns what it added.
    pub fn push(&mut self, chunk: &Value) -> Result<Vec<Delta>, StreamError> {
        if let Some(error) = chunk.get("error") {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| error.to_string());
            return Err(StreamError(message));
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.response.usage = Some(Usage {
                prompt_tokens: usage["prompt_tokens"].as_u64().unwrap_or(0),
                completion_tokens: usage["completion_tokens"].as_u64().unwrap_or(0),
            });
        }
        let mut deltas = Vec::new();
        let Some(choice) = chunk["choices"].as_array().and_then(|c| c.first()) else {
            return Ok(deltas);
        };
        let delta = &choice["delta"];
        // Reasoning: `reasoning_content` (DeepSeek, vLLM, LM Studio) or
        // `reasoning` (OpenRouter, Ollama).
        for key in ["reasoning_content", "reasoning"] {
            if let Some(text) = delta.get(key).and_then(Value::as_str) {
                if !text.is_empty() {
                    self.response.reasoning.push_str(text);
                    deltas.push(Delta::Reasoning(text.to_owned()));
                }
            }
        }
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            if !text.is_empty() {
                self.response.content.push_str(text);
                deltas.push(Delta::Content(text.to_owned()));
            }
        }
        for fragment in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = fragment["index"].as_u64().unwrap_or(0) as usize;
            let position = match self.calls.iter().position(|(i, _)| *i == index) {
                Some(p) => p,
                None => {
                    self.calls.push((index, ToolCall::default()));
                    self.calls.len() - 1
                }
            };
            let call = &mut self.calls[position].1;
            if let Some(id) = fragment["id"].as_str().filter(|s| !s.is_empty()) {
                call.id = id.to_owned();
            }
            let function = &fragment["function"];
            if let Some(name) = function["name"].as_str().filter(|s| !s.is_empty()) {
                let first = call.name.is_empty();
                call.name.push_str(name);
                if first {
                    deltas.push(Delta::ToolCallStarted {
                        index,
                        name: call.name.clone(),
                    });
                }
            }
            if let Some(piece) = function["arguments"].as_str() {
                call.arguments.push_str(piece);
            }
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.response.finish_reason = Some(reason.to_owned());
        }
        Ok(deltas)
    }

    pub fn finish(mut self) -> Response {
        self.calls.sort_by_key(|(i, _)| *i);
        self.response.tool_calls = self
            .calls
            .into_iter()
            .enumerate()
            .map(|(n, (_, mut call))| {
                if call.id.is_empty() {
                    call.id = format!("call_{n}");
                }
                call
            })
            .collect();
        self.response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chunk(delta: Value, finish: Option<&str>) -> Value {
        json!({"id": "c", "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    #[test]
    fn tool_call_fragments_are_joined_by_index() {
        let mut a = Assembler::default();
        let chunks = [
            chunk(json!({"role": "assistant", "content": null}), None),
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                "function": {"name": "create_cell", "arguments": ""}}]}),
                None,
            ),
            chunk(
                json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                "function": {"name": "read_cell", "arguments": ""}}]}),
                None,
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"sou"}}]}),
                None,
            ),
            chunk(
                json!({"tool_calls": [{"index": 1, "function": {"arguments": "{\"cell_id\": \"x\"}"}}]}),
                None,
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "rce\": \"print('a\\\\nb')\"}"}}]}),
                None,
            ),
            chunk(json!({}), Some("tool_calls")),
            json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 7}}),
        ];
        let mut started = Vec::new();
        for c in &chunks {
            for d in a.push(c).unwrap() {
                if let Delta::ToolCallStarted { name, .. } = d {
                    started.push(name);
                }
            }
        }
        assert_eq!(started, ["create_cell", "read_cell"]);
        let r = a.finish();
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(r.tool_calls[0].id, "call_a");
        let args: Value = serde_json::from_str(&r.tool_calls[0].arguments).unwrap();
        // A literal backslash-n in generated Python stays a backslash-n.
        assert_eq!(args["source"], "print('a\\nb')");
        assert_eq!(r.tool_calls[1].arguments, "{\"cell_id\": \"x\"}");
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            r.usage,
            Some(Usage {
                prompt_tokens: 12,
                completion_tokens: 7
            })
        );
    }

    #[test]
    fn content_reasoning_and_errors() {
        let mut a = Assembler::default();
        a.push(&chunk(json!({"reasoning_content": "think"}), None))
            .unwrap();
        a.push(&chunk(json!({"content": "Hello"}), None)).unwrap();
        a.push(&chunk(json!({"content": " world"}), Some("stop")))
            .unwrap();
        let r = a.finish();
        assert_eq!(r.content, "Hello world");
        assert_eq!(r.reasoning, "think");
        let mut b = Assembler::default();
        let e = b
            .push(&json!({"error": {"message": "overloaded"}}))
            .unwrap_err();
        assert_eq!(e.0, "overloaded");
    }
}
