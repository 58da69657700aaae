//! A connected peer as its room sees it: who, with which role, its sync
//! state for each document and its outbox.

use super::outbox::Outbox;
use schema::automerge::sync;
use schema::wire::{ErrorCode, ErrorFrame, Frame, Role};
use schema::DocKind;
use std::sync::Arc;

/// Who joined: what the connection learnt at hello.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    pub peer_id: String,
    /// The user's name, as logs and presence show it.
    pub user: String,
    pub user_id: String,
    pub role: Role,
    /// The stored hash of the peer's token, to find it when the token is
    /// revoked or its rights change.
    pub token_hash: String,
}

pub struct Peer {
    pub info: PeerInfo,
    pub outbox: Arc<Outbox>,
    pub sync: [sync::State; 2],
    /// A sync message is owed but the outbox slot was full.
    pub owed: [bool; 2],
    pub kernel_budget: super::kernel_relay::KernelBudget,
}

impl Peer {
    pub fn new(info: PeerInfo, outbox: Arc<Outbox>) -> Self {
        let mut sync = [sync::State::new(), sync::State::new()];
        for kind in DocKind::ALL {
            // A peer that may not write a document gets a read-only sync
            // state: Automerge then ignores changes it sends.
            sync[kind.index()].read_only = !info.role.can_write(kind);
        }
        Self {
            info,
            outbox,
            sync,
            owed: [false; 2],
            kernel_budget: Default::default(),
        }
    }

    pub fn id(&self) -> &str {
        &self.info.peer_id
    }

    /// Tell the peer something went wrong; a fatal error closes it after.
    pub fn error(&self, code: ErrorCode, message: impl Into<String>, fatal: bool) {
        send_error(&self.outbox, code, message, fatal);
    }
}

pub fn error_frame(code: ErrorCode, message: impl Into<String>, fatal: bool) -> Vec<u8> {
    Frame::Error(ErrorFrame {
        code,
        message: message.into(),
        fatal,
    })
    .encode()
}

pub fn send_error(out: &Outbox, code: ErrorCode, message: impl Into<String>, fatal: bool) {
    out.push_control(error_frame(code, message, fatal));
    if fatal {
        out.close();
    }
}
