//! Asking the runtime to do something other than run a cell (interrupt,
//! restart, cancel), and the `input()` conversation.
//!
//! Editors cannot write the runtime document, so their side of both lives
//! in the notebook document (`controls`, `input_answers`) and the runtime
//! agent's side in the runtime document (`handled_controls`, an execution's
//! `input_request`). Each record is one JSON scalar: written whole, read
//! whole.

use crate::access::{get_str, require_obj};
use crate::clock::now_ms;
use crate::error::{Result, SchemaError};
use crate::event::DocumentEvent;
use crate::ids::ExecutionId;
use crate::notebook::NotebookDoc;
use crate::runtime::RuntimeDoc;
use crate::txn::{commit, commit_as};
use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ROOT};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ControlKind {
    /// Interrupt the running execution (KeyboardInterrupt).
    Interrupt,
    /// Restart the kernel: its state is lost, the queue carries on.
    Restart,
    /// Cancel one execution: dropped if queued, interrupted if running.
    Cancel { execution_id: ExecutionId },
    /// Revert everything one AI run changed in the notebook.
    UndoAiRun { ai_run: ExecutionId },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    pub control_id: String,
    pub requested_by: String,
    pub requested_at_ms: i64,
    #[serde(flatten)]
    pub kind: ControlKind,
}

/// A running execution waiting for `input()`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRequest {
    /// Which `input()` of the execution this is (0, 1, ...): answers are
    /// keyed by it, so a second `input()` never takes the first answer.
    pub seq: u32,
    pub prompt: String,
    pub password: bool,
    pub asked_at_ms: i64,
    /// For a password: the runtime's one-time public key (P-256, SEC1
    /// uncompressed, base64) to seal the answer with, so the password
    /// never sits readable in the notebook document, its history or a
    /// viewer's copy (see [`SealedAnswer`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealing_key: Option<String>,
}

/// A password answer sealed to the runtime's one-time key: ECDH P-256
/// with the answerer's ephemeral key, HKDF-SHA256 (empty salt, info
/// [`sealed_answer_info`]) to an AES-256-GCM key, the ciphertext with its
/// tag. Everything base64. Only the agent that asked holds the private
/// key, in memory, and uses it once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedAnswer {
    pub ephemeral_key: String,
    pub nonce: String,
    pub ciphertext: String,
}

/// The HKDF info binding a sealed answer to its prompt.
pub fn sealed_answer_info(execution: &ExecutionId, seq: u32) -> String {
    format!("cathode input answer {execution}#{seq}")
}

/// An answer to `input()`: plain, or sealed for a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerValue {
    Plain(String),
    Sealed(SealedAnswer),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct InputAnswer {
    #[serde(default)]
    value: String,
    answered_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<SealedAnswer>,
}

fn json<T: Serialize>(value: &T, field: &'static str) -> Result<String> {
    serde_json::to_string(value).map_err(|_| SchemaError::Malformed { field })
}

impl NotebookDoc {
    pub fn request_control(&mut self, kind: ControlKind, requested_by: &str) -> Result<Control> {
        let controls = require_obj(&self.doc, &ROOT, "controls", ObjType::Map)?;
        let control = Control {
            control_id: format!("k-{}", uuid::Uuid::new_v4().simple()),
            requested_by: requested_by.to_owned(),
            requested_at_ms: now_ms(),
            kind,
        };
        let raw = json(&control, "controls")?;
        let event = DocumentEvent::ControlRequested {
            control_id: control.control_id.clone(),
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            tx.put(&controls, control.control_id.as_str(), raw)?;
            Ok(())
        })?;
        Ok(control)
    }

    /// Every control ever requested, oldest first.
    pub fn controls(&self) -> Result<Vec<Control>> {
        let controls = require_obj(&self.doc, &ROOT, "controls", ObjType::Map)?;
        let mut out = Vec::new();
        for key in self.doc.keys(&controls) {
            if let Some(raw) = get_str(&self.doc, &controls, &key)? {
                if let Ok(control) = serde_json::from_str::<Control>(&raw) {
                    out.push(control);
                }
            }
        }
        out.sort_by(|a, b| {
            a.requested_at_ms
                .cmp(&b.requested_at_ms)
                .then_with(|| a.control_id.cmp(&b.control_id))
        });
        Ok(out)
    }

    /// Answer a running execution's `input()`.
    pub fn answer_input(
        &mut self,
        execution: &ExecutionId,
        seq: u32,
        value: &str,
        answered_by: &str,
    ) -> Result<()> {
        self.put_answer(
            execution,
            seq,
            InputAnswer {
                value: value.to_owned(),
                answered_by: answered_by.to_owned(),
                sealed: None,
            },
        )
    }

    /// Answer a password prompt with a sealed value.
    pub fn answer_input_sealed(
        &mut self,
        execution: &ExecutionId,
        seq: u32,
        sealed: SealedAnswer,
        answered_by: &str,
    ) -> Result<()> {
        self.put_answer(
            execution,
            seq,
            InputAnswer {
                value: String::new(),
                answered_by: answered_by.to_owned(),
                sealed: Some(sealed),
            },
        )
    }

    fn put_answer(&mut self, execution: &ExecutionId, seq: u32, answer: InputAnswer) -> Result<()> {
        let key = format!("{execution}#{seq}");
        let answers = require_obj(&self.doc, &ROOT, "input_answers", ObjType::Map)?;
        let raw = json(&answer, "input_answers")?;
        let event = DocumentEvent::InputAnswered {
            execution_id: execution.clone(),
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            tx.put(&answers, key.as_str(), raw)?;
            Ok(())
        })
    }

    /// The answer given to an execution's `input()`, if any.
    pub fn input_answer(&self, execution: &ExecutionId, seq: u32) -> Result<Option<AnswerValue>> {
        let answers = require_obj(&self.doc, &ROOT, "input_answers", ObjType::Map)?;
        Ok(get_str(&self.doc, &answers, &format!("{execution}#{seq}"))?
            .and_then(|raw| serde_json::from_str::<InputAnswer>(&raw).ok())
            .map(|a| match a.sealed {
                Some(sealed) => AnswerValue::Sealed(sealed),
                None => AnswerValue::Plain(a.value),
            }))
    }
}

impl RuntimeDoc {
    pub fn mark_control_handled(&mut self, control_id: &str) -> Result<()> {
        let handled = require_obj(&self.doc, &ROOT, "handled_controls", ObjType::Map)?;
        let event = DocumentEvent::ControlHandled {
            control_id: control_id.to_owned(),
        };
        commit(&mut self.doc, &event, |tx| {
            tx.put(&handled, control_id, now_ms())?;
            Ok(())
        })
    }

    pub fn control_handled(&self, control_id: &str) -> Result<bool> {
        let handled = require_obj(&self.doc, &ROOT, "handled_controls", ObjType::Map)?;
        Ok(self.doc.get(&handled, control_id)?.is_some())
    }

    /// Show that an execution waits for input (or, with `None`, no longer does).
    pub fn set_input_request(
        &mut self,
        execution: &ExecutionId,
        request: Option<&InputRequest>,
    ) -> Result<()> {
        let x = self.execution_obj(execution)?;
        let raw = match request {
            Some(r) => json(r, "input_request")?,
            None => String::new(),
        };
        let event = match request {
            Some(_) => DocumentEvent::InputRequested {
                execution_id: execution.clone(),
            },
            None => DocumentEvent::InputClosed {
                execution_id: execution.clone(),
            },
        };
        commit(&mut self.doc, &event, |tx| {
            tx.put(&x, "input_request", raw)?;
            Ok(())
        })
    }

    pub fn input_request(&self, execution: &ExecutionId) -> Result<Option<InputRequest>> {
        let x = self.execution_obj(execution)?;
        Ok(get_str(&self.doc, &x, "input_request")?
            .filter(|raw| !raw.is_empty())
            .and_then(|raw| serde_json::from_str(&raw).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CellId;

    #[test]
    fn controls_round_trip_and_are_handled_once() {
        let mut nb = NotebookDoc::create("n").unwrap();
        let x = ExecutionId::random();
        let c = nb
            .request_control(
                ControlKind::Cancel {
                    execution_id: x.clone(),
                },
                "ada",
            )
            .unwrap();
        nb.request_control(ControlKind::Interrupt, "bob").unwrap();
        let controls = nb.controls().unwrap();
        assert_eq!(controls.len(), 2);
        assert!(controls.contains(&c));
        assert!(controls
            .iter()
            .any(|k| k.kind == ControlKind::Interrupt && k.requested_by == "bob"));
        let mut rt = RuntimeDoc::create("n").unwrap();
        assert!(!rt.control_handled(&c.control_id).unwrap());
        rt.mark_control_handled(&c.control_id).unwrap();
        assert!(rt.control_handled(&c.control_id).unwrap());
    }

    #[test]
    fn input_requests_and_answers() {
        let mut rt = RuntimeDoc::create("n").unwrap();
        let x = rt
            .queue_execution(&CellId::random(), &crate::RunRequest::new("ada", vec![]), 0)
            .unwrap();
        let ask = InputRequest {
            seq: 0,
            prompt: "name? ".into(),
            password: false,
            asked_at_ms: 1,
            sealing_key: None,
        };
        rt.set_input_request(&x, Some(&ask)).unwrap();
        assert_eq!(rt.input_request(&x).unwrap(), Some(ask));
        let mut nb = NotebookDoc::create("n").unwrap();
        assert_eq!(nb.input_answer(&x, 0).unwrap(), None);
        nb.answer_input(&x, 0, "Ada", "bob").unwrap();
        assert_eq!(
            nb.input_answer(&x, 0).unwrap(),
            Some(AnswerValue::Plain("Ada".into()))
        );
        assert_eq!(nb.input_answer(&x, 1).unwrap(), None);
        let sealed = SealedAnswer {
            ephemeral_key: "k".into(),
            nonce: "n".into(),
            ciphertext: "c".into(),
        };
        nb.answer_input_sealed(&x, 1, sealed.clone(), "bob")
            .unwrap();
        assert_eq!(
            nb.input_answer(&x, 1).unwrap(),
            Some(AnswerValue::Sealed(sealed))
        );
        rt.set_input_request(&x, None).unwrap();
        assert_eq!(rt.input_request(&x).unwrap(), None);
    }
}
