//! The agent side of `bench-agent`: a runtime-agent process it starts and
//! stops itself, and a client that presses run and waits, by notification,
//! for what the agent writes back.
//!
//! The waiter reads only the runtime document's new changes (their event
//! messages, `get_changes_meta` since the heads it last saw) and then the one
//! execution record they touch, so its own cost does not grow with the
//! number of executions already in the document.

use anyhow::{bail, Context, Result};
use cathode_client::NotebookClient;
use cathode_tests::server::bin_dir;
use cathode_tests::{AgentOptions, TestAgent, TestServer};
use schema::automerge::ChangeHash;
use schema::{
    CellId, DocKind, DocumentEvent, ExecutionId, ExecutionRecord, MimePayload, OutputManifest,
    RequestId, RunRequest, RuntimeDoc, SessionStatus,
};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A `runtime-agent` process with the agent's default lease (15 s), so lease
/// renewals do not land in the middle of the measurements; stop it with
/// `TestAgent::stop` (SIGTERM: the agent shuts its kernel down).
pub fn spawn_agent(
    server: &TestServer,
    notebook: &str,
    token: &str,
    kernel: &str,
) -> Result<TestAgent> {
    let options = AgentOptions {
        log: None,
        lease_ttl_ms: 15_000,
    };
    TestAgent::start_with(server, notebook, token, kernel, &options)
}

/// [`spawn_agent`], its log (timing marks, warnings) in `log`.
pub fn spawn_agent_logged(
    server: &TestServer,
    notebook: &str,
    token: &str,
    kernel: &str,
    log: &std::path::Path,
) -> Result<TestAgent> {
    let options = AgentOptions {
        log: Some((log.to_path_buf(), super::breakdown::FILTER.to_owned())),
        lease_ttl_ms: 15_000,
    };
    TestAgent::start_with(server, notebook, token, kernel, &options)
}

/// `runtime-agent --prepare-wasm`: compile and cache the WASM module.
pub fn prepare_wasm() -> Result<()> {
    let binary = bin_dir().join("runtime-agent");
    let status = Command::new(&binary)
        .arg("--prepare-wasm")
        .env("CATHODE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("running {} --prepare-wasm", binary.display()))?;
    anyhow::ensure!(status.success(), "runtime-agent --prepare-wasm: {status}");
    Ok(())
}

/// When things became visible at the client, measured from `start`.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The execution record for our request (queued).
    pub queued: Option<Duration>,
    /// The first execute_result among its outputs.
    pub result: Option<Duration>,
    /// Its state became final (done, error, ...).
    pub finished: Option<Duration>,
    /// A lease was claimed (agent start-up only).
    pub claimed: Option<Duration>,
    /// The session reported idle: the kernel is up (agent start-up only).
    pub ready: Option<Duration>,
    pub record: Option<ExecutionRecord>,
}

/// What the waiter knows between wakes; moved into the client task and back.
struct Tracker {
    cell: CellId,
    request: Option<RequestId>,
    heads: Vec<ChangeHash>,
    execution: Option<ExecutionId>,
    /// Executions queued for our cell before we knew our request id.
    pending: Vec<ExecutionId>,
    claimed: bool,
    ready: bool,
}

/// What one look at the runtime document found.
#[derive(Default)]
struct Step {
    record: Option<ExecutionRecord>,
    claimed: bool,
    ready: bool,
}

impl Tracker {
    fn step(&mut self, rt: &RuntimeDoc) -> Result<Step, schema::SchemaError> {
        let doc = rt.automerge();
        let mut step = Step::default();
        let mut touched = false;
        for change in doc.get_changes_meta(&self.heads) {
            let Some(event) = change
                .message
                .as_deref()
                .and_then(DocumentEvent::from_message)
            else {
                continue;
            };
            match event {
                DocumentEvent::RuntimeClaimed { .. } => step.claimed = !self.claimed,
                DocumentEvent::SessionStatusChanged {
                    status: SessionStatus::Idle | SessionStatus::Busy,
                    ..
                } => step.ready = !self.ready,
                DocumentEvent::ExecutionQueued {
                    execution_id,
                    cell_id,
                } if self.execution.is_none() && cell_id == self.cell => {
                    self.pending.push(execution_id);
                }
                DocumentEvent::ExecutionStarted { execution_id }
                | DocumentEvent::OutputAppended { execution_id }
                | DocumentEvent::OutputReplaced { execution_id }
                | DocumentEvent::OutputsCleared { execution_id }
                | DocumentEvent::ExecutionFinished { execution_id, .. }
                    if Some(&execution_id) == self.execution.as_ref() =>
                {
                    touched = true
                }
                _ => {}
            }
        }
        self.heads = doc.get_heads();
        self.claimed |= step.claimed;
        self.ready |= step.ready;
        if self.execution.is_none() {
            if let Some(request) = &self.request {
                for id in std::mem::take(&mut self.pending) {
                    if rt.execution(&id)?.request_id == *request {
                        self.execution = Some(id);
                        touched = true;
                        break;
                    }
                }
            }
        }
        if touched {
            if let Some(id) = &self.execution {
                step.record = Some(rt.execution(id)?);
            }
        }
        Ok(step)
    }
}

/// The text/plain of the first execute_result, if any.
pub fn result_text(record: &ExecutionRecord) -> Option<String> {
    record.outputs.iter().find_map(|o| match o {
        OutputManifest::ExecuteResult { data, .. } => match data.get("text/plain") {
            Some(MimePayload::Inline { value }) => value.as_str().map(str::to_owned),
            _ => None,
        },
        _ => None,
    })
}

/// All stdout text kept inline (head and tail of a long stream).
pub fn stdout_text(record: &ExecutionRecord) -> String {
    record
        .outputs
        .iter()
        .filter_map(|o| match o {
            OutputManifest::Stream { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Watches one cell's executions from `client`.
pub struct RunWatch<'a> {
    client: &'a NotebookClient,
    tracker: Option<Tracker>,
}

impl<'a> RunWatch<'a> {
    /// Start watching now: only changes after this point are looked at.
    pub async fn new(client: &'a NotebookClient, cell: &CellId) -> Result<Self> {
        let heads = client.heads(DocKind::Runtime).await?;
        Ok(Self {
            client,
            tracker: Some(Tracker {
                cell: cell.clone(),
                request: None,
                heads,
                execution: None,
                pending: Vec::new(),
                claimed: false,
                ready: false,
            }),
        })
    }

    /// Press run on the cell (the request is what the agent will see).
    pub async fn request(&mut self) -> Result<RunRequest> {
        let tracker = self.tracker.as_mut().context("watch in use")?;
        let cell = tracker.cell.clone();
        let request = self
            .client
            .edit_notebook(move |nb| nb.request_execution(&cell, "bench"))
            .await??;
        tracker.request = Some(request.request_id.clone());
        Ok(request)
    }

    /// Wait (on the client's revision watch, never by polling) until the
    /// request's execution has finished, noting when each step became
    /// visible. `stop_at_result` returns as soon as an execute_result is seen.
    pub async fn wait(
        &mut self,
        start: Instant,
        stop_at_result: bool,
        timeout: Duration,
    ) -> Result<Seen> {
        let mut revision = self.client.revision();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut seen = Seen::default();
        loop {
            revision.borrow_and_update();
            let mut tracker = self.tracker.take().context("watch in use")?;
            let (tracker, step) = self
                .client
                .runtime(move |rt| {
                    let step = tracker.step(rt);
                    (tracker, step)
                })
                .await?;
            self.tracker = Some(tracker);
            let step = step?;
            let now = start.elapsed();
            if step.claimed {
                seen.claimed.get_or_insert(now);
            }
            if step.ready {
                seen.ready.get_or_insert(now);
            }
            if let Some(record) = step.record {
                seen.queued.get_or_insert(now);
                let has_result = record
                    .outputs
                    .iter()
                    .any(|o| matches!(o, OutputManifest::ExecuteResult { .. }));
                if has_result {
                    seen.result.get_or_insert(now);
                }
                let finished = record.state.is_finished();
                if finished {
                    seen.finished = Some(now);
                }
                seen.record = Some(record);
                if finished || (stop_at_result && has_result) {
                    return Ok(seen);
                }
            }
            match tokio::time::timeout_at(deadline, revision.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => bail!("the client stopped"),
                Err(_) => bail!(
                    "no finished execution after {timeout:?} (last seen: {:?})",
                    seen.record.as_ref().map(|r| r.state)
                ),
            }
        }
    }
}

/// Sizes of the client's two documents, as `save()` writes them.
pub async fn document_sizes(client: &NotebookClient) -> Result<(usize, usize)> {
    let notebook = client.notebook(|nb| nb.automerge().save().len()).await?;
    let runtime = client.runtime(|rt| rt.automerge().save().len()).await?;
    Ok((notebook, runtime))
}
