//! The task that owns every agent process.
//!
//! Per notebook it keeps the agent (if one runs), what the notebook's room
//! last reported, a restart budget, and why the agent last ended. It acts
//! on four inputs: API requests, room reports (activity, and run requests
//! that found no agent), its own agents' exits, and a clock for restarts
//! and culling. Nothing here blocks: a stop waits for the process on a
//! timer, never on a lock.

use super::process::{self, AgentLaunch, LogTail};
use super::restarts::RestartBudget;
use super::{valid_kernel_name, AgentSpec, Request, RuntimeStatus};
use crate::auth;
use crate::config::RuntimePolicy;
use crate::room::{RoomActivity, RoomReport};
use crate::store::{MintedAs, NewToken, Store, TokenScope};
use schema::SessionStatus;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How long a stopping agent gets to release its lease before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long an exited agent's last log lines may take to be read.
const LAST_WORDS_WAIT: Duration = Duration::from_millis(500);

/// What the supervisor's own tasks tell it.
enum Event {
    Exited {
        notebook_id: String,
        generation: u64,
        status: Option<i32>,
    },
    RestartDue {
        notebook_id: String,
        generation: u64,
    },
}

struct Agent {
    spec: AgentSpec,
    user_id: String,
    pid: u32,
    started: Instant,
    token_id: String,
    log: LogTail,
    generation: u64,
    /// Resolves when the child has exited.
    exited: oneshot::Receiver<()>,
}

/// Why the notebook's last agent ended.
struct Ended {
    kernel: String,
    reason: String,
    exit_status: Option<i32>,
    log: Vec<String>,
    /// Dead (crashed past the budget, or exited by itself) rather than
    /// stopped on purpose.
    dead: bool,
}

/// A crashed agent waiting for its restart.
struct PendingRestart {
    spec: AgentSpec,
    user_id: String,
    generation: u64,
}

struct Notebook {
    agent: Option<Agent>,
    pending: Option<PendingRestart>,
    ended: Option<Ended>,
    budget: RestartBudget,
    activity: RoomActivity,
    /// Since when nobody has been connected and nothing has run.
    idle_since: Option<Instant>,
}

pub struct Supervisor {
    binary: PathBuf,
    server_url: String,
    store: Arc<dyn Store>,
    policy: RuntimePolicy,
    notebooks: HashMap<String, Notebook>,
    generation: u64,
    events: mpsc::Sender<Event>,
    events_rx: Option<mpsc::Receiver<Event>>,
}

impl Supervisor {
    pub fn new(
        binary: PathBuf,
        server_url: String,
        store: Arc<dyn Store>,
        policy: RuntimePolicy,
    ) -> Self {
        let (events, events_rx) = mpsc::channel(256);
        Self {
            binary,
            server_url,
            store,
            policy,
            notebooks: HashMap::new(),
            generation: 0,
            events,
            events_rx: Some(events_rx),
        }
    }

    pub async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut reports: mpsc::Receiver<RoomReport>,
    ) {
        let Some(mut events) = self.events_rx.take() else {
            return;
        };
        let tick = self
            .policy
            .idle_after
            .map_or(Duration::from_secs(60), |idle| {
                (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30))
            });
        let mut clock = tokio::time::interval(tick);
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                request = requests.recv() => match request {
                    Some(Request::StopAll { reply }) => {
                        self.stop_all().await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(request) => self.handle(request).await,
                    None => {
                        self.stop_all().await;
                        return;
                    }
                },
                Some(report) = reports.recv() => self.on_report(report).await,
                Some(event) = events.recv() => self.on_event(event).await,
                _ = clock.tick() => self.cull().await,
            }
        }
    }

    fn notebook(&mut self, notebook_id: &str) -> &mut Notebook {
        let policy = &self.policy;
        self.notebooks
            .entry(notebook_id.to_owned())
            .or_insert_with(|| Notebook {
                agent: None,
                pending: None,
                ended: None,
                budget: RestartBudget::new(
                    policy.restart_limit,
                    policy.restart_window,
                    policy.restart_backoff,
                ),
                activity: RoomActivity::default(),
                idle_since: Some(Instant::now()),
            })
    }

    async fn handle(&mut self, request: Request) {
        match request {
            Request::Start {
                notebook_id,
                start,
                user_id,
                reply,
            } => {
                let spec = AgentSpec {
                    kernel: start
                        .kernel
                        .unwrap_or_else(|| self.kernel_of(&notebook_id, None)),
                    headless: start.headless,
                    workdir: start.workdir,
                };
                self.stop(&notebook_id, None).await;
                let started = self.launch(&notebook_id, spec, &user_id).await;
                let _ = reply.send(started.map(|()| self.status(&notebook_id)));
            }
            Request::Stop { notebook_id, reply } => {
                self.stop(&notebook_id, None).await;
                let _ = reply.send(self.status(&notebook_id));
            }
            Request::Status { notebook_id, reply } => {
                let _ = reply.send(self.status(&notebook_id));
            }
            // Handled by `run`, which ends after it.
            Request::StopAll { reply } => {
                self.stop_all().await;
                let _ = reply.send(());
            }
        }
    }

    /// The kernel for a notebook when nobody named one: the one its last
    /// agent ran (someone chose it), else the one the notebook names in
    /// its metadata (an imported notebook's, or what the agent recorded),
    /// else the server's default.
    fn kernel_of(&self, notebook_id: &str, named: Option<String>) -> String {
        let notebook = self.notebooks.get(notebook_id);
        notebook
            .and_then(|n| {
                n.agent
                    .as_ref()
                    .map(|a| a.spec.kernel.clone())
                    .or_else(|| n.pending.as_ref().map(|p| p.spec.kernel.clone()))
                    .or_else(|| n.ended.as_ref().map(|e| e.kernel.clone()))
            })
            .or(named.filter(|k| valid_kernel_name(k)))
            .unwrap_or_else(|| self.policy.default_kernel.clone())
    }

    async fn on_report(&mut self, report: RoomReport) {
        match report {
            RoomReport::Activity {
                notebook_id,
                activity,
            } => {
                let notebook = self.notebook(&notebook_id);
                let busy = activity
                    .holder
                    .as_ref()
                    .is_some_and(|h| h.status == SessionStatus::Busy);
                if activity.people > 0 || busy {
                    notebook.idle_since = None;
                } else if notebook.idle_since.is_none() {
                    notebook.idle_since = Some(Instant::now());
                }
                notebook.activity = activity;
            }
            RoomReport::RunWanted {
                notebook_id,
                user_id,
                kernel,
            } => {
                if !self.policy.auto_start {
                    return;
                }
                let notebook = self.notebook(&notebook_id);
                if notebook.agent.is_some() || notebook.pending.is_some() {
                    return;
                }
                let kernel = self.kernel_of(&notebook_id, kernel);
                tracing::info!(%notebook_id, %kernel, "a cell was run with no agent; starting one");
                let spec = AgentSpec {
                    kernel: kernel.clone(),
                    ..AgentSpec::default()
                };
                if let Err(reason) = self.launch(&notebook_id, spec, &user_id).await {
                    tracing::warn!(%notebook_id, %reason, "could not start an agent");
                    self.notebook(&notebook_id).ended = Some(Ended {
                        kernel,
                        reason,
                        exit_status: None,
                        log: Vec::new(),
                        dead: true,
                    });
                }
            }
        }
    }

    async fn on_event(&mut self, event: Event) {
        match event {
            Event::Exited {
                notebook_id,
                generation,
                status,
            } => self.exited(&notebook_id, generation, status).await,
            Event::RestartDue {
                notebook_id,
                generation,
            } => {
                let Some(notebook) = self.notebooks.get_mut(&notebook_id) else {
                    return;
                };
                let Some(pending) = notebook.pending.take_if(|p| p.generation == generation) else {
                    return;
                };
                let kernel = pending.spec.kernel.clone();
                if let Err(reason) = self
                    .launch(&notebook_id, pending.spec, &pending.user_id)
                    .await
                {
                    tracing::warn!(%notebook_id, %reason, "could not restart the agent");
                    self.notebook(&notebook_id).ended = Some(Ended {
                        kernel,
                        reason,
                        exit_status: None,
                        log: Vec::new(),
                        dead: true,
                    });
                }
            }
        }
    }

    async fn launch(
        &mut self,
        notebook_id: &str,
        spec: AgentSpec,
        user_id: &str,
    ) -> Result<(), String> {
        let kernel = spec.kernel.as_str();
        if !valid_kernel_name(kernel) {
            return Err(format!("{kernel:?} is not a kernel name"));
        }
        let folder = crate::workdir::ensure(&self.policy.notebook_files_dir, notebook_id)
            .await
            .map_err(|e| format!("could not create the notebook's folder: {e}"))?;
        let workdir = spec.workdir.clone().unwrap_or(folder);
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
            limits: &self.policy.agent_limits,
            workdir: &workdir,
            headless: spec.headless,
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
        let (exited_tx, exited) = oneshot::channel();
        let events = self.events.clone();
        let id = notebook_id.to_owned();
        let last_words = log.clone();
        tokio::spawn(async move {
            let status = child.wait().await.ok().and_then(|s| s.code());
            let _ = exited_tx.send(());
            last_words.drained(LAST_WORDS_WAIT).await;
            let _ = events
                .send(Event::Exited {
                    notebook_id: id,
                    generation,
                    status,
                })
                .await;
        });
        tracing::info!(notebook_id, kernel, pid, "runtime agent started");
        let notebook = self.notebook(notebook_id);
        notebook.ended = None;
        notebook.pending = None;
        if notebook.activity.people == 0 {
            notebook.idle_since = Some(Instant::now());
        }
        notebook.agent = Some(Agent {
            spec,
            user_id: user_id.to_owned(),
            pid,
            started: Instant::now(),
            token_id,
            log,
            generation,
            exited,
        });
        Ok(())
    }

    /// Stop the notebook's agent, if any (and forget a pending restart):
    /// SIGTERM, then SIGKILL after [`STOP_GRACE`]; its token is revoked
    /// either way. `why` is what the status says afterwards.
    async fn stop(&mut self, notebook_id: &str, why: Option<String>) {
        let Some(notebook) = self.notebooks.get_mut(notebook_id) else {
            return;
        };
        notebook.pending = None;
        let agent = notebook.agent.take();
        let kernel = agent.as_ref().map(|a| a.spec.kernel.clone());
        notebook.ended = match (why, kernel) {
            (Some(reason), Some(kernel)) => Some(Ended {
                kernel,
                reason,
                exit_status: None,
                log: Vec::new(),
                dead: false,
            }),
            _ => None,
        };
        if let Some(agent) = agent {
            process::signal_group(agent.pid, libc::SIGTERM);
            self.finish_stop(notebook_id, agent).await;
        }
    }

    /// Wait for a signalled agent to go, kill it if it will not, and
    /// revoke its token.
    async fn finish_stop(&self, notebook_id: &str, agent: Agent) {
        if tokio::time::timeout(STOP_GRACE, agent.exited)
            .await
            .is_err()
        {
            tracing::warn!(
                notebook_id,
                pid = agent.pid,
                "agent ignored SIGTERM; killing it"
            );
            process::signal_group(agent.pid, libc::SIGKILL);
        }
        self.revoke(notebook_id, &agent.token_id).await;
        tracing::info!(notebook_id, pid = agent.pid, "runtime agent stopped");
    }

    /// Server shutdown: every agent is told at once, then each is waited for.
    async fn stop_all(&mut self) {
        let mut stopping = Vec::new();
        for (id, notebook) in &mut self.notebooks {
            notebook.pending = None;
            if let Some(agent) = notebook.agent.take() {
                process::signal_group(agent.pid, libc::SIGTERM);
                stopping.push((id.clone(), agent));
            }
        }
        for (id, agent) in stopping {
            self.finish_stop(&id, agent).await;
        }
    }

    async fn revoke(&self, notebook_id: &str, token_id: &str) {
        if let Err(e) = self.store.delete_token(token_id).await {
            tracing::warn!(notebook_id, error = %e, "could not revoke a stopped agent's token");
        }
    }

    /// An agent's process ended without being asked to: restart it within
    /// the budget, or leave it dead.
    async fn exited(&mut self, notebook_id: &str, generation: u64, status: Option<i32>) {
        let Some(notebook) = self.notebooks.get_mut(notebook_id) else {
            return;
        };
        let Some(agent) = notebook.agent.take_if(|a| a.generation == generation) else {
            return;
        };
        let token_id = agent.token_id.clone();
        let log = agent.log.lines();
        let crashed = status != Some(0);
        let mut reason = match status {
            Some(0) => "the agent exited (displaced by another agent, or told to stop)".to_owned(),
            Some(code) => format!("the agent exited with status {code}"),
            None => "the agent was killed by a signal".to_owned(),
        };
        let restart = crashed
            .then(|| notebook.budget.take(Instant::now()))
            .flatten();
        match restart {
            Some(wait) => {
                let used = notebook.budget.used(Instant::now());
                tracing::warn!(notebook_id, pid = agent.pid, %reason, restart = used, "runtime agent crashed; restarting");
                self.generation += 1;
                let generation = self.generation;
                notebook.ended = Some(Ended {
                    kernel: agent.spec.kernel.clone(),
                    reason,
                    exit_status: status,
                    log,
                    dead: true,
                });
                notebook.pending = Some(PendingRestart {
                    spec: agent.spec,
                    user_id: agent.user_id,
                    generation,
                });
                let events = self.events.clone();
                let id = notebook_id.to_owned();
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = events
                        .send(Event::RestartDue {
                            notebook_id: id,
                            generation,
                        })
                        .await;
                });
            }
            None => {
                if crashed {
                    let minutes = self.policy.restart_window.as_secs_f64() / 60.0;
                    reason = format!(
                        "{reason}; not restarted: it was restarted {} times within {minutes:.0} minutes",
                        notebook.budget.limit()
                    );
                }
                tracing::warn!(notebook_id, pid = agent.pid, %reason, "runtime agent ended");
                notebook.ended = Some(Ended {
                    kernel: agent.spec.kernel,
                    reason,
                    exit_status: status,
                    log,
                    dead: true,
                });
            }
        }
        self.revoke(notebook_id, &token_id).await;
    }

    /// Stop agents whose notebooks have been idle past the policy's limit.
    async fn cull(&mut self) {
        let Some(idle_after) = self.policy.idle_after else {
            return;
        };
        let now = Instant::now();
        let idle: Vec<String> = self
            .notebooks
            .iter()
            .filter(|(_, n)| {
                n.agent.is_some()
                    && n.idle_since
                        .is_some_and(|t| now.duration_since(t) >= idle_after)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in idle {
            let minutes = idle_after.as_secs_f64() / 60.0;
            tracing::info!(notebook_id = %id, minutes, "culling an idle runtime agent");
            self.stop(
                &id,
                Some(format!(
                    "stopped after {minutes:.1} minutes with nobody connected and nothing running"
                )),
            )
            .await;
        }
    }

    fn status(&self, notebook_id: &str) -> RuntimeStatus {
        let Some(notebook) = self.notebooks.get(notebook_id) else {
            return RuntimeStatus::none();
        };
        let budget_used = notebook.budget.used(Instant::now());
        let restart_limit = self.policy.restart_limit;
        let mut status = RuntimeStatus {
            restarts: budget_used,
            restart_limit,
            ..RuntimeStatus::none()
        };
        if let Some(agent) = &notebook.agent {
            let own = format!("runtime-agent@{}", agent.pid);
            status.state = match &notebook.activity.holder {
                Some(h) if h.agent == own => match h.status {
                    SessionStatus::Dead => "stopping",
                    other => other.as_str(),
                },
                _ => "starting",
            };
            status.kernel = Some(agent.spec.kernel.clone());
            status.pid = Some(agent.pid);
            status.uptime_seconds = Some(agent.started.elapsed().as_secs());
            status.log_tail = agent.log.lines();
            return status;
        }
        if let Some(ended) = &notebook.ended {
            status.kernel = Some(ended.kernel.clone());
            status.exit_status = ended.exit_status;
            status.log_tail = ended.log.clone();
            status.state = if notebook.pending.is_some() {
                status.reason = Some(format!(
                    "restarting after a crash ({}/{restart_limit}): {}",
                    budget_used, ended.reason
                ));
                "starting"
            } else {
                status.reason = Some(ended.reason.clone());
                if ended.dead {
                    "dead"
                } else {
                    "none"
                }
            };
        }
        status
    }
}
