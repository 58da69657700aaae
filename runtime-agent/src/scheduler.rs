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
    CellId, ExecutionId, ExecutionRecord, ExecutionState, PriorRequest, RequestId, RunRequest,
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
}

impl Scheduler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue executions for new run requests; returns how many were queued.
    /// Called on every change of the notebook, so the common case (no new
    /// request) reads only the cells' run requests.
    pub async fn queue_new_requests(&mut self, client: &NotebookClient) -> Result<usize> {
        let requests = client.notebook(|nb| nb.run_requests()).await??;
        if requests
            .iter()
            .all(|(_, r)| self.handled.contains(&r.request_id))
        {
            return Ok(0);
        }
        if self.last_run.is_none() {
            let runs = client.runtime(|rt| rt.requests_in_queue_order()).await??;
            let mut last_run = HashMap::new();
            for (cell, request) in runs {
                self.handled.insert(request.request_id.clone());
                last_run.insert(cell, request);
            }
            self.last_run = Some(last_run);
        }
        let candidates: Vec<(CellId, RunRequest)> = requests
            .into_iter()
            .filter(|(_, r)| !self.handled.contains(&r.request_id))
            .collect();
        if candidates.is_empty() {
            return Ok(0);
        }
        // The last run of just the candidates' cells, for the closure below.
        let known: HashMap<CellId, PriorRequest> = candidates
            .iter()
            .filter_map(|(cell, _)| {
                let last = self.last_run.as_ref()?.get(cell)?;
                Some((cell.clone(), last.clone()))
            })
            .collect();
        let (mut to_queue, concurrent): (Vec<(CellId, RunRequest)>, Vec<RequestId>) = client
            .notebook(move |nb| {
                let mut fresh = Vec::new();
                let mut concurrent = Vec::new();
                for (cell, request) in candidates {
                    // Did the requester see the request we last ran for this
                    // cell? If not, the two presses were concurrent: one intent.
                    if let Some(last) = known.get(&cell) {
                        if !nb.request_saw(&request, last) {
                            tracing::info!(cell_id = %cell, request_id = %request.request_id, "concurrent press of run; already ran");
                            concurrent.push(request.request_id);
                            continue;
                        }
                    }
                    fresh.push((cell, request));
                }
                (fresh, concurrent)
            })
            .await?;
        self.handled.extend(concurrent);
        self.handled
            .extend(to_queue.iter().map(|(_, r)| r.request_id.clone()));
        if to_queue.is_empty() {
            return Ok(0);
        }
        // Request time first; presses in the same millisecond (run all) in
        // notebook order, which is the order `run_requests()` gave them in.
        to_queue.sort_by_key(|(_, r)| r.requested_at_ms);
        if let Some(last_run) = self.last_run.as_mut() {
            for (cell, request) in &to_queue {
                last_run.insert(cell.clone(), PriorRequest::from(request));
            }
        }
        let count = to_queue.len();
        for (_, request) in &to_queue {
            crate::timing_mark!("agent.request_seen", request.request_id);
        }
        let marks: Vec<RequestId> = to_queue.iter().map(|(_, r)| r.request_id.clone()).collect();
        let queued = client
            .edit_runtime(move |rt| {
                let mut queued = Vec::new();
                for (cell, request) in &to_queue {
                    let id = rt.queue_execution(cell, request, schema::clock::now_ms())?;
                    tracing::info!(execution_id = %id, cell_id = %cell, "queued");
                    queued.push(id);
                }
                Ok::<_, schema::SchemaError>(queued)
            })
            .await??;
        for request in &marks {
            crate::timing_mark!("agent.queued", request);
        }
        if let Some(queue) = self.queue.as_mut() {
            queue.extend(queued);
        }
        Ok(count)
    }

    /// The next execution to run, taken off the queue. Executions
    /// cancelled while they waited are skipped.
    pub async fn next_queued(
        &mut self,
        client: &NotebookClient,
    ) -> Result<Option<ExecutionRecord>> {
        if self.queue.is_none() {
            let queued = client.runtime(|rt| rt.queued_in_order()).await??;
            self.queue = Some(queued.into());
        }
        while let Some(id) = self.queue.as_mut().and_then(VecDeque::pop_front) {
            let x = id.clone();
            let record = client.runtime(move |rt| rt.execution(&x)).await??;
            if record.state == ExecutionState::Queued {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }
}
