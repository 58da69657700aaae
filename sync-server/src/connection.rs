//! One WebSocket connection: hello and authentication, then frames in both
//! directions. The reader forwards to the room; a writer task drains what
//! the room (or this reader) queues for the socket.

use crate::app::AppState;
use crate::auth;
use crate::room::{Outbound, RoomCommand};
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use schema::wire::{ErrorCode, ErrorFrame, Frame, Hello, Welcome, PROTOCOL_VERSION};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest presence state relayed, serialised.
const MAX_PRESENCE_BYTES: usize = 8 * 1024;

fn error_frame(code: ErrorCode, message: impl Into<String>, fatal: bool) -> Vec<u8> {
    Frame::Error(ErrorFrame {
        code,
        message: message.into(),
        fatal,
    })
    .encode()
}

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
    let hello = match hello {
        Ok(h) => h,
        Err(frame) => {
            let _ = sink.send(Message::Binary(frame.into())).await;
            let _ = sink.close().await;
            return;
        }
    };
    let admitted = admit(&state, &hello).await;
    let (user, role) = match admitted {
        Ok(ok) => ok,
        Err(frame) => {
            let _ = sink.send(Message::Binary(frame.into())).await;
            let _ = sink.close().await;
            return;
        }
    };

    let peer_id = format!("p-{}", uuid::Uuid::new_v4().simple());
    let span =
        tracing::info_span!("peer", notebook_id = %hello.notebook_id, %peer_id, user = %user);
    async move {
        let (out, mut outbox) = mpsc::unbounded_channel::<Outbound>();
        let writer = tokio::spawn(async move {
            while let Some(item) = outbox.recv().await {
                match item {
                    Outbound::Frame(bytes) => {
                        if sink.send(Message::Binary(bytes.into())).await.is_err() {
                            break;
                        }
                    }
                    Outbound::Close => break,
                }
            }
            let _ = sink.close().await;
        });

        let _ = out.send(Outbound::Frame(
            Frame::Welcome(Welcome {
                protocol: PROTOCOL_VERSION,
                peer_id: peer_id.clone(),
                user: user.clone(),
                role,
            })
            .encode(),
        ));
        let room = state.rooms.room(&hello.notebook_id);
        let (joined, wait) = oneshot::channel();
        let join = RoomCommand::Join {
            peer_id: peer_id.clone(),
            user,
            role,
            out: out.clone(),
            reply: joined,
        };
        if room.send(join).await.is_err() || wait.await.is_err() {
            let _ = out.send(Outbound::Frame(error_frame(
                ErrorCode::Storage,
                "the notebook could not be opened",
                true,
            )));
            let _ = out.send(Outbound::Close);
            let _ = writer.await;
            return;
        }

        read_frames(&mut stream, &state, &room, &peer_id, &out).await;
        let _ = room.send(RoomCommand::Leave { peer_id }).await;
        drop(out);
        let _ = writer.await;
    }
    .instrument(span)
    .await
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

async fn admit(state: &AppState, hello: &Hello) -> Result<(String, schema::wire::Role), Vec<u8>> {
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
        (Some(_), Some(role)) => Ok((principal.user.name.clone(), role)),
        // The same answer whether the notebook is missing or forbidden, so a
        // token cannot probe which notebooks exist.
        _ => Err(error_frame(
            ErrorCode::NotFound,
            format!("no notebook {} for this token", hello.notebook_id),
            true,
        )),
    }
}

async fn read_frames(
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    state: &AppState,
    room: &mpsc::Sender<RoomCommand>,
    peer_id: &str,
    out: &mpsc::UnboundedSender<Outbound>,
) {
    let fatal = |code: ErrorCode, message: String| {
        let _ = out.send(Outbound::Frame(error_frame(code, message, true)));
        let _ = out.send(Outbound::Close);
    };
    while let Some(message) = stream.next().await {
        let bytes = match message {
            Ok(Message::Binary(bytes)) => bytes,
            Ok(Message::Close(_)) | Err(_) => return,
            Ok(Message::Ping(_)) | Ok(Message::Pong(_)) => continue,
            Ok(Message::Text(_)) => {
                fatal(
                    ErrorCode::BadFrame,
                    "text messages are not part of the protocol".into(),
                );
                return;
            }
        };
        if bytes.len() > state.config.max_frame_bytes {
            fatal(
                ErrorCode::TooLarge,
                format!(
                    "frame of {} bytes exceeds the limit of {}",
                    bytes.len(),
                    state.config.max_frame_bytes
                ),
            );
            return;
        }
        let command = match Frame::decode(&bytes) {
            Ok(Frame::Sync { doc, message }) => RoomCommand::Sync {
                peer_id: peer_id.to_owned(),
                doc,
                message,
            },
            Ok(Frame::Presence(p)) => {
                if bytes.len() > MAX_PRESENCE_BYTES {
                    let _ = out.send(Outbound::Frame(error_frame(
                        ErrorCode::TooLarge,
                        "presence state too large; not relayed",
                        false,
                    )));
                    continue;
                }
                RoomCommand::Presence {
                    peer_id: peer_id.to_owned(),
                    state: p.state,
                }
            }
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
        if room.send(command).await.is_err() {
            fatal(ErrorCode::ShuttingDown, "the notebook's room closed".into());
            return;
        }
    }
}
