//! Credential masking: every registered secret, in each of its common
//! encodings, is replaced by `[MASKED:NAME]` before anything leaves the
//! agent. The agent masks kernel events as they arrive (see [`events`]), so
//! the runtime document, the blob store and error tracebacks only ever see
//! masked text, and its log writer masks every log line (see [`log_writer`]).
//!
//! What masking cannot catch is written down in ARCHITECTURE.md: a secret
//! transformed on purpose (reversed, sliced, hashed, encrypted, encoded in
//! a form not listed in [`encodings`]) leaves the kernel unrecognised.

pub mod encodings;
pub mod events;
pub mod log_writer;

use aho_corasick::{AhoCorasick, MatchKind};
use std::borrow::Cow;

/// Shorter values are refused at registration (server side), and shorter
/// forms (lines of a multi-line value) are not patterns: they would mask
/// ordinary text.
pub const MIN_PATTERN_CHARS: usize = 8;

/// Patterns for a set of secrets, searched in one pass.
#[derive(Default)]
pub struct Masker {
    automaton: Option<AhoCorasick>,
    /// Each pattern's replacement, by pattern index.
    markers: Vec<String>,
    /// The patterns in sorted order, to find a suffix that starts one.
    sorted: Vec<String>,
    longest: usize,
    /// Set when the patterns could not be compiled: all text is withheld.
    refuse_all: bool,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("patterns", &self.markers.len())
            .finish()
    }
}

impl Masker {
    /// `secrets` as (name, value) pairs.
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a str, &'a str)>) -> Masker {
        let mut patterns: Vec<(String, String)> = Vec::new();
        for (name, value) in secrets {
            let marker = format!("[MASKED:{name}]");
            for form in encodings::forms(value) {
                patterns.push((form, marker.clone()));
            }
        }
        // One pattern, one marker: the first secret claiming a form wins.
        patterns.sort_by(|a, b| a.0.cmp(&b.0));
        patterns.dedup_by(|a, b| a.0 == b.0);
        if patterns.is_empty() {
            return Masker::default();
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns.iter().map(|p| &p.0));
        let automaton = match automaton {
            Ok(a) => a,
            Err(e) => {
                // Only a pattern set beyond aho-corasick's size limits fails
                // here; masking nothing would leak, so refuse everything.
                tracing::error!(error = %e, "cannot build the secret masker");
                return Masker::refusing();
            }
        };
        Masker {
            automaton: Some(automaton),
            longest: patterns.iter().map(|p| p.0.len()).max().unwrap_or(0),
            sorted: patterns.iter().map(|p| p.0.clone()).collect(),
            markers: patterns.into_iter().map(|p| p.1).collect(),
            refuse_all: false,
        }
    }

    /// A masker that replaces all text: for a pattern set that cannot be
    /// built, withholding output is the safe failure.
    fn refusing() -> Masker {
        Masker {
            refuse_all: true,
            ..Masker::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.automaton.is_none() && !self.refuse_all
    }

    pub fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.refuse_all && !text.is_empty() {
            return Cow::Borrowed(
                "[MASKED: output withheld, the secret masker could not be built]",
            );
        }
        let Some(automaton) = &self.automaton else {
            return Cow::Borrowed(text);
        };
        let mut out = String::new();
        let mut last = 0;
        for m in automaton.find_iter(text) {
            out.push_str(&text[last..m.start()]);
            out.push_str(&self.markers[m.pattern().as_usize()]);
            last = m.end();
        }
        if last == 0 && out.is_empty() {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }

    /// The length of the longest suffix of `text` that begins some pattern
    /// without completing it: text a stream must hold back until the next
    /// chunk shows whether a secret was being printed in pieces.
    pub fn pending_prefix_len(&self, text: &str) -> usize {
        if self.sorted.is_empty() {
            return 0;
        }
        let earliest = text.len().saturating_sub(self.longest.saturating_sub(1));
        for (start, _) in text.char_indices().filter(|(i, _)| *i >= earliest) {
            let suffix = &text[start..];
            let i = self.sorted.partition_point(|p| p.as_str() < suffix);
            if self
                .sorted
                .get(i)
                .is_some_and(|p| p.len() > suffix.len() && p.starts_with(suffix))
            {
                return text.len() - start;
            }
        }
        0
    }

    /// Mask every string inside a JSON value (MIME bundles, metadata).
    pub fn mask_json(&self, value: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) => {
                if let Cow::Owned(masked) = self.mask(s) {
                    *s = masked;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.mask_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.mask_json(v)),
            _ => {}
        }
    }

    pub fn mask_string(&self, s: &mut String) {
        if let Cow::Owned(masked) = self.mask(s) {
            *s = masked;
        }
    }
}

#[cfg(test)]
mod tests;
