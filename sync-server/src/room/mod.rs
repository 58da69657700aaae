//! One task per open notebook: it owns both documents and every connected
//! peer's sync state, so nothing about a notebook is ever shared or locked.
//!
//! The task works in batches. It takes every message that has arrived,
//! applies the permitted ones, relays the new changes at once to the peers
//! that wrote none of them, appends them to the event log and waits until
//! they are durable, and only then answers the peers that wrote them: the
//! server's heads in that answer are their acknowledgement, so it must not
//! go out before the changes are safe. Relaying to everyone else first takes
//! the commit off the path from one peer's edit to another's screen (and
//! from a run request to the agent, and from its output back). Messages
//! arriving during the commit form the next batch, so a busy room commits
//! many changes per fsync, and a change that depends on one still being
//! committed is logged after it.
//!
//! If the server dies before the commit, peers that were relayed a change
//! hold it and the log does not; its author was never acknowledged and
//! sends it again, and Automerge merges the copies. Only acknowledgements of
//! a peer's own changes mean "durable".

use crate::error::{Result, ServerError};
use crate::event_log::EventLog;
use crate::store::{ChangeRow, Store};
use schema::automerge::sync::{self, SyncDoc};
use schema::automerge::{Automerge, Change};
use schema::clock::now_ms;
use schema::wire::{ErrorCode, ErrorFrame, Frame, Presence, Role};
use schema::DocKind;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// Changes between snapshots: bounds how much of the log a cold load replays.
pub const SNAPSHOT_EVERY: i64 = 500;
/// Operations between snapshots. Replaying is per operation, and one change
/// can carry thousands (a pasted cell): measured here, replaying 200 changes
/// of 2 KB cells took 730 ms where loading their snapshot took 210 ms.
pub const SNAPSHOT_EVERY_OPS: usize = 20_000;
/// Messages taken per batch at most.
const MAX_BATCH: usize = 256;

/// What a connection's writer sends down its socket.
#[derive(Debug)]
pub enum Outbound {
    Frame(Vec<u8>),
    /// Send nothing more; close the socket.
    Close,
}

pub enum RoomCommand {
    Join {
        peer_id: String,
        user: String,
        role: Role,
        out: mpsc::UnboundedSender<Outbound>,
        reply: oneshot::Sender<()>,
    },
    Leave {
        peer_id: String,
    },
    Sync {
        peer_id: String,
        doc: DocKind,
        message: Vec<u8>,
    },
    Presence {
        peer_id: String,
        state: serde_json::Value,
    },
    /// Finish the current batch, snapshot, tell peers, stop.
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

struct Peer {
    user: String,
    role: Role,
    out: mpsc::UnboundedSender<Outbound>,
    sync: [sync::State; 2],
}

struct Document {
    kind: DocKind,
    doc: Automerge,
    /// Sequence number of the last change in the log.
    last_seq: i64,
    /// Sequence number the latest snapshot covers.
    snapshot_seq: i64,
    /// Operations in the log after the latest snapshot.
    ops_since_snapshot: usize,
}

pub struct Room {
    notebook_id: String,
    docs: [Document; 2],
    peers: HashMap<String, Peer>,
    log: EventLog,
    store: Arc<dyn Store>,
}

impl Room {
    /// Load both documents: latest snapshot, then the log after it.
    pub async fn load(notebook_id: &str, store: Arc<dyn Store>, log: EventLog) -> Result<Self> {
        let notebook = load_document(store.as_ref(), notebook_id, DocKind::Notebook).await?;
        let runtime = load_document(store.as_ref(), notebook_id, DocKind::Runtime).await?;
        Ok(Self {
            notebook_id: notebook_id.to_owned(),
            docs: [notebook, runtime],
            peers: HashMap::new(),
            log,
            store,
        })
    }

    pub async fn run(mut self, mut commands: mpsc::Receiver<RoomCommand>) {
        let span = tracing::info_span!("room", notebook_id = %self.notebook_id);
        async move {
            // A load that replayed a long tail leaves a snapshot behind, so
            // the next cold open is fast.
            self.maybe_snapshot().await;
            let mut batch = Vec::with_capacity(MAX_BATCH);
            loop {
                batch.clear();
                if commands.recv_many(&mut batch, MAX_BATCH).await == 0 {
                    break;
                }
                let mut shutdown = None;
                let mut pending = Vec::new();
                let mut authors = HashSet::new();
                for command in batch.drain(..) {
                    match command {
                        RoomCommand::Shutdown { done } => shutdown = Some(done),
                        other => self.apply(other, &mut pending, &mut authors),
                    }
                }
                if !pending.is_empty() {
                    self.relay(|peer_id| !authors.contains(peer_id));
                }
                if let Err(e) = self.log.append(pending).await {
                    self.fail(e);
                    return;
                }
                self.relay(|_| true);
                if let Some(done) = shutdown {
                    self.shut_down().await;
                    let _ = done.send(());
                    return;
                }
                self.maybe_snapshot().await;
            }
        }
        .instrument(span)
        .await
    }

    fn apply(
        &mut self,
        command: RoomCommand,
        pending: &mut Vec<ChangeRow>,
        authors: &mut HashSet<String>,
    ) {
        match command {
            RoomCommand::Join {
                peer_id,
                user,
                role,
                out,
                reply,
            } => {
                let mut states = [sync::State::new(), sync::State::new()];
                for kind in DocKind::ALL {
                    // A peer that may not write a document gets a read-only
                    // sync state: Automerge then ignores changes it sends.
                    states[kind.index()].read_only = !role.can_write(kind);
                }
                tracing::debug!(%peer_id, %user, role = role.as_str(), "peer joined");
                self.broadcast_presence(&peer_id, &user, serde_json::json!({"joined": true}));
                self.peers.insert(
                    peer_id,
                    Peer {
                        user,
                        role,
                        out,
                        sync: states,
                    },
                );
                let _ = reply.send(());
            }
            RoomCommand::Leave { peer_id } => {
                if let Some(peer) = self.peers.remove(&peer_id) {
                    tracing::debug!(%peer_id, "peer left");
                    self.broadcast_presence(&peer_id, &peer.user, serde_json::Value::Null);
                }
            }
            RoomCommand::Presence { peer_id, state } => {
                if let Some(peer) = self.peers.get(&peer_id) {
                    let user = peer.user.clone();
                    self.broadcast_presence(&peer_id, &user, state);
                }
            }
            RoomCommand::Sync {
                peer_id,
                doc,
                message,
            } => match self.receive(&peer_id, doc, &message, pending) {
                Ok(true) => {
                    authors.insert(peer_id);
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(%peer_id, error = %e, "sync message rejected"),
            },
            RoomCommand::Shutdown { .. } => {}
        }
    }

    /// Apply one sync message; `Ok(true)` when it brought new changes (its
    /// sender is then an author in this batch).
    fn receive(
        &mut self,
        peer_id: &str,
        kind: DocKind,
        bytes: &[u8],
        pending: &mut Vec<ChangeRow>,
    ) -> Result<bool> {
        let Some(peer) = self.peers.get_mut(peer_id) else {
            return Ok(false);
        };
        let message = match sync::Message::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                send_error(
                    &peer.out,
                    ErrorCode::BadSync,
                    format!("undecodable sync message: {e}"),
                    true,
                );
                return Ok(false);
            }
        };
        if !message.changes.is_empty() && !peer.role.can_write(kind) {
            send_error(
                &peer.out,
                ErrorCode::Forbidden,
                format!(
                    "a {} may not change the {} document; the change was not applied",
                    peer.role.as_str(),
                    kind.as_str()
                ),
                false,
            );
        }
        let document = &mut self.docs[kind.index()];
        let before = document.doc.get_heads();
        tracing::trace!(
            %peer_id,
            doc = kind.as_str(),
            heads = ?message.heads,
            need = message.need.len(),
            changes = message.changes.len(),
            "sync message in"
        );
        let state = &mut peer.sync[kind.index()];
        // Automerge records a peer's echo of our heads as "already sent to
        // them", which is right only when a reply is generated straight after
        // each message. We reply after the batch is durable, possibly after
        // applying a change from the same peer that the echo now matches, so
        // keep the heads we really sent: the acknowledgement must go out.
        let really_sent = state.last_sent_heads.clone();
        let received = document.doc.receive_sync_message(state, message);
        state.last_sent_heads = really_sent;
        if let Err(e) = received {
            send_error(
                &peer.out,
                ErrorCode::BadSync,
                format!("sync message could not be applied: {e}"),
                true,
            );
            return Ok(false);
        }
        if document.doc.get_heads() == before {
            return Ok(false);
        }
        let now = now_ms();
        for mut change in document.doc.get_changes(&before) {
            document.last_seq += 1;
            document.ops_since_snapshot += change.len();
            pending.push(change_row(
                &self.notebook_id,
                kind,
                document.last_seq,
                &peer.user,
                &mut change,
                now,
            ));
        }
        Ok(true)
    }

    /// Generate and send whatever each chosen peer is owed. Before the
    /// commit only peers that wrote nothing in the batch are chosen; after
    /// it, everyone (see the module comment).
    fn relay(&mut self, chosen: impl Fn(&str) -> bool) {
        for (peer_id, peer) in self.peers.iter_mut() {
            if !chosen(peer_id) {
                continue;
            }
            for document in &self.docs {
                let state = &mut peer.sync[document.kind.index()];
                let generated = document.doc.generate_sync_message(state);
                tracing::trace!(
                    doc = document.kind.as_str(),
                    sent = generated.is_some(),
                    heads = ?generated.as_ref().map(|m| m.heads.clone()),
                    "sync message out"
                );
                if let Some(message) = generated {
                    let frame = Frame::Sync {
                        doc: document.kind,
                        message: message.encode(),
                    };
                    let _ = peer.out.send(Outbound::Frame(frame.encode()));
                }
            }
        }
    }

    fn broadcast_presence(&self, from: &str, user: &str, state: serde_json::Value) {
        let frame = Frame::Presence(Presence {
            peer_id: Some(from.to_owned()),
            user: Some(user.to_owned()),
            state,
        })
        .encode();
        for (id, peer) in &self.peers {
            if id != from {
                let _ = peer.out.send(Outbound::Frame(frame.clone()));
            }
        }
    }

    async fn maybe_snapshot(&mut self) {
        for i in 0..2 {
            let d = &self.docs[i];
            if d.last_seq - d.snapshot_seq >= SNAPSHOT_EVERY
                || d.ops_since_snapshot >= SNAPSHOT_EVERY_OPS
            {
                self.snapshot(i).await;
            }
        }
    }

    async fn snapshot(&mut self, i: usize) {
        let document = &mut self.docs[i];
        if document.last_seq == document.snapshot_seq {
            return;
        }
        let snapshot = crate::store::Snapshot {
            upto_seq: document.last_seq,
            bytes: document.doc.save(),
        };
        match self
            .store
            .put_snapshot(&self.notebook_id, document.kind, &snapshot)
            .await
        {
            Ok(()) => {
                document.snapshot_seq = snapshot.upto_seq;
                document.ops_since_snapshot = 0;
            }
            // A missing snapshot only costs load time; the log has everything.
            Err(e) => tracing::warn!(error = %e, "snapshot failed"),
        }
    }

    /// The log refused a batch: those changes are not durable, so they must
    /// not be acknowledged. Drop every peer; they reconnect to a room
    /// reloaded from the log and send their changes again.
    fn fail(&mut self, error: ServerError) {
        tracing::error!(%error, "room stopped: event log append failed");
        for peer in self.peers.values() {
            send_error(
                &peer.out,
                ErrorCode::Storage,
                "the server could not store changes; reconnect".into(),
                true,
            );
        }
    }

    async fn shut_down(&mut self) {
        for i in 0..2 {
            self.snapshot(i).await;
        }
        for peer in self.peers.values() {
            send_error(
                &peer.out,
                ErrorCode::ShuttingDown,
                "the server is shutting down".into(),
                true,
            );
        }
    }
}

fn send_error(
    out: &mpsc::UnboundedSender<Outbound>,
    code: ErrorCode,
    message: String,
    fatal: bool,
) {
    let _ = out.send(Outbound::Frame(
        Frame::Error(ErrorFrame {
            code,
            message,
            fatal,
        })
        .encode(),
    ));
    if fatal {
        let _ = out.send(Outbound::Close);
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

async fn load_document(store: &dyn Store, notebook_id: &str, kind: DocKind) -> Result<Document> {
    let snapshot = store.latest_snapshot(notebook_id, kind).await?;
    let (mut doc, snapshot_seq) = match snapshot {
        Some(s) => (Automerge::load(&s.bytes)?, s.upto_seq),
        None => (Automerge::new(), 0),
    };
    let rows = store.changes_after(notebook_id, kind, snapshot_seq).await?;
    let mut last_seq = snapshot_seq;
    let mut ops_since_snapshot = 0;
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        last_seq = row.seq;
        let change =
            Change::from_bytes(row.bytes).map_err(|e| ServerError::CorruptChange(e.to_string()))?;
        ops_since_snapshot += change.len();
        changes.push(change);
    }
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
    })
}
