//! Approvals inside an AI run. The notebook says what needs one
//! (`metadata.cathode.ai_approval`: `auto`, `ask_execute` (the default:
//! edits apply, running code waits) or `ask_all`; reading tools never
//! ask), and how long a question waits (`ai_approval_timeout_seconds`,
//! 600 by default). The pending call is shown on the AI cell's execution;
//! any editor answers approve once, approve for the rest of this run, or
//! deny; a denial or no answer in time goes back to the model as the
//! tool's result.

use super::transcript::Transcript;
use crate::error::Result;
use cathode_client::NotebookClient;
use schema::{ApprovalDecision, ApprovalRequest, ExecutionId, NotebookDoc};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Auto,
    AskExecute,
    AskAll,
}

pub struct Approvals {
    mode: Mode,
    timeout: Duration,
    /// Someone approved everything for the rest of this run.
    approved_run: bool,
    next_seq: u32,
}

/// How a question ended.
pub enum Answer {
    Approved,
    /// Denied, by whom; or no answer in time (`None`).
    Refused(String),
    Interrupted,
}

impl Approvals {
    /// The notebook's settings (as they stood when the AI cell was run).
    pub fn of(notebook: &NotebookDoc) -> Self {
        let settings = notebook
            .notebook_metadata()
            .ok()
            .and_then(|m| m.get("cathode").cloned())
            .unwrap_or(Value::Null);
        let mode = match settings["ai_approval"].as_str() {
            Some("auto") => Mode::Auto,
            Some("ask_all") => Mode::AskAll,
            _ => Mode::AskExecute,
        };
        let timeout = settings["ai_approval_timeout_seconds"]
            .as_u64()
            .filter(|s| *s > 0)
            .map_or(Duration::from_secs(600), Duration::from_secs);
        Self {
            mode,
            timeout,
            approved_run: false,
            next_seq: 0,
        }
    }

    pub fn needed(&self, tool: &str) -> bool {
        if self.approved_run || cathode_tools::is_read_only(tool) {
            return false;
        }
        match self.mode {
            Mode::Auto => false,
            Mode::AskExecute => cathode_tools::runs_code(tool),
            Mode::AskAll => true,
        }
    }

    /// Ask, and wait for an editor's answer.
    #[allow(clippy::too_many_arguments)]
    pub async fn ask(
        &mut self,
        client: &NotebookClient,
        execution: &ExecutionId,
        transcript: &mut Transcript,
        call_id: &str,
        tool: &str,
        arguments: &Value,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<Answer> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let cell_id = arguments["cell_id"].as_str().map(schema::CellId::from);
        let request = ApprovalRequest {
            seq,
            call_id: call_id.to_owned(),
            tool: tool.to_owned(),
            arguments: arguments.clone(),
            cell_id,
            asked_at_ms: schema::clock::now_ms(),
        };
        let x = execution.clone();
        client
            .edit_runtime(move |rt| rt.set_approval_request(&x, Some(&request)))
            .await??;
        transcript.tool_call(call_id, tool, arguments, "awaiting_approval", None);
        transcript.flush(client, execution).await?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut revision = client.revision();
        let answer = loop {
            revision.borrow_and_update();
            let x = execution.clone();
            let found = client
                .notebook(move |nb| nb.approval_answer(&x, seq))
                .await??;
            if let Some(found) = found {
                break match found.decision {
                    ApprovalDecision::ApproveOnce => Answer::Approved,
                    ApprovalDecision::ApproveRun => {
                        self.approved_run = true;
                        Answer::Approved
                    }
                    ApprovalDecision::Deny => {
                        Answer::Refused(format!("{} denied this call", found.answered_by))
                    }
                };
            }
            tokio::select! {
                changed = tokio::time::timeout_at(deadline, revision.changed()) => match changed {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break Answer::Interrupted,
                    Err(_) => break Answer::Refused(format!(
                        "nobody approved this call within {} s", self.timeout.as_secs()
                    )),
                },
                _ = cancel.changed() => break Answer::Interrupted,
            }
        };
        let x = execution.clone();
        client
            .edit_runtime(move |rt| rt.set_approval_request(&x, None))
            .await??;
        Ok(answer)
    }
}
