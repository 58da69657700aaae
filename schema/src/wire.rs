//! The WebSocket framing every peer speaks (Rust and TypeScript alike).
//!
//! One binary WebSocket message is one frame: a type byte, then a body.
//! Control frames carry JSON; sync frames carry a document byte and an
//! Automerge sync message, untouched. ARCHITECTURE.md documents the bytes.

use crate::error::{Result, SchemaError};
use crate::kernel_query::{KernelReply, KernelRequest};
use crate::DocKind;
use serde::{Deserialize, Serialize};

pub const PROTOCOL_VERSION: u32 = 1;

const HELLO: u8 = 0x01;
const WELCOME: u8 = 0x02;
const SYNC: u8 = 0x10;
const PRESENCE: u8 = 0x20;
const PEERS: u8 = 0x21;
const KERNEL_REQUEST: u8 = 0x30;
const KERNEL_REPLY: u8 = 0x31;
const ERROR: u8 = 0x7f;

/// What a connection may do in a notebook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Editor,
    Viewer,
    /// A runtime agent's token, scoped to one notebook: the only writer of
    /// the runtime document.
    Runtime,
}

impl Role {
    pub fn can_write(self, doc: DocKind) -> bool {
        match doc {
            DocKind::Notebook => matches!(self, Role::Owner | Role::Editor | Role::Runtime),
            DocKind::Runtime => matches!(self, Role::Runtime),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
            Role::Runtime => "runtime",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "owner" => Role::Owner,
            "editor" => Role::Editor,
            "viewer" => Role::Viewer,
            "runtime" => Role::Runtime,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub notebook_id: String,
    pub token: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol: u32,
    pub peer_id: String,
    pub user: String,
    pub role: Role,
}

/// Ephemeral state (cursor, selection, name) relayed to the room, never stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Presence {
    /// Filled in by the server when relaying; ignored from clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `null` when the peer left.
    pub state: serde_json::Value,
}

/// One peer's presence as the server relays it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerPresence {
    pub peer_id: String,
    pub user: String,
    pub role: Role,
    /// The peer's latest state; `null` when it left.
    pub state: serde_json::Value,
}

/// Server to client: the latest presence of the peers that changed since
/// the last such frame (on joining, of everyone already there). Coalesced,
/// so a flood of updates or of joins costs a reader a few frames, not one
/// per update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Peers {
    pub peers: Vec<PeerPresence>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadFrame,
    TooLarge,
    Unauthorized,
    Forbidden,
    NotFound,
    UnsupportedProtocol,
    BadSync,
    Storage,
    ShuttingDown,
    /// The peer did not read what it was sent in time.
    TooSlow,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    pub code: ErrorCode,
    pub message: String,
    /// The server closes the connection after a fatal error.
    pub fatal: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Hello(Hello),
    Welcome(Welcome),
    Sync { doc: DocKind, message: Vec<u8> },
    Presence(Presence),
    Peers(Peers),
    KernelRequest(KernelRequest),
    KernelReply(KernelReply),
    Error(ErrorFrame),
}

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        fn json<T: Serialize>(kind: u8, body: &T) -> Vec<u8> {
            let mut out = vec![kind];
            // Serialising these plain structs cannot fail.
            out.extend(serde_json::to_vec(body).unwrap_or_default());
            out
        }
        match self {
            Frame::Hello(h) => json(HELLO, h),
            Frame::Welcome(w) => json(WELCOME, w),
            Frame::Presence(p) => json(PRESENCE, p),
            Frame::Peers(p) => json(PEERS, p),
            Frame::KernelRequest(r) => json(KERNEL_REQUEST, r),
            Frame::KernelReply(r) => json(KERNEL_REPLY, r),
            Frame::Error(e) => json(ERROR, e),
            Frame::Sync { doc, message } => {
                let mut out = Vec::with_capacity(message.len() + 2);
                out.push(SYNC);
                out.push(doc.as_u8());
                out.extend_from_slice(message);
                out
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Frame> {
        fn json<'a, T: Deserialize<'a>>(what: &str, body: &'a [u8]) -> Result<T> {
            serde_json::from_slice(body)
                .map_err(|e| SchemaError::Frame(format!("malformed {what} frame: {e}")))
        }
        let (&kind, body) = bytes
            .split_first()
            .ok_or_else(|| SchemaError::Frame("empty frame".into()))?;
        match kind {
            HELLO => Ok(Frame::Hello(json("hello", body)?)),
            WELCOME => Ok(Frame::Welcome(json("welcome", body)?)),
            PRESENCE => Ok(Frame::Presence(json("presence", body)?)),
            PEERS => Ok(Frame::Peers(json("peers", body)?)),
            KERNEL_REQUEST => Ok(Frame::KernelRequest(json("kernel request", body)?)),
            KERNEL_REPLY => Ok(Frame::KernelReply(json("kernel reply", body)?)),
            ERROR => Ok(Frame::Error(json("error", body)?)),
            SYNC => {
                let (&doc, message) = body
                    .split_first()
                    .ok_or_else(|| SchemaError::Frame("sync frame without document byte".into()))?;
                let doc = DocKind::from_u8(doc)
                    .ok_or_else(|| SchemaError::Frame(format!("unknown document {doc}")))?;
                if message.is_empty() {
                    return Err(SchemaError::Frame("sync frame without message".into()));
                }
                Ok(Frame::Sync {
                    doc,
                    message: message.to_vec(),
                })
            }
            other => Err(SchemaError::Frame(format!(
                "unknown frame type 0x{other:02x}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let frames = vec![
            Frame::Hello(Hello {
                protocol: 1,
                notebook_id: "n".into(),
                token: "t".into(),
            }),
            Frame::Sync {
                doc: DocKind::Runtime,
                message: vec![0x42, 1, 2],
            },
            Frame::Error(ErrorFrame {
                code: ErrorCode::Forbidden,
                message: "no".into(),
                fatal: false,
            }),
            Frame::Presence(Presence {
                peer_id: None,
                user: None,
                state: serde_json::json!({"cursor": 3}),
            }),
            Frame::Peers(Peers {
                peers: vec![PeerPresence {
                    peer_id: "p-1".into(),
                    user: "ada".into(),
                    role: Role::Editor,
                    state: serde_json::Value::Null,
                }],
            }),
            Frame::KernelRequest(crate::KernelRequest {
                id: 7,
                from: None,
                query: crate::KernelQuery::Complete {
                    code: "import o".into(),
                    cursor_pos: 8,
                },
            }),
            Frame::KernelReply(crate::KernelReply {
                id: 7,
                to: Some("p-1".into()),
                answer: crate::KernelAnswer::Complete {
                    matches: vec!["os".into()],
                    cursor_start: 7,
                    cursor_end: 8,
                    kinds: vec!["module".into()],
                },
            }),
        ];
        for f in frames {
            assert_eq!(Frame::decode(&f.encode()).unwrap(), f);
        }
    }

    #[test]
    fn bad_frames_are_errors() {
        assert!(Frame::decode(&[]).is_err());
        assert!(Frame::decode(&[0x10]).is_err());
        assert!(Frame::decode(&[0x10, 7, 1]).is_err());
        assert!(Frame::decode(&[0x10, 0]).is_err());
        assert!(Frame::decode(&[0x01, b'{']).is_err());
        assert!(Frame::decode(&[0x55, 1]).is_err());
    }
}
