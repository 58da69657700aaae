//! Running one queued execution on the kernel and writing its outputs.

use crate::blobs::BlobStore;
use crate::error::Result;
use crate::masking::events::EventMasker;
use crate::masking::Masker;
use crate::outputs::OutputBuffer;
use crate::sealed_input::InputSealer;
use cathode_client::NotebookClient;
use kernels::{ExecuteRequest, InputAnswer, Kernel, KernelEvent, ReplyStatus};
use schema::{
    AnswerValue, ExecutionId, ExecutionRecord, ExecutionState, InputRequest, OutputManifest,
};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
use zeroize::Zeroizing;

/// The kernel and the flag completion questions read to know it is taken
/// (`kernel_questions.rs`).
pub struct HeldKernel {
    pub kernel: Arc<dyn Kernel>,
    pub busy: tokio::sync::watch::Sender<bool>,
}

/// Run `record`, which the scheduler has just started, to its end.
/// `source` is the cell's source at the request's heads if the scheduler
/// read it. Outputs are flushed at most once per `flush_interval` while the
/// cell runs, and once more at the end.
pub async fn run(
    client: Arc<NotebookClient>,
    held: HeldKernel,
    blobs: Arc<BlobStore>,
    masker: Arc<Masker>,
    record: ExecutionRecord,
    source: Option<String>,
    flush_interval: Duration,
) -> Result<ExecutionState> {
    let id = record.execution_id.clone();
    let span = tracing::info_span!("execution", execution_id = %id, cell_id = %record.cell_id);
    async move {
        let key = record.request_id.clone();
        crate::timing_mark!("agent.started", key);
        let source = match source {
            Some(source) => Ok(source),
            None => {
                let (cell, heads) = (record.cell_id.clone(), record.source_heads.clone());
                client
                    .notebook(move |nb| nb.source_at(&cell, &heads))
                    .await?
            }
        };
        let source = match source {
            Ok(s) => s,
            Err(e) => {
                // The cell or its source at those heads is gone: say so in the output.
                let error = OutputManifest::Error {
                    ename: "CellUnavailable".into(),
                    evalue: e.to_string(),
                    traceback: vec![],
                };
                finish(&client, &id, ExecutionState::Error, Some(error)).await?;
                return Ok(ExecutionState::Error);
            }
        };
        let mut request = ExecuteRequest::new(source);
        request.allow_stdin = record.allow_stdin;
        crate::timing_mark!("agent.kernel_sent", key);
        let mut execution = held.kernel.execute(request).await?;
        // Marked once: the first result, and the flush that wrote it.
        let mut result_marked = false;
        let mut result_written = false;
        let mut buffer = OutputBuffer::new();
        let mut tick = tokio::time::interval(flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut died = None;
        let mut revision = client.revision();
        // The `input()` waiting for an answer, and how many were asked.
        let mut waiting: Option<u32> = None;
        let mut asked = 0u32;
        // The one-time key of a waiting password prompt.
        let mut sealer: Option<InputSealer> = None;
        // Every event is masked before the buffer, the blob store or a log
        // line sees it; the masker may hold back the end of a stream.
        let mut masking = EventMasker::new(masker.clone());
        // Updates to displays shown by other cells, latest per display id,
        // written with this execution's own flushes (a progress bar in an
        // earlier cell costs one change per flush, not one per update).
        let mut displays = DisplayUpdates::default();
        let mut ended = false;
        while !ended {
            tokio::select! {
                raw = execution.next_event() => {
                    let events = match raw {
                        Some(raw) => {
                            if !result_marked && matches!(raw, KernelEvent::ExecuteResult { .. }) {
                                result_marked = true;
                                crate::timing_mark!("agent.kernel_result", key);
                            }
                            masking.push(raw)
                        }
                        None => {
                            ended = true;
                            masking.finish().into_iter().collect()
                        }
                    };
                    for event in events {
                        match event {
                            KernelEvent::Died { status } => died = Some(status),
                            KernelEvent::InputRequest { prompt, password } => {
                                flush(&client, &id, &mut buffer).await?;
                                sealer = if password { Some(InputSealer::new()?) } else { None };
                                let sealing_key = sealer.as_ref().map(|s| s.public_key().to_owned());
                                let request = InputRequest { seq: asked, prompt, password, asked_at_ms: schema::clock::now_ms(), sealing_key };
                                waiting = Some(asked);
                                asked += 1;
                                let x = id.clone();
                                client.edit_runtime(move |rt| rt.set_input_request(&x, Some(&request))).await??;
                                revision.borrow_and_update();
                                if let Some(answer) = input_answer(&client, &id, asked - 1, &mut sealer, &mut buffer).await? {
                                    answer_input(&client, &execution, &id, answer).await?;
                                    waiting = None;
                                }
                            }
                            event => {
                                let offloaded = match &event {
                                    KernelEvent::DisplayData { data, .. }
                                    | KernelEvent::UpdateDisplayData { data, .. }
                                    | KernelEvent::ExecuteResult { data, .. } => blobs.offload(data).await,
                                    _ => Default::default(),
                                };
                                if let KernelEvent::UpdateDisplayData { data, metadata, display_id } = &event {
                                    displays.note(display_id, crate::outputs::updated_display(display_id, data, metadata, &offloaded));
                                }
                                buffer.apply_offloaded(&event, &offloaded);
                            }
                        }
                    }
                },
                _ = tick.tick(), if buffer.is_dirty() || displays.pending() => {
                    flush(&client, &id, &mut buffer).await?;
                    displays.flush(&client, &id).await?;
                    if result_marked && !result_written {
                        result_written = true;
                        crate::timing_mark!("agent.output_written", key);
                    }
                }
                changed = revision.changed(), if waiting.is_some() => {
                    if changed.is_err() {
                        break;
                    }
                    if let Some(seq) = waiting {
                        if let Some(answer) = input_answer(&client, &id, seq, &mut sealer, &mut buffer).await? {
                            answer_input(&client, &execution, &id, answer).await?;
                            waiting = None;
                        }
                    }
                }
            }
        }
        if waiting.is_some() {
            let x = id.clone();
            client.edit_runtime(move |rt| rt.set_input_request(&x, None)).await??;
        }
        let reply = execution.reply().await;
        // Free before the record says so: a question asked by someone who
        // saw the cell finish must not be told the kernel is busy.
        held.busy.send_replace(false);
        let state = match reply {
            Ok(reply) if reply.status == ReplyStatus::Ok => ExecutionState::Done,
            Ok(_) => ExecutionState::Error,
            Err(e) => {
                let reason = died
                    .map(|d| d.reason)
                    .unwrap_or_else(|| masker.mask(&e.to_string()).into_owned());
                buffer.apply(&KernelEvent::Error {
                    ename: "KernelDied".into(),
                    evalue: format!("the kernel died while running this cell: {reason}"),
                    traceback: vec![],
                });
                ExecutionState::Error
            }
        };
        for (i, text) in buffer.long_streams() {
            match blobs.put(text.into_bytes()).await {
                Ok(sha) => buffer.set_full_text(i, sha),
                Err(e) => tracing::warn!(error = %e, "could not store a long stream's full text"),
            }
        }
        buffer.finish();
        flush(&client, &id, &mut buffer).await?;
        displays.flush(&client, &id).await?;
        if result_marked && !result_written {
            crate::timing_mark!("agent.output_written", key);
        }
        finish(&client, &id, state, None).await?;
        crate::timing_mark!("agent.finished", key);
        tracing::info!(state = ?state, "finished");
        Ok(state)
    }
    .instrument(span)
    .await
}

/// The answer to prompt `seq`, once someone gave it. A sealed one is
/// opened with the prompt's key; one that does not open reaches the kernel
/// as an empty string, with a note in the cell's output saying why (the key
/// is spent: the person runs the cell again).
async fn input_answer(
    client: &NotebookClient,
    id: &ExecutionId,
    seq: u32,
    sealer: &mut Option<InputSealer>,
    buffer: &mut OutputBuffer,
) -> Result<Option<Zeroizing<String>>> {
    let x = id.clone();
    let answer = client
        .notebook(move |nb| nb.input_answer(&x, seq))
        .await??;
    Ok(match answer {
        None => None,
        Some(AnswerValue::Plain(value)) => {
            if sealer.take().is_some() {
                tracing::warn!(seq, "a password prompt was answered unsealed");
            }
            Some(Zeroizing::new(value))
        }
        Some(AnswerValue::Sealed(sealed)) => {
            let opened = match sealer.take() {
                Some(key) => key.open(id, seq, &sealed),
                None => Err(crate::error::AgentError::SealedAnswer(
                    "this prompt offered no key",
                )),
            };
            Some(opened.unwrap_or_else(|e| {
                tracing::warn!(seq, error = %e, "sealed answer");
                buffer.apply(&KernelEvent::Stream {
                    name: kernels::StreamName::Stderr,
                    text: format!("cathode: {e}; the prompt got an empty answer\n"),
                });
                Zeroizing::new(String::new())
            }))
        }
    })
}

async fn answer_input(
    client: &NotebookClient,
    execution: &kernels::Execution,
    id: &ExecutionId,
    answer: Zeroizing<String>,
) -> Result<()> {
    execution.answer_input(InputAnswer::Value(answer.to_string()))?;
    let x = id.clone();
    client
        .edit_runtime(move |rt| rt.set_input_request(&x, None))
        .await??;
    Ok(())
}

async fn flush(client: &NotebookClient, id: &ExecutionId, buffer: &mut OutputBuffer) -> Result<()> {
    let mut taken = std::mem::take(buffer);
    let x = id.clone();
    let taken = client
        .edit_runtime(move |rt| taken.flush(rt, &x).map(|()| taken))
        .await??;
    *buffer = taken;
    Ok(())
}

async fn finish(
    client: &NotebookClient,
    id: &ExecutionId,
    state: ExecutionState,
    error: Option<OutputManifest>,
) -> Result<()> {
    let x = id.clone();
    client
        .edit_runtime(move |rt| {
            if let Some(e) = &error {
                rt.append_output(&x, e)?;
            }
            rt.finish_execution(&x, state, schema::clock::now_ms())
        })
        .await??;
    Ok(())
}

/// `update_display_data` for displays other cells show: as Jupyter does,
/// an update changes the display wherever it appears, so a handle made in
/// one cell and updated in a later one changes the earlier cell's output.
#[derive(Default)]
struct DisplayUpdates {
    latest: std::collections::HashMap<String, OutputManifest>,
}

impl DisplayUpdates {
    fn note(&mut self, display_id: &str, output: OutputManifest) {
        self.latest.insert(display_id.to_owned(), output);
    }

    fn pending(&self) -> bool {
        !self.latest.is_empty()
    }

    /// Write what is pending into the other executions showing each display
    /// (this one's own outputs are its buffer's).
    async fn flush(&mut self, client: &NotebookClient, running: &ExecutionId) -> Result<()> {
        if self.latest.is_empty() {
            return Ok(());
        }
        let updates = std::mem::take(&mut self.latest);
        let x = running.clone();
        client
            .edit_runtime(move |rt| {
                for (display_id, output) in &updates {
                    rt.update_display(display_id, output, Some(&x))?;
                }
                Ok::<_, schema::SchemaError>(())
            })
            .await??;
        Ok(())
    }
}
