//! The changes a checked message carries, as Automerge changes.

use super::chunks::{split_chunks, ChunkKind};
use super::Refusal;
use schema::automerge::sync;
use schema::automerge::{Automerge, Change, ReadDoc};

/// The new changes of a message that passed [`super::check_sync_message`]:
/// change chunks as they are, a document chunk (a V2 message) opened to
/// its changes. Those already in `doc` are skipped.
pub fn new_changes(doc: &Automerge, message: &sync::Message) -> Result<Vec<Change>, Refusal> {
    let mut out = Vec::new();
    for entry in message.changes.iter() {
        for (kind, bytes) in split_chunks(entry)? {
            let changes = match kind {
                ChunkKind::Change => vec![Change::from_bytes(bytes.to_vec())
                    .map_err(|e| Refusal::malformed(format!("change: {e}")))?],
                ChunkKind::Document => Automerge::load(bytes)
                    .map_err(|e| Refusal::malformed(format!("document: {e}")))?
                    .get_changes(&[])
                    .into_iter()
                    .collect(),
            };
            out.extend(
                changes
                    .into_iter()
                    .filter(|c| doc.get_change_by_hash(&c.hash()).is_none()),
            );
        }
    }
    Ok(out)
}
