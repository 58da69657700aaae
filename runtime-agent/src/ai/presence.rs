//! The AI as a collaborator in presence. The agent has one connection, so
//! one presence state; while AI runs go on it lists them under `ai`:
//! `{"name": "runtime agent", "ai": [{"run", "name", "for", "cell", "mode",
//! "cursor"?}]}`. `cell` is the cell the run is on (its own AI cell, or the
//! cell a tool touched); after an edit (`create_cell`, `modify_cell`) the
//! mode is `edit` and `cursor` holds Automerge cursors (the format the
//! browser's `getCursor` makes) at the end of what it wrote, so every page
//! draws the AI's cursor in that cell. A run leaves the list when it ends.

use cathode_client::NotebookClient;
use schema::automerge::{self, ObjType, ReadDoc, TextEncoding};
use schema::{CellId, ExecutionId, NotebookDoc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The tools whose edit leaves the AI's cursor in the cell.
pub const EDITING_TOOLS: &[&str] = &["create_cell", "modify_cell"];

#[derive(Default)]
pub struct AiPresence {
    runs: Mutex<BTreeMap<String, Value>>,
}

impl AiPresence {
    fn publish(&self, client: &NotebookClient) {
        let ai: Vec<Value> = self.runs.lock().unwrap().values().cloned().collect();
        // Presence is best effort: a stopped client has no room to tell.
        let _ = client.set_presence(json!({"name": "runtime agent", "ai": ai}));
    }

    /// The run `run` (on behalf of `person`, with `model`) is here, on `cell`.
    pub fn enter(
        self: &Arc<Self>,
        client: &Arc<NotebookClient>,
        run: &ExecutionId,
        model: &str,
        person: &str,
        cell: &CellId,
    ) -> PresenceGuard {
        self.runs.lock().unwrap().insert(
            run.to_string(),
            json!({"run": run.to_string(), "name": format!("AI ({model})"), "for": person,
                   "cell": cell.as_str(), "mode": "command"}),
        );
        self.publish(client);
        PresenceGuard {
            presence: self.clone(),
            client: client.clone(),
            run: run.to_string(),
        }
    }

    /// The run moved to `cell`, with its cursor there if it edited it.
    pub fn at(
        &self,
        client: &NotebookClient,
        run: &ExecutionId,
        cell: &str,
        cursor: Option<String>,
    ) {
        {
            let mut runs = self.runs.lock().unwrap();
            let Some(entry) = runs.get_mut(run.as_str()) else {
                return;
            };
            entry["cell"] = json!(cell);
            entry["mode"] = json!(if cursor.is_some() { "edit" } else { "command" });
            match cursor {
                Some(c) => entry["cursor"] = json!({"anchor": c, "head": c}),
                None => {
                    if let Some(m) = entry.as_object_mut() {
                        m.remove("cursor");
                    }
                }
            }
        }
        self.publish(client);
    }
}

/// Takes the run out of presence when it ends, however it ends.
pub struct PresenceGuard {
    presence: Arc<AiPresence>,
    client: Arc<NotebookClient>,
    run: String,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        self.presence.runs.lock().unwrap().remove(&self.run);
        self.presence.publish(&self.client);
    }
}

/// A cell's source now, if it exists.
pub async fn source_of(client: &NotebookClient, cell: &str) -> Option<String> {
    let cell = CellId::from(cell);
    client
        .notebook(move |nb| nb.source(&cell).ok())
        .await
        .ok()
        .flatten()
}

/// An Automerge cursor at the end of what changed in `cell` from `before`
/// to its text now (the end of the text for a new cell).
pub async fn cursor_after_edit(
    client: &NotebookClient,
    cell: &str,
    before: &str,
) -> Option<String> {
    let (cell, before) = (cell.to_owned(), before.to_owned());
    client
        .notebook(move |nb| cursor_in(nb, &cell, &before))
        .await
        .ok()
        .flatten()
}

fn cursor_in(nb: &NotebookDoc, cell: &str, before: &str) -> Option<String> {
    let doc = nb.automerge();
    let object = |parent: &automerge::ObjId, key: &str, kind: ObjType| match doc.get(parent, key) {
        Ok(Some((automerge::Value::Object(k), id))) if k == kind => Some(id),
        _ => None,
    };
    let cells = object(&automerge::ROOT, "cells", ObjType::Map)?;
    let cell = object(&cells, cell, ObjType::Map)?;
    let text = object(&cell, "source", ObjType::Text)?;
    let after = doc.text(&text).ok()?;
    let end = edit_end(before, &after);
    let position = if end >= after.len() {
        automerge::CursorPosition::End
    } else {
        automerge::CursorPosition::Index(width(doc.text_encoding(), &after[..end]))
    };
    doc.get_cursor(&text, position, None)
        .ok()
        .map(|c| c.to_string())
}

/// The byte offset in `after` where its difference from `before` ends.
fn edit_end(before: &str, after: &str) -> usize {
    let prefix: usize = before
        .chars()
        .zip(after.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    let room = before.len().min(after.len()) - prefix;
    let suffix: usize = before[prefix..]
        .chars()
        .rev()
        .zip(after[prefix..].chars().rev())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .scan(0usize, |total, n| {
            *total += n;
            (*total <= room).then_some(n)
        })
        .sum();
    after.len() - suffix
}

/// `s`'s length in the document's text units.
fn width(encoding: TextEncoding, s: &str) -> usize {
    match encoding {
        TextEncoding::Utf8CodeUnit => s.len(),
        TextEncoding::Utf16CodeUnit => s.encode_utf16().count(),
        _ => s.chars().count(),
    }
}

#[cfg(test)]
mod tests {
    use super::edit_end;

    #[test]
    fn the_cursor_goes_where_the_edit_ends() {
        assert_eq!(edit_end("", "x = 1"), 5);
        assert_eq!(edit_end("a = 1\nb = 2", "a = 1\nb = 3"), 11);
        assert_eq!(edit_end("a = 1\nb = 2", "a = 10\nb = 2"), 6);
        assert_eq!(edit_end("aaa", "aaaa"), 4);
        assert_eq!(edit_end("é = 1", "é = 2"), 6);
        assert_eq!(edit_end("same", "same"), 4);
    }
}
