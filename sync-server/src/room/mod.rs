//! One task per open notebook: it owns both documents and every connected
//! peer's sync state, so nothing about a notebook is ever shared or locked.
//!
//! The task works in batches. It takes every command that has arrived,
//! checks each sync message ([`crate::guard`], then the layout, see
//! `incoming`), applies the new changes of the whole batch in one go,
//! relays them at once to the peers that wrote none of them, and hands
//! them to the event log. It does not wait for the commit: the next batch
//! is taken at once, and the peers that wrote a batch are answered only
//! when it is durable (`commits`): the server's heads in that answer are
//! their acknowledgement, so it must not go out before the changes are
//! safe. Relaying to everyone else first takes the commit off the path from
//! one peer's edit to another's screen (and from a run request to the
//! agent, and from its output back). The log commits batches in order and
//! groups those that queue during an fsync, so a busy room commits many
//! changes per fsync, and a change that depends on one still being
//! committed is logged after it.
//!
//! If the server dies before the commit, peers that were relayed a change
//! hold it and the log does not; its author was never acknowledged and
//! sends it again, and Automerge merges the copies. Only acknowledgements of
//! a peer's own changes mean "durable".
//!
//! Nothing a peer sends can stop the room: a message that fails a check is
//! an error for that peer only, and a panic while handling one peer's
//! message (an Automerge bug our checks did not foresee) drops that peer,
//! reloading the document from the log if the panic may have left it half
//! changed.

pub mod activity;
mod commits;
mod incoming;
mod kernel_relay;
pub mod outbox;
pub mod peer;
mod presence;
pub mod preview_cache;
mod relay;
mod storage;

pub use activity::{LeaseHolder, ReportSink, RoomActivity, RoomReport};
pub use peer::PeerInfo;
pub use storage::{initial_rows, initial_snapshots, load_document};

use crate::error::Result;
use crate::event_log::EventLog;
use crate::guard::Limits;
use crate::store::Store;
use incoming::Candidate;
use outbox::Outbox;
use peer::Peer;
use presence::PresenceBoard;
use preview_cache::{PreviewCache, PreviewJson};
use schema::layout::ChangeChecker;
use schema::wire::ErrorCode;
use schema::DocKind;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use storage::Document;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit};
use tracing::Instrument;

/// Commands taken per batch at most.
const MAX_BATCH: usize = 256;
/// Presence goes out at most this often: a burst of joins or updates
/// reaches each reader as one frame per interval, not one per event. The
/// interval grows by [`PRESENCE_INTERVAL_PER_PEER`] with each peer, so a
/// room sends about a thousand presence frames a second at most, however
/// many peers it has.
const PRESENCE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);
const PRESENCE_INTERVAL_PER_PEER: std::time::Duration = std::time::Duration::from_millis(1);

/// Room for one inbound sync frame: held until the room has handled it,
/// so that what peers send and the room has not yet read is bounded in
/// bytes, per peer and per room.
pub struct InboundPermit {
    pub peer: OwnedSemaphorePermit,
    pub room: OwnedSemaphorePermit,
}

pub enum RoomCommand {
    Join {
        info: PeerInfo,
        outbox: Arc<Outbox>,
        reply: oneshot::Sender<()>,
    },
    Leave {
        peer_id: String,
    },
    Sync {
        peer_id: String,
        doc: DocKind,
        message: Vec<u8>,
        permit: InboundPermit,
    },
    Presence {
        peer_id: String,
        state: serde_json::Value,
    },
    /// A question for the kernel from a person's peer (`kernel_relay.rs`).
    KernelRequest {
        peer_id: String,
        request: schema::KernelRequest,
    },
    /// The runtime agent's answer, for the peer that asked.
    KernelReply {
        peer_id: String,
        reply: schema::KernelReply,
    },
    /// The peer's socket took what it was owed; it can take more.
    Writable {
        peer_id: String,
    },
    /// Tokens or grants changed: check the peers' rights again (all peers,
    /// or those connected with one token).
    Revalidate {
        token_hash: Option<String>,
    },
    /// Answered once everything the room received before it is in the
    /// log: a reader of the store (an export) then sees all of it.
    Flushed {
        reply: oneshot::Sender<()>,
    },
    /// Both documents as JSON, for a page still loading its replica
    /// (`schema::preview`), as they stand once the batch it came in with
    /// is applied. `None`: they could not be read (the room logs why).
    Preview {
        reply: oneshot::Sender<Option<PreviewJson>>,
    },
}

pub struct Room {
    notebook_id: String,
    docs: [Document; 2],
    peers: HashMap<String, Peer>,
    presence: PresenceBoard,
    checkers: [ChangeChecker; 2],
    /// Changes whose dependencies have not arrived yet, kept out of
    /// Automerge (which would apply them unchecked once they did).
    parked: [Vec<Candidate>; 2],
    limits: Arc<Limits>,
    log: EventLog,
    store: Arc<dyn Store>,
    /// When presence was last sent out; the next round waits for
    /// [`PRESENCE_INTERVAL`] after it.
    presence_sent: tokio::time::Instant,
    presence_pending: bool,
    /// Where this room's activity goes (the runtime supervisor).
    reports: Option<ReportSink>,
    reporting: activity::Reporting,
    /// Batches handed to the log and not yet durable.
    commits: commits::Commits,
    previews: PreviewCache,
}

impl Room {
    /// Load both documents: latest snapshot, then the log after it.
    pub async fn load(
        notebook_id: &str,
        store: Arc<dyn Store>,
        log: EventLog,
        limits: Arc<Limits>,
        reports: Option<ReportSink>,
    ) -> Result<Self> {
        let notebook = load_document(store.as_ref(), notebook_id, DocKind::Notebook, &[]).await?;
        let runtime = load_document(store.as_ref(), notebook_id, DocKind::Runtime, &[]).await?;
        Ok(Self {
            notebook_id: notebook_id.to_owned(),
            docs: [notebook, runtime],
            peers: HashMap::new(),
            presence: PresenceBoard::default(),
            checkers: [
                ChangeChecker::new(DocKind::Notebook),
                ChangeChecker::new(DocKind::Runtime),
            ],
            parked: [Vec::new(), Vec::new()],
            limits,
            log,
            store,
            presence_sent: tokio::time::Instant::now(),
            presence_pending: false,
            reports,
            reporting: activity::Reporting::default(),
            commits: commits::Commits::default(),
            previews: PreviewCache::default(),
        })
    }

    /// Serve commands until the channel closes, the log fails,
    /// `shutdown` turns true (checked between batches, never mid-batch), or
    /// nobody has been connected for `unload_after`.
    ///
    /// Unloading closes the channel first: a join already queued then
    /// fails and its connection retries, reaching a new room once this one
    /// has left the registry. Everything this room took is already in the
    /// log (each batch waits for its commit), so the snapshot it saves on
    /// the way out only makes the next load fast.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<RoomCommand>,
        mut shutdown: watch::Receiver<bool>,
        unload_after: std::time::Duration,
    ) {
        let span = tracing::info_span!("room", notebook_id = %self.notebook_id);
        async move {
            // A load that replayed a long tail leaves a snapshot behind, so
            // the next cold open is fast.
            self.maybe_snapshot().await;
            let mut batch = Vec::with_capacity(MAX_BATCH);
            let mut last_busy = tokio::time::Instant::now();
            let mut unload = false;
            loop {
                batch.clear();
                let presence_at = self.presence_sent + self.presence_interval();
                let received = tokio::select! {
                    biased;
                    // The watch's guard must not live in the select's output:
                    // a branch below awaits.
                    _ = async { let _ = shutdown.wait_for(|stop| *stop).await; } => 0,
                    committed = self.commits.next(), if !self.commits.is_empty() => {
                        match committed {
                            Ok(()) => self.committed(),
                            Err(e) => {
                                self.fail(&e);
                                return;
                            }
                        }
                        self.maybe_snapshot().await;
                        continue;
                    }
                    n = commands.recv_many(&mut batch, MAX_BATCH), if !self.commits.is_full() => n,
                    _ = tokio::time::sleep_until(presence_at), if self.presence_pending => {
                        self.flush_presence();
                        continue;
                    }
                    _ = tokio::time::sleep(activity::REPORT_RETRY), if self.reporting.pending => {
                        self.report();
                        continue;
                    }
                    _ = tokio::time::sleep_until(last_busy + unload_after), if self.peers.is_empty() => {
                        unload = true;
                        0
                    }
                };
                if unload {
                    tracing::debug!("room idle; unloading");
                    commands.close();
                    if self.settle().await.is_ok() {
                        self.snapshot_all().await;
                    }
                    return;
                }
                if *shutdown.borrow() {
                    if self.settle().await.is_ok() {
                        self.shut_down().await;
                    }
                    return;
                }
                if received == 0 {
                    let _ = self.settle().await;
                    break;
                }
                if self.process(batch.drain(..)).await.is_err() {
                    return;
                }
                self.report();
                self.maybe_snapshot().await;
                last_busy = tokio::time::Instant::now();
            }
        }
        .instrument(span)
        .await
    }

    async fn process(&mut self, batch: impl Iterator<Item = RoomCommand>) -> Result<()> {
        let received_us = crate::timing::enabled().then(crate::timing::wall_us);
        let mut staged = Vec::new();
        let mut candidates: [Vec<Candidate>; 2] = [Vec::new(), Vec::new()];
        let mut revalidate: Option<Option<String>> = None;
        let mut flushed: Vec<oneshot::Sender<()>> = Vec::new();
        let mut previews = Vec::new();
        for command in batch {
            match command {
                RoomCommand::Join {
                    info,
                    outbox,
                    reply,
                } => {
                    tracing::debug!(peer_id = %info.peer_id, user = %info.user, role = info.role.as_str(), "peer joined");
                    self.presence.join(&info.peer_id, &info.user, info.role);
                    self.peers
                        .insert(info.peer_id.clone(), Peer::new(info, outbox));
                    let _ = reply.send(());
                }
                RoomCommand::Leave { peer_id } => self.remove_peer(&peer_id),
                RoomCommand::Sync {
                    peer_id,
                    doc,
                    message,
                    permit,
                } => {
                    self.stage(&peer_id, doc, &message, &mut staged, &mut candidates);
                    drop(permit);
                }
                RoomCommand::Presence { peer_id, state } => {
                    if self.peers.contains_key(&peer_id) {
                        self.presence.update(&peer_id, state);
                    }
                }
                RoomCommand::KernelRequest { peer_id, request } => {
                    self.kernel_request(&peer_id, request)
                }
                RoomCommand::KernelReply { peer_id, reply } => self.kernel_reply(&peer_id, reply),
                // Every batch serves every peer that can take something.
                RoomCommand::Writable { .. } => {}
                RoomCommand::Revalidate { token_hash } => {
                    revalidate = Some(match (revalidate, token_hash) {
                        (Some(None), _) | (_, None) => None,
                        (_, Some(h)) => Some(h),
                    });
                }
                RoomCommand::Flushed { reply } => flushed.push(reply),
                RoomCommand::Preview { reply } => previews.push(reply),
            }
        }
        let mut rows = Vec::new();
        let mut authors = HashSet::new();
        for (kind, new) in DocKind::ALL.into_iter().zip(candidates) {
            self.take_changes(kind, new, &mut rows, &mut authors).await;
        }
        self.receive_staged(staged);
        if let Some(token_hash) = revalidate {
            self.revalidate(token_hash.as_deref()).await;
        }
        // The batch's events, for the timing marks (only when they are on).
        let events = received_us.filter(|_| !rows.is_empty()).map(|received| {
            let names: Vec<&str> = rows.iter().map(|r| r.event_type.as_str()).collect();
            let events = names.join(",");
            crate::timing::mark("room.received", &events, received);
            events
        });
        if !rows.is_empty() {
            let mut held = self.commits.held();
            held.extend(authors.iter().cloned());
            self.relay(|peer_id, kind| !held.contains(&(peer_id.to_owned(), kind)));
            if let Some(events) = &events {
                crate::timing::mark("room.relayed", events, crate::timing::wall_us());
            }
            match self.log.submit(rows).await {
                Ok(done) => self.commits.push(done, authors, events),
                Err(e) => {
                    self.fail(&e);
                    return Err(e);
                }
            }
        }
        for reply in flushed {
            self.commits.flushed(reply);
        }
        if !previews.is_empty() {
            let preview = self
                .previews
                .previews(
                    &self.docs[DocKind::Notebook.index()].doc,
                    &self.docs[DocKind::Runtime.index()].doc,
                )
                .inspect_err(|e| tracing::error!(error = %e, "could not build the preview"))
                .ok();
            for reply in previews {
                let _ = reply.send(preview.clone());
            }
        }
        // Everyone not held gets what it is owed (a writable peer, a
        // joiner); the held are answered when their commit completes.
        let held = self.commits.held();
        self.relay(|peer_id, kind| !held.contains(&(peer_id.to_owned(), kind)));
        self.flush_presence();
        Ok(())
    }

    fn presence_interval(&self) -> std::time::Duration {
        PRESENCE_INTERVAL.max(PRESENCE_INTERVAL_PER_PEER * self.peers.len() as u32)
    }

    /// Forget a peer: it left, or it was dropped (after being told why).
    fn remove_peer(&mut self, peer_id: &str) {
        if let Some(peer) = self.peers.remove(peer_id) {
            tracing::debug!(%peer_id, "peer left");
            peer.outbox.close();
            self.presence.leave(peer_id);
            for parked in &mut self.parked {
                parked.retain(|c| c.peer_id != peer_id);
            }
        }
    }

    /// Drop a peer with a fatal error; the rest of the room carries on.
    fn drop_peer(&mut self, peer_id: &str, code: ErrorCode, message: String) {
        if let Some(peer) = self.peers.get(peer_id) {
            tracing::warn!(%peer_id, code = ?code, %message, "peer dropped");
            peer.error(code, message, true);
        }
        self.remove_peer(peer_id);
    }

    /// Tokens or grants changed: a peer that lost access is dropped; one
    /// whose role changed is asked to reconnect, and gets its new role.
    async fn revalidate(&mut self, token_hash: Option<&str>) {
        let chosen: Vec<(String, String, schema::wire::Role)> = self
            .peers
            .values()
            .filter(|p| token_hash.is_none_or(|h| h == p.info.token_hash))
            .map(|p| (p.id().to_owned(), p.info.token_hash.clone(), p.info.role))
            .collect();
        for (peer_id, hash, role) in chosen {
            let store = self.store.as_ref();
            let now = match crate::auth::authenticate_hash(store, &hash).await {
                Ok(Some(who)) => crate::auth::role_in(store, &who, &self.notebook_id).await,
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            match now {
                Ok(None) => self.drop_peer(
                    &peer_id,
                    ErrorCode::Unauthorized,
                    "your access to this notebook was revoked".into(),
                ),
                Ok(Some(new)) if new != role => self.drop_peer(
                    &peer_id,
                    ErrorCode::Forbidden,
                    format!(
                        "your role in this notebook is now {}; reconnect to continue",
                        new.as_str()
                    ),
                ),
                Ok(Some(_)) => {}
                Err(e) => tracing::warn!(error = %e, "could not re-check a peer's token"),
            }
        }
    }

    /// A snapshot holds the whole document, so none is taken while a
    /// commit is in flight: it would hold changes the log may never get.
    async fn maybe_snapshot(&mut self) {
        if !self.commits.is_empty() {
            return;
        }
        for document in &mut self.docs {
            if document.wants_snapshot() {
                document
                    .snapshot(self.store.as_ref(), &self.notebook_id)
                    .await;
            }
        }
    }

    /// The log refused a batch: those changes are not durable, so they must
    /// not be acknowledged. Drop every peer; they reconnect to a room
    /// reloaded from the log and send their changes again.
    fn fail(&mut self, error: &crate::error::ServerError) {
        tracing::error!(%error, "room stopped: event log append failed");
        for peer in self.peers.values() {
            peer.error(
                ErrorCode::Storage,
                "the server could not store changes; reconnect",
                true,
            );
        }
    }

    /// Save what the snapshots lack, so the next load replays nothing.
    async fn snapshot_all(&mut self) {
        for document in &mut self.docs {
            document
                .snapshot(self.store.as_ref(), &self.notebook_id)
                .await;
        }
    }

    async fn shut_down(&mut self) {
        self.snapshot_all().await;
        for peer in self.peers.values() {
            peer.error(ErrorCode::ShuttingDown, "the server is shutting down", true);
        }
    }
}
