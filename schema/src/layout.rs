//! What a peer may write, operation by operation: the documents' layout as
//! a set of rules the server checks every incoming change against before
//! storing it.
//!
//! The typed functions of this crate are the only writers an honest peer
//! has, so the rules are exactly what they write (the tests below run every
//! one of them through [`ChangeChecker`]). Anything else, such as a
//! rewritten `schema_version`, a replaced `cells` map or an unknown key, is
//! refused: one bad change could otherwise make every client refuse the
//! notebook.
//!
//! An operation names the object it writes by the id of the operation that
//! created it. The checker resolves that object to a [`Place`] in the
//! layout: from the operations seen so far (objects created by the changes
//! being checked) or from the document (`parents`, which also walks deleted
//! parents, so an edit racing a delete still resolves). Places never
//! change once an object exists, so resolutions are cached.

use crate::error::{Result, SchemaError};
use crate::DocKind;
use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{ActorId, Automerge, Change, ObjType, Prop, ReadDoc, ScalarValue};
use std::collections::HashMap;

/// Where in a document's layout an object sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Root,
    // The notebook document.
    Cells,
    Cell,
    Source,
    CellMetadata,
    NotebookMetadata,
    Controls,
    InputAnswers,
    // The runtime document.
    Sessions,
    Session,
    Executions,
    Execution,
    Outputs,
    HandledControls,
    /// Anywhere the layout has no place for: nothing may be written there.
    Outside,
}

/// Where an object created at `key` of an object at `parent` sits.
fn child(kind: DocKind, parent: Place, key: &str, obj: ObjType) -> Place {
    use Place::*;
    match (kind, parent, key, obj) {
        (DocKind::Notebook, Root, "cells", ObjType::Map) => Cells,
        (DocKind::Notebook, Root, "controls", ObjType::Map) => Controls,
        (DocKind::Notebook, Root, "metadata", ObjType::Map) => NotebookMetadata,
        (DocKind::Notebook, Root, "input_answers", ObjType::Map) => InputAnswers,
        (DocKind::Notebook, Cells, _, ObjType::Map) => Cell,
        (DocKind::Notebook, Cell, "source", ObjType::Text) => Source,
        (DocKind::Notebook, Cell, "metadata", ObjType::Map) => CellMetadata,
        (DocKind::Runtime, Root, "sessions", ObjType::Map) => Sessions,
        (DocKind::Runtime, Root, "executions", ObjType::Map) => Executions,
        (DocKind::Runtime, Root, "handled_controls", ObjType::Map) => HandledControls,
        (DocKind::Runtime, Sessions, _, ObjType::Map) => Session,
        (DocKind::Runtime, Executions, _, ObjType::Map) => Execution,
        (DocKind::Runtime, Execution, "outputs", ObjType::List) => Outputs,
        _ => Outside,
    }
}

/// An operation as the rules see it.
enum Action<'a> {
    Make(ObjType),
    Text,
    Number,
    Other(&'a str),
    Delete,
}

fn action(op: &OpType) -> Action<'_> {
    match op {
        OpType::Make(t) => Action::Make(*t),
        OpType::Delete => Action::Delete,
        OpType::Put(ScalarValue::Str(_)) => Action::Text,
        OpType::Put(
            ScalarValue::Int(_)
            | ScalarValue::Uint(_)
            | ScalarValue::F64(_)
            | ScalarValue::Timestamp(_),
        ) => Action::Number,
        OpType::Put(_) => Action::Other("a value of an unexpected type"),
        OpType::Increment(_) => Action::Other("a counter increment"),
        OpType::MarkBegin(..) | OpType::MarkEnd(..) => Action::Other("a text mark"),
    }
}

/// A valid id for a map entry that stands for a thing (a cell, an
/// execution, a session): what nbformat allows for cell ids, which every
/// id cathode makes satisfies.
fn is_entry_id(key: &str) -> bool {
    crate::ids::is_valid_id(key)
}

const NOTEBOOK_CELL_STRINGS: &[&str] = &[
    "cell_type",
    "position",
    "run_request",
    "attachments",
    "outputs_cleared",
];
const SESSION_STRINGS: &[&str] = &["agent", "kernel", "status"];
const SESSION_NUMBERS: &[&str] = &["started_at"];
const EXECUTION_STRINGS: &[&str] = &[
    "cell_id",
    "request_id",
    "requested_by",
    "source_heads",
    "state",
    "batch",
    "stdin",
    "input_request",
    "approval_request",
];
const EXECUTION_NUMBERS: &[&str] = &[
    "queued_at",
    "queue_seq",
    "execution_count",
    "started_at",
    "ended_at",
];
/// Longest key accepted in a free-form map (metadata, controls, answers).
const MAX_KEY_BYTES: usize = 256;

/// Whether `op` may be written at `place` under `key` (`None` for a list or
/// text element); the reason when not.
fn allowed(kind: DocKind, place: Place, key: Option<&str>, op: &Action<'_>) -> Result<(), String> {
    use Action::*;
    use Place::*;
    let refuse = |what: &str| Err(what.to_owned());
    if let Other(what) = op {
        return Err(format!("{what} is not part of the layout"));
    }
    match (place, key) {
        (Root, Some(k)) => match (kind, k, op) {
            (DocKind::Runtime, "lease", Text) | (DocKind::Runtime, "last_queue_seq", Number) => {
                Ok(())
            }
            (_, "schema_version" | "kind" | "notebook_id", _) => Err(format!(
                "the root's {k} is written once, by the server, when the notebook is created"
            )),
            (
                _,
                "cells" | "metadata" | "controls" | "input_answers" | "sessions" | "executions"
                | "handled_controls",
                _,
            ) => Err(format!("the root's {k} map may not be replaced or removed")),
            _ => Err(format!(
                "the root of the {} document has no field {k}",
                kind.as_str()
            )),
        },
        (Cells | Sessions | Executions, Some(k)) => {
            if !is_entry_id(k) {
                return Err(format!(
                    "{k:?} is not a valid id (1 to 64 letters, digits, - or _)"
                ));
            }
            match op {
                Make(ObjType::Map) => Ok(()),
                Delete if place == Cells => Ok(()),
                _ => refuse("an entry here is a map, created or (cells only) deleted whole"),
            }
        }
        (Cell, Some(k)) => match (k, op) {
            (k, Text) if NOTEBOOK_CELL_STRINGS.contains(&k) => Ok(()),
            ("source", Make(ObjType::Text)) | ("metadata", Make(ObjType::Map)) => Ok(()),
            ("attachments", Delete) => Ok(()),
            _ => Err(format!("a cell has no writable field {k} of that type")),
        },
        (Session, Some(k)) => match op {
            Text if SESSION_STRINGS.contains(&k) => Ok(()),
            Number if SESSION_NUMBERS.contains(&k) => Ok(()),
            _ => Err(format!("a session has no writable field {k} of that type")),
        },
        (Execution, Some(k)) => match op {
            Text if EXECUTION_STRINGS.contains(&k) => Ok(()),
            Number if EXECUTION_NUMBERS.contains(&k) => Ok(()),
            Make(ObjType::List) if k == "outputs" => Ok(()),
            _ => Err(format!(
                "an execution has no writable field {k} of that type"
            )),
        },
        (CellMetadata | NotebookMetadata | Controls | InputAnswers, Some(k)) => {
            if k.len() > MAX_KEY_BYTES {
                return refuse("key too long");
            }
            match op {
                Text => Ok(()),
                Delete if matches!(place, CellMetadata | NotebookMetadata) => Ok(()),
                _ => refuse("values here are JSON strings"),
            }
        }
        (HandledControls, Some(_)) => match op {
            Number => Ok(()),
            _ => refuse("a handled control is a timestamp"),
        },
        (Source | Outputs, None) => match op {
            Text | Delete => Ok(()),
            _ => refuse("elements here are characters (source) or JSON strings (outputs)"),
        },
        (Outside, _) => refuse("the object written is outside the document's layout"),
        (_, None) => refuse("this object is a map, not a list"),
        (Source | Outputs, Some(_)) => refuse("this object is a list, not a map"),
    }
}

/// Checks changes against the layout of one document, remembering where
/// the objects they create sit so that later changes can write into them.
pub struct ChangeChecker {
    kind: DocKind,
    places: HashMap<(u64, ActorId), Place>,
    /// A checked change wrote a cell's run request: the server then makes
    /// sure an agent is there to serve it, without reading every cell
    /// after every keystroke.
    saw_run_request: bool,
}

/// Resolutions kept before the cache starts over: a bound on memory, not
/// a correctness limit.
const MAX_CACHED_PLACES: usize = 200_000;

impl ChangeChecker {
    pub fn new(kind: DocKind) -> Self {
        Self {
            kind,
            places: HashMap::new(),
            saw_run_request: false,
        }
    }

    /// Whether a change checked since the last call wrote a run request.
    pub fn take_run_request_seen(&mut self) -> bool {
        std::mem::take(&mut self.saw_run_request)
    }

    /// Check every operation of `change`, whose dependencies are all in
    /// `doc` or were checked by this checker before. Nothing is written.
    pub fn check(&mut self, doc: &Automerge, change: &Change) -> Result<()> {
        if self.places.len() > MAX_CACHED_PLACES {
            self.places.clear();
        }
        let expanded = change.decode();
        let start = u64::from(expanded.start_op);
        // Runs of operations on one object (a pasted text) resolve once.
        let mut last: Option<(&ObjectId, Place)> = None;
        for (i, op) in expanded.operations.iter().enumerate() {
            let place = match last {
                Some((obj, place)) if *obj == op.obj => place,
                _ => {
                    let place = self.place_of(doc, &op.obj)?;
                    last = Some((&op.obj, place));
                    place
                }
            };
            let key = match &op.key {
                Key::Map(k) => Some(k.as_str()),
                Key::Seq(_) => None,
            };
            let act = action(&op.action);
            allowed(self.kind, place, key, &act).map_err(|reason| SchemaError::Refused {
                doc: self.kind.as_str(),
                reason,
            })?;
            if place == Place::Cell && key == Some("run_request") {
                self.saw_run_request = true;
            }
            if let Action::Make(t) = act {
                let created = match key {
                    Some(k) => child(self.kind, place, k, t),
                    None => Place::Outside,
                };
                let id = (start + i as u64, expanded.actor_id.clone());
                self.places.insert(id, created);
                last = None;
            }
        }
        Ok(())
    }

    fn place_of(&mut self, doc: &Automerge, obj: &ObjectId) -> Result<Place> {
        let OpId(counter, actor) = match obj {
            ObjectId::Root => return Ok(Place::Root),
            ObjectId::Id(id) => id,
        };
        if let Some(place) = self.places.get(&(*counter, actor.clone())) {
            return Ok(*place);
        }
        let place = self.resolve_in(doc, *counter, actor);
        self.places.insert((*counter, actor.clone()), place);
        Ok(place)
    }

    /// An object already in the document: walk its parents up to the root,
    /// then down again through the layout.
    fn resolve_in(&self, doc: &Automerge, counter: u64, actor: &ActorId) -> Place {
        let Ok((id, typ)) = doc.import(&format!("{counter}@{}", actor.to_hex_string())) else {
            return Place::Outside;
        };
        let Ok(parents) = doc.parents(&id) else {
            return Place::Outside;
        };
        // From the object up: each parent's type and the property holding
        // the child below it. The child's type is the target's for the
        // first, then the previous parent's.
        let mut chain = Vec::new();
        let mut held = typ;
        for parent in parents {
            chain.push((parent.prop, held));
            held = parent.typ;
        }
        let mut place = Place::Root;
        for (prop, held) in chain.iter().rev() {
            place = match prop {
                Prop::Map(key) => child(self.kind, place, key, *held),
                Prop::Seq(_) => Place::Outside,
            };
        }
        place
    }
}

#[cfg(test)]
mod tests;
