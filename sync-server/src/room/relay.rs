//! Sending each peer what it is owed, only when its socket can take it.

use super::Room;
use schema::automerge::sync::SyncDoc;
use schema::automerge::{ChangeHash, ReadDoc};
use schema::wire::{ErrorCode, Frame};
use schema::DocKind;
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

impl Room {
    /// Generate and send whatever each chosen peer is owed. Before the
    /// commit only peers that wrote nothing in the batch are chosen; after
    /// it, everyone (see the module comment). A peer whose slot for a
    /// document is still full is skipped and marked owed: its writer asks
    /// again once the slot is free, and the message generated then covers
    /// everything since.
    pub(super) fn relay(&mut self, chosen: impl Fn(&str, DocKind) -> bool) {
        let mut failed = Vec::new();
        for (peer_id, peer) in self.peers.iter_mut() {
            for document in &self.docs {
                let kind = document.kind;
                if !chosen(peer_id, kind) {
                    continue;
                }
                let k = kind.index();
                if !peer.outbox.sync_free(kind) {
                    peer.owed[k] = true;
                    peer.outbox.set_owed();
                    continue;
                }
                peer.owed[k] = false;
                let state = &mut peer.sync[k];
                let generated = catch_unwind(AssertUnwindSafe(|| {
                    document.doc.generate_sync_message(state)
                }));
                let message = match generated {
                    Ok(m) => m,
                    Err(_) => {
                        failed.push(peer_id.clone());
                        break;
                    }
                };
                if let Some(mut message) = message {
                    let parked = &self.parked[k];
                    if parked.iter().any(|c| c.peer_id == *peer_id) {
                        message.need = needed_for_parked(&message.need, parked, &document.doc);
                    }
                    let frame = Frame::Sync {
                        doc: kind,
                        message: message.encode(),
                    };
                    peer.outbox.put_sync(kind, frame.encode());
                }
            }
        }
        for peer_id in failed {
            self.drop_peer(
                &peer_id,
                ErrorCode::BadSync,
                "the server could not prepare a sync message for this connection".into(),
            );
        }
    }

    /// Send each peer the presence news it can take now, at most once per
    /// interval (otherwise the room's loop comes back for it).
    pub(super) fn flush_presence(&mut self) {
        let now = tokio::time::Instant::now();
        if now < self.presence_sent + self.presence_interval() {
            self.presence_pending = true;
            return;
        }
        self.presence_sent = now;
        self.presence_pending = false;
        for (peer_id, peer) in &self.peers {
            if !self.presence.has_news_for(peer_id) {
                continue;
            }
            if !peer.outbox.presence_free() {
                peer.outbox.set_owed();
                continue;
            }
            if let Some(frame) = self.presence.take_frame(peer_id) {
                peer.outbox.put_presence(frame);
            }
        }
    }
}

/// Automerge asks a peer for the heads it cannot place; a parked change is
/// such a head, but the peer already sent it and will not again. Ask for
/// what the parked changes are waiting for instead.
fn needed_for_parked(
    need: &[ChangeHash],
    parked: &[super::Candidate],
    doc: &schema::automerge::Automerge,
) -> Vec<ChangeHash> {
    let parked_hashes: HashSet<ChangeHash> = parked.iter().map(|c| c.change.hash()).collect();
    let mut out: Vec<ChangeHash> = need
        .iter()
        .filter(|h| !parked_hashes.contains(h))
        .copied()
        .collect();
    let mut seen: HashSet<ChangeHash> = out.iter().copied().collect();
    for c in parked {
        for dep in c.change.deps() {
            if !parked_hashes.contains(dep)
                && doc.get_change_by_hash(dep).is_none()
                && seen.insert(*dep)
            {
                out.push(*dep);
            }
        }
    }
    out.sort();
    out
}
