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
pub async fn queue_new_requests(
    client: &NotebookClient,
    handled: &mut HashSet<RequestId>,
) -> Result<usize> {
    // What has run or is queued, per cell, oldest first.
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
    let handled_now = handled.clone();
    let (to_queue, concurrent): (Vec<(CellId, RunRequest)>, Vec<RequestId>) = client
        .notebook(move |nb| {
            let mut fresh = Vec::new();
            let mut concurrent = Vec::new();
            for cell in nb.cells()? {
                let Some(request) = cell.run_request else { continue };
                if handled_now.contains(&request.request_id) {
                    continue;
                }
                // Did the requester see the request we last ran for this
                // cell? If not, the two presses were concurrent: one intent.
                if let Some((last_id, last_heads)) = known.get(&cell.id).and_then(|runs| runs.last()) {
                    if !nb.request_saw(&request, last_id, last_heads) {
                        tracing::info!(cell_id = %cell.id, request_id = %request.request_id, "concurrent press of run; already ran");
                        concurrent.push(request.request_id);
                        continue;
                    }
                }
                fresh.push((cell.id, request));
            }
            Ok::<_, schema::SchemaError>((fresh, concurrent))
        })
        .await??;
    handled.extend(concurrent);
    handled.extend(to_queue.iter().map(|(_, r)| r.request_id.clone()));
    let mut to_queue = to_queue;
    if to_queue.is_empty() {
        return Ok(0);
    }
    // Request time first; presses in the same millisecond (run all) in
    // notebook order, which is the order `cells()` produced them in.
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
                    schema::clock::now_ms(),
                )?;
                tracing::info!(execution_id = %id, cell_id = %cell, "queued");
            }
            Ok::<_, schema::SchemaError>(())
        })
        .await??;
    Ok(count)
}
