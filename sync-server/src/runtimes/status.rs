//! What `GET /api/notebooks/{id}/runtime` reports.

use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct RuntimeStatus {
    /// `none`, `starting`, `idle`, `busy`, `restarting` (the kernel),
    /// `stopping` or `dead`.
    pub state: &'static str,
    pub kernel: Option<String>,
    pub pid: Option<u32>,
    pub uptime_seconds: Option<u64>,
    /// Why the agent is dead, restarting or was stopped.
    pub reason: Option<String>,
    pub exit_status: Option<i32>,
    /// Restarts after crashes within the restart window, and the limit.
    pub restarts: u32,
    pub restart_limit: u32,
    /// The agent's last log lines (masked by the agent itself).
    pub log_tail: Vec<String>,
}

impl RuntimeStatus {
    pub fn none() -> Self {
        Self {
            state: "none",
            kernel: None,
            pid: None,
            uptime_seconds: None,
            reason: None,
            exit_status: None,
            restarts: 0,
            restart_limit: 0,
            log_tail: Vec::new(),
        }
    }
}
