//! A burst of large changes from one peer, timed until another peer has
//! them all: how well a room keeps up (the hardening issue's finding 8).

use anyhow::{Context, Result};
use cathode_client::NotebookClient;
use schema::{CellType, Placement};
use std::time::{Duration, Instant};

/// Make `changes` changes of `bytes` characters each (a new cell with that
/// much source) as fast as `writer` takes them; return the time until
/// `reader` has every one.
pub async fn burst(
    writer: &NotebookClient,
    reader: &NotebookClient,
    changes: usize,
    bytes: usize,
    timeout: Duration,
) -> Result<Duration> {
    let before = reader
        .notebook(|nb| nb.cell_ids().map(|c| c.len()).unwrap_or(0))
        .await?;
    let source = "b".repeat(bytes);
    let start = Instant::now();
    for _ in 0..changes {
        let s = source.clone();
        writer
            .edit_notebook(move |nb| nb.create_cell(CellType::Code, Placement::End, &s))
            .await??;
    }
    let want = before + changes;
    reader
        .wait_notebook(timeout, move |nb| {
            nb.cell_ids().map(|c| c.len()).unwrap_or(0) >= want
        })
        .await
        .context("the burst never arrived whole")?;
    Ok(start.elapsed())
}

/// Give a notebook `changes` changes of history: one-character edits of
/// one cell, acknowledged a thousand at a time.
pub async fn prefill(writer: &NotebookClient, changes: usize) -> Result<()> {
    let cell = writer
        .edit_notebook(|nb| nb.create_cell(CellType::Code, Placement::End, ""))
        .await??;
    for i in 0..changes {
        let c = cell.clone();
        writer
            .edit_notebook(move |nb| nb.splice_source(&c, 0, 0, "h"))
            .await??;
        if i % 1000 == 999 {
            writer.wait_acknowledged(Duration::from_secs(120)).await?;
        }
    }
    writer.wait_acknowledged(Duration::from_secs(120)).await?;
    Ok(())
}
