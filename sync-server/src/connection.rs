//! One WebSocket connection: hello and authentication, then frames in both
//! directions. The reader forwards to the room, holding a permit for each
//! frame's bytes until the room has read it; the writer sends what the
//! room leaves in the peer's [`Outbox`], and pings an idle peer.

use crate::app::AppState;
use crate::auth;
use crate::room::outbox::{Next, Outbox};
use crate::room::peer::{error_frame, send_error};
use crate::room::{InboundPermit, PeerInfo, RoomCommand};
use crate::rooms::{Asked, RoomHandle};
use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use schema::wire::{ErrorCode, Frame, Hello, Role, Welcome, PROTOCOL_VERSION};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::Instrument;

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest presence state relayed, serialised.
const MAX_PRESENCE_BYTES: usize = 8 * 1024;
const PING_EVERY: Duration = Duration::from_secs(30);

pub async fn serve(socket: WebSocket, state: AppState) {
    let (mut sink, mut stream) = socket.split();

    let hello = match tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Binary(bytes)))) => decode_hello(&bytes, state.config.max_frame_bytes),
        Ok(Some(Ok(_))) => Err(error_frame(
            ErrorCode::BadFrame,
            "expected a binary hello frame",
            true,
        )),
        _ => return,
    };
    let admitted = match hello {
        Ok(hello) => admit(&state, &hello).await.map(|a| (hello, a)),
        Err(frame) => Err(frame),
    };
    let (hello, (who, role)) = match admitted {
        Ok(ok) => ok,
        Err(frame) => {
            let _ = sink.send(Message::Binary(frame.into())).await;
            let _ = sink.close().await;
            return;
        }
    };

    let peer_id = format!("p-{}", uuid::Uuid::new_v4().simple());
    let span = tracing::info_span!("peer", notebook_id = %hello.notebook_id, %peer_id, user = %who.user.name);
    async move {
        let outbox = Outbox::new();
        outbox.push_control(
            Frame::Welcome(Welcome {
                protocol: PROTOCOL_VERSION,
                peer_id: peer_id.clone(),
                user: who.user.name.clone(),
                role,
            })
            .encode(),
        );
        let info = PeerInfo {
            peer_id: peer_id.clone(),
            user: who.user.name.clone(),
            user_id: who.user.id.clone(),
            role,
            token_hash: who.token_hash.clone(),
        };
        let write_timeout = state.config.limits.peer_write_timeout;
        let Some(room) = join(&state, &hello.notebook_id, info, &outbox).await else {
            write_frames(sink, outbox, None, peer_id, write_timeout).await;
            return;
        };
        let mut writer = tokio::spawn(write_frames(
            sink,
            outbox.clone(),
            Some(room.clone()),
            peer_id.clone(),
            write_timeout,
        ));
        let writer_done = tokio::select! {
            _ = read_frames(&mut stream, &state, &room, &peer_id, &outbox, who.expires_at_ms) => false,
            _ = &mut writer => true,
        };
        let _ = room
            .commands
            .send(RoomCommand::Leave {
                peer_id: peer_id.clone(),
            })
            .await;
        outbox.close();
        if !writer_done {
            let _ = writer.await;
        }
    }
    .instrument(span)
    .await
}

/// Join the notebook's room (`Rooms::ask` retries while a stopping room
/// gives way to a new one). `None` (the reason queued in the outbox) when
/// it cannot.
async fn join(
    state: &AppState,
    notebook_id: &str,
    info: PeerInfo,
    outbox: &Arc<Outbox>,
) -> Option<RoomHandle> {
    let asked = state
        .rooms
        .ask(notebook_id, |reply| RoomCommand::Join {
            info: info.clone(),
            outbox: outbox.clone(),
            reply,
        })
        .await;
    let (code, message) = match asked {
        Asked::Answered(room, ()) => return Some(room),
        Asked::ShuttingDown => (ErrorCode::ShuttingDown, "the server is shutting down"),
        Asked::Unavailable => (ErrorCode::Storage, "the notebook could not be opened"),
    };
    send_error(outbox, code, message, true);
    None
}

fn decode_hello(bytes: &[u8], max: usize) -> Result<Hello, Vec<u8>> {
    if bytes.len() > max {
        return Err(error_frame(
            ErrorCode::TooLarge,
            "hello frame too large",
            true,
        ));
    }
    match Frame::decode(bytes) {
        Ok(Frame::Hello(h)) if h.protocol == PROTOCOL_VERSION => Ok(h),
        Ok(Frame::Hello(h)) => Err(error_frame(
            ErrorCode::UnsupportedProtocol,
            format!(
                "protocol {} is not supported; this server speaks {PROTOCOL_VERSION}",
                h.protocol
            ),
            true,
        )),
        Ok(_) => Err(error_frame(
            ErrorCode::BadFrame,
            "the first frame must be hello",
            true,
        )),
        Err(e) => Err(error_frame(ErrorCode::BadFrame, e.to_string(), true)),
    }
}

async fn admit(state: &AppState, hello: &Hello) -> Result<(auth::Principal, Role), Vec<u8>> {
    let store = state.store.as_ref();
    let internal = |e: crate::error::ServerError| {
        tracing::error!(error = %e, "authentication lookup failed");
        error_frame(
            ErrorCode::Storage,
            "the server could not check the token",
            true,
        )
    };
    let principal = auth::authenticate(store, &hello.token)
        .await
        .map_err(internal)?
        .ok_or_else(|| error_frame(ErrorCode::Unauthorized, "invalid token", true))?;
    let notebook = store.notebook(&hello.notebook_id).await.map_err(internal)?;
    let role = auth::role_in(store, &principal, &hello.notebook_id)
        .await
        .map_err(internal)?;
    match (notebook, role) {
        (Some(_), Some(role)) => Ok((principal, role)),
        // The same answer whether the notebook is missing or forbidden, so a
        // token cannot probe which notebooks exist.
        _ => Err(error_frame(
            ErrorCode::NotFound,
            format!("no notebook {} for this token", hello.notebook_id),
            true,
        )),
    }
}

/// Send what the outbox holds until it closes. A frame the socket does not
/// take within the write timeout ends the connection (`too_slow`): the
/// peer resumes from its own state when it reconnects.
async fn write_frames(
    mut sink: SplitSink<WebSocket, Message>,
    outbox: Arc<Outbox>,
    room: Option<RoomHandle>,
    peer_id: String,
    timeout: Duration,
) {
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    loop {
        let next = tokio::select! {
            next = outbox.next() => next,
            _ = ping.tick() => {
                if tokio::time::timeout(timeout, sink.send(Message::Ping(Vec::new().into()))).await.map_or(true, |r| r.is_err()) {
                    break;
                }
                continue;
            }
        };
        let (bytes, freed) = match next {
            Next::Frame { bytes, freed } => (bytes, freed),
            Next::Close => break,
        };
        match tokio::time::timeout(timeout, sink.send(Message::Binary(bytes.into()))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break,
            Err(_) => {
                tracing::warn!(
                    timeout_ms = timeout.as_millis() as u64,
                    "peer not reading: closed"
                );
                let frame = error_frame(
                    ErrorCode::TooSlow,
                    "this connection did not keep up with the notebook and was closed; reconnect to resume",
                    true,
                );
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    sink.send(Message::Binary(frame.into())),
                )
                .await;
                break;
            }
        }
        if freed && outbox.take_owed() {
            if let Some(room) = &room {
                let writable = RoomCommand::Writable {
                    peer_id: peer_id.clone(),
                };
                if room.commands.send(writable).await.is_err() {
                    break;
                }
            }
        }
    }
    outbox.mark_gone();
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

/// Presence updates a peer may send in a burst before being coalesced.
const PRESENCE_BURST: f64 = 10.0;

/// A token bucket for one peer's presence: over the rate, only the latest
/// state waits for the next token.
struct PresenceGate {
    tokens: f64,
    per_second: f64,
    last: Instant,
    pending: Option<serde_json::Value>,
}

impl PresenceGate {
    fn new(per_second: u32) -> Self {
        Self {
            tokens: PRESENCE_BURST,
            per_second: f64::from(per_second.max(1)),
            last: Instant::now(),
            pending: None,
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let earned = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + earned).min(PRESENCE_BURST);
        self.last = now;
    }

    /// The state to relay now, if any; otherwise it waits in `pending`.
    fn offer(&mut self, state: serde_json::Value) -> Option<serde_json::Value> {
        self.refill();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.pending = None;
            Some(state)
        } else {
            self.pending = Some(state);
            None
        }
    }

    /// When the pending state may go.
    fn next_slot(&self) -> Instant {
        let wait = ((1.0 - self.tokens).max(0.0) / self.per_second).max(0.001);
        self.last + Duration::from_secs_f64(wait)
    }

    fn release(&mut self) -> Option<serde_json::Value> {
        self.refill();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.pending.take()
        } else {
            None
        }
    }
}

async fn read_frames(
    stream: &mut SplitStream<WebSocket>,
    state: &AppState,
    room: &RoomHandle,
    peer_id: &str,
    outbox: &Arc<Outbox>,
    expires_at_ms: Option<i64>,
) {
    let fatal = |code: ErrorCode, message: String| send_error(outbox, code, message, true);
    let max = state.config.max_frame_bytes;
    // One peer may hold at most two maximal frames unread by the room.
    let peer_kib = (max.div_ceil(1024) + 1) * 2;
    let own_budget = Arc::new(Semaphore::new(peer_kib));
    let mut gate = PresenceGate::new(state.config.limits.presence_per_second);
    let idle = state.config.limits.websocket_idle_timeout;
    let mut last_heard = Instant::now();
    let expiry = expires_at_ms.map(|at| {
        let left = at.saturating_sub(schema::clock::now_ms()).max(0) as u64;
        Instant::now() + Duration::from_millis(left)
    });
    loop {
        let release_at = gate.next_slot();
        let message = tokio::select! {
            m = stream.next() => m,
            _ = tokio::time::sleep_until(release_at), if gate.pending.is_some() => {
                if let Some(state) = gate.release() {
                    let command = RoomCommand::Presence { peer_id: peer_id.to_owned(), state };
                    if room.commands.send(command).await.is_err() {
                        return;
                    }
                }
                continue;
            }
            _ = tokio::time::sleep_until(last_heard + idle) => {
                fatal(ErrorCode::TooSlow, format!("nothing heard from this connection for {} s", idle.as_secs()));
                return;
            }
            _ = sleep_until_opt(expiry) => {
                fatal(ErrorCode::Unauthorized, "this connection's token expired".into());
                return;
            }
        };
        last_heard = Instant::now();
        let bytes = match message {
            Some(Ok(Message::Binary(bytes))) => bytes,
            None | Some(Ok(Message::Close(_))) | Some(Err(_)) => return,
            Some(Ok(Message::Ping(_))) | Some(Ok(Message::Pong(_))) => continue,
            Some(Ok(Message::Text(_))) => {
                fatal(
                    ErrorCode::BadFrame,
                    "text messages are not part of the protocol".into(),
                );
                return;
            }
        };
        if bytes.len() > max {
            fatal(
                ErrorCode::TooLarge,
                format!("frame of {} bytes exceeds the limit of {max}", bytes.len()),
            );
            return;
        }
        let command = match Frame::decode(&bytes) {
            Ok(Frame::Sync { doc, message }) => {
                let kib = bytes.len().div_ceil(1024).max(1) as u32;
                let permits = async {
                    let peer = own_budget.clone().acquire_many_owned(kib).await.ok()?;
                    let room = room.inbound.clone().acquire_many_owned(kib).await.ok()?;
                    Some(InboundPermit { peer, room })
                };
                let Some(permit) = permits.await else {
                    return;
                };
                RoomCommand::Sync {
                    peer_id: peer_id.to_owned(),
                    doc,
                    message,
                    permit,
                }
            }
            Ok(Frame::Presence(p)) => {
                if bytes.len() > MAX_PRESENCE_BYTES {
                    outbox.push_control(error_frame(
                        ErrorCode::TooLarge,
                        "presence state too large; not relayed",
                        false,
                    ));
                    continue;
                }
                match gate.offer(p.state) {
                    Some(state) => RoomCommand::Presence {
                        peer_id: peer_id.to_owned(),
                        state,
                    },
                    None => continue,
                }
            }
            Ok(Frame::KernelRequest(request)) => RoomCommand::KernelRequest {
                peer_id: peer_id.to_owned(),
                request,
            },
            Ok(Frame::KernelReply(reply)) => RoomCommand::KernelReply {
                peer_id: peer_id.to_owned(),
                reply,
            },
            Ok(_) => {
                fatal(
                    ErrorCode::BadFrame,
                    "unexpected frame type from a client".into(),
                );
                return;
            }
            Err(e) => {
                fatal(ErrorCode::BadFrame, e.to_string());
                return;
            }
        };
        if room.commands.send(command).await.is_err() {
            fatal(ErrorCode::ShuttingDown, "the notebook's room closed".into());
            return;
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
