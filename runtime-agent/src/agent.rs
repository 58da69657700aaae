//! The agent's life: connect, claim the lease, start the kernel, then react
//! to every change of the documents (never polling) until displaced.

use crate::config::Config;
use crate::error::{AgentError, Result};
use crate::secrets::Secrets;
use crate::{controls, executor, kernel_host, lease, masking, scheduler};
use cathode_client::{ClientConfig, ClientError, NotebookClient};
use schema::wire::{ErrorCode, Role};
use schema::{DocKind, ExecutionId, ExecutionState, SessionId, SessionStatus};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Why the agent stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// A newer agent took the lease.
    Displaced,
    /// Asked to stop (signal).
    Stopped,
}

/// Connect, retrying with backoff while the server is unreachable; a refused
/// token or unknown notebook is final.
async fn connect(config: &Config) -> Result<NotebookClient> {
    let client_config = ClientConfig::new(&config.server_url, &config.token, &config.notebook_id);
    let mut delay = Duration::from_millis(100);
    loop {
        match NotebookClient::connect(client_config.clone()).await {
            Ok(client) => return Ok(client),
            Err(ClientError::Refused {
                code: ErrorCode::Unauthorized,
                message,
            }) => return Err(AgentError::BadToken(message)),
            Err(ClientError::Refused {
                code: ErrorCode::NotFound,
                ..
            }) => return Err(AgentError::UnknownNotebook(config.notebook_id.clone())),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "server unreachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

pub async fn run(config: Config, stop: impl std::future::Future<Output = ()>) -> Result<Exit> {
    let client = Arc::new(connect(&config).await?);
    match client.role().await? {
        Some(Role::Runtime) => {}
        other => {
            return Err(AgentError::NotARuntimeToken(
                other.map(|r| r.as_str()).unwrap_or("unknown").to_owned(),
            ))
        }
    }
    let session = SessionId::random();
    let span =
        tracing::info_span!("agent", notebook_id = %config.notebook_id, session_id = %session);
    serve(config, client, session, stop).instrument(span).await
}

/// The execution in progress.
struct Running {
    id: ExecutionId,
    batch: Option<String>,
    task: tokio::task::JoinHandle<Result<ExecutionState>>,
}

enum Wake {
    Changed,
    ClientStopped,
    Renew,
    Finished(std::result::Result<Result<ExecutionState>, tokio::task::JoinError>),
    Stop,
}

async fn serve(
    config: Config,
    client: Arc<NotebookClient>,
    session: SessionId,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Exit> {
    let session_started_ms = schema::clock::now_ms();
    lease::claim(&client, &config, &session).await?;
    tracing::info!(kernel = %config.kernel, "lease claimed; starting the kernel");
    let secrets = match Secrets::fetch(&config).await {
        Ok(s) => s,
        Err(e) => {
            let _ = lease::set_status(&client, &session, SessionStatus::Dead).await;
            return Err(e);
        }
    };
    let ai_settings = crate::ai::settings::AiSettings::fetch(&config).await;
    if let Some(why) = &ai_settings.withheld {
        tracing::info!(%why, "no AI providers for this agent");
    }
    let masker = Arc::new(secrets.masker_with(&ai_settings.keys()));
    masking::log_writer::install(masker.clone());
    tracing::info!(secrets = ?secrets, ai_providers = ?ai_settings, "secrets received");
    let launch = kernel_host::KernelLaunch {
        name: config.kernel.clone(),
        env: secrets.env(),
        workdir: config.workdir.clone(),
        ipython_hist_file: config.ipython_hist_file.clone(),
    };
    let kernel = match kernel_host::start(launch).await {
        Ok(k) => k,
        Err(e) => {
            let _ = lease::set_status(&client, &session, SessionStatus::Dead).await;
            return Err(e);
        }
    };
    lease::set_status(&client, &session, SessionStatus::Idle).await?;
    tracing::info!("ready");
    record_kernelspec(&client, &config.kernel).await;

    let mut revision = client.revision();
    let mut renew = tokio::time::interval(config.renew_every());
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut scheduler = scheduler::Scheduler::new();
    let mut running: Option<Running> = None;
    let mut seen_controls = HashSet::new();
    let blobs = Arc::new(crate::blobs::BlobStore::new(&config));
    let ai = Arc::new(crate::ai::run::AiRuntime {
        settings: ai_settings,
        llm: crate::ai::llm::LlmClient::new().map_err(|e| AgentError::Ai(e.to_string()))?,
        masker: masker.clone(),
        kernel: Arc::new(crate::ai::kernel_access::AgentKernel {
            kernel: kernel.clone(),
            masker: masker.clone(),
        }),
        blobs: blobs.clone(),
        flush_interval: config.flush_interval,
        presence: Default::default(),
    });
    let mut ai_runs = AiRuns::default();
    // Completion and inspection from people's pages, beside the queue.
    let (kernel_busy, busy) = tokio::sync::watch::channel(false);
    let questions = client.kernel_requests().map(|requests| {
        tokio::spawn(crate::kernel_questions::serve(
            client.clone(),
            requests,
            kernel.clone(),
            masker.clone(),
            busy,
        ))
    });
    let mut execution_count = 0i64;
    // What the runtime document says of this session (only we write it).
    let mut status = SessionStatus::Idle;
    let mut scanned_heads = None;
    tokio::pin!(stop);

    let exit = loop {
        if !lease::still_held(&client, &session).await? {
            break Exit::Displaced;
        }
        // Controls and run requests live in the notebook document: rescan
        // them only when it changed, not on every output the agent writes.
        let notebook_heads = client.heads(DocKind::Notebook).await?;
        if scanned_heads.as_ref() != Some(&notebook_heads) {
            let handled_controls = controls::handle(
                &client,
                kernel.as_ref(),
                &session,
                running.as_ref().map(|r| &r.id),
                &mut seen_controls,
                session_started_ms,
            )
            .await?;
            if handled_controls.restarted {
                execution_count = 0;
                status = SessionStatus::Restarting;
            }
            ai_runs.stop(handled_controls.interrupted, &handled_controls.cancelled);
            for (run, by) in handled_controls.undo {
                undo_ai_run(&client, &mut ai_runs, run, by).await?;
            }
        }
        let notebook_changed = scanned_heads.as_ref() != Some(&notebook_heads);
        scanned_heads = Some(notebook_heads);
        let start = running.is_none().then(|| scheduler::StartNext {
            execution_count: execution_count + 1,
            session: session.clone(),
            set_busy: status != SessionStatus::Busy,
        });
        let advanced = scheduler.advance(&client, notebook_changed, start).await?;
        for started in advanced.ai {
            ai_runs.start(&ai, &client, started.record);
        }
        if let Some(started) = advanced.kernel {
            let record = started.record;
            // Queued by an earlier agent, its type unread: an AI cell's
            // run goes beside the queue, not to the kernel.
            if started.cell_type.is_none() && is_ai_cell(&client, &record.cell_id).await? {
                ai_runs.start(&ai, &client, record);
                continue;
            }
            execution_count += 1;
            status = SessionStatus::Busy;
            // Taken before the task starts: the task frees it on the reply.
            kernel_busy.send_replace(true);
            running = Some(Running {
                id: record.execution_id.clone(),
                batch: record.batch.clone(),
                task: tokio::spawn(executor::run(
                    client.clone(),
                    executor::HeldKernel {
                        kernel: kernel.clone(),
                        busy: kernel_busy.clone(),
                    },
                    blobs.clone(),
                    masker.clone(),
                    record,
                    started.source,
                    config.flush_interval,
                )),
            });
        } else if running.is_none() && status != SessionStatus::Idle {
            status = SessionStatus::Idle;
            lease::set_status(&client, &session, status).await?;
        }
        // Read with `borrow` when a question arrives: nobody waits on it.
        // Set when a cell starts; the cell's task clears it when the kernel
        // replies, so only a loop with nothing running clears it here.
        if running.is_none() {
            kernel_busy.send_replace(false);
        }
        let wake = {
            let finished = async {
                match running.as_mut() {
                    Some(r) => Wake::Finished((&mut r.task).await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = revision.changed() => if changed.is_err() { Wake::ClientStopped } else { Wake::Changed },
                _ = renew.tick() => Wake::Renew,
                outcome = finished => outcome,
                _ = &mut stop => Wake::Stop,
            }
        };
        match wake {
            Wake::Changed => {}
            Wake::ClientStopped | Wake::Stop => break Exit::Stopped,
            Wake::Renew => {
                if !lease::renew(&client, &config, &session).await? {
                    break Exit::Displaced;
                }
            }
            Wake::Finished(outcome) => {
                let batch = running.take().and_then(|r| r.batch);
                match outcome {
                    Ok(Ok(ExecutionState::Error)) => {
                        if let Some(batch) = batch {
                            // Run all stops at the first error, as in Jupyter.
                            let cancelled = client
                                .edit_runtime(move |rt| {
                                    rt.cancel_queued_batch(&batch, schema::clock::now_ms())
                                })
                                .await??;
                            if !cancelled.is_empty() {
                                tracing::info!(
                                    cancelled = cancelled.len(),
                                    "run all stopped at an error"
                                );
                            }
                        }
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "execution failed"),
                    Err(e) => tracing::error!(error = %e, "execution task panicked"),
                }
            }
        }
    };
    if exit == Exit::Displaced {
        tracing::warn!("another agent took the lease; stopping the kernel and exiting");
    }
    if let Some(r) = running.take() {
        r.task.abort();
    }
    if let Some(questions) = questions {
        questions.abort();
    }
    ai_runs.abort_all();
    let _ = kernel.shutdown().await;
    if exit == Exit::Stopped {
        let _ = lease::set_status(&client, &session, SessionStatus::Dead).await;
        let s = session.clone();
        let _ = client.edit_runtime(move |rt| rt.release_lease(&s)).await;
        let _ = client.wait_acknowledged(Duration::from_secs(5)).await;
    }
    Ok(exit)
}

/// A notebook that names no kernel gets the one it runs on, as Jupyter
/// writes `kernelspec` into a notebook: the server starts that kernel for
/// it next time, and an export says what it ran on. A kernel the notebook
/// already names (an imported one's, say) is left as it is.
async fn record_kernelspec(client: &NotebookClient, kernel: &str) {
    let named = client
        .notebook(|nb| nb.notebook_metadata().map(|m| m.contains_key("kernelspec")))
        .await;
    if !matches!(named, Ok(Ok(false))) {
        return;
    }
    let name = kernel.to_owned();
    let Ok(Some(described)) =
        tokio::task::spawn_blocking(move || kernel_host::describe(&name)).await
    else {
        return;
    };
    let spec = serde_json::json!({
        "name": described.name,
        "display_name": described.display_name,
        "language": described.language,
    });
    let written = client
        .edit_notebook(move |nb| nb.set_notebook_metadata("kernelspec", Some(&spec)))
        .await;
    let failed = match written {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    tracing::warn!(error = %failed, "could not record the kernel in the notebook's metadata");
}

async fn is_ai_cell(client: &NotebookClient, cell: &schema::CellId) -> Result<bool> {
    let c = cell.clone();
    Ok(client
        .notebook(move |nb| nb.cell(&c).map(|c| c.cell_type == schema::CellType::Ai))
        .await?
        .unwrap_or(false))
}

/// AI cells' runs in progress: each its own task beside the kernel's queue,
/// stopped by the notebook's interrupt or its own cancel.
#[derive(Default)]
struct AiRuns {
    runs: std::collections::HashMap<
        schema::ExecutionId,
        (
            tokio::task::JoinHandle<()>,
            tokio::sync::watch::Sender<bool>,
        ),
    >,
}

impl AiRuns {
    fn start(
        &mut self,
        ai: &Arc<crate::ai::run::AiRuntime>,
        client: &Arc<NotebookClient>,
        record: schema::ExecutionRecord,
    ) {
        self.runs.retain(|_, (task, _)| !task.is_finished());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let id = record.execution_id.clone();
        let span = tracing::info_span!("ai_run", execution_id = %id, cell_id = %record.cell_id);
        let task = tokio::spawn(
            {
                let (ai, client) = (ai.clone(), client.clone());
                async move {
                    if let Err(e) = crate::ai::run::run(ai, client, record, stopped).await {
                        tracing::error!(error = %e, "AI run failed");
                    }
                }
            }
            .instrument(span),
        );
        self.runs.insert(id, (task, stop));
    }

    /// Stop every run (an interrupt) or those cancelled.
    fn stop(&mut self, all: bool, cancelled: &[schema::ExecutionId]) {
        for (id, (_, stop)) in &self.runs {
            if all || cancelled.contains(id) {
                let _ = stop.send(true);
            }
        }
    }

    fn abort_all(&mut self) {
        for (_, (task, _)) in self.runs.drain() {
            task.abort();
        }
    }
}

/// Revert what one AI run changed (a person asked with a control); a run
/// still going is stopped first.
async fn undo_ai_run(
    client: &NotebookClient,
    ai_runs: &mut AiRuns,
    run: schema::ExecutionId,
    by: String,
) -> Result<()> {
    ai_runs.stop(false, std::slice::from_ref(&run));
    let attribution = schema::Attribution {
        by: "undo".into(),
        on_behalf_of: by,
        ai_run: run.to_string(),
    };
    let r = run.clone();
    match client
        .edit_notebook(move |nb| nb.undo_ai_run(&r, &attribution))
        .await?
    {
        Ok(report) => tracing::info!(ai_run = %run, ?report, "AI run undone"),
        Err(e) => tracing::warn!(ai_run = %run, error = %e, "could not undo an AI run"),
    }
    Ok(())
}
