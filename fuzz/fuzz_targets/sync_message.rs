#![no_main]
//! Any bytes as a peer's sync message, through the room's own path: the
//! guard's checks, Automerge's decoding, the layout check of the changes,
//! applying them, and the reply. Nothing may panic or allocate without
//! bound (run with `-rss_limit_mb`).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sync_server::guard::fuzzing::sync_message(data);
});
