//! What the fuzz targets (`fuzz/`) run, here so that the regression inputs
//! they found run in the normal tests too (`tests/fuzz_regressions.rs`).
//!
//! A panic inside an Automerge call is tolerated, as the room tolerates it
//! (it drops the peer, and reloads the document if the panic came while
//! applying): the fuzzer found such panics in documents Automerge cannot
//! load, which no check short of loading them foresees. A panic anywhere
//! else, our checks included, an abort or unbounded memory is a failure.

use super::{check_sync_message, new_changes, Limits};
use schema::automerge::sync::{self, ChunkList, SyncDoc};
use schema::automerge::{Automerge, ReadDoc};
use schema::layout::ChangeChecker;
use schema::wire::Frame;
use schema::{CellType, DocKind, NotebookDoc, Placement};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Once, OnceLock};

thread_local! {
    static IN_AUTOMERGE: Cell<bool> = const { Cell::new(false) };
}

/// Run an Automerge call; `None` if it panicked. The panic hook in place
/// (libFuzzer's aborts) is skipped for these panics only.
fn automerge<R>(f: impl FnOnce() -> R) -> Option<R> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_AUTOMERGE.with(Cell::get) {
                previous(info)
            }
        }));
    });
    IN_AUTOMERGE.with(|c| c.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    IN_AUTOMERGE.with(|c| c.set(false));
    outcome.ok()
}

/// Any bytes as a frame: decoding never panics, and a decoded frame
/// encodes to bytes that decode to it again.
pub fn frame(data: &[u8]) {
    if let Ok(frame) = Frame::decode(data) {
        let again = Frame::decode(&frame.encode());
        assert!(
            matches!(again, Ok(f) if f == frame),
            "frame does not round-trip"
        );
    }
}

/// A small notebook the messages are applied to, built once.
fn notebook() -> &'static Automerge {
    static DOC: OnceLock<Automerge> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut nb = NotebookDoc::create("nb-fuzz").unwrap_or_else(|_| NotebookDoc::replica());
        let _ = nb.create_cell(CellType::Code, Placement::End, "print('hello')");
        nb.into_automerge()
    })
}

/// Any bytes as a peer's sync message, through the room's path: checks,
/// decoding, the layout check of each change (in order, once its
/// dependencies are in), applying, then the peer's sync state updated as a
/// writer and as a viewer, and a reply generated for each.
pub fn sync_message(data: &[u8]) {
    let limits = Limits::default();
    let Ok(checked) = check_sync_message(data, &limits) else {
        return;
    };
    let Some(Ok(mut message)) = automerge(|| sync::Message::decode(&checked.bytes)) else {
        return;
    };
    let mut doc = notebook().clone();
    if let Some(Ok(changes)) = automerge(|| new_changes(&doc, &message)) {
        let mut checker = ChangeChecker::new(DocKind::Notebook);
        for change in changes {
            let ready = change
                .deps()
                .iter()
                .all(|d| doc.get_change_by_hash(d).is_some());
            if ready
                && matches!(automerge(|| checker.check(&doc, &change)), Some(Ok(())))
                && automerge(|| doc.apply_changes([change])).is_none()
            {
                // The room reloads the document from its log here.
                doc = notebook().clone();
            }
        }
    }
    message.changes = ChunkList::empty();
    for read_only in [false, true] {
        let mut state = sync::State::new();
        state.read_only = read_only;
        let _ = automerge(|| doc.receive_sync_message(&mut state, message.clone()));
        let _ = automerge(|| doc.generate_sync_message(&mut state));
    }
}
