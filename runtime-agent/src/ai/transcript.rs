//! An AI run's outputs as it goes: the reply and reasoning streamed into
//! displays updated in place, tool calls and results as their own outputs
//! (see `mime.rs`), flushed into the runtime document like a kernel's
//! outputs (the same buffer, so only what changed is written, at most once
//! per flush interval). Everything shown passes the masker.

use super::mime;
use crate::masking::Masker;
use crate::outputs::OutputBuffer;
use cathode_client::NotebookClient;
use kernels::KernelEvent;
use schema::{ExecutionId, OutputManifest};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::sync::Arc;

pub struct Transcript {
    buffer: OutputBuffer,
    masker: Arc<Masker>,
    shown: HashSet<String>,
    turn: u32,
    reply: String,
    reasoning: String,
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl Transcript {
    pub fn new(masker: Arc<Masker>) -> Self {
        Self {
            buffer: OutputBuffer::new(),
            masker,
            shown: HashSet::new(),
            turn: 0,
            reply: String::new(),
            reasoning: String::new(),
        }
    }

    pub fn turn(&self) -> u32 {
        self.turn
    }

    /// A new model turn: its reply and reasoning get new displays.
    pub fn next_turn(&mut self) {
        self.turn += 1;
        self.reply.clear();
        self.reasoning.clear();
    }

    /// Show `data` as display `id`, created or replaced.
    fn display(&mut self, id: String, kind: &str, data: Value) {
        let mut value = data;
        self.masker.mask_json(&mut value);
        let data = object(value);
        let metadata = object(json!({"cathode": {"ai": kind}}));
        let event = if self.shown.insert(id.clone()) {
            KernelEvent::DisplayData {
                data,
                metadata,
                display_id: Some(id),
            }
        } else {
            KernelEvent::UpdateDisplayData {
                data,
                metadata,
                display_id: id,
            }
        };
        self.buffer.apply(&event);
    }

    pub fn reply_delta(&mut self, text: &str) {
        self.reply.push_str(text);
        let data = json!({"text/markdown": self.reply, "text/plain": self.reply});
        self.display(format!("ai-reply-{}", self.turn), "reply", data);
    }

    pub fn reasoning_delta(&mut self, text: &str) {
        self.reasoning.push_str(text);
        let data = json!({
            mime::REASONING: {"text": self.reasoning, "turn": self.turn},
            "text/plain": format!("(reasoning) {}", self.reasoning),
        });
        self.display(format!("ai-reasoning-{}", self.turn), "reasoning", data);
    }

    pub fn tool_call(
        &mut self,
        call_id: &str,
        tool: &str,
        arguments: &Value,
        status: &str,
        cell: Option<&str>,
    ) {
        let data = json!({
            mime::TOOL_CALL: {"call_id": call_id, "tool": tool, "arguments": arguments,
                              "status": status, "cell_id": cell, "turn": self.turn},
            "text/plain": format!("[tool {tool}: {status}]"),
        });
        self.display(format!("ai-call-{call_id}"), "tool_call", data);
    }

    pub fn tool_result(
        &mut self,
        call_id: &str,
        tool: &str,
        ok: bool,
        result: &Value,
        cell: Option<&str>,
    ) {
        // What the browser shows; the model gets the whole result.
        let mut shown = result.clone();
        cap_strings(&mut shown, 8_000);
        let data = json!({
            mime::TOOL_RESULT: {"call_id": call_id, "tool": tool, "ok": ok, "result": shown,
                                "cell_id": cell, "turn": self.turn},
            "text/plain": format!("[{tool} {}]", if ok { "done" } else { "failed" }),
        });
        self.display(format!("ai-result-{call_id}"), "tool_result", data);
    }

    /// Outputs to show as they are (a scratch run's).
    pub fn outputs(&mut self, outputs: &[OutputManifest]) {
        for output in outputs {
            let event = match output {
                OutputManifest::Stream { name, text, .. } => KernelEvent::Stream {
                    name: match name {
                        schema::StreamName::Stdout => kernels::StreamName::Stdout,
                        schema::StreamName::Stderr => kernels::StreamName::Stderr,
                    },
                    text: self.masker.mask(text).into_owned(),
                },
                OutputManifest::Error {
                    ename,
                    evalue,
                    traceback,
                } => KernelEvent::Error {
                    ename: ename.clone(),
                    evalue: evalue.clone(),
                    traceback: traceback.clone(),
                },
                OutputManifest::DisplayData { data, metadata, .. }
                | OutputManifest::ExecuteResult { data, metadata, .. } => {
                    KernelEvent::DisplayData {
                        data: data
                            .iter()
                            .filter_map(|(m, p)| match p {
                                schema::MimePayload::Inline { value } => {
                                    Some((m.clone(), value.clone()))
                                }
                                schema::MimePayload::Blob { .. } => None,
                            })
                            .collect(),
                        metadata: object(metadata.clone()),
                        display_id: None,
                    }
                }
            };
            self.buffer.apply(&event);
        }
    }

    pub fn status(&mut self, state: &str, message: Option<&str>, details: Value) {
        let mut payload = object(details);
        payload.insert("state".into(), json!(state));
        payload.insert("message".into(), json!(message));
        payload.insert("turns".into(), json!(self.turn));
        let plain = match message {
            Some(m) => format!("[AI {state}] {m}"),
            None => format!("[AI {state}]"),
        };
        let data = json!({mime::STATUS: payload, "text/plain": plain});
        self.display("ai-status".into(), "status", data);
    }

    pub fn is_dirty(&self) -> bool {
        self.buffer.is_dirty()
    }

    /// Write what changed into the execution's outputs.
    pub async fn flush(
        &mut self,
        client: &NotebookClient,
        id: &ExecutionId,
    ) -> crate::error::Result<()> {
        if !self.buffer.is_dirty() {
            return Ok(());
        }
        let mut taken = std::mem::take(&mut self.buffer);
        let x = id.clone();
        let taken = client
            .edit_runtime(move |rt| taken.flush(rt, &x).map(|()| taken))
            .await??;
        self.buffer = taken;
        Ok(())
    }
}

/// Cut every string in `value` to `max` characters (for display).
fn cap_strings(value: &mut Value, max: usize) {
    match value {
        Value::String(s) if s.chars().count() > max => {
            let kept: String = s.chars().take(max).collect();
            *s = format!("{kept}… [{} more characters]", s.chars().count() - max);
        }
        Value::Array(items) => items.iter_mut().for_each(|v| cap_strings(v, max)),
        Value::Object(map) => map.values_mut().for_each(|v| cap_strings(v, max)),
        _ => {}
    }
}
