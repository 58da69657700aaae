//! Checks on everything a peer sends in a sync frame, before any of it
//! reaches a document or the peer's sync state.
//!
//! Automerge 0.12 (the latest release) trusts its input in ways a server
//! cannot: a `have` bloom filter's probe count sizes a `Vec`, a zero bit
//! count divides by zero, a compressed chunk inflates without limit, and a
//! run-length encoded column of a few bytes can stand for billions of
//! operations. [`check_sync_message`] reads the message's structure itself
//! and refuses, before Automerge parses anything:
//!
//! - more than one `have` (Automerge writes at most one), and bloom filters
//!   outside 1..=64 bits per entry or 1..=64 probes;
//! - counts larger than the bytes that would have to follow them;
//! - chunk types no cathode peer sends in sync (bundles, unknown ones);
//! - DEFLATE output past [`Limits::inflate_limit`]: inflation streams and
//!   stops there. The limit is proportional to the frame, but with a factor
//!   above DEFLATE's own maximum ratio (1032:1), because honest data reaches
//!   it: a megabyte of one repeated character, as a cell's metadata value in
//!   a whole-document (V2) message, deflates a thousandfold. What stops a
//!   bomb is the cap (256 MiB by default): an 8 MiB frame once inflated to
//!   24 GiB;
//! - more rows (operations, predecessors, changes) than the budget allows,
//!   counted by walking runs without expanding them, and repeated strings
//!   whose expansion passes the string budget.
//!
//! What the message changes in the document is then checked against the
//! schema's layout (`schema::layout`) by the room, change by change.

mod changes;
mod chunks;
mod columns;
#[doc(hidden)]
pub mod fuzzing;
mod message;
mod reader;

pub use changes::new_changes;
pub use chunks::{encode_chunk, split_chunks, ChunkKind};
pub use message::{check_sync_message, CheckedMessage};
pub use reader::write_uleb;

/// Why a message was refused. `TooLarge` means well-formed but over a
/// limit; `Malformed` anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub too_large: bool,
    pub message: String,
}

impl Refusal {
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self {
            too_large: false,
            message: message.into(),
        }
    }
    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self {
            too_large: true,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// How much one sync message may cost the server, relative to its size.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_haves: u64,
    pub max_bloom_bits_per_entry: u64,
    pub max_bloom_probes: u64,
    /// Inflated bytes allowed: `inflate_floor + inflate_ratio * frame`,
    /// never more than `inflate_cap`. The ratio must stay above DEFLATE's
    /// maximum (1032:1), or honest, very repetitive data is refused.
    pub inflate_floor: u64,
    pub inflate_ratio: u64,
    pub inflate_cap: u64,
    /// Rows allowed: `rows_floor + rows_per_byte * (frame + inflated)`.
    /// A change that deletes a million characters is about a million rows
    /// in a few dozen bytes, hence the floor.
    pub rows_floor: u64,
    pub rows_per_byte: u64,
    /// Bytes repeated strings expand to: `strings_floor + strings_ratio *
    /// (frame + inflated)`.
    pub strings_floor: u64,
    pub strings_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_haves: 1,
            max_bloom_bits_per_entry: 64,
            max_bloom_probes: 64,
            inflate_floor: 1 << 20,
            inflate_ratio: 1100,
            inflate_cap: 256 << 20,
            rows_floor: 1 << 20,
            rows_per_byte: 8,
            strings_floor: 4 << 20,
            strings_ratio: 16,
        }
    }
}

impl Limits {
    /// The most a message of `frame` bytes may inflate to.
    pub fn inflate_limit(&self, frame: u64) -> u64 {
        self.inflate_floor
            .saturating_add(self.inflate_ratio.saturating_mul(frame))
            .min(self.inflate_cap)
    }
}

/// What one message has spent so far.
pub(crate) struct Budget {
    frame: u64,
    inflated: u64,
    rows: u64,
    strings: u64,
    inflate_limit: u64,
    limits: Limits,
}

impl Budget {
    pub fn new(limits: &Limits, frame: u64) -> Self {
        Self {
            frame,
            inflated: 0,
            rows: 0,
            strings: 0,
            inflate_limit: limits.inflate_limit(frame),
            limits: limits.clone(),
        }
    }

    fn weight(&self) -> u64 {
        self.frame.saturating_add(self.inflated)
    }

    pub fn inflated(&self) -> u64 {
        self.inflated
    }

    pub fn inflate_left(&self) -> u64 {
        self.inflate_limit.saturating_sub(self.inflated)
    }

    pub fn charge_inflated(&mut self, n: u64, what: &str) -> Result<(), Refusal> {
        self.inflated = self.inflated.saturating_add(n);
        if self.inflated > self.inflate_limit {
            return Err(Refusal::too_large(format!(
                "{what}: the message inflates past {} bytes",
                self.inflate_limit
            )));
        }
        Ok(())
    }

    fn rows_limit(&self) -> u64 {
        self.limits
            .rows_floor
            .saturating_add(self.limits.rows_per_byte.saturating_mul(self.weight()))
    }

    pub fn rows_left(&self) -> u64 {
        self.rows_limit().saturating_sub(self.rows)
    }

    pub fn charge_rows(&mut self, n: u64, what: &str) -> Result<(), Refusal> {
        self.rows = self.rows.saturating_add(n);
        if self.rows > self.rows_limit() {
            return Err(Refusal::too_large(format!(
                "{what}: the message expands to more than {} operations",
                self.rows_limit()
            )));
        }
        Ok(())
    }

    pub fn charge_string_bytes(&mut self, n: u64, what: &str) -> Result<(), Refusal> {
        self.strings = self.strings.saturating_add(n);
        let limit = self
            .limits
            .strings_floor
            .saturating_add(self.limits.strings_ratio.saturating_mul(self.weight()));
        if self.strings > limit {
            return Err(Refusal::too_large(format!(
                "{what}: repeated strings expand past {limit} bytes"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
