//! One AI cell's run: build the context, then turn after turn stream the
//! model's answer into the cell and carry out its tool calls as notebook
//! edits, until it answers without a tool call, the turn limit, an error,
//! or an interrupt.
//!
//! Everything sent to the provider passes the masker first (sources,
//! outputs, tracebacks, variables, earlier turns, tool results, the
//! prompt). The run does not hold the kernel: it runs beside the queue,
//! and its `execute_cell` calls queue like a person's runs.

use super::context::{self, Input};
use super::kernel_access::AgentKernel;
use super::llm::{ChatRequest, Delta, LlmClient, Response, Usage};
use super::settings::{AiSettings, ChosenModel};
use super::transcript::Transcript;
use crate::blobs::BlobStore;
use crate::error::Result;
use crate::masking::Masker;
use cathode_client::NotebookClient;
use cathode_tools::ToolContext;
use schema::automerge::ChangeHash;
use schema::{Attribution, CellId, ExecutionId, ExecutionRecord, ExecutionState, NotebookDoc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What every AI run of this agent shares.
pub struct AiRuntime {
    pub settings: AiSettings,
    pub llm: LlmClient,
    pub masker: Arc<Masker>,
    pub kernel: Arc<AgentKernel>,
    pub blobs: Arc<BlobStore>,
    pub flush_interval: Duration,
    /// The running AI runs as collaborators in presence.
    pub presence: Arc<super::presence::AiPresence>,
}

/// The AI cell as it stood when it was run.
struct Asked {
    notebook: NotebookDoc,
    approvals: super::approval::Approvals,
    heads: Vec<ChangeHash>,
    prompt: String,
    model: Option<String>,
}

/// The model a cell asks for: its own `metadata.cathode.model`, else the
/// notebook's `metadata.cathode.ai_model`.
fn wanted_model(notebook: &NotebookDoc, cell: &CellId) -> Option<String> {
    let from_cell = notebook.cell(cell).ok().and_then(|c| {
        c.metadata
            .get("cathode")
            .and_then(|m| m["model"].as_str())
            .map(str::to_owned)
    });
    from_cell.or_else(|| {
        notebook.notebook_metadata().ok().and_then(|m| {
            m.get("cathode")
                .and_then(|c| c["ai_model"].as_str())
                .map(str::to_owned)
        })
    })
}

async fn asked(
    client: &NotebookClient,
    record: &ExecutionRecord,
) -> Result<std::result::Result<Asked, String>> {
    let (cell, heads) = (record.cell_id.clone(), record.source_heads.clone());
    Ok(client
        .notebook(move |nb| {
            let heads = if heads.is_empty() { nb.heads() } else { heads };
            let fork = match nb.automerge().fork_at(&heads) {
                Ok(f) => f,
                Err(e) => return Err(format!("the notebook at the request's heads: {e}")),
            };
            let notebook = NotebookDoc::from_automerge(fork).map_err(|e| e.to_string())?;
            let prompt = notebook.source(&cell).map_err(|e| e.to_string())?;
            let model = wanted_model(&notebook, &cell);
            let approvals = super::approval::Approvals::of(&notebook);
            Ok(Asked {
                approvals,
                notebook,
                heads,
                prompt,
                model,
            })
        })
        .await?)
}

fn usage_json(usage: &Usage) -> Value {
    json!({"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens})
}

/// How a run ended.
enum End {
    Done,
    TurnLimit(u32),
    Interrupted,
    Failed(String),
}

/// Run the AI cell `record` (already started) to its end.
pub async fn run(
    rt: Arc<AiRuntime>,
    client: Arc<NotebookClient>,
    record: ExecutionRecord,
    mut cancel: watch::Receiver<bool>,
) -> Result<ExecutionState> {
    let id = record.execution_id.clone();
    let mut transcript = Transcript::new(rt.masker.clone());
    let asked = match asked(&client, &record).await? {
        Ok(a) => a,
        Err(why) => return unavailable(&client, &id, &mut transcript, &why).await,
    };
    let model = match rt.settings.choose(asked.model.as_deref()) {
        Ok(m) => m,
        Err(why) => return unavailable(&client, &id, &mut transcript, &why).await,
    };
    tracing::info!(model = %model.id, "AI run");
    let _here = rt.presence.enter(
        &client,
        &id,
        &model.id,
        &record.requested_by,
        &record.cell_id,
    );
    let variables = match rt.kernel_variables().await {
        Ok(v) => Some(v),
        Err(why) => Some(json!({"unavailable": why})),
    };
    let shown = schema::apply_clears(
        client.runtime(|r| r.shown_executions()).await??,
        &asked.notebook.outputs_cleared()?,
    );
    let context = context::build(&Input {
        notebook: &asked.notebook,
        shown: &shown,
        ai_cell: &record.cell_id,
        prompt: &asked.prompt,
        model: &model.info,
        variables: variables.as_ref(),
    })?;
    let mut messages = context.messages;
    if !context.blob_images.is_empty() {
        let mut fetched = HashMap::new();
        for sha in &context.blob_images {
            if let Ok(bytes) = rt.blobs.get(sha).await {
                fetched.insert(sha.clone(), bytes);
            }
        }
        context::fill_blob_images(&mut messages, &fetched);
    }
    let report = json!({
        "estimated_tokens": context.report.estimated_tokens,
        "budget": context.report.budget,
        "cut": context.report.cut,
    });
    let seen = Mutex::new(HashMap::<CellId, Vec<ChangeHash>>::new());
    let tools = ToolContext {
        client: &client,
        attribution: Some(Attribution {
            by: format!("ai:{}", model.id),
            on_behalf_of: record.requested_by.clone(),
            ai_run: id.to_string(),
        }),
        requested_by: format!("ai:{} for {}", model.id, record.requested_by),
        kernel: Some(rt.kernel.as_ref() as &dyn cathode_tools::KernelAccess),
        seen: &seen,
        context_heads: asked.heads.clone(),
    };
    let mut usage = Usage::default();
    let mut approvals = asked.approvals;
    let end = converse(
        &rt,
        &client,
        &id,
        &model,
        &mut messages,
        &mut transcript,
        &tools,
        &mut approvals,
        &mut cancel,
        &mut usage,
    )
    .await?;
    let details = json!({"model": model.id, "usage": usage_json(&usage), "context": report});
    let state = match end {
        End::Done => {
            transcript.status("done", None, details);
            ExecutionState::Done
        }
        End::TurnLimit(n) => {
            let message = format!("stopped after {n} model turns, the limit for one run");
            transcript.status("turn_limit", Some(&message), details);
            ExecutionState::Error
        }
        End::Interrupted => {
            transcript.status("interrupted", Some("interrupted"), details);
            ExecutionState::Error
        }
        End::Failed(why) => {
            let why = rt.masker.mask(&why).into_owned();
            transcript.status("error", Some(&why), details);
            ExecutionState::Error
        }
    };
    transcript.flush(&client, &id).await?;
    finish(&client, &id, state).await?;
    Ok(state)
}

impl AiRuntime {
    async fn kernel_variables(&self) -> std::result::Result<Value, String> {
        use cathode_tools::KernelAccess;
        self.kernel.variables().await
    }
}

async fn unavailable(
    client: &NotebookClient,
    id: &ExecutionId,
    transcript: &mut Transcript,
    why: &str,
) -> Result<ExecutionState> {
    transcript.status("unavailable", Some(why), json!({}));
    transcript.flush(client, id).await?;
    finish(client, id, ExecutionState::Error).await?;
    Ok(ExecutionState::Error)
}

async fn finish(client: &NotebookClient, id: &ExecutionId, state: ExecutionState) -> Result<()> {
    let x = id.clone();
    client
        .edit_runtime(move |rt| rt.finish_execution(&x, state, schema::clock::now_ms()))
        .await??;
    Ok(())
}

/// Messages as they go to the provider: every string masked.
fn masked(messages: &[Value], masker: &Masker) -> Vec<Value> {
    let mut out = messages.to_vec();
    for m in &mut out {
        masker.mask_json(m);
    }
    out
}

#[allow(clippy::too_many_arguments)]
async fn converse(
    rt: &AiRuntime,
    client: &NotebookClient,
    id: &ExecutionId,
    model: &ChosenModel,
    messages: &mut Vec<Value>,
    transcript: &mut Transcript,
    tools: &ToolContext<'_>,
    approvals: &mut super::approval::Approvals,
    cancel: &mut watch::Receiver<bool>,
    usage: &mut Usage,
) -> Result<End> {
    let tool_defs = if model.info.tools {
        cathode_tools::openai_tools(|_| true)
    } else {
        Vec::new()
    };
    let mut tick = tokio::time::interval(rt.flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for _ in 0..rt.settings.max_turns.max(1) {
        transcript.next_turn();
        let request = ChatRequest {
            model: model.info.id.clone(),
            messages: masked(messages, &rt.masker),
            tools: tool_defs.clone(),
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Delta>();
        let stream = rt.llm.stream(&model.endpoint, &request, move |d| {
            let _ = tx.send(d);
        });
        tokio::pin!(stream);
        let response: Response = loop {
            tokio::select! {
                result = &mut stream => {
                    while let Ok(d) = rx.try_recv() {
                        apply(transcript, d);
                    }
                    match result {
                        Ok(r) => break r,
                        Err(e) => return Ok(End::Failed(e.to_string())),
                    }
                }
                Some(d) = rx.recv() => apply(transcript, d),
                _ = tick.tick(), if transcript.is_dirty() => transcript.flush(client, id).await?,
                _ = cancel.changed() => return Ok(End::Interrupted),
            }
        };
        if let Some(u) = &response.usage {
            usage.prompt_tokens += u.prompt_tokens;
            usage.completion_tokens += u.completion_tokens;
        }
        let mut assistant = json!({"role": "assistant", "content": response.content});
        if !response.tool_calls.is_empty() {
            assistant["tool_calls"] = Value::Array(
                response
                    .tool_calls
                    .iter()
                    .map(|c| {
                        json!({"id": c.id, "type": "function",
                               "function": {"name": c.name, "arguments": c.arguments}})
                    })
                    .collect(),
            );
        }
        messages.push(assistant);
        if response.tool_calls.is_empty() {
            return Ok(End::Done);
        }
        for call in &response.tool_calls {
            let shown_args: Value = serde_json::from_str(&call.arguments)
                .unwrap_or_else(|_| Value::String(call.arguments.clone()));
            if approvals.needed(&call.name) {
                use super::approval::Answer;
                let answer = approvals
                    .ask(
                        client,
                        id,
                        transcript,
                        &call.id,
                        &call.name,
                        &shown_args,
                        cancel,
                    )
                    .await?;
                match answer {
                    Answer::Approved => {}
                    Answer::Interrupted => return Ok(End::Interrupted),
                    Answer::Refused(why) => {
                        let result = json!({"error": why});
                        transcript.tool_call(&call.id, &call.name, &shown_args, "denied", None);
                        transcript.tool_result(&call.id, &call.name, false, &result, None);
                        transcript.flush(client, id).await?;
                        messages.push(json!({"role": "tool", "tool_call_id": call.id,
                                             "content": result.to_string()}));
                        continue;
                    }
                }
            }
            transcript.tool_call(&call.id, &call.name, &shown_args, "running", None);
            transcript.flush(client, id).await?;
            let named = shown_args["cell_id"].as_str();
            let before = match named {
                Some(c) => {
                    rt.presence.at(client, id, c, None);
                    super::presence::source_of(client, c).await
                }
                None => None,
            };
            let outcome = tokio::select! {
                outcome = cathode_tools::call(tools, &call.name, &call.arguments) => outcome,
                _ = cancel.changed() => return Ok(End::Interrupted),
            };
            let cell = outcome.cell_id.as_ref().map(|c| c.as_str());
            if let Some(c) = cell {
                let edited =
                    outcome.ok && super::presence::EDITING_TOOLS.contains(&call.name.as_str());
                let cursor = if edited {
                    let before = before.as_deref().unwrap_or("");
                    super::presence::cursor_after_edit(client, c, before).await
                } else {
                    None
                };
                rt.presence.at(client, id, c, cursor);
            }
            let status = if outcome.ok { "done" } else { "error" };
            transcript.tool_call(&call.id, &call.name, &shown_args, status, cell);
            transcript.tool_result(&call.id, &call.name, outcome.ok, &outcome.result, cell);
            transcript.outputs(&outcome.outputs);
            transcript.flush(client, id).await?;
            messages.push(json!({"role": "tool", "tool_call_id": call.id,
                                 "content": outcome.result.to_string()}));
        }
    }
    Ok(End::TurnLimit(rt.settings.max_turns))
}

fn apply(transcript: &mut Transcript, delta: Delta) {
    match delta {
        Delta::Content(t) => transcript.reply_delta(&t),
        Delta::Reasoning(t) => transcript.reasoning_delta(&t),
        Delta::ToolCallStarted { .. } => {}
    }
}
