//! A room's documents as the event log holds them: loading (latest
//! snapshot, then the log after it), the rows appended for new changes,
//! and snapshots.

use crate::error::{Result, ServerError};
use crate::store::{ChangeRow, Store};
use schema::automerge::{Automerge, Change, ReadDoc};
use schema::clock::now_ms;
use schema::DocKind;

/// Changes between snapshots: bounds how much of the log a cold load replays.
pub const SNAPSHOT_EVERY: i64 = 500;
/// Operations between snapshots. Replaying is per operation, and one change
/// can carry thousands (a pasted cell): measured here, replaying 200 changes
/// of 2 KB cells took 730 ms where loading their snapshot took 210 ms.
pub const SNAPSHOT_EVERY_OPS: usize = 20_000;
/// But a snapshot saves the whole document, so on a large document the
/// interval grows with it: a new snapshot once the log after the last one
/// holds a quarter as many changes or operations as that snapshot. Saving
/// then costs a constant amount per incoming operation however large the
/// notebook (a fixed interval made a burst of 3,000 pasted cells save a
/// growing document 600 times), and a cold load replays at most a quarter
/// of the document.
const SNAPSHOT_GROWTH: u64 = 4;

pub struct Document {
    pub kind: DocKind,
    pub doc: Automerge,
    /// Sequence number of the last change in the log.
    pub last_seq: i64,
    /// Sequence number the latest snapshot covers.
    pub snapshot_seq: i64,
    /// Operations in the log after the latest snapshot.
    pub ops_since_snapshot: usize,
    /// Changes and operations the document had at the latest snapshot.
    pub snapshot_size: (u64, u64),
}

impl Document {
    pub fn wants_snapshot(&self) -> bool {
        let (changes, ops) = self.snapshot_size;
        let changes_since = (self.last_seq - self.snapshot_seq).max(0) as u64;
        let ops_since = self.ops_since_snapshot as u64;
        changes_since >= (SNAPSHOT_EVERY as u64).max(changes / SNAPSHOT_GROWTH)
            || ops_since >= (SNAPSHOT_EVERY_OPS as u64).max(ops / SNAPSHOT_GROWTH)
    }

    /// The next row of the log, for a change just applied.
    pub fn next_row(&mut self, notebook_id: &str, author: &str, change: &mut Change) -> ChangeRow {
        self.last_seq += 1;
        self.ops_since_snapshot += change.len();
        change_row(
            notebook_id,
            self.kind,
            self.last_seq,
            author,
            change,
            now_ms(),
        )
    }

    /// Save a snapshot covering the log so far. A failure only costs load
    /// time later: the log has everything.
    pub async fn snapshot(&mut self, store: &dyn Store, notebook_id: &str) {
        if self.last_seq == self.snapshot_seq {
            return;
        }
        match save_snapshot(store, notebook_id, self.kind, &self.doc, self.last_seq).await {
            Ok(()) => {
                self.snapshot_seq = self.last_seq;
                self.ops_since_snapshot = 0;
                let stats = self.doc.stats();
                self.snapshot_size = (stats.num_changes, stats.num_ops);
            }
            Err(e) => tracing::warn!(error = %e, "snapshot failed"),
        }
    }
}

fn change_row(
    notebook_id: &str,
    doc: DocKind,
    seq: i64,
    author: &str,
    change: &mut Change,
    now: i64,
) -> ChangeRow {
    ChangeRow {
        notebook_id: notebook_id.to_owned(),
        doc,
        seq,
        hash: change.hash().to_string(),
        actor: change.actor_id().to_hex_string(),
        author: author.to_owned(),
        event_type: schema::event::event_name(change.message()).to_owned(),
        bytes: change.bytes().into_owned(),
        created_at_ms: now,
    }
}

/// The first rows of a new notebook's log: its two initial documents.
pub fn initial_rows(
    notebook_id: &str,
    author: &str,
    notebook: &Automerge,
    runtime: &Automerge,
) -> Vec<ChangeRow> {
    let now = now_ms();
    let mut rows = Vec::new();
    for (kind, doc) in [(DocKind::Notebook, notebook), (DocKind::Runtime, runtime)] {
        for (i, mut change) in doc.get_changes(&[]).into_iter().enumerate() {
            rows.push(change_row(
                notebook_id,
                kind,
                i as i64 + 1,
                author,
                &mut change,
                now,
            ));
        }
    }
    rows
}

/// Save `doc` as the snapshot covering the log up to `upto_seq`.
async fn save_snapshot(
    store: &dyn Store,
    notebook_id: &str,
    kind: DocKind,
    doc: &Automerge,
    upto_seq: i64,
) -> Result<()> {
    // Saving a large document takes a while: let the runtime move its
    // other tasks off this thread meanwhile.
    let bytes = tokio::task::block_in_place(|| doc.save());
    let snapshot = crate::store::Snapshot { upto_seq, bytes };
    store.put_snapshot(notebook_id, kind, &snapshot).await
}

/// Snapshots of a new notebook's two documents, covering the rows
/// [`initial_rows`] made of them. An imported notebook's first changes
/// carry an operation per character, and replaying them (the room's first
/// load) costs several times loading a snapshot. A failure only costs that
/// load time: the log has everything.
pub async fn initial_snapshots(
    store: &dyn Store,
    notebook_id: &str,
    notebook: &Automerge,
    runtime: &Automerge,
    rows: &[ChangeRow],
) {
    for (kind, doc) in [(DocKind::Notebook, notebook), (DocKind::Runtime, runtime)] {
        let upto_seq = rows
            .iter()
            .filter(|r| r.doc == kind)
            .map(|r| r.seq)
            .max()
            .unwrap_or(0);
        if let Err(e) = save_snapshot(store, notebook_id, kind, doc, upto_seq).await {
            tracing::warn!(notebook_id, error = %e, "first snapshot failed");
        }
    }
}

/// Load a document: its latest snapshot, then the log after it, then
/// `pending` (rows of the current batch, not yet in the log).
pub async fn load_document(
    store: &dyn Store,
    notebook_id: &str,
    kind: DocKind,
    pending: &[ChangeRow],
) -> Result<Document> {
    let snapshot = store.latest_snapshot(notebook_id, kind).await?;
    let (mut doc, snapshot_seq) = match snapshot {
        Some(s) => (Automerge::load(&s.bytes)?, s.upto_seq),
        None => (Automerge::new(), 0),
    };
    let rows = store.changes_after(notebook_id, kind, snapshot_seq).await?;
    let mut last_seq = snapshot_seq;
    let mut ops_since_snapshot = 0;
    let mut changes = Vec::with_capacity(rows.len());
    let pending = pending.iter().filter(|r| r.doc == kind);
    for row in rows.iter().chain(pending) {
        last_seq = row.seq;
        let change = Change::from_bytes(row.bytes.clone())
            .map_err(|e| ServerError::CorruptChange(e.to_string()))?;
        ops_since_snapshot += change.len();
        changes.push(change);
    }
    let snapshot_size = {
        let stats = doc.stats();
        (stats.num_changes, stats.num_ops)
    };
    doc.apply_changes(changes)?;
    if last_seq == 0 {
        return Err(ServerError::NotebookNotFound(notebook_id.to_owned()));
    }
    Ok(Document {
        kind,
        doc,
        last_seq,
        snapshot_seq,
        ops_since_snapshot,
        snapshot_size,
    })
}
