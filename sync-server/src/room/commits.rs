//! Commits in flight: a batch's rows go to the event log and the room
//! carries on with the next batch while they are made durable.
//!
//! Waiting for each commit before taking the next batch put an fsync
//! (1.3 ms here) in front of every change that arrived during it: an agent
//! writes a run's start, its output and its end as separate changes, and
//! each waited for the commit of the one before, on the path from a run
//! request to its result. Now only acknowledgements wait: a peer with a
//! change to a document in a commit still in flight is *held* for that
//! document (the room sends it no sync message for it, since any would
//! carry heads acknowledging that change), and everything else is relayed
//! as soon as a batch is applied, as before. The two documents sync apart,
//! so a person whose run request (notebook document) is still being
//! committed already receives the agent's output (runtime document). When
//! a commit completes its authors are released and answered.
//!
//! The log writer commits requests in the order it gets them, so a batch
//! is durable only after every batch before it; `Flushed` replies wait for
//! the commits in flight when they were asked. A failed commit stops the
//! room (its changes were never acknowledged), as before.

use super::Room;
use crate::error::ServerError;
use schema::DocKind;
use std::collections::{HashSet, VecDeque};
use tokio::sync::oneshot;

/// Commits in flight at most; past this the room waits for the oldest
/// before taking more commands (the log is slower than its peers).
pub(super) const MAX_IN_FLIGHT: usize = 64;

/// One batch's commit.
pub(super) struct InFlight {
    done: oneshot::Receiver<Result<(), String>>,
    /// Peers with changes in it, and to which document: held for that
    /// document until it is durable.
    authors: HashSet<(String, DocKind)>,
    /// `Flushed` requests answered once it is durable.
    flushed: Vec<oneshot::Sender<()>>,
    /// For the timing marks: the batch's events.
    events: Option<String>,
}

#[derive(Default)]
pub(super) struct Commits {
    in_flight: VecDeque<InFlight>,
}

impl Commits {
    pub(super) fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    pub(super) fn is_full(&self) -> bool {
        self.in_flight.len() >= MAX_IN_FLIGHT
    }

    /// Every (peer, document) with a change in a commit still in flight.
    pub(super) fn held(&self) -> HashSet<(String, DocKind)> {
        self.in_flight
            .iter()
            .flat_map(|c| c.authors.iter().cloned())
            .collect()
    }

    pub(super) fn push(
        &mut self,
        done: oneshot::Receiver<Result<(), String>>,
        authors: HashSet<(String, DocKind)>,
        events: Option<String>,
    ) {
        self.in_flight.push_back(InFlight {
            done,
            authors,
            flushed: Vec::new(),
            events,
        });
    }

    /// Answer `reply` once everything before it is durable: at once when
    /// nothing is in flight, else with the newest commit.
    pub(super) fn flushed(&mut self, reply: oneshot::Sender<()>) {
        match self.in_flight.back_mut() {
            Some(last) => last.flushed.push(reply),
            None => {
                let _ = reply.send(());
            }
        }
    }

    /// The oldest commit's outcome (pending while none is in flight).
    pub(super) async fn next(&mut self) -> Result<(), ServerError> {
        let Some(oldest) = self.in_flight.front_mut() else {
            return std::future::pending().await;
        };
        let outcome = (&mut oldest.done)
            .await
            .map_err(|_| ServerError::EventLog("writer stopped".into()))
            .and_then(|r| r.map_err(ServerError::EventLog));
        let done = self.in_flight.pop_front();
        if outcome.is_ok() {
            if let Some(done) = done {
                if let Some(events) = &done.events {
                    crate::timing::mark("room.committed", events, crate::timing::wall_us());
                }
                for reply in done.flushed {
                    let _ = reply.send(());
                }
            }
        }
        outcome
    }
}

impl Room {
    /// The oldest commit completed: release its authors (relay them what
    /// they are owed, their acknowledgement among it) unless a later
    /// commit still holds them. An error stops the room.
    pub(super) fn committed(&mut self) {
        let held = self.commits.held();
        self.relay(|peer_id, kind| !held.contains(&(peer_id.to_owned(), kind)));
    }

    /// Wait until every commit in flight is durable (before a reload from
    /// the log, a snapshot, or stopping). Nobody is relayed here: the
    /// caller may be mid-batch. An error stops the room.
    pub(super) async fn settle(&mut self) -> Result<(), ServerError> {
        while !self.commits.is_empty() {
            if let Err(e) = self.commits.next().await {
                self.fail(&e);
                return Err(e);
            }
        }
        Ok(())
    }
}
