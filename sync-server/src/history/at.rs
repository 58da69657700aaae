//! The notebook as it was right after one change of its document: cells in
//! order with their type and source, and the outputs each showed then (the
//! runtime document as it was at that change's time, clears applied).
//!
//! Cost: each document is rebuilt from its log up to the point, all the
//! changes applied in one `apply_changes` call (one by one would be
//! quadratic: Automerge walks a whole text per call that inserts into it),
//! so a point costs time linear in the history before it. History never
//! changes, so answers are cached (the last [`CACHE_POINTS`] points), and
//! moving back and forth between bursts costs nothing after the first look.

use crate::error::{Result, ServerError};
use crate::store::Store;
use schema::automerge::{Automerge, Change};
use schema::{DocKind, NotebookDoc, RuntimeDoc};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Points kept in memory (each is the notebook's JSON at that point).
pub const CACHE_POINTS: usize = 16;

type Cached = ((String, i64), Arc<Value>);
static CACHE: Mutex<VecDeque<Cached>> = Mutex::new(VecDeque::new());

fn cached(notebook_id: &str, seq: i64) -> Option<Arc<Value>> {
    let cache = CACHE.lock().ok()?;
    cache
        .iter()
        .find(|((n, s), _)| n == notebook_id && *s == seq)
        .map(|(_, v)| v.clone())
}

fn remember(notebook_id: &str, seq: i64, value: Arc<Value>) {
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() >= CACHE_POINTS {
            cache.pop_front();
        }
        cache.push_back(((notebook_id.to_owned(), seq), value));
    }
}

/// A document rebuilt from the log's changes `1..=upto`.
async fn rebuilt(
    store: &dyn Store,
    notebook_id: &str,
    kind: DocKind,
    upto: i64,
) -> Result<Automerge> {
    let rows = store
        .change_bytes_between(notebook_id, kind, 1, upto)
        .await?;
    tokio::task::block_in_place(|| {
        let changes = rows
            .into_iter()
            .map(|(_, bytes)| {
                Change::from_bytes(bytes).map_err(|e| ServerError::CorruptChange(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut doc = Automerge::new();
        doc.apply_changes(changes)?;
        Ok(doc)
    })
}

/// The notebook right after its change `seq`; `None` when there is no such
/// change.
pub async fn notebook_at(
    store: &dyn Store,
    notebook_id: &str,
    seq: i64,
) -> Result<Option<Arc<Value>>> {
    if let Some(hit) = cached(notebook_id, seq) {
        return Ok(Some(hit));
    }
    let Some(row) = store
        .history_rows(notebook_id, DocKind::Notebook, seq.saturating_add(1), 1)
        .await?
        .into_iter()
        .next()
        .filter(|r| r.seq == seq)
    else {
        return Ok(None);
    };
    let runtime_seq = store
        .last_seq_at(notebook_id, DocKind::Runtime, row.created_at_ms)
        .await?
        .max(1);
    let notebook = rebuilt(store, notebook_id, DocKind::Notebook, seq).await?;
    let runtime = rebuilt(store, notebook_id, DocKind::Runtime, runtime_seq).await?;
    let value = tokio::task::block_in_place(|| describe(notebook, runtime))?;
    let value = Arc::new(json!({
        "seq": seq,
        "at_ms": row.created_at_ms,
        "runtime_seq": runtime_seq,
        "cells": value,
    }));
    remember(notebook_id, seq, value.clone());
    Ok(Some(value))
}

fn describe(notebook: Automerge, runtime: Automerge) -> Result<Value> {
    let notebook = NotebookDoc::from_automerge(notebook)?;
    // A runtime document with no changes yet reads as showing nothing.
    let shown = match RuntimeDoc::from_automerge(runtime) {
        Ok(runtime) => {
            schema::apply_clears(runtime.shown_executions()?, &notebook.outputs_cleared()?)
        }
        Err(e) => {
            tracing::debug!(error = %e, "no runtime document at this point");
            Default::default()
        }
    };
    let cells: Vec<Value> = notebook
        .cells()?
        .into_iter()
        .map(|cell| {
            let run = shown.get(&cell.id);
            let attachments = notebook.attachments(&cell.id)?;
            Ok(json!({
                "id": cell.id.to_string(),
                "cell_type": cell.cell_type.as_str(),
                "position": cell.position,
                "source": cell.source,
                "metadata": cell.metadata,
                "attachments": attachments,
                "execution_count": run.and_then(|r| r.execution_count),
                "outputs": run.map(|r| r.outputs.iter().filter_map(|o| serde_json::to_value(o).ok()).collect::<Vec<_>>()).unwrap_or_default(),
            }))
        })
        .collect::<Result<_>>()?;
    Ok(Value::Array(cells))
}
