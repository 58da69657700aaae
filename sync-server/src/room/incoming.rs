//! A batch of incoming sync messages, from bytes to applied changes.
//!
//! 1. `stage`, per message: the guard's checks, Automerge's decoding, and
//!    the changes taken out of the message (a viewer's are refused here).
//! 2. `take_changes`, per document: the new changes of the whole batch
//!    (and those parked earlier) in dependency order, each checked against
//!    the layout (`schema::layout`), then applied in one `apply_changes`
//!    per run of one peer's changes. A change whose dependencies have not
//!    arrived is parked, outside Automerge, until they do (a bloom filter
//!    false positive makes this routine); `relay` asks the peer for them.
//! 3. `receive_staged`: each message, now without changes, updates its
//!    peer's sync state, as Automerge's `receive_sync_message` would have.
//!
//! Every step that calls into Automerge runs under `catch_unwind`: a panic
//! drops the peer whose message caused it, and a panic while applying
//! changes reloads that document from the log (plus this batch's rows), so
//! the room never serves a half-applied change.

use super::Room;
use crate::guard::{self, Refusal};
use crate::store::ChangeRow;
use schema::automerge::sync::{self, ChunkList, SyncDoc};
use schema::automerge::{Change, ChangeHash, ReadDoc};
use schema::wire::ErrorCode;
use schema::DocKind;
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Parked changes one peer may have waiting for their dependencies.
const MAX_PARKED_PER_PEER: usize = 10_000;
/// Changes and operations per `apply_changes` call at most. Automerge
/// 0.12 walks a whole list or text for each call that inserts into it:
/// measured here (release), 600 appends of 4 KB to one cell took 230 s
/// applied one by one, 33 s eight at a time, 8.2 s 128 at a time and 8.4 s
/// in one call. Across many objects big calls cost somewhat more (500 new
/// cells of 4 KB: 2.4 s one by one, 5.5 s in one call), so the groups are
/// large but bounded, which also bounds what one panic costs.
const APPLY_CHANGES: usize = 256;
/// A document with at most this many changes goes to a peer that has
/// nothing as its changes, not as the whole document in one piece
/// (Automerge's v2 message): a page applies changes a few at a time
/// between keystrokes (web-client `Replica.applyInSlices`) but loads a
/// whole document in one go, which for 200 imported cells of 2 KB held its
/// main thread about 400 ms. Past this many, the whole document wins:
/// applying 20,000 one-character changes took a page's Automerge 1.3 s,
/// loading them saved 60 ms (Node, measured here).
const CHANGES_SENT_AS_CHANGES: i64 = 2_000;
const APPLY_OPS: usize = 1 << 20;

/// A peer's sync message after the checks, its changes taken out.
pub(super) struct Staged {
    peer_id: String,
    kind: DocKind,
    message: sync::Message,
}

/// A change from a peer, not yet in the document.
pub(crate) struct Candidate {
    pub peer_id: String,
    pub change: Change,
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

impl Room {
    pub(super) fn stage(
        &mut self,
        peer_id: &str,
        kind: DocKind,
        bytes: &[u8],
        staged: &mut Vec<Staged>,
        candidates: &mut [Vec<Candidate>; 2],
    ) {
        let Some(peer) = self.peers.get(peer_id) else {
            return;
        };
        let role = peer.info.role;
        let doc = &self.docs[kind.index()].doc;
        let limits = &self.limits;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let checked = guard::check_sync_message(bytes, limits)?;
            let mut message = sync::Message::decode(&checked.bytes)
                .map_err(|e| Refusal::malformed(format!("undecodable sync message: {e}")))?;
            let mut forbidden = false;
            let changes = if message.changes.is_empty() {
                Vec::new()
            } else if role.can_write(kind) {
                guard::new_changes(doc, &message)?
            } else {
                forbidden = true;
                Vec::new()
            };
            message.changes = ChunkList::empty();
            Ok::<_, Refusal>((message, changes, forbidden))
        }));
        match outcome {
            Err(panic) => self.drop_peer(
                peer_id,
                ErrorCode::BadSync,
                format!(
                    "the server could not handle this sync message ({})",
                    panic_message(panic.as_ref())
                ),
            ),
            Ok(Err(refusal)) => {
                let code = if refusal.too_large {
                    ErrorCode::TooLarge
                } else {
                    ErrorCode::BadSync
                };
                self.drop_peer(peer_id, code, refusal.message);
            }
            Ok(Ok((message, changes, forbidden))) => {
                if forbidden {
                    if let Some(peer) = self.peers.get(peer_id) {
                        peer.error(
                            ErrorCode::Forbidden,
                            format!(
                                "a {} may not change the {} document; the change was not applied",
                                role.as_str(),
                                kind.as_str()
                            ),
                            false,
                        );
                    }
                }
                candidates[kind.index()].extend(changes.into_iter().map(|change| Candidate {
                    peer_id: peer_id.to_owned(),
                    change,
                }));
                staged.push(Staged {
                    peer_id: peer_id.to_owned(),
                    kind,
                    message,
                });
            }
        }
    }

    /// Check and apply one document's new changes (see the module comment);
    /// the rows to log and the peers that wrote something come back.
    pub(super) async fn take_changes(
        &mut self,
        kind: DocKind,
        new: Vec<Candidate>,
        rows: &mut Vec<ChangeRow>,
        authors: &mut HashSet<(String, DocKind)>,
    ) {
        let k = kind.index();
        let mut pool = std::mem::take(&mut self.parked[k]);
        pool.extend(new);
        if pool.is_empty() {
            return;
        }
        let mut seen = HashSet::new();
        let doc = &self.docs[k].doc;
        pool.retain(|c| {
            seen.insert(c.change.hash()) && doc.get_change_by_hash(&c.change.hash()).is_none()
        });

        let mut accepted: Vec<Candidate> = Vec::new();
        let mut accepted_hashes: HashSet<ChangeHash> = HashSet::new();
        let mut refused: HashSet<ChangeHash> = HashSet::new();
        let mut refusals: Vec<(String, String)> = Vec::new();
        let mut panicked: Vec<(String, String)> = Vec::new();
        let mut run_requesters: Vec<String> = Vec::new();
        loop {
            let mut progress = false;
            let mut waiting = Vec::new();
            for candidate in pool.drain(..) {
                let hash = candidate.change.hash();
                let deps = candidate.change.deps();
                if deps.iter().any(|d| refused.contains(d)) {
                    refused.insert(hash);
                    progress = true;
                    continue;
                }
                let doc = &self.docs[k].doc;
                let ready = deps
                    .iter()
                    .all(|d| accepted_hashes.contains(d) || doc.get_change_by_hash(d).is_some());
                if !ready {
                    waiting.push(candidate);
                    continue;
                }
                progress = true;
                let checker = &mut self.checkers[k];
                match catch_unwind(AssertUnwindSafe(|| checker.check(doc, &candidate.change))) {
                    Ok(Ok(())) => {
                        if checker.take_run_request_seen() {
                            run_requesters.push(candidate.peer_id.clone());
                        }
                        accepted_hashes.insert(hash);
                        accepted.push(candidate);
                    }
                    Ok(Err(e)) => {
                        refused.insert(hash);
                        refusals.push((candidate.peer_id, e.to_string()));
                    }
                    Err(panic) => {
                        refused.insert(hash);
                        panicked.push((candidate.peer_id, panic_message(panic.as_ref())));
                    }
                }
            }
            pool = waiting;
            if !progress || pool.is_empty() {
                break;
            }
        }
        for peer_id in run_requesters {
            self.run_requested(&peer_id);
        }
        for (peer_id, reason) in refusals {
            if let Some(peer) = self.peers.get(&peer_id) {
                tracing::warn!(%peer_id, %reason, "change refused");
                peer.error(
                    ErrorCode::Forbidden,
                    format!("change refused, not stored: {reason}"),
                    false,
                );
            }
        }
        for (peer_id, why) in panicked {
            self.drop_peer(
                &peer_id,
                ErrorCode::BadSync,
                format!("the server could not check a change ({why})"),
            );
        }
        self.park(k, pool);
        self.apply_runs(kind, accepted, rows, authors).await;
    }

    /// Keep changes waiting for their dependencies, at most
    /// [`MAX_PARKED_PER_PEER`] per peer: a peer past that is dropped (its
    /// changes are still its own; it sends them again on reconnecting).
    fn park(&mut self, k: usize, pool: Vec<Candidate>) {
        let mut per_peer: std::collections::HashMap<&str, usize> = Default::default();
        for c in &pool {
            *per_peer.entry(c.peer_id.as_str()).or_default() += 1;
        }
        let over: Vec<String> = per_peer
            .into_iter()
            .filter(|(_, n)| *n > MAX_PARKED_PER_PEER)
            .map(|(p, _)| p.to_owned())
            .collect();
        self.parked[k] = pool;
        for peer_id in over {
            self.drop_peer(
                &peer_id,
                ErrorCode::BadSync,
                "too many changes whose dependencies never arrived".into(),
            );
        }
    }

    /// Apply accepted changes (they are in dependency order) in small
    /// groups of consecutive changes from one peer (see [`APPLY_CHANGES`]).
    async fn apply_runs(
        &mut self,
        kind: DocKind,
        accepted: Vec<Candidate>,
        rows: &mut Vec<ChangeRow>,
        authors: &mut HashSet<(String, DocKind)>,
    ) {
        let k = kind.index();
        let mut runs: Vec<(String, Vec<Change>)> = Vec::new();
        let mut ops = 0usize;
        for c in accepted {
            let size = c.change.len();
            match runs.last_mut() {
                Some((peer, changes))
                    if *peer == c.peer_id
                        && changes.len() < APPLY_CHANGES
                        && ops + size <= APPLY_OPS =>
                {
                    ops += size;
                    changes.push(c.change)
                }
                _ => {
                    ops = size;
                    runs.push((c.peer_id, vec![c.change]))
                }
            }
        }
        let mut skip: HashSet<String> = HashSet::new();
        for (peer_id, mut changes) in runs {
            // A peer dropped earlier in the batch: what it sent is not
            // applied (it sends it again on reconnecting).
            if skip.contains(&peer_id) || !self.peers.contains_key(&peer_id) {
                continue;
            }
            let user = self
                .peers
                .get(&peer_id)
                .map(|p| p.info.user.clone())
                .unwrap_or_default();
            let document = &mut self.docs[k];
            // The rows first (they need the changes), then the changes move
            // into Automerge uncopied. A failed apply reloads the document,
            // which resets its sequence numbers with it.
            let new_rows: Vec<ChangeRow> = changes
                .iter_mut()
                .map(|change| document.next_row(&self.notebook_id, &user, change))
                .collect();
            let applied = tokio::task::block_in_place(|| {
                catch_unwind(AssertUnwindSafe(|| document.doc.apply_changes(changes)))
            });
            match applied {
                Ok(Ok(())) => {
                    rows.extend(new_rows);
                    authors.insert((peer_id, kind));
                }
                Ok(Err(e)) => {
                    self.reload(kind, rows).await;
                    self.drop_peer(
                        &peer_id,
                        ErrorCode::BadSync,
                        format!("changes refused: {e}"),
                    );
                    skip.insert(peer_id);
                }
                Err(panic) => {
                    self.reload(kind, rows).await;
                    self.drop_peer(
                        &peer_id,
                        ErrorCode::BadSync,
                        format!(
                            "the server could not apply these changes ({})",
                            panic_message(panic.as_ref())
                        ),
                    );
                    skip.insert(peer_id);
                }
            }
        }
    }

    /// Rebuild a document from the log and this batch's rows so far, after
    /// a failed apply may have left it half changed.
    async fn reload(&mut self, kind: DocKind, rows: &[ChangeRow]) {
        // The log must hold every earlier batch before it is read back.
        if self.settle().await.is_err() {
            return;
        }
        match super::storage::load_document(self.store.as_ref(), &self.notebook_id, kind, rows)
            .await
        {
            Ok(doc) => self.docs[kind.index()] = doc,
            // The document stays as it is; its next snapshot is not trusted
            // either way, since rows are what the log replays.
            Err(e) => tracing::error!(error = %e, "could not reload the document"),
        }
    }

    /// Let each message, without its changes, update its peer's sync state.
    pub(super) fn receive_staged(&mut self, staged: Vec<Staged>) {
        for Staged {
            peer_id,
            kind,
            message,
        } in staged
        {
            let Some(peer) = self.peers.get_mut(&peer_id) else {
                continue;
            };
            let document = &mut self.docs[kind.index()];
            let few_changes = document.last_seq <= CHANGES_SENT_AS_CHANGES;
            let doc = &mut document.doc;
            let state = &mut peer.sync[kind.index()];
            // Automerge records a peer's echo of our heads as "already sent
            // to them", which is right only when a reply is generated
            // straight after each message. We reply after the batch is
            // durable, possibly after applying a change from the same peer
            // that the echo now matches, so keep the heads we really sent:
            // the acknowledgement must go out.
            let really_sent = state.last_sent_heads.clone();
            // Automerge takes a message without heads for a peer that lost
            // its data, forgets what it sent, and sends it all again. Within
            // one connection a peer cannot lose its data: its second
            // "nothing" is an answer written before our first changes
            // reached it, and must not make them go out twice (a page's
            // first sync of 200 cells of 2 KB did, 435 KB twice).
            let sent_before = message.heads.is_empty().then(|| state.sent_hashes.clone());
            let received = catch_unwind(AssertUnwindSafe(|| {
                doc.receive_sync_message(state, message)
            }));
            state.last_sent_heads = really_sent;
            if let Some(sent) = sent_before {
                state.sent_hashes = sent;
            }
            if few_changes {
                // Changes rather than the whole document (which Automerge
                // sends a peer that has nothing): see CHANGES_SENT_AS_CHANGES.
                if let Some(caps) = state.their_capabilities.as_mut() {
                    caps.retain(|c| *c != sync::Capability::MessageV2);
                }
            }
            let failure = match received {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("sync message could not be applied: {e}")),
                Err(panic) => Some(format!(
                    "the server could not handle this sync message ({})",
                    panic_message(panic.as_ref())
                )),
            };
            if let Some(message) = failure {
                self.drop_peer(&peer_id, ErrorCode::BadSync, message);
            }
        }
    }
}
