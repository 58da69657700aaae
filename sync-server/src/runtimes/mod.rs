//! Runtime agents the server starts itself, one process per notebook, as
//! jupyter_server's kernel manager starts kernels but with a process (and
//! a runtime token of its own) per notebook.
//!
//! One task owns every agent; requests reach it by channel. The server
//! never links the agent's crate: it runs the `runtime-agent` binary. Each
//! agent gets a runtime token minted by the server (so it reads the
//! notebook's secrets), revoked when the agent stops.

mod process;

use crate::auth;
use crate::store::{MintedAs, NewToken, Store, TokenScope};
use process::{AgentLaunch, LogTail};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How long a stopping agent gets to release its lease before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What `GET /api/notebooks/{id}/runtime` reports.
#[derive(Clone, Debug, Serialize)]
pub struct RuntimeStatus {
    /// `none`, `running` or `dead`.
    pub state: &'static str,
    pub kernel: Option<String>,
    pub pid: Option<u32>,
    pub uptime_seconds: Option<u64>,
    /// Why a dead agent stopped, with its exit status.
    pub reason: Option<String>,
    pub exit_status: Option<i32>,
    /// The agent's last log lines (masked by the agent itself).
    pub log_tail: Vec<String>,
}

impl RuntimeStatus {
    fn none() -> Self {
        Self {
            state: "none",
            kernel: None,
            pid: None,
            uptime_seconds: None,
            reason: None,
            exit_status: None,
            log_tail: Vec::new(),
        }
    }
}

enum Request {
    Start {
        notebook_id: String,
        kernel: String,
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
    Exited {
        notebook_id: String,
        generation: u64,
        status: Option<i32>,
    },
    StopAll {
        reply: oneshot::Sender<()>,
    },
}

/// The handle the API holds.
#[derive(Clone)]
pub struct Runtimes {
    requests: mpsc::Sender<Request>,
}

struct Agent {
    kernel: String,
    pid: u32,
    started: Instant,
    token_id: String,
    log: LogTail,
    generation: u64,
    /// Resolves when the child has exited.
    exited: Option<oneshot::Receiver<()>>,
}

struct Dead {
    kernel: String,
    reason: String,
    exit_status: Option<i32>,
    log: Vec<String>,
}

struct Supervisor {
    binary: PathBuf,
    server_url: String,
    store: Arc<dyn Store>,
    agents: HashMap<String, Agent>,
    dead: HashMap<String, Dead>,
    generation: u64,
    requests: mpsc::Sender<Request>,
}

impl Runtimes {
    pub fn start(binary: PathBuf, server_url: String, store: Arc<dyn Store>) -> Self {
        let (tx, rx) = mpsc::channel(256);
        let supervisor = Supervisor {
            binary,
            server_url,
            store,
            agents: HashMap::new(),
            dead: HashMap::new(),
            generation: 0,
            requests: tx.clone(),
        };
        tokio::spawn(supervisor.run(rx));
        Self { requests: tx }
    }

    /// Start (or restart) the notebook's agent on `kernel`.
    pub async fn start_agent(
        &self,
        notebook_id: &str,
        kernel: &str,
        user_id: &str,
    ) -> Result<RuntimeStatus, String> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Start {
            notebook_id: notebook_id.to_owned(),
            kernel: kernel.to_owned(),
            user_id: user_id.to_owned(),
            reply,
        })
        .await;
        answer
            .await
            .unwrap_or_else(|_| Err("the server is shutting down".into()))
    }

    pub async fn stop_agent(&self, notebook_id: &str) -> RuntimeStatus {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Stop {
            notebook_id: notebook_id.to_owned(),
            reply,
        })
        .await;
        answer.await.unwrap_or_else(|_| RuntimeStatus::none())
    }

    pub async fn status(&self, notebook_id: &str) -> RuntimeStatus {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Status {
            notebook_id: notebook_id.to_owned(),
            reply,
        })
        .await;
        answer.await.unwrap_or_else(|_| RuntimeStatus::none())
    }

    /// Stop every agent cleanly (server shutdown).
    pub async fn stop_all(&self) {
        let (reply, answer) = oneshot::channel();
        self.send(Request::StopAll { reply }).await;
        let _ = answer.await;
    }

    async fn send(&self, request: Request) {
        let _ = self.requests.send(request).await;
    }
}

impl Supervisor {
    async fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        while let Some(request) = requests.recv().await {
            match request {
                Request::Start {
                    notebook_id,
                    kernel,
                    user_id,
                    reply,
                } => {
                    self.stop(&notebook_id).await;
                    let started = self.launch(&notebook_id, &kernel, &user_id).await;
                    let _ = reply.send(started.map(|()| self.status(&notebook_id)));
                }
                Request::Stop { notebook_id, reply } => {
                    self.stop(&notebook_id).await;
                    self.dead.remove(&notebook_id);
                    let _ = reply.send(self.status(&notebook_id));
                }
                Request::Status { notebook_id, reply } => {
                    let _ = reply.send(self.status(&notebook_id));
                }
                Request::Exited {
                    notebook_id,
                    generation,
                    status,
                } => self.exited(&notebook_id, generation, status).await,
                Request::StopAll { reply } => {
                    let ids: Vec<String> = self.agents.keys().cloned().collect();
                    for id in &ids {
                        if let Some(agent) = self.agents.get(id) {
                            process::terminate(agent.pid);
                        }
                    }
                    for id in ids {
                        self.stop(&id).await;
                    }
                    let _ = reply.send(());
                    return;
                }
            }
        }
    }

    async fn launch(
        &mut self,
        notebook_id: &str,
        kernel: &str,
        user_id: &str,
    ) -> Result<(), String> {
        let scope = TokenScope::Runtime {
            notebook_id: notebook_id.to_owned(),
        };
        let label = format!("runtime agent ({kernel})");
        let (token, token_id) = auth::issue_token(
            self.store.as_ref(),
            &NewToken {
                user_id,
                issued_by: user_id,
                scope: &scope,
                minted_as: Some(MintedAs::Server),
                expires_at_ms: None,
                label: Some(&label),
            },
        )
        .await
        .map_err(|e| format!("could not mint the agent's token: {e}"))?;
        let launch = AgentLaunch {
            binary: &self.binary,
            notebook_id,
            server_url: &self.server_url,
            token: &token,
            kernel,
        };
        let (mut child, log) = match process::spawn(&launch) {
            Ok(started) => started,
            Err(e) => {
                let _ = self.store.delete_token(&token_id).await;
                return Err(format!(
                    "could not start the runtime agent {}: {e}",
                    self.binary.display()
                ));
            }
        };
        let pid = child.id().unwrap_or(0);
        self.generation += 1;
        let generation = self.generation;
        let (exited_tx, exited_rx) = oneshot::channel();
        let requests = self.requests.clone();
        let id = notebook_id.to_owned();
        tokio::spawn(async move {
            let status = child.wait().await.ok().and_then(|s| s.code());
            let _ = exited_tx.send(());
            let _ = requests
                .send(Request::Exited {
                    notebook_id: id,
                    generation,
                    status,
                })
                .await;
        });
        tracing::info!(notebook_id, kernel, pid, "runtime agent started");
        self.dead.remove(notebook_id);
        self.agents.insert(
            notebook_id.to_owned(),
            Agent {
                kernel: kernel.to_owned(),
                pid,
                started: Instant::now(),
                token_id,
                log,
                generation,
                exited: Some(exited_rx),
            },
        );
        Ok(())
    }

    /// Stop the notebook's agent, if any: SIGTERM, then SIGKILL after
    /// [`STOP_GRACE`]; its token is revoked either way.
    async fn stop(&mut self, notebook_id: &str) {
        let Some(mut agent) = self.agents.remove(notebook_id) else {
            return;
        };
        process::terminate(agent.pid);
        if let Some(exited) = agent.exited.take() {
            if tokio::time::timeout(STOP_GRACE, exited).await.is_err() {
                tracing::warn!(
                    notebook_id,
                    pid = agent.pid,
                    "agent ignored SIGTERM; killing it"
                );
                #[cfg(unix)]
                // SAFETY: kill(2) on the agent's own process group.
                unsafe {
                    libc::kill(-(agent.pid as libc::pid_t), libc::SIGKILL);
                }
            }
        }
        self.retire(notebook_id, &agent).await;
        tracing::info!(notebook_id, pid = agent.pid, "runtime agent stopped");
    }

    async fn retire(&self, notebook_id: &str, agent: &Agent) {
        if let Err(e) = self.store.delete_token(&agent.token_id).await {
            tracing::warn!(notebook_id, error = %e, "could not revoke a stopped agent's token");
        }
    }

    async fn exited(&mut self, notebook_id: &str, generation: u64, status: Option<i32>) {
        let current = self
            .agents
            .get(notebook_id)
            .is_some_and(|a| a.generation == generation);
        if !current {
            return;
        }
        let Some(agent) = self.agents.remove(notebook_id) else {
            return;
        };
        self.retire(notebook_id, &agent).await;
        let reason = match status {
            Some(0) => "the agent exited (displaced by another agent, or told to stop)".to_owned(),
            Some(code) => format!("the agent exited with status {code}"),
            None => "the agent was killed by a signal".to_owned(),
        };
        tracing::warn!(notebook_id, pid = agent.pid, %reason, "runtime agent ended");
        self.dead.insert(
            notebook_id.to_owned(),
            Dead {
                kernel: agent.kernel,
                reason,
                exit_status: status,
                log: agent.log.lines(),
            },
        );
    }

    fn status(&self, notebook_id: &str) -> RuntimeStatus {
        if let Some(agent) = self.agents.get(notebook_id) {
            return RuntimeStatus {
                state: "running",
                kernel: Some(agent.kernel.clone()),
                pid: Some(agent.pid),
                uptime_seconds: Some(agent.started.elapsed().as_secs()),
                reason: None,
                exit_status: None,
                log_tail: agent.log.lines(),
            };
        }
        if let Some(dead) = self.dead.get(notebook_id) {
            return RuntimeStatus {
                state: "dead",
                kernel: Some(dead.kernel.clone()),
                pid: None,
                uptime_seconds: None,
                reason: Some(dead.reason.clone()),
                exit_status: dead.exit_status,
                log_tail: dead.log.clone(),
            };
        }
        RuntimeStatus::none()
    }
}
