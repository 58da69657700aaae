//! A burst of large changes from one peer, timed until another peer has
//! them all: how well a room keeps up (the hardening issue's finding 8).

use anyhow::{Context, Result};
use cathode_client::NotebookClient;
use schema::automerge::ReadDoc;
use schema::{CellType, Placement};
use std::time::{Duration, Instant};

/// What each change of a burst does.
#[derive(Clone, Copy, Debug)]
pub enum BurstShape {
    /// Appends to one cell's source (Automerge's worst case: it walks the
    /// whole text for each apply).
    Appends,
    /// New cells, each with that much source.
    NewCells,
}

/// Make `changes` changes of `bytes` characters each as fast as `writer`
/// takes them; return the time until `reader` has every one. The reader
/// waits for the writer's last change, which depends on all the others, so
/// checking costs nothing per change.
pub async fn burst(
    writer: &NotebookClient,
    reader: &NotebookClient,
    shape: BurstShape,
    changes: usize,
    bytes: usize,
    timeout: Duration,
) -> Result<Duration> {
    let cell = writer
        .edit_notebook(|nb| nb.create_cell(CellType::Code, Placement::End, ""))
        .await??;
    writer.wait_acknowledged(Duration::from_secs(60)).await?;
    let piece = "b".repeat(bytes);
    let start = Instant::now();
    for i in 0..changes {
        let (c, p) = (cell.clone(), piece.clone());
        match shape {
            BurstShape::Appends => {
                writer
                    .edit_notebook(move |nb| nb.splice_source(&c, i * bytes, 0, &p))
                    .await??
            }
            BurstShape::NewCells => {
                writer
                    .edit_notebook(move |nb| {
                        nb.create_cell(CellType::Code, Placement::After(c), &p)
                            .map(|_| ())
                    })
                    .await??
            }
        }
    }
    let last = writer
        .notebook(|nb| nb.automerge().get_last_local_change().map(|c| c.hash()))
        .await?
        .context("the writer made no change")?;
    reader
        .wait_notebook(timeout, move |nb| {
            nb.automerge().get_change_by_hash(&last).is_some()
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

/// CPU time (user and system) a process has used so far, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
