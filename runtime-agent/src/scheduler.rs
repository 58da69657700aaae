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
use schema::automerge::ChangeHash;
use schema::{CellId, RequestId, RunRequest};
use std::collections::{HashMap, HashSet};

/// Queue executions for new run requests; returns how many were queued.
/// Called on every change of the notebook, so the common case (no new
/// request) reads only the cells' run requests.
pub async fn queue_new_requests(
    client: &NotebookClient,
    handled: &mut HashSet<RequestId>,
) -> Result<usize> {
    let requests = client.notebook(|nb| nb.run_requests()).await??;
    if requests
        .iter()
        .all(|(_, r)| handled.contains(&r.request_id))
    {
        return Ok(0);
    }
    // What has run or is queued, per cell, in queue order.
    let known: HashMap<CellId, Vec<(RequestId, Vec<ChangeHash>)>> = client
        .runtime(|rt| {
            let mut by_cell: HashMap<CellId, Vec<(RequestId, Vec<ChangeHash>)>> = HashMap::new();
            for x in rt.executions()? {
                by_cell
                    .entry(x.cell_id)
                    .or_default()
                    .push((x.request_id, x.source_heads));
            }
            Ok::<_, schema::SchemaError>(by_cell)
        })
        .await??;
    for runs in known.values() {
        handled.extend(runs.iter().map(|(r, _)| r.clone()));
    }
    let candidates: Vec<(CellId, RunRequest)> = requests
        .into_iter()
        .filter(|(_, r)| !handled.contains(&r.request_id))
        .collect();
    if candidates.is_empty() {
        return Ok(0);
    }
    let (mut to_queue, concurrent): (Vec<(CellId, RunRequest)>, Vec<RequestId>) = client
        .notebook(move |nb| {
            let mut fresh = Vec::new();
            let mut concurrent = Vec::new();
            for (cell, request) in candidates {
                // Did the requester see the request we last ran for this
                // cell? If not, the two presses were concurrent: one intent.
                if let Some((last_id, last_heads)) = known.get(&cell).and_then(|runs| runs.last()) {
                    if !nb.request_saw(&request, last_id, last_heads) {
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
    handled.extend(concurrent);
    handled.extend(to_queue.iter().map(|(_, r)| r.request_id.clone()));
    if to_queue.is_empty() {
        return Ok(0);
    }
    // Request time first; presses in the same millisecond (run all) in
    // notebook order, which is the order `run_requests()` gave them in.
    to_queue.sort_by_key(|(_, r)| r.requested_at_ms);
    let count = to_queue.len();
    client
        .edit_runtime(move |rt| {
            for (cell, request) in &to_queue {
                let id = rt.queue_execution(
                    cell,
                    &request.request_id,
                    &request.requested_by,
                    &request.heads,
                    request.batch.as_deref(),
                    schema::clock::now_ms(),
                )?;
                tracing::info!(execution_id = %id, cell_id = %cell, "queued");
            }
            Ok::<_, schema::SchemaError>(())
        })
        .await??;
    Ok(count)
}
