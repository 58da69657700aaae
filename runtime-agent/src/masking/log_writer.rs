//! The agent's log output passes the masker too: a kernel's error text, a
//! server reply or a panic message may quote a secret, and logs are shipped
//! to places with wider access than the notebook. The masker is process-wide
//! here because the log subscriber is; the agent installs it once it knows
//! the notebook's secrets.

use super::Masker;
use std::io::Write;
use std::sync::{Arc, RwLock};

static LOG_MASKER: RwLock<Option<Arc<Masker>>> = RwLock::new(None);

/// Mask log lines with `masker` from now on.
pub fn install(masker: Arc<Masker>) {
    if let Ok(mut slot) = LOG_MASKER.write() {
        *slot = Some(masker);
    }
}

fn current() -> Option<Arc<Masker>> {
    LOG_MASKER.read().ok().and_then(|slot| slot.clone())
}

/// A `MakeWriter` for `tracing_subscriber::fmt` writing masked lines to stderr.
#[derive(Clone, Copy, Default)]
pub struct MaskedStderr;

/// One log record: buffered, then masked and written whole when dropped, so
/// a secret split across the formatter's writes is still seen whole.
pub struct MaskedLine {
    buf: Vec<u8>,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MaskedStderr {
    type Writer = MaskedLine;

    fn make_writer(&'a self) -> Self::Writer {
        MaskedLine { buf: Vec::new() }
    }
}

impl Write for MaskedLine {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for MaskedLine {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf);
        let line = match current() {
            Some(masker) => masker.mask(&text).into_owned(),
            None => text.into_owned(),
        };
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}
