//! The single way this crate commits: one transaction per semantic event,
//! with the event in the change message.

use crate::attribution::Attribution;
use crate::clock::now_ms;
use crate::error::Result;
use crate::event::DocumentEvent;
use automerge::transaction::{CommitOptions, Transaction};
use automerge::Automerge;

pub(crate) fn commit<T>(
    doc: &mut Automerge,
    event: &DocumentEvent,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<T>,
) -> Result<T> {
    commit_as(doc, None, event, f)
}

/// [`commit`], with who made the change on whose behalf beside the event
/// (`"attribution"` in the message; readers of the event ignore it).
pub(crate) fn commit_as<T>(
    doc: &mut Automerge,
    attribution: Option<&Attribution>,
    event: &DocumentEvent,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let message = match attribution {
        None => event.to_message(),
        Some(a) => {
            let mut value = serde_json::to_value(event).unwrap_or_default();
            if let (Some(map), Ok(a)) = (value.as_object_mut(), serde_json::to_value(a)) {
                map.insert("attribution".into(), a);
            }
            value.to_string()
        }
    };
    let time = now_ms() / 1000;
    doc.transact_with(
        |_| {
            CommitOptions::default()
                .with_message(message)
                .with_time(time)
        },
        f,
    )
    .map(|ok| ok.result)
    .map_err(|failure| failure.error)
}
