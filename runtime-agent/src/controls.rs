//! Acting on controls people requested: interrupt, restart, cancel.

use crate::error::Result;
use cathode_client::NotebookClient;
use kernels::Kernel;
use schema::{Control, ControlKind, ExecutionId, ExecutionState, SessionId, SessionStatus};
use std::collections::HashSet;

/// What the main loop must do after the controls were handled.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub restarted: bool,
    /// An interrupt arrived: it also stops every AI run.
    pub interrupted: bool,
    /// Executions whose cancel arrived (an AI run among them stops).
    pub cancelled: Vec<ExecutionId>,
    /// AI runs to undo, and who asked.
    pub undo: Vec<(ExecutionId, String)>,
}

/// Handle every control not handled yet. Interrupts and restarts requested
/// before this agent took over were meant for a kernel that is gone: they
/// are marked handled without acting; cancels still apply.
pub async fn handle(
    client: &NotebookClient,
    kernel: &dyn Kernel,
    session: &SessionId,
    running: Option<&ExecutionId>,
    seen: &mut HashSet<String>,
    session_started_ms: i64,
) -> Result<Outcome> {
    let controls: Vec<Control> = client.notebook(|nb| nb.controls()).await??;
    let fresh: Vec<Control> = controls
        .into_iter()
        .filter(|c| !seen.contains(&c.control_id))
        .collect();
    if fresh.is_empty() {
        return Ok(Outcome::default());
    }
    let ids: Vec<String> = fresh.iter().map(|c| c.control_id.clone()).collect();
    let handled: Vec<bool> = client
        .runtime(move |rt| {
            ids.iter()
                .map(|id| rt.control_handled(id))
                .collect::<schema::Result<Vec<_>>>()
        })
        .await??;
    let mut outcome = Outcome::default();
    for (control, done) in fresh.into_iter().zip(handled) {
        seen.insert(control.control_id.clone());
        if done {
            continue;
        }
        let stale = control.requested_at_ms < session_started_ms;
        tracing::info!(control_id = %control.control_id, kind = ?control.kind, by = %control.requested_by, stale, "control");
        match &control.kind {
            ControlKind::Interrupt if !stale => {
                outcome.interrupted = true;
                if running.is_some() {
                    kernel.interrupt().await?;
                }
            }
            ControlKind::Restart if !stale => {
                let s = session.clone();
                client
                    .edit_runtime(move |rt| rt.set_session_status(&s, SessionStatus::Restarting))
                    .await??;
                kernel.restart().await?;
                outcome.restarted = true;
            }
            ControlKind::Cancel { execution_id } => {
                outcome.cancelled.push(execution_id.clone());
                if running == Some(execution_id) {
                    kernel.interrupt().await?;
                } else {
                    let x = execution_id.clone();
                    client
                        .edit_runtime(move |rt| match rt.execution(&x) {
                            Ok(record) if record.state == ExecutionState::Queued => rt
                                .finish_execution(
                                    &x,
                                    ExecutionState::Cancelled,
                                    schema::clock::now_ms(),
                                ),
                            _ => Ok(()),
                        })
                        .await??;
                }
            }
            ControlKind::UndoAiRun { ai_run } => {
                outcome
                    .undo
                    .push((ai_run.clone(), control.requested_by.clone()));
            }
            ControlKind::Interrupt | ControlKind::Restart => {}
        }
        let id = control.control_id.clone();
        client
            .edit_runtime(move |rt| rt.mark_control_handled(&id))
            .await??;
    }
    Ok(outcome)
}
