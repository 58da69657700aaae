//! The sync path's latency, as the benchmarks measure it: one-character
//! edits by one client, each timed until another client's replica has it.

use anyhow::{Context, Result};
use cathode_client::NotebookClient;
use schema::CellId;
use std::time::{Duration, Instant};

/// Time `warmup + edits` one-character edits of `cell` (empty at the
/// start) from `writer` to `reader`, keeping the last `edits`. Waits by
/// notification, never by polling.
pub async fn edit_latencies(
    writer: &NotebookClient,
    reader: &NotebookClient,
    cell: &CellId,
    warmup: usize,
    edits: usize,
) -> Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(edits);
    for i in 0..warmup + edits {
        let mut revision = reader.revision();
        revision.borrow_and_update();
        let start = Instant::now();
        let c = cell.clone();
        writer
            .edit_notebook(move |nb| nb.splice_source(&c, 0, 0, "x"))
            .await??;
        loop {
            let c = cell.clone();
            let len = reader
                .notebook(move |nb| nb.source(&c).map(|s| s.len()).unwrap_or(0))
                .await?;
            if len > i {
                break;
            }
            tokio::time::timeout(Duration::from_secs(10), revision.changed())
                .await
                .context("edit never arrived")??;
        }
        if i >= warmup {
            samples.push(start.elapsed());
        }
    }
    Ok(samples)
}
