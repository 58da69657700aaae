//! Runtime agents the server starts itself, one process per notebook, as
//! jupyter_server's kernel manager starts kernels but with a process (and
//! a runtime token of its own) per notebook.
//!
//! One task, the [`supervisor`], owns every agent; the API and the rooms
//! reach it by channel. The server never links the agent's crate: it runs
//! the `runtime-agent` binary. Each agent gets a runtime token minted by
//! the server (so it reads the notebook's secrets), revoked when the agent
//! stops. Rooms report who is connected and what the agent says of itself
//! (its lease and session), which is how the supervisor knows an agent is
//! busy or idle, culls idle ones and starts one when a person runs a cell.

mod process;
mod restarts;
mod status;
mod supervisor;

pub use status::RuntimeStatus;

use crate::config::RuntimePolicy;
use crate::room::{ReportSink, RoomReport};
use crate::store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The kernel a notebook gets when neither it nor the operator names one.
pub const DEFAULT_KERNEL: &str = "wasm-python";

/// Reports the rooms may have queued for the supervisor.
const REPORT_QUEUE: usize = 1024;

/// A kernel name as Jupyter names kernelspec directories.
pub fn valid_kernel_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// What a start request asks for.
#[derive(Clone, Debug, Default)]
pub struct StartAgent {
    /// `None`: the kernel the notebook last ran on, else the default.
    pub kernel: Option<String>,
    /// For a headless run (see [`AgentSpec::headless`]).
    pub headless: bool,
    /// An absolute directory the kernel runs in instead of the notebook's
    /// folder (the API lets only server administrators choose one).
    pub workdir: Option<PathBuf>,
}

/// How an agent was started, kept so a restart after a crash is the same.
#[derive(Clone, Debug, Default)]
pub struct AgentSpec {
    pub kernel: String,
    /// IPython keeps its history in memory, as nbclient starts kernels.
    pub headless: bool,
    pub workdir: Option<PathBuf>,
}

enum Request {
    Start {
        notebook_id: String,
        start: StartAgent,
        user_id: String,
        reply: oneshot::Sender<Result<RuntimeStatus, String>>,
    },
    Stop {
        notebook_id: String,
        reply: oneshot::Sender<RuntimeStatus>,
    },
    Status {
        notebook_id: String,
        reply: oneshot::Sender<RuntimeStatus>,
    },
    StopAll {
        reply: oneshot::Sender<()>,
    },
}

/// The handle the API holds.
#[derive(Clone)]
pub struct Runtimes {
    requests: mpsc::Sender<Request>,
    reports: ReportSink,
}

impl Runtimes {
    pub fn start(
        binary: PathBuf,
        server_url: String,
        store: Arc<dyn Store>,
        policy: RuntimePolicy,
    ) -> Self {
        let (requests, requests_rx) = mpsc::channel(256);
        let (reports, reports_rx) = mpsc::channel::<RoomReport>(REPORT_QUEUE);
        let supervisor = supervisor::Supervisor::new(binary, server_url, store, policy);
        tokio::spawn(supervisor.run(requests_rx, reports_rx));
        Self { requests, reports }
    }

    /// Where rooms send their reports.
    pub fn report_sink(&self) -> ReportSink {
        self.reports.clone()
    }

    /// Start (or restart) the notebook's agent.
    pub async fn start_agent(
        &self,
        notebook_id: &str,
        start: StartAgent,
        user_id: &str,
    ) -> Result<RuntimeStatus, String> {
        self.ask(|reply| Request::Start {
            notebook_id: notebook_id.to_owned(),
            start,
            user_id: user_id.to_owned(),
            reply,
        })
        .await
        .unwrap_or_else(|| Err("the server is shutting down".into()))
    }

    pub async fn stop_agent(&self, notebook_id: &str) -> RuntimeStatus {
        self.ask(|reply| Request::Stop {
            notebook_id: notebook_id.to_owned(),
            reply,
        })
        .await
        .unwrap_or_else(RuntimeStatus::none)
    }

    pub async fn status(&self, notebook_id: &str) -> RuntimeStatus {
        self.ask(|reply| Request::Status {
            notebook_id: notebook_id.to_owned(),
            reply,
        })
        .await
        .unwrap_or_else(RuntimeStatus::none)
    }

    /// Stop every agent cleanly (server shutdown).
    pub async fn stop_all(&self) {
        self.ask(|reply| Request::StopAll { reply }).await;
    }

    /// Send a request and wait for its answer; `None` once the supervisor
    /// has ended.
    async fn ask<T>(&self, request: impl FnOnce(oneshot::Sender<T>) -> Request) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(request(reply)).await.ok()?;
        answer.await.ok()
    }
}
