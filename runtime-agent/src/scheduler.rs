//! Turning people's run requests into queued executions.
//!
//! A request lives on its cell in the notebook document; the agent queues an
//! execution for each request it has not handled, in request order. Two
//! people pressing run at the same moment write two requests that the CRDT
//! resolves to one; if the agent already queued the loser, the winner is
//! recognised as concurrent (it was made without seeing the other) and is
//! not run again. A request made after seeing the previous one is a
//! deliberate re-run and is queued.

use crate::error::Result;
use cathode_client::NotebookClient;
use schema::{
    CellId, CellType, ExecutionId, ExecutionRecord, ExecutionState, PriorRequest, RequestId,
    RunRequest, SessionId, SessionStatus,
};
use std::collections::{HashMap, HashSet, VecDeque};

/// What this agent knows of requests: those it has handled, and the last
/// one run per cell. Read from the runtime document once, at the first
/// scan, then kept up to date here: while it holds the lease this agent is
/// the only one that queues executions, so rereading every execution on
/// every request (which grows with the notebook's history) is unnecessary.
///
/// The queue of executions to run is kept the same way: read once, then
/// appended to as this agent queues. Scanning every execution on each wake
/// was most of the agent's CPU once a notebook had a few hundred runs
/// (each Automerge map lookup is far from free).
#[derive(Default)]
pub struct Scheduler {
    handled: HashSet<RequestId>,
    last_run: Option<HashMap<CellId, PriorRequest>>,
    queue: Option<VecDeque<ExecutionId>>,
    /// Sources read while queueing, by execution, until it starts.
    sources: HashMap<ExecutionId, String>,
    /// Cell types read while queueing, likewise.
    kinds: HashMap<ExecutionId, CellType>,
}

/// Start the first queued execution in the same edit that queues new
/// ones (nothing is running).
pub struct StartNext {
    pub execution_count: i64,
    pub session: SessionId,
    /// The session says idle: say busy in the same edit.
    pub set_busy: bool,
}

/// An execution this agent has just started.
pub struct Started {
    /// Its record, as started.
    pub record: ExecutionRecord,
    /// Its source at the request's heads, when the agent read it while
    /// queueing (else the executor reads it).
    pub source: Option<String>,
    /// Its cell's type, when the agent read it while queueing.
    pub cell_type: Option<CellType>,
}

/// What one step of the scheduler started.
#[derive(Default)]
pub struct Advanced {
    /// The next execution for the kernel.
    pub kernel: Option<Started>,
    /// AI cells' runs: they start at once, beside the kernel's queue.
    pub ai: Vec<Started>,
}

/// What one look at the notebook found: requests to queue, each with its
/// source at its heads and its cell's type.
type Fresh = Vec<(CellId, RunRequest, Option<String>, CellType)>;

impl Scheduler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue executions for new run requests (when `notebook_changed`),
    /// and with `start`, start the first queued execution. One read of the
    /// notebook and one edit of the runtime document, whatever the number
    /// of requests: the queue, the session's busy status and the start go
    /// out in one sync message, on the path from a run request to its
    /// result.
    pub async fn advance(
        &mut self,
        client: &NotebookClient,
        notebook_changed: bool,
        start: Option<StartNext>,
    ) -> Result<Advanced> {
        let fresh = if notebook_changed {
            self.fresh_requests(client).await?
        } else {
            Vec::new()
        };
        let queue_known_empty = self.queue.as_ref().is_some_and(VecDeque::is_empty);
        if fresh.is_empty() && (start.is_none() || queue_known_empty) {
            return Ok(Advanced::default());
        }
        for (_, request, _, _) in &fresh {
            crate::timing_mark!("agent.request_seen", request.request_id);
        }
        let marks: Vec<RequestId> = fresh
            .iter()
            .map(|(_, r, _, _)| r.request_id.clone())
            .collect();
        let queue = self.queue.take();
        let (queue, outcome) = client
            .edit_runtime(move |rt| {
                let mut queue = match queue {
                    Some(q) => q,
                    None => match rt.queued_in_order() {
                        Ok(q) => q.into(),
                        Err(e) => return (None, Err(e)),
                    },
                };
                let outcome = queue_and_start(rt, &mut queue, fresh, start);
                (Some(queue), outcome)
            })
            .await?;
        self.queue = queue;
        let done = outcome?;
        for request in &marks {
            crate::timing_mark!("agent.queued", request);
        }
        self.sources.extend(done.sources);
        self.kinds.extend(done.kinds);
        let mut take = |record: ExecutionRecord| Started {
            source: self.sources.remove(&record.execution_id),
            cell_type: self.kinds.remove(&record.execution_id),
            record,
        };
        let advanced = Advanced {
            kernel: done.kernel.map(&mut take),
            ai: done.ai.into_iter().map(&mut take).collect(),
        };
        // What was read for executions cancelled while queued goes too.
        if let Some(queue) = &self.queue {
            self.sources.retain(|id, _| queue.contains(id));
            self.kinds.retain(|id, _| queue.contains(id));
        }
        Ok(advanced)
    }

    /// Run requests not yet handled, in request order, each with its
    /// source; concurrent presses of run (one intent) are set aside. One
    /// read of the notebook: what this agent knows of requests travels in
    /// and back.
    async fn fresh_requests(&mut self, client: &NotebookClient) -> Result<Fresh> {
        if self.last_run.is_none() {
            let runs = client.runtime(|rt| rt.requests_in_queue_order()).await??;
            let mut last_run = HashMap::new();
            for (cell, request) in runs {
                self.handled.insert(request.request_id.clone());
                last_run.insert(cell, request);
            }
            self.last_run = Some(last_run);
        }
        let handled = std::mem::take(&mut self.handled);
        let last_run = self.last_run.take().unwrap_or_default();
        let (handled, last_run, fresh) = client
            .notebook(move |nb| {
                let mut handled = handled;
                let mut last_run = last_run;
                let fresh = fresh_in(nb, &mut handled, &mut last_run);
                (handled, last_run, fresh)
            })
            .await?;
        self.handled = handled;
        self.last_run = Some(last_run);
        Ok(fresh?)
    }
}

/// See [`Scheduler::fresh_requests`]: runs in the client's task.
fn fresh_in(
    nb: &schema::NotebookDoc,
    handled: &mut HashSet<RequestId>,
    last_run: &mut HashMap<CellId, PriorRequest>,
) -> std::result::Result<Fresh, schema::SchemaError> {
    let mut fresh: Fresh = Vec::new();
    for (cell, request) in nb.run_requests()? {
        if !handled.insert(request.request_id.clone()) {
            continue;
        }
        // Did the requester see the request we last ran for this cell? If
        // not, the two presses were concurrent: one intent.
        if let Some(last) = last_run.get(&cell) {
            if !nb.request_saw(&request, last) {
                tracing::info!(cell_id = %cell, request_id = %request.request_id, "concurrent press of run; already ran");
                continue;
            }
        }
        let source = nb.source_at(&cell, &request.heads).ok();
        let cell_type = nb
            .cell(&cell)
            .map(|c| c.cell_type)
            .unwrap_or(CellType::Code);
        fresh.push((cell, request, source, cell_type));
    }
    // Request time first; presses in the same millisecond (run all) in
    // notebook order, which is the order `run_requests()` gave them in.
    fresh.sort_by_key(|(_, r, _, _)| r.requested_at_ms);
    for (cell, request, _, _) in &fresh {
        last_run.insert(cell.clone(), PriorRequest::from(request));
    }
    Ok(fresh)
}

/// What one edit queued and started.
struct QueuedAndStarted {
    /// Sources read for newly queued executions.
    sources: Vec<(ExecutionId, String)>,
    kinds: Vec<(ExecutionId, CellType)>,
    kernel: Option<ExecutionRecord>,
    ai: Vec<ExecutionRecord>,
}

/// Queue `fresh`, start AI cells' runs at once, then start the first
/// queued execution for the kernel if asked: runs in the client's task,
/// as one edit.
fn queue_and_start(
    rt: &mut schema::RuntimeDoc,
    queue: &mut VecDeque<ExecutionId>,
    fresh: Fresh,
    start: Option<StartNext>,
) -> std::result::Result<QueuedAndStarted, schema::SchemaError> {
    let mut done = QueuedAndStarted {
        sources: Vec::new(),
        kinds: Vec::new(),
        kernel: None,
        ai: Vec::new(),
    };
    for (cell, request, source, cell_type) in fresh {
        let id = rt.queue_execution(&cell, &request, schema::clock::now_ms())?;
        tracing::info!(execution_id = %id, cell_id = %cell, "queued");
        if let Some(source) = source {
            done.sources.push((id.clone(), source));
        }
        done.kinds.push((id.clone(), cell_type));
        if cell_type == CellType::Ai {
            let now = schema::clock::now_ms();
            rt.start_execution(&id, None, now)?;
            done.ai.push(rt.execution(&id)?);
        } else {
            queue.push_back(id);
        }
    }
    let Some(start) = start else {
        return Ok(done);
    };
    // Executions cancelled while they waited are skipped.
    while let Some(id) = queue.pop_front() {
        let record = rt.execution(&id)?;
        if record.state != ExecutionState::Queued {
            continue;
        }
        if start.set_busy {
            rt.set_session_status(&start.session, SessionStatus::Busy)?;
        }
        let now = schema::clock::now_ms();
        rt.start_execution(&id, start.execution_count, now)?;
        done.kernel = Some(ExecutionRecord {
            state: ExecutionState::Running,
            execution_count: Some(start.execution_count),
            started_at_ms: Some(now),
            ..record
        });
        break;
    }
    Ok(done)
}
