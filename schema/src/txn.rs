//! The single way this crate commits: one transaction per semantic event,
//! with the event in the change message.

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
    let message = event.to_message();
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
