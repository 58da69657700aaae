//! The notebook document: what people (and the AI acting for them) write.
//!
//! Layout (private to this module): root `{schema_version, kind: "notebook",
//! notebook_id, metadata: {key: json string}, cells: {cell_id: {cell_type,
//! position, source: Text, metadata: {key: json string}, attachments: json
//! string, run_request: json string}}}`. The notebook-level metadata and
//! the attachments have their typed functions in `notebook_meta.rs`.
//! The run request is one JSON scalar so that two concurrent presses of
//! "run" resolve to one whole request, never a mix of two.

use crate::access::{check_root, get_obj, get_str, require_obj};
use crate::attribution::Attribution;
use crate::clock::now_ms;
use crate::error::{Result, SchemaError};
use crate::event::DocumentEvent;
use crate::ids::{CellId, RequestId};
use crate::position::key_between;
use crate::txn::{commit, commit_as};
use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ObjId, ObjType, ReadDoc, ROOT};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(crate) const KIND: &str = "notebook";

/// What a cell holds and how it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellType {
    Code,
    Markdown,
    Ai,
    Sql,
    Raw,
}

impl CellType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Markdown => "markdown",
            Self::Ai => "ai",
            Self::Sql => "sql",
            Self::Raw => "raw",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "code" => Self::Code,
            "markdown" => Self::Markdown,
            "ai" => Self::Ai,
            "sql" => Self::Sql,
            "raw" => Self::Raw,
            _ => return None,
        })
    }
}

/// Where a created or moved cell goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    Start,
    End,
    After(CellId),
    Before(CellId),
}

/// A person's request to run a cell, pinned to the document as they saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    pub request_id: RequestId,
    pub requested_by: String,
    pub requested_at_ms: i64,
    /// Heads of the notebook document when the request was made: the agent
    /// runs the source as it was here, not as it is when the agent gets to it.
    #[serde(with = "heads_serde")]
    pub heads: Vec<ChangeHash>,
    /// Set for the requests of one "run all": when one of them fails, the
    /// rest of the batch is cancelled, as Jupyter stops on error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    /// Whether someone will answer `input()`. A headless run says no, and
    /// the kernel raises at once (as nbclient's `StdinNotImplementedError`)
    /// instead of waiting for an answer that never comes.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub allow_stdin: bool,
}

impl RunRequest {
    /// A request by `requested_by` at `heads`, with a fresh id, now.
    pub fn new(requested_by: &str, heads: Vec<ChangeHash>) -> Self {
        Self {
            request_id: RequestId::random(),
            requested_by: requested_by.to_owned(),
            requested_at_ms: now_ms(),
            heads,
            batch: None,
            allow_stdin: true,
        }
    }

    /// The same request as part of a run all.
    pub fn in_batch(mut self, batch: &str) -> Self {
        self.batch = Some(batch.to_owned());
        self
    }
}

fn yes() -> bool {
    true
}

fn is_true(v: &bool) -> bool {
    *v
}

/// How a run is asked for, beyond which cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// See [`RunRequest::allow_stdin`].
    pub allow_stdin: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { allow_stdin: true }
    }
}

/// A request the runtime has already acted on, as much of it as it takes to
/// tell a deliberate re-run from a concurrent press of "run".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorRequest {
    pub request_id: RequestId,
    pub heads: Vec<ChangeHash>,
    /// The run all it was part of: that change, not an `ExecutionRequested`
    /// one, is what made it.
    pub batch: Option<String>,
}

impl From<&RunRequest> for PriorRequest {
    fn from(r: &RunRequest) -> Self {
        PriorRequest {
            request_id: r.request_id.clone(),
            heads: r.heads.clone(),
            batch: r.batch.clone(),
        }
    }
}

mod heads_serde {
    use automerge::ChangeHash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(heads: &[ChangeHash], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::access::heads_to_strings(heads))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ChangeHash>, D::Error> {
        let s = String::deserialize(d)?;
        crate::access::heads_from_string(&s).map_err(serde::de::Error::custom)
    }
}

fn parse_run_request(raw: &str) -> Result<RunRequest> {
    serde_json::from_str(raw).map_err(|_| SchemaError::Malformed {
        field: "run_request",
    })
}

/// A cell as read from the document.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub id: CellId,
    pub cell_type: CellType,
    pub position: String,
    pub source: String,
    pub metadata: BTreeMap<String, serde_json::Value>,
    pub run_request: Option<RunRequest>,
}

/// The notebook document with typed access.
#[derive(Debug, Clone)]
pub struct NotebookDoc {
    pub(crate) doc: Automerge,
    /// Stamped on every change made while set (an AI run's edits).
    pub(crate) attribution: Option<Attribution>,
}

impl NotebookDoc {
    /// The initial document for a new notebook. Only the server calls this,
    /// once, when the notebook is created: every other replica starts empty
    /// and syncs, so no two replicas ever create the root objects concurrently
    /// (which in Automerge would make one replica's cells vanish).
    pub fn create(notebook_id: &str) -> Result<Self> {
        let mut doc = Automerge::new();
        let event = DocumentEvent::NotebookCreated {
            notebook_id: notebook_id.to_owned(),
        };
        commit(&mut doc, &event, |tx| {
            tx.put(ROOT, "schema_version", crate::SCHEMA_VERSION as i64)?;
            tx.put(ROOT, "kind", KIND)?;
            tx.put(ROOT, "notebook_id", notebook_id)?;
            tx.put_object(ROOT, "cells", ObjType::Map)?;
            tx.put_object(ROOT, "metadata", ObjType::Map)?;
            tx.put_object(ROOT, "controls", ObjType::Map)?;
            tx.put_object(ROOT, "input_answers", ObjType::Map)?;
            Ok(())
        })?;
        Ok(Self {
            doc,
            attribution: None,
        })
    }

    /// Wrap a replica, refusing one from a newer schema or of the wrong kind.
    pub fn from_automerge(doc: Automerge) -> Result<Self> {
        check_root(&doc, KIND)?;
        Ok(Self {
            doc,
            attribution: None,
        })
    }

    /// An empty replica that a peer fills by syncing with the server.
    /// Until then every read fails with `NotInitialised`; `check_schema`
    /// says when it is ready (and refuses a newer schema).
    pub fn replica() -> Self {
        Self {
            doc: Automerge::new(),
            attribution: None,
        }
    }

    pub fn check_schema(&self) -> Result<()> {
        check_root(&self.doc, KIND)
    }

    pub fn load(bytes: &[u8]) -> Result<Self> {
        Self::from_automerge(Automerge::load(bytes)?)
    }

    /// The underlying document, for syncing and saving only.
    /// Stamp every change made from now on with `attribution` (an AI
    /// run's edits), until set back to `None`.
    pub fn set_attribution(&mut self, attribution: Option<Attribution>) {
        self.attribution = attribution;
    }

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

    pub fn notebook_id(&self) -> Result<String> {
        get_str(&self.doc, &ROOT, "notebook_id")?.ok_or(SchemaError::NotInitialised("notebook_id"))
    }

    pub(crate) fn cells_obj(&self) -> Result<ObjId> {
        require_obj(&self.doc, &ROOT, "cells", ObjType::Map)
    }

    pub(crate) fn cell_obj(&self, id: &CellId) -> Result<ObjId> {
        let cells = self.cells_obj()?;
        get_obj(&self.doc, &cells, id.as_str(), ObjType::Map)?
            .ok_or_else(|| SchemaError::NoSuchCell(id.to_string()))
    }

    /// Cell ids with positions, in notebook order (ties broken by id, so every
    /// replica agrees even on equal positions).
    pub fn cell_order(&self) -> Result<Vec<(CellId, String)>> {
        let cells = self.cells_obj()?;
        let mut order = Vec::new();
        for key in self.doc.keys(&cells) {
            if let Some(obj) = get_obj(&self.doc, &cells, &key, ObjType::Map)? {
                let position = get_str(&self.doc, &obj, "position")?.unwrap_or_default();
                order.push((CellId(key), position));
            }
        }
        order.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(order)
    }

    pub fn cell_ids(&self) -> Result<Vec<CellId>> {
        Ok(self.cell_order()?.into_iter().map(|(id, _)| id).collect())
    }

    /// Every cell's latest run request, in notebook order, without reading
    /// sources: what the runtime scans on each change of the notebook.
    pub fn run_requests(&self) -> Result<Vec<(CellId, RunRequest)>> {
        let cells = self.cells_obj()?;
        let mut requests = Vec::new();
        for id in self.cell_ids()? {
            let Some(obj) = get_obj(&self.doc, &cells, id.as_str(), ObjType::Map)? else {
                continue;
            };
            if let Some(raw) = get_str(&self.doc, &obj, "run_request")? {
                requests.push((id, parse_run_request(&raw)?));
            }
        }
        Ok(requests)
    }

    pub fn cells(&self) -> Result<Vec<Cell>> {
        self.cell_ids()?.iter().map(|id| self.cell(id)).collect()
    }

    pub fn cell(&self, id: &CellId) -> Result<Cell> {
        let obj = self.cell_obj(id)?;
        let cell_type = get_str(&self.doc, &obj, "cell_type")?
            .and_then(|s| CellType::parse(&s))
            .ok_or(SchemaError::Malformed { field: "cell_type" })?;
        let position = get_str(&self.doc, &obj, "position")?.unwrap_or_default();
        let source = match get_obj(&self.doc, &obj, "source", ObjType::Text)? {
            Some(text) => self.doc.text(&text)?,
            None => String::new(),
        };
        let mut metadata = BTreeMap::new();
        if let Some(meta) = get_obj(&self.doc, &obj, "metadata", ObjType::Map)? {
            for key in self.doc.keys(&meta) {
                if let Some(raw) = get_str(&self.doc, &meta, &key)? {
                    if let Ok(value) = serde_json::from_str(&raw) {
                        metadata.insert(key, value);
                    }
                }
            }
        }
        let run_request = get_str(&self.doc, &obj, "run_request")?
            .map(|raw| parse_run_request(&raw))
            .transpose()?;
        Ok(Cell {
            id: id.clone(),
            cell_type,
            position,
            source,
            metadata,
            run_request,
        })
    }

    /// The cell's run request as the document stood at `heads`. Lets the
    /// runtime tell a deliberate re-run (made after seeing the earlier
    /// request) from a concurrent press of "run" by someone else.
    pub fn run_request_at(&self, id: &CellId, heads: &[ChangeHash]) -> Result<Option<RunRequest>> {
        let cells = self.cells_obj()?;
        let cell = match self.doc.get_at(&cells, id.as_str(), heads)? {
            Some((automerge::Value::Object(ObjType::Map), obj)) => obj,
            _ => return Ok(None),
        };
        match self.doc.get_at(&cell, "run_request", heads)? {
            Some((automerge::Value::Scalar(raw), _)) => {
                raw.as_str().map(parse_run_request).transpose()
            }
            _ => Ok(None),
        }
    }

    /// Whether `later` was made by someone who had seen the `earlier`
    /// request. Two presses of "run" that did not see each other are one
    /// intent; a press after seeing the previous run is a deliberate re-run.
    pub fn request_saw(&self, later: &RunRequest, earlier: &PriorRequest) -> bool {
        let made_earlier = |event: Option<DocumentEvent>| match event {
            Some(DocumentEvent::ExecutionRequested { request_id, .. }) => {
                request_id == earlier.request_id
            }
            Some(DocumentEvent::RunAllRequested { batch, .. }) => {
                earlier.batch.as_deref() == Some(batch.as_str())
            }
            _ => false,
        };
        let earlier_change = self
            .doc
            .get_changes(&earlier.heads)
            .into_iter()
            .find(|c| made_earlier(c.message().and_then(DocumentEvent::from_message)));
        match earlier_change {
            // Not among the changes `later` lacks: it is an ancestor of them.
            Some(change) => !self
                .doc
                .get_changes(&later.heads)
                .iter()
                .any(|c| c.hash() == change.hash()),
            // Unknown to this replica: nothing to be concurrent with.
            None => true,
        }
    }

    pub fn source(&self, id: &CellId) -> Result<String> {
        let obj = self.cell_obj(id)?;
        let text = require_obj(&self.doc, &obj, "source", ObjType::Text)?;
        Ok(self.doc.text(&text)?)
    }

    /// A cell's source as it was at `heads`: what a run request refers to.
    pub fn source_at(&self, id: &CellId, heads: &[ChangeHash]) -> Result<String> {
        let cells = self.cells_obj()?;
        let cell = match self.doc.get_at(&cells, id.as_str(), heads)? {
            Some((automerge::Value::Object(ObjType::Map), obj)) => obj,
            _ => return Err(SchemaError::NoSuchCell(id.to_string())),
        };
        match self.doc.get_at(&cell, "source", heads)? {
            Some((automerge::Value::Object(ObjType::Text), text)) => {
                Ok(self.doc.text_at(&text, heads)?)
            }
            _ => Err(SchemaError::Malformed { field: "source" }),
        }
    }

    fn position_for(&self, placement: &Placement, moving: Option<&CellId>) -> Result<String> {
        let order: Vec<(CellId, String)> = self
            .cell_order()?
            .into_iter()
            .filter(|(id, _)| Some(id) != moving)
            .collect();
        let index_of = |target: &CellId| {
            order
                .iter()
                .position(|(id, _)| id == target)
                .ok_or_else(|| SchemaError::NoSuchCell(target.to_string()))
        };
        let (before, after) = match placement {
            Placement::Start => (None, order.first().map(|c| c.1.as_str())),
            Placement::End => (order.last().map(|c| c.1.as_str()), None),
            Placement::After(target) => {
                let i = index_of(target)?;
                (
                    Some(order[i].1.as_str()),
                    order.get(i + 1).map(|c| c.1.as_str()),
                )
            }
            Placement::Before(target) => {
                let i = index_of(target)?;
                let before = if i == 0 {
                    None
                } else {
                    Some(order[i - 1].1.as_str())
                };
                (before, Some(order[i].1.as_str()))
            }
        };
        Ok(key_between(before, after))
    }

    pub fn create_cell(
        &mut self,
        cell_type: CellType,
        placement: Placement,
        source: &str,
    ) -> Result<CellId> {
        let id = CellId::random();
        let position = self.position_for(&placement, None)?;
        let cells = self.cells_obj()?;
        let event = DocumentEvent::CellCreated {
            cell_id: id.clone(),
            cell_type,
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            let cell = tx.put_object(&cells, id.as_str(), ObjType::Map)?;
            tx.put(&cell, "cell_type", cell_type.as_str())?;
            tx.put(&cell, "position", position.as_str())?;
            let text = tx.put_object(&cell, "source", ObjType::Text)?;
            if !source.is_empty() {
                tx.splice_text(&text, 0, 0, source)?;
            }
            tx.put_object(&cell, "metadata", ObjType::Map)?;
            Ok(())
        })?;
        Ok(id)
    }

    pub fn move_cell(&mut self, id: &CellId, placement: Placement) -> Result<()> {
        let obj = self.cell_obj(id)?;
        if matches!(&placement, Placement::After(t) | Placement::Before(t) if t == id) {
            return Ok(());
        }
        let position = self.position_for(&placement, Some(id))?;
        let event = DocumentEvent::CellMoved {
            cell_id: id.clone(),
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            tx.put(&obj, "position", position.as_str())?;
            Ok(())
        })
    }

    pub fn delete_cell(&mut self, id: &CellId) -> Result<()> {
        self.cell_obj(id)?;
        let cells = self.cells_obj()?;
        let event = DocumentEvent::CellDeleted {
            cell_id: id.clone(),
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            tx.delete(&cells, id.as_str())?;
            Ok(())
        })
    }

    /// Replace `delete` characters at `pos` with `insert`; positions count
    /// Unicode scalar values.
    pub fn splice_source(
        &mut self,
        id: &CellId,
        pos: usize,
        delete: usize,
        insert: &str,
    ) -> Result<()> {
        let obj = self.cell_obj(id)?;
        let text = require_obj(&self.doc, &obj, "source", ObjType::Text)?;
        let len = self.doc.length(&text);
        if pos > len || pos + delete > len {
            return Err(SchemaError::SpliceOutOfRange {
                cell: id.to_string(),
                len,
                pos,
                del: delete,
            });
        }
        let event = DocumentEvent::SourceEdited {
            cell_id: id.clone(),
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            tx.splice_text(&text, pos, delete as isize, insert)?;
            Ok(())
        })
    }

    /// Replace the whole source, expressed as the smallest edit so that
    /// concurrent edits elsewhere in the cell survive.
    pub fn set_source(&mut self, id: &CellId, source: &str) -> Result<()> {
        let obj = self.cell_obj(id)?;
        let text = require_obj(&self.doc, &obj, "source", ObjType::Text)?;
        let event = DocumentEvent::SourceEdited {
            cell_id: id.clone(),
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            tx.update_text(&text, source)?;
            Ok(())
        })
    }

    /// Rewrite a cell's source to `source` as an edit made when the
    /// document stood at `seen` (the heads its writer read the cell at):
    /// the smallest splices from the text then, made on a fork at those
    /// heads and merged in, so whatever people typed in the cell since is
    /// kept, not overwritten. The AI's `modify_cell` writes this way.
    pub fn rewrite_source_seen_at(
        &mut self,
        id: &CellId,
        seen: &[ChangeHash],
        source: &str,
    ) -> Result<()> {
        if seen.is_empty() || self.doc.get_heads() == seen {
            return self.set_source(id, source);
        }
        let mut fork = self.doc.fork_at(seen)?;
        let cells = require_obj(&fork, &ROOT, "cells", ObjType::Map)?;
        let obj = get_obj(&fork, &cells, id.as_str(), ObjType::Map)?
            .ok_or_else(|| SchemaError::NoSuchCell(id.to_string()))?;
        let text = require_obj(&fork, &obj, "source", ObjType::Text)?;
        let event = DocumentEvent::SourceEdited {
            cell_id: id.clone(),
        };
        commit_as(&mut fork, self.attribution.as_ref(), &event, |tx| {
            tx.update_text(&text, source)?;
            Ok(())
        })?;
        self.doc.merge(&mut fork)?;
        Ok(())
    }

    pub fn set_cell_type(&mut self, id: &CellId, cell_type: CellType) -> Result<()> {
        let obj = self.cell_obj(id)?;
        let event = DocumentEvent::CellTypeChanged {
            cell_id: id.clone(),
            cell_type,
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            tx.put(&obj, "cell_type", cell_type.as_str())?;
            Ok(())
        })
    }

    /// Set one metadata key; `None` removes it. Keys merge independently.
    pub fn set_metadata(
        &mut self,
        id: &CellId,
        key: &str,
        value: Option<&serde_json::Value>,
    ) -> Result<()> {
        let obj = self.cell_obj(id)?;
        let meta = get_obj(&self.doc, &obj, "metadata", ObjType::Map)?;
        let event = DocumentEvent::MetadataChanged {
            cell_id: id.clone(),
            key: key.to_owned(),
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            let meta = match meta {
                Some(m) => m,
                None => tx.put_object(&obj, "metadata", ObjType::Map)?,
            };
            match value {
                Some(v) => tx.put(&meta, key, v.to_string())?,
                None => tx.delete(&meta, key)?,
            }
            Ok(())
        })
    }

    /// Ask the runtime to run a cell as it is now in this replica.
    pub fn request_execution(&mut self, id: &CellId, requested_by: &str) -> Result<RunRequest> {
        self.request_execution_with(id, requested_by, &RunOptions::default())
    }

    /// [`Self::request_execution`], with options.
    pub fn request_execution_with(
        &mut self,
        id: &CellId,
        requested_by: &str,
        options: &RunOptions,
    ) -> Result<RunRequest> {
        let obj = self.cell_obj(id)?;
        let request = RunRequest {
            allow_stdin: options.allow_stdin,
            ..RunRequest::new(requested_by, self.doc.get_heads())
        };
        let raw = serde_json::to_string(&request).map_err(|_| SchemaError::Malformed {
            field: "run_request",
        })?;
        let event = DocumentEvent::ExecutionRequested {
            cell_id: id.clone(),
            request_id: request.request_id.clone(),
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            tx.put(&obj, "run_request", raw)?;
            Ok(())
        })?;
        Ok(request)
    }

    /// Ask the runtime to run every code cell, in notebook order, as the
    /// notebook is now in this replica: one change, one batch, so the
    /// agent runs them in order and stops at the first error.
    pub fn request_run_all(&mut self, requested_by: &str) -> Result<Vec<(CellId, RunRequest)>> {
        let heads = self.doc.get_heads();
        let batch = RequestId::random().as_str().to_owned();
        let requested_at_ms = now_ms();
        let mut planned = Vec::new();
        for cell in self.cells()? {
            if cell.cell_type != CellType::Code {
                continue;
            }
            let request = RunRequest {
                request_id: RequestId::random(),
                requested_by: requested_by.to_owned(),
                requested_at_ms,
                heads: heads.clone(),
                batch: Some(batch.clone()),
                allow_stdin: true,
            };
            let raw = serde_json::to_string(&request).map_err(|_| SchemaError::Malformed {
                field: "run_request",
            })?;
            planned.push((self.cell_obj(&cell.id)?, cell.id, request, raw));
        }
        let event = DocumentEvent::RunAllRequested {
            batch,
            cells: planned.len(),
        };
        commit_as(&mut self.doc, self.attribution.as_ref(), &event, |tx| {
            for (obj, _, _, raw) in &planned {
                tx.put(obj, "run_request", raw.as_str())?;
            }
            Ok(())
        })?;
        Ok(planned
            .into_iter()
            .map(|(_, id, request, _)| (id, request))
            .collect())
    }

    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }
}
