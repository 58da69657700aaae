//! The runtime document: written only by the runtime agent holding the
//! notebook's lease (the server enforces who may write it).
//!
//! Layout (private): root `{schema_version, kind: "runtime", notebook_id,
//! lease: json string, sessions: {session_id: {agent, kernel, status,
//! started_at}}, executions: {execution_id: {cell_id, request_id,
//! requested_by, state, execution_count, queued_at, started_at, ended_at,
//! outputs: [json string]}}}`. The lease is a single JSON scalar so that two
//! agents claiming at once resolve to one whole claim.

use crate::access::{check_root, get_i64, get_obj, get_str, require_obj};
use crate::error::{Result, SchemaError};
use crate::event::DocumentEvent;
use crate::ids::{CellId, ExecutionId, RequestId, SessionId};
use crate::notebook::{PriorRequest, RunRequest};
use crate::output::OutputManifest;
use crate::txn::commit;
use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ReadDoc, ScalarValueRef, ValueRef, ROOT};
use serde::{Deserialize, Serialize};

pub(crate) const KIND: &str = "runtime";

/// The agent's state as the UI shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Starting,
    Idle,
    Busy,
    Restarting,
    Dead,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Idle => "idle",
            Self::Busy => "busy",
            Self::Restarting => "restarting",
            Self::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "starting" => Self::Starting,
            "idle" => Self::Idle,
            "busy" => Self::Busy,
            "restarting" => Self::Restarting,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

/// Where an execution is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionState {
    Queued,
    Running,
    Done,
    Error,
    Cancelled,
    /// It was running when its agent died; it is never run again.
    Lost,
}

impl ExecutionState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Error => "error",
            Self::Cancelled => "cancelled",
            Self::Lost => "lost",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "done" => Self::Done,
            "error" => Self::Error,
            "cancelled" => Self::Cancelled,
            "lost" => Self::Lost,
            _ => return None,
        })
    }

    pub fn is_finished(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

/// The current holder of the notebook's lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub session_id: SessionId,
    pub agent: String,
    pub kernel: String,
    pub claimed_at_ms: i64,
    pub renewed_at_ms: i64,
    pub expires_at_ms: i64,
}

/// What a claim did: the previous holder, if any, was displaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseClaim {
    pub lease: Lease,
    pub displaced: Option<Lease>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub session_id: SessionId,
    pub agent: String,
    pub kernel: String,
    pub status: SessionStatus,
    pub started_at_ms: i64,
}

/// One execution of one cell.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionRecord {
    pub execution_id: ExecutionId,
    pub cell_id: CellId,
    pub request_id: RequestId,
    pub requested_by: String,
    pub state: ExecutionState,
    pub execution_count: Option<i64>,
    /// Position in the agent's queue: executions run in this order.
    pub queue_seq: i64,
    /// The notebook heads the run request was made at: the source to run.
    pub source_heads: Vec<automerge::ChangeHash>,
    pub queued_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    /// The "run all" this execution belongs to, if any.
    pub batch: Option<String>,
    /// Whether `input()` will be answered (see `RunRequest::allow_stdin`).
    pub allow_stdin: bool,
    pub outputs: Vec<OutputManifest>,
}

/// An execution's `stdin` when nobody will answer `input()`.
const NO_STDIN: &str = "none";

/// The runtime document with typed access.
#[derive(Debug, Clone)]
pub struct RuntimeDoc {
    pub(crate) doc: Automerge,
}

impl RuntimeDoc {
    /// The initial runtime document; like the notebook document, created once
    /// by the server so that replicas never race to create the root objects.
    pub fn create(notebook_id: &str) -> Result<Self> {
        let mut doc = Automerge::new();
        let event = DocumentEvent::RuntimeDocCreated {
            notebook_id: notebook_id.to_owned(),
        };
        commit(&mut doc, &event, |tx| {
            tx.put(ROOT, "schema_version", crate::SCHEMA_VERSION as i64)?;
            tx.put(ROOT, "kind", KIND)?;
            tx.put(ROOT, "notebook_id", notebook_id)?;
            tx.put_object(ROOT, "sessions", ObjType::Map)?;
            tx.put_object(ROOT, "executions", ObjType::Map)?;
            tx.put_object(ROOT, "handled_controls", ObjType::Map)?;
            Ok(())
        })?;
        Ok(Self { doc })
    }

    pub fn from_automerge(doc: Automerge) -> Result<Self> {
        check_root(&doc, KIND)?;
        Ok(Self { doc })
    }

    /// An empty replica that a peer fills by syncing with the server.
    /// Until then every read fails with `NotInitialised`; `check_schema`
    /// says when it is ready (and refuses a newer schema).
    pub fn replica() -> Self {
        Self {
            doc: Automerge::new(),
        }
    }

    pub fn check_schema(&self) -> Result<()> {
        check_root(&self.doc, KIND)
    }

    pub fn load(bytes: &[u8]) -> Result<Self> {
        Self::from_automerge(Automerge::load(bytes)?)
    }

    /// The underlying document, for syncing and saving only.
    pub fn automerge(&self) -> &Automerge {
        &self.doc
    }

    /// The underlying document, for applying sync messages only.
    pub fn automerge_mut(&mut self) -> &mut Automerge {
        &mut self.doc
    }

    pub fn into_automerge(self) -> Automerge {
        self.doc
    }

    // ---- lease -------------------------------------------------------------

    pub fn lease(&self) -> Result<Option<Lease>> {
        lease_in(&self.doc)
    }

    /// Take the lease. A newer agent always displaces an older one (the
    /// older one sees it has lost the lease and stops); the displaced lease is
    /// returned so the new holder can settle what the old one left running.
    pub fn claim_lease(
        &mut self,
        session_id: &SessionId,
        agent: &str,
        kernel: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<LeaseClaim> {
        let displaced = self.lease()?.filter(|l| &l.session_id != session_id);
        let lease = Lease {
            session_id: session_id.clone(),
            agent: agent.to_owned(),
            kernel: kernel.to_owned(),
            claimed_at_ms: now_ms,
            renewed_at_ms: now_ms,
            expires_at_ms: now_ms + ttl_ms,
        };
        self.write_lease(
            &lease,
            DocumentEvent::RuntimeClaimed {
                session_id: session_id.clone(),
            },
        )?;
        let sessions = require_obj(&self.doc, &ROOT, "sessions", ObjType::Map)?;
        let event = DocumentEvent::SessionStatusChanged {
            session_id: session_id.clone(),
            status: SessionStatus::Starting,
        };
        commit(&mut self.doc, &event, |tx| {
            let s = tx.put_object(&sessions, session_id.as_str(), ObjType::Map)?;
            tx.put(&s, "agent", agent)?;
            tx.put(&s, "kernel", kernel)?;
            tx.put(&s, "status", SessionStatus::Starting.as_str())?;
            tx.put(&s, "started_at", now_ms)?;
            Ok(())
        })?;
        Ok(LeaseClaim { lease, displaced })
    }

    /// Extend the lease; fails if another session has taken it, which is how
    /// a displaced agent learns it must stop.
    pub fn renew_lease(
        &mut self,
        session_id: &SessionId,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Lease> {
        let mut lease = match self.lease()? {
            Some(l) if &l.session_id == session_id => l,
            _ => return Err(SchemaError::NotLeaseHolder(session_id.to_string())),
        };
        lease.renewed_at_ms = now_ms;
        lease.expires_at_ms = now_ms + ttl_ms;
        self.write_lease(
            &lease,
            DocumentEvent::LeaseRenewed {
                session_id: session_id.clone(),
            },
        )?;
        Ok(lease)
    }

    pub fn release_lease(&mut self, session_id: &SessionId) -> Result<()> {
        match self.lease()? {
            Some(l) if &l.session_id == session_id => {}
            _ => return Err(SchemaError::NotLeaseHolder(session_id.to_string())),
        }
        let event = DocumentEvent::LeaseReleased {
            session_id: session_id.clone(),
        };
        commit(&mut self.doc, &event, |tx| {
            tx.put(ROOT, "lease", "")?;
            Ok(())
        })
    }

    fn write_lease(&mut self, lease: &Lease, event: DocumentEvent) -> Result<()> {
        let raw =
            serde_json::to_string(lease).map_err(|_| SchemaError::Malformed { field: "lease" })?;
        commit(&mut self.doc, &event, |tx| {
            tx.put(ROOT, "lease", raw)?;
            Ok(())
        })
    }

    // ---- sessions ----------------------------------------------------------

    pub fn set_session_status(
        &mut self,
        session_id: &SessionId,
        status: SessionStatus,
    ) -> Result<()> {
        let sessions = require_obj(&self.doc, &ROOT, "sessions", ObjType::Map)?;
        let s = get_obj(&self.doc, &sessions, session_id.as_str(), ObjType::Map)?
            .ok_or(SchemaError::NotInitialised("session"))?;
        let event = DocumentEvent::SessionStatusChanged {
            session_id: session_id.clone(),
            status,
        };
        commit(&mut self.doc, &event, |tx| {
            tx.put(&s, "status", status.as_str())?;
            Ok(())
        })
    }

    pub fn session(&self, session_id: &SessionId) -> Result<Option<SessionRecord>> {
        session_in(&self.doc, session_id)
    }

    // ---- executions --------------------------------------------------------

    fn executions_obj(&self) -> Result<ObjId> {
        require_obj(&self.doc, &ROOT, "executions", ObjType::Map)
    }

    pub(crate) fn execution_obj(&self, id: &ExecutionId) -> Result<ObjId> {
        get_obj(
            &self.doc,
            &self.executions_obj()?,
            id.as_str(),
            ObjType::Map,
        )?
        .ok_or_else(|| SchemaError::NoSuchExecution(id.to_string()))
    }

    /// Queue a run of `cell_id` for `request`, after everything queued.
    pub fn queue_execution(
        &mut self,
        cell_id: &CellId,
        request: &RunRequest,
        now_ms: i64,
    ) -> Result<ExecutionId> {
        let executions = self.executions_obj()?;
        // The counter makes queueing O(1); documents written before it
        // existed fall back to one scan.
        let queue_seq = match get_i64(&self.doc, &ROOT, "last_queue_seq")? {
            Some(last) => last + 1,
            None => {
                self.queue_positions()?
                    .iter()
                    .map(|(_, _, seq)| *seq)
                    .max()
                    .unwrap_or(0)
                    + 1
            }
        };
        let id = ExecutionId::random();
        let event = DocumentEvent::ExecutionQueued {
            execution_id: id.clone(),
            cell_id: cell_id.clone(),
        };
        commit(&mut self.doc, &event, |tx| {
            let x = tx.put_object(&executions, id.as_str(), ObjType::Map)?;
            tx.put(&x, "cell_id", cell_id.as_str())?;
            tx.put(&x, "request_id", request.request_id.as_str())?;
            tx.put(&x, "requested_by", request.requested_by.as_str())?;
            tx.put(
                &x,
                "source_heads",
                crate::access::heads_to_strings(&request.heads),
            )?;
            tx.put(&x, "state", ExecutionState::Queued.as_str())?;
            tx.put(&x, "queued_at", now_ms)?;
            tx.put(&x, "queue_seq", queue_seq)?;
            tx.put(ROOT, "last_queue_seq", queue_seq)?;
            if let Some(batch) = &request.batch {
                tx.put(&x, "batch", batch.as_str())?;
            }
            if !request.allow_stdin {
                tx.put(&x, "stdin", NO_STDIN)?;
            }
            tx.put_object(&x, "outputs", ObjType::List)?;
            Ok(())
        })?;
        Ok(id)
    }

    /// Mark an execution running; `execution_count` is the kernel's count
    /// for it (an AI cell's run has none).
    pub fn start_execution(
        &mut self,
        id: &ExecutionId,
        execution_count: impl Into<Option<i64>>,
        now_ms: i64,
    ) -> Result<()> {
        let execution_count = execution_count.into();
        let x = self.execution_obj(id)?;
        let event = DocumentEvent::ExecutionStarted {
            execution_id: id.clone(),
        };
        commit(&mut self.doc, &event, |tx| {
            tx.put(&x, "state", ExecutionState::Running.as_str())?;
            if let Some(count) = execution_count {
                tx.put(&x, "execution_count", count)?;
            }
            tx.put(&x, "started_at", now_ms)?;
            Ok(())
        })
    }

    pub fn finish_execution(
        &mut self,
        id: &ExecutionId,
        state: ExecutionState,
        now_ms: i64,
    ) -> Result<()> {
        let x = self.execution_obj(id)?;
        let event = DocumentEvent::ExecutionFinished {
            execution_id: id.clone(),
            state,
        };
        commit(&mut self.doc, &event, |tx| {
            tx.put(&x, "state", state.as_str())?;
            tx.put(&x, "ended_at", now_ms)?;
            Ok(())
        })
    }

    fn outputs_obj(&self, id: &ExecutionId) -> Result<ObjId> {
        require_obj(
            &self.doc,
            &self.execution_obj(id)?,
            "outputs",
            ObjType::List,
        )
    }

    pub fn append_output(&mut self, id: &ExecutionId, output: &OutputManifest) -> Result<()> {
        let outputs = self.outputs_obj(id)?;
        let len = self.doc.length(&outputs);
        let event = DocumentEvent::OutputAppended {
            execution_id: id.clone(),
        };
        commit(&mut self.doc, &event, |tx| {
            tx.insert(&outputs, len, output.to_json())?;
            Ok(())
        })
    }

    /// Replace one output in place: a growing stream, or an
    /// `update_display_data` for a display id.
    pub fn replace_output(
        &mut self,
        id: &ExecutionId,
        index: usize,
        output: &OutputManifest,
    ) -> Result<()> {
        let outputs = self.outputs_obj(id)?;
        if index >= self.doc.length(&outputs) {
            return Err(SchemaError::Malformed { field: "outputs" });
        }
        let event = DocumentEvent::OutputReplaced {
            execution_id: id.clone(),
        };
        commit(&mut self.doc, &event, |tx| {
            tx.put(&outputs, index, output.to_json())?;
            Ok(())
        })
    }

    /// Replace every output showing `display_id` in the executions the
    /// cells show (`shown_executions`), as Jupyter updates a display
    /// wherever it appears: `update_display_data` from a later cell changes
    /// the display an earlier one made. One change, or none when no such
    /// output is shown; returns how many were replaced.
    /// `except`: an execution whose outputs its writer keeps itself (the
    /// one running, whose buffer already applied the update).
    pub fn update_display(
        &mut self,
        display_id: &str,
        output: &OutputManifest,
        except: Option<&ExecutionId>,
    ) -> Result<usize> {
        let mut targets = Vec::new();
        for record in self.shown_executions()?.into_values() {
            if Some(&record.execution_id) == except {
                continue;
            }
            for (index, shown) in record.outputs.iter().enumerate() {
                if matches!(shown, OutputManifest::DisplayData { display_id: Some(d), .. } if d == display_id)
                {
                    targets.push((self.outputs_obj(&record.execution_id)?, index));
                }
            }
        }
        if targets.is_empty() {
            return Ok(0);
        }
        let event = DocumentEvent::DisplayUpdated {
            display_id: display_id.to_owned(),
            outputs: targets.len(),
        };
        let raw = output.to_json();
        commit(&mut self.doc, &event, |tx| {
            for (outputs, index) in &targets {
                tx.put(outputs, *index, raw.as_str())?;
            }
            Ok(())
        })?;
        Ok(targets.len())
    }

    pub fn clear_outputs(&mut self, id: &ExecutionId) -> Result<()> {
        let outputs = self.outputs_obj(id)?;
        let len = self.doc.length(&outputs);
        let event = DocumentEvent::OutputsCleared {
            execution_id: id.clone(),
        };
        commit(&mut self.doc, &event, |tx| {
            for i in (0..len).rev() {
                tx.delete(&outputs, i)?;
            }
            Ok(())
        })
    }

    pub fn execution(&self, id: &ExecutionId) -> Result<ExecutionRecord> {
        let x = self.execution_obj(id)?;
        let outputs = match get_obj(&self.doc, &x, "outputs", ObjType::List)? {
            Some(list) => self
                .doc
                .list_range(&list, ..)
                .filter_map(|item| match item.value {
                    ValueRef::Scalar(ScalarValueRef::Str(raw)) => OutputManifest::from_json(&raw),
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        Ok(ExecutionRecord {
            execution_id: id.clone(),
            cell_id: CellId(get_str(&self.doc, &x, "cell_id")?.unwrap_or_default()),
            request_id: RequestId(get_str(&self.doc, &x, "request_id")?.unwrap_or_default()),
            requested_by: get_str(&self.doc, &x, "requested_by")?.unwrap_or_default(),
            source_heads: crate::access::heads_from_string(
                &get_str(&self.doc, &x, "source_heads")?.unwrap_or_default(),
            )?,
            state: get_str(&self.doc, &x, "state")?
                .and_then(|s| ExecutionState::parse(&s))
                .ok_or(SchemaError::Malformed { field: "state" })?,
            execution_count: get_i64(&self.doc, &x, "execution_count")?,
            queue_seq: get_i64(&self.doc, &x, "queue_seq")?.unwrap_or_default(),
            queued_at_ms: get_i64(&self.doc, &x, "queued_at")?.unwrap_or_default(),
            started_at_ms: get_i64(&self.doc, &x, "started_at")?,
            ended_at_ms: get_i64(&self.doc, &x, "ended_at")?,
            batch: get_str(&self.doc, &x, "batch")?,
            allow_stdin: get_str(&self.doc, &x, "stdin")?.as_deref() != Some(NO_STDIN),
            outputs,
        })
    }

    /// Cancel the executions of a "run all" batch still in the queue: one of
    /// its cells failed, and the later ones depend on it.
    pub fn cancel_queued_batch(&mut self, batch: &str, now_ms: i64) -> Result<Vec<ExecutionId>> {
        let mut cancelled = Vec::new();
        for (id, state, _) in self.queue_positions()? {
            if state != Some(ExecutionState::Queued) {
                continue;
            }
            let x = self.execution_obj(&id)?;
            if get_str(&self.doc, &x, "batch")?.as_deref() == Some(batch) {
                self.finish_execution(&id, ExecutionState::Cancelled, now_ms)?;
                cancelled.push(id);
            }
        }
        Ok(cancelled)
    }

    /// Every execution's id, state and queue position, reading nothing else
    /// (outputs can be large): what the runtime consults on each wake.
    fn queue_positions(&self) -> Result<Vec<(ExecutionId, Option<ExecutionState>, i64)>> {
        let executions = self.executions_obj()?;
        let mut positions = Vec::new();
        for key in self.doc.keys(&executions) {
            if let Some(x) = get_obj(&self.doc, &executions, &key, ObjType::Map)? {
                let state =
                    get_str(&self.doc, &x, "state")?.and_then(|s| ExecutionState::parse(&s));
                let seq = get_i64(&self.doc, &x, "queue_seq")?.unwrap_or_default();
                positions.push((ExecutionId(key), state, seq));
            }
        }
        Ok(positions)
    }

    /// Which request each execution ran, with the heads it ran at, in queue
    /// order; reads no outputs, so it stays cheap as executions pile up.
    pub fn requests_in_queue_order(&self) -> Result<Vec<(CellId, PriorRequest)>> {
        let executions = self.executions_obj()?;
        let mut rows = Vec::new();
        for key in self.doc.keys(&executions) {
            if let Some(x) = get_obj(&self.doc, &executions, &key, ObjType::Map)? {
                let seq = get_i64(&self.doc, &x, "queue_seq")?.unwrap_or_default();
                let heads = crate::access::heads_from_string(
                    &get_str(&self.doc, &x, "source_heads")?.unwrap_or_default(),
                )?;
                let request = PriorRequest {
                    request_id: RequestId(
                        get_str(&self.doc, &x, "request_id")?.unwrap_or_default(),
                    ),
                    heads,
                    batch: get_str(&self.doc, &x, "batch")?,
                };
                let cell = CellId(get_str(&self.doc, &x, "cell_id")?.unwrap_or_default());
                rows.push((seq, key, cell, request));
            }
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        Ok(rows
            .into_iter()
            .map(|(_, _, cell, request)| (cell, request))
            .collect())
    }

    /// The queued executions' ids in the order they run. Reads every
    /// execution: an agent calls it once and then keeps its own queue.
    pub fn queued_in_order(&self) -> Result<Vec<ExecutionId>> {
        let mut queued: Vec<(ExecutionId, i64)> = self
            .queue_positions()?
            .into_iter()
            .filter(|(_, state, _)| *state == Some(ExecutionState::Queued))
            .map(|(id, _, seq)| (id, seq))
            .collect();
        queued.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(queued.into_iter().map(|(id, _)| id).collect())
    }

    /// All executions, in queue order.
    pub fn executions(&self) -> Result<Vec<ExecutionRecord>> {
        let executions = self.executions_obj()?;
        let mut records = self
            .doc
            .keys(&executions)
            .map(|k| self.execution(&ExecutionId(k)))
            .collect::<Result<Vec<_>>>()?;
        records.sort_by(|a, b| {
            a.queue_seq
                .cmp(&b.queue_seq)
                .then_with(|| a.queued_at_ms.cmp(&b.queued_at_ms))
                .then_with(|| a.execution_id.cmp(&b.execution_id))
        });
        Ok(records)
    }

    /// The latest execution of run request `request`, if the runtime has
    /// queued it. Reads only each execution's request id until it finds
    /// it: a waiter checks on every change, and reading every record
    /// (outputs and all) each time grows with the notebook's history.
    pub fn execution_for_request(&self, request: &RequestId) -> Result<Option<ExecutionRecord>> {
        let executions = self.executions_obj()?;
        let mut latest: Option<(i64, String)> = None;
        for key in self.doc.keys(&executions) {
            let Some(x) = get_obj(&self.doc, &executions, &key, ObjType::Map)? else {
                continue;
            };
            if get_str(&self.doc, &x, "request_id")?.as_deref() != Some(request.as_str()) {
                continue;
            }
            let seq = get_i64(&self.doc, &x, "queue_seq")?.unwrap_or_default();
            if latest.as_ref().is_none_or(|(s, _)| seq > *s) {
                latest = Some((seq, key));
            }
        }
        latest
            .map(|(_, key)| self.execution(&ExecutionId(key)))
            .transpose()
    }

    /// The execution cell `cell` shows, by the rule of
    /// [`RuntimeDoc::shown_executions`], reading one full record.
    pub fn shown_execution(&self, cell: &CellId) -> Result<Option<ExecutionRecord>> {
        let executions = self.executions_obj()?;
        let mut latest: Option<(i64, i64, String)> = None;
        for key in self.doc.keys(&executions) {
            let Some(x) = get_obj(&self.doc, &executions, &key, ObjType::Map)? else {
                continue;
            };
            if get_str(&self.doc, &x, "cell_id")?.as_deref() != Some(cell.as_str())
                || get_i64(&self.doc, &x, "started_at")?.is_none()
            {
                continue;
            }
            let seq = get_i64(&self.doc, &x, "queue_seq")?.unwrap_or_default();
            let queued = get_i64(&self.doc, &x, "queued_at")?.unwrap_or_default();
            // The same order as `executions()`: sequence, queue time, id.
            let later = match &latest {
                None => true,
                Some((s, q, k)) => (seq, queued, key.as_str()) > (*s, *q, k.as_str()),
            };
            if later {
                latest = Some((seq, queued, key));
            }
        }
        latest
            .map(|(_, _, key)| self.execution(&ExecutionId(key)))
            .transpose()
    }

    /// The execution whose outputs each cell shows: its latest to have
    /// started, in queue order (an imported one counts as started). A run
    /// cancelled before it started leaves the cell showing the run before,
    /// as Jupyter keeps a cell's outputs until it runs again. Every reader
    /// (export, the browser, the AI's context) shows a cell by this rule.
    pub fn shown_executions(&self) -> Result<std::collections::HashMap<CellId, ExecutionRecord>> {
        let mut shown = std::collections::HashMap::new();
        for record in self.executions()? {
            if record.started_at_ms.is_some() {
                shown.insert(record.cell_id.clone(), record);
            }
        }
        Ok(shown)
    }
}

fn lease_in(doc: &Automerge) -> Result<Option<Lease>> {
    match get_str(doc, &ROOT, "lease")? {
        Some(raw) if !raw.is_empty() => serde_json::from_str(&raw)
            .map(Some)
            .map_err(|_| SchemaError::Malformed { field: "lease" }),
        _ => Ok(None),
    }
}

fn session_in(doc: &Automerge, session_id: &SessionId) -> Result<Option<SessionRecord>> {
    let sessions = require_obj(doc, &ROOT, "sessions", ObjType::Map)?;
    let Some(s) = get_obj(doc, &sessions, session_id.as_str(), ObjType::Map)? else {
        return Ok(None);
    };
    Ok(Some(SessionRecord {
        session_id: session_id.clone(),
        agent: get_str(doc, &s, "agent")?.unwrap_or_default(),
        kernel: get_str(doc, &s, "kernel")?.unwrap_or_default(),
        status: get_str(doc, &s, "status")?
            .and_then(|v| SessionStatus::parse(&v))
            .ok_or(SchemaError::Malformed { field: "status" })?,
        started_at_ms: get_i64(doc, &s, "started_at")?.unwrap_or_default(),
    }))
}

/// The lease and its holder's session in a runtime document held as plain
/// Automerge (the server's rooms hold it so, to sync it), read without
/// wrapping: the server reports a runtime's state from it.
pub fn lease_holder(doc: &Automerge) -> Result<Option<(Lease, Option<SessionRecord>)>> {
    let Some(lease) = lease_in(doc)? else {
        return Ok(None);
    };
    let session = session_in(doc, &lease.session_id)?;
    Ok(Some((lease, session)))
}
