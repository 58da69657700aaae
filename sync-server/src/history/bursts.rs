//! The notebook document's event log as bursts of work, newest first: a
//! burst is consecutive changes by the same author (or the same AI run) of
//! the same kind, each within [`BURST_GAP_MS`] of the next.
//!
//! Cost: a page reads the log's narrow columns backwards from its cursor
//! in chunks of [`CHUNK`] rows until it has its bursts, and at most
//! [`MAX_ROWS_PER_PAGE`] rows (one person typing for an hour is one burst
//! of thousands of changes: such a burst is cut there, and the next page
//! carries on with the rest of it). A change's message is decoded only the
//! first time any page reads it (`change_details`).

use super::{detail_of, kind_of, ChangeDetail};
use crate::error::Result;
use crate::store::{HistoryRow, Store};
use schema::DocKind;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// Changes further apart than this are separate bursts.
pub const BURST_GAP_MS: i64 = 120_000;
/// Rows read per query.
pub const CHUNK: i64 = 1_000;
/// Rows read per page at most.
pub const MAX_ROWS_PER_PAGE: usize = 5_000;
/// Cells named per burst at most (`more_cells` counts the rest).
const MAX_CELLS: usize = 50;

#[derive(Clone, Debug, Serialize)]
pub struct Burst {
    /// created, edited, moved, deleted, ran, ai_run, import,
    /// cleared_outputs, metadata, restore, ... (`kind_of`).
    pub kind: &'static str,
    /// The name of the user whose connection delivered the changes (an AI
    /// run's agent or MCP client acts as a user too: see `by`).
    pub author: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ai_run: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_to: Option<i64>,
    pub first_seq: i64,
    pub last_seq: i64,
    pub first_ms: i64,
    pub last_ms: i64,
    pub changes: usize,
    pub cells: Vec<String>,
    pub more_cells: usize,
    #[serde(skip)]
    cell_set: BTreeSet<String>,
}

impl Burst {
    fn start(row: &HistoryRow, kind: &'static str, detail: ChangeDetail) -> Self {
        let mut burst = Self {
            kind,
            author: row.author.clone(),
            by: detail.by.clone(),
            on_behalf_of: detail.on_behalf_of.clone(),
            ai_run: detail.ai_run.clone(),
            restore_to: detail.restore_to,
            first_seq: row.seq,
            last_seq: row.seq,
            first_ms: row.created_at_ms,
            last_ms: row.created_at_ms,
            changes: 0,
            cells: Vec::new(),
            more_cells: 0,
            cell_set: BTreeSet::new(),
        };
        burst.add(row, &detail);
        burst
    }

    /// Whether an older change continues this burst.
    fn continued_by(&self, row: &HistoryRow, kind: &str, detail: &ChangeDetail) -> bool {
        self.kind == kind
            && self.author == row.author
            && self.ai_run == detail.ai_run
            && self.restore_to == detail.restore_to
            && self.first_ms - row.created_at_ms <= BURST_GAP_MS
    }

    fn add(&mut self, row: &HistoryRow, detail: &ChangeDetail) {
        self.first_seq = row.seq;
        self.first_ms = row.created_at_ms;
        self.changes += 1;
        for cell in &detail.cells {
            if self.cell_set.contains(cell) {
                continue;
            }
            self.cell_set.insert(cell.clone());
            if self.cells.len() < MAX_CELLS {
                self.cells.push(cell.clone());
            } else {
                self.more_cells += 1;
            }
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Page {
    pub bursts: Vec<Burst>,
    /// The cursor of the next (older) page: changes with `seq` below it.
    pub next_before: Option<i64>,
    /// Rows of the log this page read, and changes it decoded (only those
    /// no page had read before): what a page costs.
    pub rows_read: usize,
    pub decoded: usize,
}

/// Fill in the details of rows no page has read yet, decoding each once.
async fn fill_details(
    store: &dyn Store,
    notebook_id: &str,
    rows: &[HistoryRow],
) -> Result<(Vec<ChangeDetail>, usize)> {
    let missing: Vec<i64> = rows
        .iter()
        .filter(|r| r.detail.is_none())
        .map(|r| r.seq)
        .collect();
    let mut fresh: HashMap<i64, ChangeDetail> = HashMap::new();
    if let (Some(&lo), Some(&hi)) = (missing.iter().min(), missing.iter().max()) {
        let bytes = store
            .change_bytes_between(notebook_id, DocKind::Notebook, lo, hi)
            .await?;
        let wanted: BTreeSet<i64> = missing.iter().copied().collect();
        let decoded = tokio::task::block_in_place(|| {
            bytes
                .iter()
                .filter(|(seq, _)| wanted.contains(seq))
                .map(|(seq, b)| (*seq, detail_of(b)))
                .collect::<Vec<_>>()
        });
        let stored: Vec<(i64, String)> = decoded
            .iter()
            .filter_map(|(seq, d)| serde_json::to_string(d).ok().map(|s| (*seq, s)))
            .collect();
        store
            .put_change_details(notebook_id, DocKind::Notebook, &stored)
            .await?;
        fresh.extend(decoded);
    }
    let details = rows
        .iter()
        .map(|r| match &r.detail {
            Some(json) => serde_json::from_str(json).unwrap_or_default(),
            None => fresh.remove(&r.seq).unwrap_or_default(),
        })
        .collect();
    Ok((details, missing.len()))
}

/// Up to `limit` bursts of changes older than `before` (newest first).
pub async fn page(
    store: &dyn Store,
    notebook_id: &str,
    before: Option<i64>,
    limit: usize,
) -> Result<Page> {
    let mut cursor = before.unwrap_or(i64::MAX);
    let mut bursts: Vec<Burst> = Vec::new();
    let mut current: Option<Burst> = None;
    let (mut rows_read, mut decoded) = (0, 0);
    let next_before = 'pages: loop {
        let rows = store
            .history_rows(notebook_id, DocKind::Notebook, cursor, CHUNK)
            .await?;
        let (details, fresh) = fill_details(store, notebook_id, &rows).await?;
        decoded += fresh;
        rows_read += rows.len();
        for (row, detail) in rows.iter().zip(details) {
            let kind = kind_of(&row.event_type, &detail);
            match current.as_mut() {
                Some(burst) if burst.continued_by(row, kind, &detail) => burst.add(row, &detail),
                _ => {
                    if let Some(done) = current.take() {
                        bursts.push(done);
                        if bursts.len() >= limit {
                            break 'pages Some(row.seq + 1);
                        }
                    }
                    current = Some(Burst::start(row, kind, detail));
                }
            }
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == CHUNK => {
                cursor = last.seq;
                if rows_read >= MAX_ROWS_PER_PAGE {
                    bursts.extend(current.take());
                    break Some(cursor);
                }
            }
            _ => {
                bursts.extend(current.take());
                break None;
            }
        }
    };
    Ok(Page {
        bursts,
        next_before,
        rows_read,
        decoded,
    })
}
