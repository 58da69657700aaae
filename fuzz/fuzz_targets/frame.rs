#![no_main]
//! Any bytes as a WebSocket frame: decoding never panics, and what decodes
//! encodes back to something that decodes the same.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sync_server::guard::fuzzing::frame(data);
});
