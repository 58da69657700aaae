//! Who is in the room and what each last said about themselves, relayed
//! coalesced.
//!
//! Only a peer's latest state matters, so nothing is queued per update:
//! each reader has the set of peers it has not been told about since its
//! last frame, and gets one [`Peers`] frame for all of them whenever its
//! socket can take one. A flood of updates, or 500 peers joining at once,
//! costs each reader a few frames (each at most [`MAX_FRAME_BYTES`]) rather
//! than one per event, and a joiner learns everyone present from the same
//! mechanism.

use schema::wire::{Frame, PeerPresence, Peers, Role};
use std::collections::{BTreeSet, HashMap};

/// A presence frame's size at most; the rest waits for the next frame.
pub const MAX_FRAME_BYTES: usize = 256 * 1024;

struct Entry {
    user: String,
    role: Role,
    state: serde_json::Value,
}

#[derive(Default)]
pub struct PresenceBoard {
    entries: HashMap<String, Entry>,
    /// For each reader, the peers it has not been told about yet.
    unseen: HashMap<String, BTreeSet<String>>,
}

impl PresenceBoard {
    pub fn join(&mut self, peer_id: &str, user: &str, role: Role) {
        self.entries.insert(
            peer_id.to_owned(),
            Entry {
                user: user.to_owned(),
                role,
                state: serde_json::json!({}),
            },
        );
        let others: BTreeSet<String> = self
            .entries
            .keys()
            .filter(|id| id.as_str() != peer_id)
            .cloned()
            .collect();
        self.changed(peer_id);
        self.unseen.insert(peer_id.to_owned(), others);
    }

    pub fn update(&mut self, peer_id: &str, state: serde_json::Value) {
        if let Some(entry) = self.entries.get_mut(peer_id) {
            // `null` is how the server says a peer left; a peer's own state
            // is at least an empty object.
            entry.state = if state.is_null() {
                serde_json::json!({})
            } else {
                state
            };
            self.changed(peer_id);
        }
    }

    pub fn leave(&mut self, peer_id: &str) {
        self.unseen.remove(peer_id);
        if self.entries.remove(peer_id).is_some() {
            self.changed(peer_id);
        }
    }

    fn changed(&mut self, peer_id: &str) {
        for (reader, unseen) in self.unseen.iter_mut() {
            if reader != peer_id {
                unseen.insert(peer_id.to_owned());
            }
        }
    }

    pub fn has_news_for(&self, reader: &str) -> bool {
        self.unseen.get(reader).is_some_and(|u| !u.is_empty())
    }

    /// The next presence frame for `reader`, if it has news.
    pub fn take_frame(&mut self, reader: &str) -> Option<Vec<u8>> {
        let unseen = self.unseen.get_mut(reader)?;
        let mut peers = Vec::new();
        let mut size = 0;
        while let Some(id) = unseen.pop_first() {
            let presence = match self.entries.get(&id) {
                Some(e) => PeerPresence {
                    peer_id: id,
                    user: e.user.clone(),
                    role: e.role,
                    state: e.state.clone(),
                },
                None => PeerPresence {
                    peer_id: id,
                    user: String::new(),
                    role: Role::Viewer,
                    state: serde_json::Value::Null,
                },
            };
            size += presence.state.to_string().len() + presence.user.len() + 64;
            peers.push(presence);
            if size >= MAX_FRAME_BYTES {
                break;
            }
        }
        (!peers.is_empty()).then(|| Frame::Peers(Peers { peers }).encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(frame: Vec<u8>) -> Vec<PeerPresence> {
        match Frame::decode(&frame).unwrap() {
            Frame::Peers(p) => p.peers,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn many_joins_and_updates_coalesce_into_one_frame_per_reader() {
        let mut board = PresenceBoard::default();
        board.join("a", "ada", Role::Owner);
        for i in 0..500 {
            board.join(&format!("v{i}"), "viewer", Role::Viewer);
        }
        for round in 0..100 {
            board.update("v7", serde_json::json!({ "cursor": round }));
        }
        let frame = decode(board.take_frame("a").unwrap());
        assert_eq!(frame.len(), 500);
        let v7 = frame.iter().find(|p| p.peer_id == "v7").unwrap();
        assert_eq!(v7.state["cursor"], 99);
        assert!(board.take_frame("a").is_none());
        // The last joiner is told about everyone before it, in one frame.
        assert_eq!(decode(board.take_frame("v499").unwrap()).len(), 500);
    }

    #[test]
    fn leaving_is_relayed_as_null() {
        let mut board = PresenceBoard::default();
        board.join("a", "ada", Role::Owner);
        board.join("b", "bo", Role::Editor);
        board.take_frame("a");
        board.leave("b");
        let frame = decode(board.take_frame("a").unwrap());
        assert_eq!(frame[0].peer_id, "b");
        assert!(frame[0].state.is_null());
        assert!(board.take_frame("b").is_none());
    }
}
