//! What a room tells the runtime supervisor: who is connected, what the
//! notebook's agent reports of itself, and that someone pressed run with
//! no agent there to serve it.
//!
//! The room pushes (the supervisor never reaches into a room): a report
//! goes out only when something in it changed, on a bounded channel, and a
//! report that finds the channel full is sent again a little later, so a
//! slow supervisor costs the rooms nothing but a retry.

use super::Room;
use schema::wire::Role;
use schema::SessionStatus;
use std::time::Duration;
use tokio::sync::mpsc;

/// How soon a report that found the channel full is tried again.
pub(super) const REPORT_RETRY: Duration = Duration::from_millis(200);

/// The notebook's agent as its lease and session show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The agent's name (`runtime-agent@PID`).
    pub agent: String,
    pub status: SessionStatus,
    pub expires_at_ms: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomActivity {
    /// Connected peers that are people (or their scripts), not agents.
    pub people: usize,
    /// A peer with a runtime token is connected.
    pub agent_connected: bool,
    pub holder: Option<LeaseHolder>,
}

#[derive(Debug)]
pub enum RoomReport {
    Activity {
        notebook_id: String,
        activity: RoomActivity,
    },
    /// A run request arrived while no agent was connected.
    RunWanted {
        notebook_id: String,
        /// Whose request it was: the agent acts for them.
        user_id: String,
        /// The kernel the notebook names in its metadata, if any.
        kernel: Option<String>,
    },
}

pub type ReportSink = mpsc::Sender<RoomReport>;

/// What is still to be told.
#[derive(Default)]
pub(super) struct Reporting {
    sent: Option<RoomActivity>,
    /// The user whose run request wants an agent, not yet told.
    run_wanted_by: Option<String>,
    /// A report found the channel full.
    pub(super) pending: bool,
}

impl Room {
    pub(super) fn activity(&self) -> RoomActivity {
        let people = self
            .peers
            .values()
            .filter(|p| p.info.role != Role::Runtime)
            .count();
        let holder = match schema::lease_holder(&self.docs[schema::DocKind::Runtime.index()].doc) {
            Ok(Some((lease, session))) => Some(LeaseHolder {
                agent: lease.agent,
                status: session.map_or(SessionStatus::Starting, |s| s.status),
                expires_at_ms: lease.expires_at_ms,
            }),
            _ => None,
        };
        RoomActivity {
            people,
            agent_connected: people < self.peers.len(),
            holder,
        }
    }

    /// A change from `peer_id` wrote a run request.
    pub(super) fn run_requested(&mut self, peer_id: &str) {
        if let Some(peer) = self.peers.get(peer_id) {
            self.reporting.run_wanted_by = Some(peer.info.user_id.clone());
        }
    }

    /// Tell the supervisor what changed since the last report.
    pub(super) fn report(&mut self) {
        let Some(sink) = self.reports.clone() else {
            return;
        };
        let activity = self.activity();
        self.reporting.pending = false;
        if let Some(user_id) = self.reporting.run_wanted_by.take() {
            if !activity.agent_connected {
                let notebook = &self.docs[schema::DocKind::Notebook.index()].doc;
                let wanted = RoomReport::RunWanted {
                    notebook_id: self.notebook_id.clone(),
                    user_id: user_id.clone(),
                    kernel: schema::kernel_named_in(notebook),
                };
                if sink.try_send(wanted).is_err() {
                    self.reporting.run_wanted_by = Some(user_id);
                    self.reporting.pending = true;
                }
            }
        }
        if self.reporting.sent.as_ref() != Some(&activity) {
            let report = RoomReport::Activity {
                notebook_id: self.notebook_id.clone(),
                activity: activity.clone(),
            };
            match sink.try_send(report) {
                Ok(()) => self.reporting.sent = Some(activity),
                Err(_) => self.reporting.pending = true,
            }
        }
    }
}
