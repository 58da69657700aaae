//! The task that owns a peer's replicas and its connection.

use crate::connection::{self, Socket};
use crate::error::{ClientError, Result};
use crate::kernel_port::KernelPort;
use crate::ClientConfig;
use futures_util::{SinkExt, StreamExt};
use schema::automerge::sync::{self, SyncDoc};
use schema::automerge::{Automerge, ChangeHash, ReadDoc};
use schema::wire::{ErrorCode, Frame, Presence, Role};
use schema::{DocKind, NotebookDoc, RuntimeDoc, SchemaError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// How the connection to the server stands.
#[derive(Clone, Debug, PartialEq)]
pub enum ConnectionState {
    Connecting,
    /// Connected; still exchanging what each side lacks.
    Connected,
    /// Connected, and both replicas equal the server's.
    Synced,
    /// Lost; reconnecting after a backoff.
    Disconnected,
    /// Deliberately offline (see [`NotebookClient::set_online`]).
    Offline,
    /// The server refused us for good (bad token, no such notebook) or the
    /// document is from a newer schema; the client has stopped.
    Failed(String),
}

/// Another peer's ephemeral state.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerPresence {
    pub user: String,
    pub role: Role,
    pub state: serde_json::Value,
}

type Job = Box<dyn FnOnce(&mut Replica) + Send>;

pub(crate) enum Command {
    Run(Job),
    Presence(serde_json::Value),
    SetOnline(bool),
    /// An ephemeral frame (a kernel question or answer): sent if
    /// connected, dropped if not (its asker times out).
    Send(Frame),
}

/// A peer's copies of the two documents and its sync states with the server.
pub(crate) struct Replica {
    notebook: NotebookDoc,
    runtime: RuntimeDoc,
    sync: [sync::State; 2],
    role: Option<Role>,
}

impl Replica {
    fn doc(&self, kind: DocKind) -> &Automerge {
        match kind {
            DocKind::Notebook => self.notebook.automerge(),
            DocKind::Runtime => self.runtime.automerge(),
        }
    }

    fn heads(&self) -> [Vec<ChangeHash>; 2] {
        [
            self.doc(DocKind::Notebook).get_heads(),
            self.doc(DocKind::Runtime).get_heads(),
        ]
    }

    /// Whether the server has every change this replica has, as far as the
    /// server last told us.
    fn acknowledged(&self, kind: DocKind) -> bool {
        let doc = self.doc(kind);
        let Some(theirs) = &self.sync[kind.index()].their_heads else {
            return false;
        };
        if theirs.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
            // The server is ahead of us; what it sends next settles it.
            return false;
        }
        doc.get_changes(theirs).is_empty()
    }

    fn in_step(&self, kind: DocKind) -> bool {
        self.sync[kind.index()].their_heads.as_ref() == Some(&self.doc(kind).get_heads())
    }

    fn schema_ready(&self) -> std::result::Result<(), SchemaError> {
        self.notebook.check_schema()?;
        self.runtime.check_schema()
    }
}

/// A connected peer of one notebook.
pub struct NotebookClient {
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) kernel: Arc<KernelPort>,
    revision: watch::Receiver<u64>,
    activity: watch::Receiver<u64>,
    state: watch::Receiver<ConnectionState>,
    presence: watch::Receiver<HashMap<String, PeerPresence>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for NotebookClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotebookClient")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

struct Signals {
    revision: watch::Sender<u64>,
    activity: watch::Sender<u64>,
    state: watch::Sender<ConnectionState>,
    presence: watch::Sender<HashMap<String, PeerPresence>>,
    kernel: Arc<KernelPort>,
}

impl NotebookClient {
    /// Connect and return once both replicas are synced with the server.
    /// A refused token or unknown notebook is an error here, not a retry loop.
    pub async fn connect(config: ClientConfig) -> Result<Self> {
        let first = connection::open(&config).await?;
        let (commands, rx) = mpsc::unbounded_channel();
        let signals = Signals {
            revision: watch::channel(0).0,
            activity: watch::channel(0).0,
            state: watch::channel(ConnectionState::Connected).0,
            presence: watch::channel(HashMap::new()).0,
            kernel: Arc::new(KernelPort::new()),
        };
        let client = Self {
            commands,
            kernel: signals.kernel.clone(),
            revision: signals.revision.subscribe(),
            activity: signals.activity.subscribe(),
            state: signals.state.subscribe(),
            presence: signals.presence.subscribe(),
            task: tokio::spawn(run(config, rx, signals, Some(first))),
        };
        let mut state = client.state.clone();
        let outcome = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match state.borrow_and_update().clone() {
                    ConnectionState::Synced => return Ok(()),
                    ConnectionState::Failed(reason) => {
                        return Err(ClientError::Connect {
                            url: String::new(),
                            reason,
                        })
                    }
                    _ => {}
                }
                if state.changed().await.is_err() {
                    return Err(ClientError::Stopped);
                }
            }
        })
        .await;
        match outcome {
            Ok(Ok(())) => Ok(client),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ClientError::Timeout("the first sync")),
        }
    }

    async fn run_job<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Replica) -> R + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |replica| {
            let _ = tx.send(f(replica));
        });
        self.commands
            .send(Command::Run(job))
            .map_err(|_| ClientError::Stopped)?;
        rx.await.map_err(|_| ClientError::Stopped)
    }

    /// Read the notebook document.
    pub async fn notebook<R: Send + 'static>(
        &self,
        f: impl FnOnce(&NotebookDoc) -> R + Send + 'static,
    ) -> Result<R> {
        self.run_job(move |r| f(&r.notebook)).await
    }

    /// Read the runtime document.
    pub async fn runtime<R: Send + 'static>(
        &self,
        f: impl FnOnce(&RuntimeDoc) -> R + Send + 'static,
    ) -> Result<R> {
        self.run_job(move |r| f(&r.runtime)).await
    }

    /// Change the notebook document; refused locally for a viewer, whose
    /// changes the server would refuse anyway.
    pub async fn edit_notebook<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut NotebookDoc) -> R + Send + 'static,
    ) -> Result<R> {
        self.run_job(move |r| match r.role {
            Some(role) if !role.can_write(DocKind::Notebook) => Err(ClientError::ReadOnly {
                role: role.as_str(),
                doc: "notebook",
            }),
            _ => Ok(f(&mut r.notebook)),
        })
        .await?
    }

    /// Change the runtime document (runtime tokens only).
    pub async fn edit_runtime<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut RuntimeDoc) -> R + Send + 'static,
    ) -> Result<R> {
        self.run_job(move |r| match r.role {
            Some(role) if !role.can_write(DocKind::Runtime) => Err(ClientError::ReadOnly {
                role: role.as_str(),
                doc: "runtime",
            }),
            _ => Ok(f(&mut r.runtime)),
        })
        .await?
    }

    /// The role the server granted on the last connection.
    pub async fn role(&self) -> Result<Option<Role>> {
        self.run_job(|r| r.role).await
    }

    pub async fn heads(&self, doc: DocKind) -> Result<Vec<ChangeHash>> {
        self.run_job(move |r| r.doc(doc).get_heads()).await
    }

    /// Whether the server has acknowledged (durably stored) this change.
    pub async fn is_acknowledged(&self, doc: DocKind, hash: ChangeHash) -> Result<bool> {
        self.run_job(move |r| {
            let local = r.doc(doc);
            match &r.sync[doc.index()].their_heads {
                Some(theirs) if theirs.iter().all(|h| local.get_change_by_hash(h).is_some()) => {
                    local.get_change_by_hash(&hash).is_some()
                        && !local.get_changes(theirs).iter().any(|c| c.hash() == hash)
                }
                _ => false,
            }
        })
        .await
    }

    /// Wait until the server has every change this replica holds.
    pub async fn wait_acknowledged(&self, timeout: Duration) -> Result<()> {
        let mut activity = self.activity.clone();
        let outcome = tokio::time::timeout(timeout, async {
            loop {
                activity.borrow_and_update();
                let done = self
                    .run_job(|r| DocKind::ALL.iter().all(|k| r.acknowledged(*k)))
                    .await?;
                if done {
                    return Ok(());
                }
                activity.changed().await.map_err(|_| ClientError::Stopped)?;
            }
        })
        .await;
        match outcome {
            Ok(result) => result,
            Err(_) => {
                let detail = self
                    .run_job(|r| {
                        DocKind::ALL
                            .iter()
                            .map(|k| {
                                let s = &r.sync[k.index()];
                                format!(
                                    "{}: ours {:?} theirs {:?} in_flight {} sent {}",
                                    k.as_str(),
                                    r.doc(*k).get_heads(),
                                    s.their_heads,
                                    s.in_flight,
                                    s.sent_hashes.len()
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .await
                    .unwrap_or_default();
                tracing::warn!(%detail, "acknowledgement timed out");
                Err(ClientError::Timeout("the server's acknowledgement"))
            }
        }
    }

    /// A counter bumped on every change to either replica, local or remote.
    pub fn revision(&self) -> watch::Receiver<u64> {
        self.revision.clone()
    }

    /// Wait until `check` holds on the notebook, re-checking after every change.
    pub async fn wait_notebook(
        &self,
        timeout: Duration,
        check: impl Fn(&NotebookDoc) -> bool + Send + Sync + Clone + 'static,
    ) -> Result<()> {
        let mut revision = self.revision.clone();
        tokio::time::timeout(timeout, async {
            loop {
                revision.borrow_and_update();
                let c = check.clone();
                if self.notebook(move |nb| c(nb)).await? {
                    return Ok(());
                }
                revision.changed().await.map_err(|_| ClientError::Stopped)?;
            }
        })
        .await
        .map_err(|_| ClientError::Timeout("the notebook condition"))?
    }

    pub fn connection_state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    pub fn presence(&self) -> watch::Receiver<HashMap<String, PeerPresence>> {
        self.presence.clone()
    }

    pub fn set_presence(&self, state: serde_json::Value) -> Result<()> {
        self.commands
            .send(Command::Presence(state))
            .map_err(|_| ClientError::Stopped)
    }

    /// Go offline (keep editing locally) or back online (reconnect and
    /// exchange everything missed).
    pub fn set_online(&self, online: bool) -> Result<()> {
        self.commands
            .send(Command::SetOnline(online))
            .map_err(|_| ClientError::Stopped)
    }

    /// Stop the client and close its connection.
    pub async fn close(self) {
        drop(self.commands);
        let _ = self.task.await;
    }
}

enum SessionEnd {
    Lost,
    Offline,
    Stopped,
    Failed(String),
}

async fn run(
    config: ClientConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    signals: Signals,
    mut first: Option<(Socket, schema::wire::Welcome)>,
) {
    let mut replica = Replica {
        notebook: NotebookDoc::replica(),
        runtime: RuntimeDoc::replica(),
        sync: [sync::State::new(), sync::State::new()],
        role: None,
    };
    let mut backoff = config.min_backoff;
    let mut online = true;
    loop {
        if online {
            let opened = match first.take() {
                Some(ok) => Ok(ok),
                None => {
                    let _ = signals.state.send(ConnectionState::Connecting);
                    connection::open(&config).await
                }
            };
            match opened {
                Ok((socket, welcome)) => {
                    backoff = config.min_backoff;
                    replica.role = Some(welcome.role);
                    // A new connection is a new sync session: the server
                    // remembers nothing of the old one.
                    replica.sync = [sync::State::new(), sync::State::new()];
                    let _ = signals.state.send(ConnectionState::Connected);
                    match session(socket, &mut replica, &mut commands, &signals).await {
                        SessionEnd::Stopped => return,
                        SessionEnd::Failed(reason) => {
                            let _ = signals.state.send(ConnectionState::Failed(reason));
                            return;
                        }
                        SessionEnd::Offline => online = false,
                        SessionEnd::Lost => {}
                    }
                }
                Err(ClientError::Refused {
                    code:
                        ErrorCode::Unauthorized | ErrorCode::NotFound | ErrorCode::UnsupportedProtocol,
                    message,
                }) => {
                    let _ = signals.state.send(ConnectionState::Failed(message));
                    return;
                }
                Err(e) => tracing::debug!(error = %e, "connect failed; retrying"),
            }
        }
        let _ = signals.state.send(if online {
            ConnectionState::Disconnected
        } else {
            ConnectionState::Offline
        });
        // Wait out the backoff (or, offline, until asked back online), still
        // serving local reads and edits.
        let jitter =
            Duration::from_millis(rand::random::<u64>() % (backoff.as_millis() as u64 / 2 + 1));
        let deadline = Instant::now() + backoff + jitter;
        backoff = (backoff * 2).min(config.max_backoff);
        loop {
            let sleep = tokio::time::sleep_until(deadline);
            tokio::select! {
                _ = sleep, if online => break,
                command = commands.recv() => match command {
                    None => return,
                    Some(Command::Run(job)) => {
                        run_local(job, &mut replica, &signals);
                    }
                    Some(Command::Presence(_) | Command::Send(_)) => {}
                    Some(Command::SetOnline(on)) => {
                        if on && !online {
                            online = true;
                            backoff = config.min_backoff;
                            break;
                        }
                        online = on;
                    }
                },
            }
        }
    }
}

/// Run a caller's job; whether it changed a document (and so the server
/// is owed a message).
fn run_local(job: Job, replica: &mut Replica, signals: &Signals) -> bool {
    let before = replica.heads();
    job(replica);
    let changed = replica.heads() != before;
    if changed {
        signals.revision.send_modify(|r| *r += 1);
    }
    changed
}

async fn session(
    mut socket: Socket,
    replica: &mut Replica,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    signals: &Signals,
) -> SessionEnd {
    if flush(&mut socket, replica).await.is_err() {
        return SessionEnd::Lost;
    }
    loop {
        // Only a change of ours or a message from the server can owe the
        // server a reply: a read (most of an agent's calls) skips the sync
        // message generation, which walks the changes since the last sync.
        let owed = tokio::select! {
            incoming = socket.next() => {
                let bytes = match incoming {
                    Some(Ok(Message::Binary(bytes))) => bytes,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(_)) | Some(Err(_)) | None => return SessionEnd::Lost,
                };
                match Frame::decode(&bytes) {
                    Ok(Frame::Sync { doc, message }) => {
                        let Ok(message) = sync::Message::decode(&message) else {
                            tracing::warn!("server sent an undecodable sync message");
                            return SessionEnd::Lost;
                        };
                        let before = replica.heads();
                        let applied = match doc {
                            DocKind::Notebook => replica.notebook.automerge_mut(),
                            DocKind::Runtime => replica.runtime.automerge_mut(),
                        }
                        .receive_sync_message(&mut replica.sync[doc.index()], message);
                        if let Err(e) = applied {
                            tracing::warn!(error = %e, "could not apply the server's sync message");
                            return SessionEnd::Lost;
                        }
                        if replica.heads() != before {
                            signals.revision.send_modify(|r| *r += 1);
                        }
                        signals.activity.send_modify(|a| *a += 1);
                        true
                    }
                    Ok(Frame::Peers(update)) => {
                        signals.presence.send_modify(|map| {
                            for p in update.peers {
                                if p.state.is_null() {
                                    map.remove(&p.peer_id);
                                } else {
                                    map.insert(p.peer_id, PeerPresence { user: p.user, role: p.role, state: p.state });
                                }
                            }
                        });
                        false
                    }
                    Ok(Frame::KernelReply(reply)) => {
                        signals.kernel.replied(reply);
                        false
                    }
                    Ok(Frame::KernelRequest(request)) => {
                        if let Some(busy) = signals.kernel.asked(request) {
                            if socket.send(Message::Binary(busy.encode().into())).await.is_err() {
                                return SessionEnd::Lost;
                            }
                        }
                        false
                    }
                    Ok(Frame::Error(e)) => {
                        tracing::warn!(code = ?e.code, message = %e.message, "server error");
                        signals.activity.send_modify(|a| *a += 1);
                        if e.fatal {
                            return SessionEnd::Lost;
                        }
                        false
                    }
                    // A frame this client does not use (a newer or older
                    // server's, such as the old per-peer presence frame)
                    // is skipped: the session itself is not at fault.
                    Ok(_) => {
                        tracing::debug!("skipped a frame this client does not use");
                        false
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "skipped an undecodable frame");
                        false
                    }
                }
            }
            command = commands.recv() => match command {
                None => {
                    let _ = socket.close(None).await;
                    return SessionEnd::Stopped;
                }
                Some(Command::Run(job)) => run_local(job, replica, signals),
                Some(Command::Presence(state)) => {
                    let frame = Frame::Presence(Presence { peer_id: None, user: None, state });
                    if socket.send(Message::Binary(frame.encode().into())).await.is_err() {
                        return SessionEnd::Lost;
                    }
                    false
                }
                Some(Command::Send(frame)) => {
                    if socket.send(Message::Binary(frame.encode().into())).await.is_err() {
                        return SessionEnd::Lost;
                    }
                    false
                }
                Some(Command::SetOnline(false)) => {
                    let _ = socket.close(None).await;
                    return SessionEnd::Offline;
                }
                Some(Command::SetOnline(true)) => false,
            },
        };
        if !owed {
            continue;
        }
        if flush(&mut socket, replica).await.is_err() {
            return SessionEnd::Lost;
        }
        if let Err(e @ SchemaError::NewerSchema { .. }) = replica.schema_ready() {
            let _ = socket.close(None).await;
            return SessionEnd::Failed(e.to_string());
        }
        let synced =
            replica.schema_ready().is_ok() && DocKind::ALL.iter().all(|k| replica.in_step(*k));
        let state = if synced {
            ConnectionState::Synced
        } else {
            ConnectionState::Connected
        };
        signals.state.send_if_modified(|s| {
            if *s != state {
                *s = state;
                true
            } else {
                false
            }
        });
    }
}

/// Send whatever the server is owed for both documents.
async fn flush(socket: &mut Socket, replica: &mut Replica) -> std::result::Result<(), ()> {
    for kind in DocKind::ALL {
        let message = match kind {
            DocKind::Notebook => replica.notebook.automerge(),
            DocKind::Runtime => replica.runtime.automerge(),
        }
        .generate_sync_message(&mut replica.sync[kind.index()]);
        if let Some(message) = message {
            let frame = Frame::Sync {
                doc: kind,
                message: message.encode(),
            };
            socket
                .send(Message::Binary(frame.encode().into()))
                .await
                .map_err(|_| ())?;
        }
    }
    Ok(())
}
