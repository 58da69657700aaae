//! Approvals of what an AI run wants to do (run code, or with `ask_all`
//! any edit): the agent shows the pending call on the AI cell's execution
//! in the runtime document, and any editor answers in the notebook
//! document, like an `input()` answer (and in the same map, under keys of
//! their own: a root map added now could not reach notebooks created
//! before it, since only the server writes the root). A viewer cannot
//! answer: the server refuses a viewer's every change.

use crate::access::{get_str, require_obj};
use crate::error::{Result, SchemaError};
use crate::event::DocumentEvent;
use crate::ids::{CellId, ExecutionId};
use crate::notebook::NotebookDoc;
use crate::runtime::RuntimeDoc;
use crate::txn::{commit, commit_as};
use automerge::transaction::Transactable;
use automerge::ROOT;
use serde::{Deserialize, Serialize};

/// A tool call waiting for someone's approval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// Which approval of the run this is (0, 1, ...).
    pub seq: u32,
    pub call_id: String,
    pub tool: String,
    pub arguments: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell_id: Option<CellId>,
    pub asked_at_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// This call only.
    ApproveOnce,
    /// This call and every later one of the same run.
    ApproveRun,
    Deny,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalAnswer {
    pub decision: ApprovalDecision,
    pub answered_by: String,
}

fn key(execution: &ExecutionId, seq: u32) -> String {
    format!("{execution}#approval#{seq}")
}

impl NotebookDoc {
    /// Answer an AI run's pending approval.
    pub fn answer_approval(
        &mut self,
        execution: &ExecutionId,
        seq: u32,
        decision: ApprovalDecision,
        answered_by: &str,
    ) -> Result<()> {
        let answers = require_obj(&self.doc, &ROOT, "input_answers", automerge::ObjType::Map)?;
        let raw = serde_json::to_string(&ApprovalAnswer {
            decision,
            answered_by: answered_by.to_owned(),
        })
        .map_err(|_| SchemaError::Malformed { field: "approval" })?;
        let event = DocumentEvent::ApprovalAnswered {
            execution_id: execution.clone(),
            seq,
        };
        let key = key(execution, seq);
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            tx.put(&answers, key.as_str(), raw)?;
            Ok(())
        })
    }

    pub fn approval_answer(
        &self,
        execution: &ExecutionId,
        seq: u32,
    ) -> Result<Option<ApprovalAnswer>> {
        let answers = require_obj(&self.doc, &ROOT, "input_answers", automerge::ObjType::Map)?;
        Ok(get_str(&self.doc, &answers, &key(execution, seq))?
            .and_then(|raw| serde_json::from_str(&raw).ok()))
    }
}

impl RuntimeDoc {
    /// Show the call an AI run waits on (or, with `None`, that it waits no
    /// more).
    pub fn set_approval_request(
        &mut self,
        execution: &ExecutionId,
        request: Option<&ApprovalRequest>,
    ) -> Result<()> {
        let x = self.execution_obj(execution)?;
        let raw = match request {
            Some(r) => serde_json::to_string(r).map_err(|_| SchemaError::Malformed {
                field: "approval_request",
            })?,
            None => String::new(),
        };
        let event = DocumentEvent::ApprovalRequested {
            execution_id: execution.clone(),
            pending: request.is_some(),
        };
        commit(&mut self.doc, &event, |tx| {
            tx.put(&x, "approval_request", raw)?;
            Ok(())
        })
    }

    pub fn approval_request(&self, execution: &ExecutionId) -> Result<Option<ApprovalRequest>> {
        let x = self.execution_obj(execution)?;
        Ok(get_str(&self.doc, &x, "approval_request")?
            .filter(|raw| !raw.is_empty())
            .and_then(|raw| serde_json::from_str(&raw).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_and_its_answer() {
        let mut rt = RuntimeDoc::create("n").unwrap();
        let mut nb = NotebookDoc::create("n").unwrap();
        let x = rt
            .queue_execution(&CellId::random(), &crate::RunRequest::new("ada", vec![]), 0)
            .unwrap();
        let ask = ApprovalRequest {
            seq: 0,
            call_id: "call_1".into(),
            tool: "execute_cell".into(),
            arguments: serde_json::json!({"cell_id": "c-1"}),
            cell_id: Some(CellId::from("c-1")),
            asked_at_ms: 5,
        };
        rt.set_approval_request(&x, Some(&ask)).unwrap();
        assert_eq!(rt.approval_request(&x).unwrap(), Some(ask));
        assert_eq!(nb.approval_answer(&x, 0).unwrap(), None);
        nb.answer_approval(&x, 0, ApprovalDecision::ApproveRun, "bob")
            .unwrap();
        assert_eq!(
            nb.approval_answer(&x, 0).unwrap().map(|a| a.decision),
            Some(ApprovalDecision::ApproveRun)
        );
        // An input() answer of the same execution is another key.
        assert_eq!(nb.input_answer(&x, 0).unwrap(), None);
        rt.set_approval_request(&x, None).unwrap();
        assert_eq!(rt.approval_request(&x).unwrap(), None);
    }
}
