//! One execution's outputs, as Jupyter semantics make them, and their
//! coalesced write into the runtime document.
//!
//! Kernel events arrive in bursts (a loop printing, a progress bar); the
//! buffer absorbs them and the agent flushes it at most once per short
//! interval, replacing only what changed. Streams follow terminal rules
//! (see `terminal`), `clear_output(wait=True)` clears at the next output,
//! and `update_display_data` replaces outputs by display id.

use crate::terminal::TerminalText;
use kernels::KernelEvent;
use schema::{
    ExecutionId, MimeBundle, MimePayload, OutputManifest, RuntimeDoc, StreamName, Truncation,
};
use std::collections::BTreeSet;

/// Most stream text held in memory per output; beyond it the output says
/// how much was dropped.
pub const STREAM_CAP_BYTES: usize = 64 * 1024 * 1024;
/// Stream text shown inline in the document: the whole text up to this
/// size, otherwise its head and tail around a marker. Every inline write
/// stays in the document's history, so this bounds growth per run.
pub const STREAM_INLINE_BYTES: usize = 2048;
const STREAM_HEAD_BYTES: usize = 512;
/// How often an over-long stream's inline text is rewritten while it grows.
const LARGE_STREAM_REWRITE: std::time::Duration = std::time::Duration::from_secs(1);

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn stream_manifest(
    name: StreamName,
    rendered: &str,
    omitted: u64,
    full_text: Option<&str>,
) -> OutputManifest {
    if rendered.len() <= STREAM_INLINE_BYTES && omitted == 0 {
        return OutputManifest::Stream {
            name,
            text: rendered.to_owned(),
            truncated: None,
        };
    }
    let head = &rendered[..floor_boundary(rendered, STREAM_HEAD_BYTES.min(rendered.len()))];
    let tail_start = rendered
        .len()
        .saturating_sub(STREAM_INLINE_BYTES - STREAM_HEAD_BYTES)
        .max(head.len());
    let mut tail_start_ok = tail_start;
    while !rendered.is_char_boundary(tail_start_ok) {
        tail_start_ok += 1;
    }
    let tail = &rendered[tail_start_ok..];
    let hidden = (rendered.len() - head.len() - tail.len()) as u64 + omitted;
    let where_full = match full_text {
        Some(sha) => format!("; the full output is blob {sha}"),
        None => String::new(),
    };
    OutputManifest::Stream {
        name,
        text: format!("{head}\n[... {hidden} bytes not shown{where_full} ...]\n{tail}"),
        truncated: Some(Truncation {
            omitted_bytes: hidden,
            full_text_sha256: full_text.map(str::to_owned),
        }),
    }
}

#[derive(Clone, Debug)]
enum Entry {
    Stream {
        name: StreamName,
        text: TerminalText,
        omitted_bytes: u64,
        /// The full text's blob, once stored (at the end of the run).
        full_text: Option<String>,
        /// When the inline text of an over-long stream was last written.
        last_write: Option<std::time::Instant>,
    },
    Other {
        manifest: OutputManifest,
        display_id: Option<String>,
    },
}

impl Entry {
    fn manifest(&self) -> OutputManifest {
        match self {
            Entry::Stream {
                name,
                text,
                omitted_bytes,
                full_text,
                ..
            } => stream_manifest(*name, &text.render(), *omitted_bytes, full_text.as_deref()),
            Entry::Other { manifest, .. } => manifest.clone(),
        }
    }
}

/// What the buffer holds beyond the document, for [`OutputBuffer::flush`].
#[derive(Debug, Default)]
pub struct OutputBuffer {
    entries: Vec<Entry>,
    /// A `clear_output(wait=True)` waiting for the next output.
    pending_clear: bool,
    /// Entries the document already has, and which of those changed since.
    synced: usize,
    changed: BTreeSet<usize>,
    /// Over-long streams whose latest text is not written yet.
    deferred: BTreeSet<usize>,
    cleared: bool,
}

/// Payloads already moved to the blob store, by MIME type.
pub type Offloaded = std::collections::HashMap<String, MimePayload>;

/// The output an `update_display_data` makes wherever its display is
/// shown (in other executions too: see `executor`).
pub fn updated_display(
    display_id: &str,
    data: &serde_json::Map<String, serde_json::Value>,
    metadata: &serde_json::Map<String, serde_json::Value>,
    offloaded: &Offloaded,
) -> OutputManifest {
    OutputManifest::DisplayData {
        data: bundle(data, offloaded),
        metadata: serde_json::Value::Object(metadata.clone()),
        display_id: Some(display_id.to_owned()),
    }
}

fn bundle(data: &serde_json::Map<String, serde_json::Value>, offloaded: &Offloaded) -> MimeBundle {
    data.iter()
        .map(|(mime, value)| {
            let payload = offloaded
                .get(mime)
                .cloned()
                .unwrap_or_else(|| MimePayload::Inline {
                    value: value.clone(),
                });
            (mime.clone(), payload)
        })
        .collect()
}

fn stream_name(name: kernels::StreamName) -> StreamName {
    match name {
        kernels::StreamName::Stdout => StreamName::Stdout,
        kernels::StreamName::Stderr => StreamName::Stderr,
    }
}

impl OutputBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one kernel event; returns whether anything visible changed.
    /// `update_display_data` for an id this execution never displayed is
    /// returned to the caller, which may own that display elsewhere.
    pub fn apply(&mut self, event: &KernelEvent) -> Applied {
        self.apply_offloaded(event, &Offloaded::new())
    }

    /// [`Self::apply`], with some payloads already in the blob store.
    pub fn apply_offloaded(&mut self, event: &KernelEvent, offloaded: &Offloaded) -> Applied {
        match event {
            KernelEvent::Stream { name, text } => {
                self.before_output();
                let name = stream_name(*name);
                let last = self.entries.len().checked_sub(1);
                match last.map(|i| (i, &mut self.entries[i])) {
                    Some((
                        i,
                        Entry::Stream {
                            name: n,
                            text: t,
                            omitted_bytes,
                            last_write,
                            ..
                        },
                    )) if *n == name => {
                        push_capped(t, omitted_bytes, text);
                        // An over-long stream is rewritten at most once a
                        // second while it grows; `finish` writes its end.
                        let long = t.len_bytes() > STREAM_INLINE_BYTES || *omitted_bytes > 0;
                        let now = std::time::Instant::now();
                        if !long
                            || last_write
                                .is_none_or(|w| now.duration_since(w) >= LARGE_STREAM_REWRITE)
                        {
                            if long {
                                *last_write = Some(now);
                            }
                            self.mark(i);
                        } else {
                            self.deferred.insert(i);
                        }
                    }
                    _ => {
                        let mut t = TerminalText::default();
                        let mut omitted = 0;
                        push_capped(&mut t, &mut omitted, text);
                        self.push(Entry::Stream {
                            name,
                            text: t,
                            omitted_bytes: omitted,
                            full_text: None,
                            last_write: None,
                        });
                    }
                }
                Applied::Changed
            }
            KernelEvent::DisplayData {
                data,
                metadata,
                display_id,
            } => {
                self.before_output();
                self.push(Entry::Other {
                    manifest: OutputManifest::DisplayData {
                        data: bundle(data, offloaded),
                        metadata: serde_json::Value::Object(metadata.clone()),
                        display_id: display_id.clone(),
                    },
                    display_id: display_id.clone(),
                });
                Applied::Changed
            }
            KernelEvent::UpdateDisplayData {
                data,
                metadata,
                display_id,
            } => {
                if self.update_display(display_id, bundle(data, offloaded), metadata) {
                    Applied::Changed
                } else {
                    Applied::ForeignDisplay
                }
            }
            KernelEvent::ExecuteResult {
                execution_count,
                data,
                metadata,
            } => {
                self.before_output();
                self.push(Entry::Other {
                    manifest: OutputManifest::ExecuteResult {
                        execution_count: execution_count.map(|c| c as i64).unwrap_or_default(),
                        data: bundle(data, offloaded),
                        metadata: serde_json::Value::Object(metadata.clone()),
                    },
                    display_id: None,
                });
                Applied::Changed
            }
            KernelEvent::Error {
                ename,
                evalue,
                traceback,
            } => {
                self.before_output();
                self.push(Entry::Other {
                    manifest: OutputManifest::Error {
                        ename: ename.clone(),
                        evalue: evalue.clone(),
                        traceback: traceback.clone(),
                    },
                    display_id: None,
                });
                Applied::Changed
            }
            KernelEvent::ClearOutput { wait: true } => {
                self.pending_clear = true;
                Applied::Unchanged
            }
            KernelEvent::ClearOutput { wait: false } => {
                self.clear_now();
                Applied::Changed
            }
            KernelEvent::InputRequest { .. }
            | KernelEvent::Status { .. }
            | KernelEvent::Died { .. } => Applied::Unchanged,
        }
    }

    /// Replace every output of this execution showing `display_id`.
    pub fn update_display(
        &mut self,
        display_id: &str,
        data: MimeBundle,
        metadata: &serde_json::Map<String, serde_json::Value>,
    ) -> bool {
        let mut found = false;
        for i in 0..self.entries.len() {
            if let Entry::Other {
                manifest,
                display_id: Some(id),
            } = &mut self.entries[i]
            {
                if id == display_id {
                    *manifest = OutputManifest::DisplayData {
                        data: data.clone(),
                        metadata: serde_json::Value::Object(metadata.clone()),
                        display_id: Some(display_id.to_owned()),
                    };
                    found = true;
                    self.mark(i);
                }
            }
        }
        found
    }

    pub fn manifests(&self) -> Vec<OutputManifest> {
        self.entries.iter().map(Entry::manifest).collect()
    }

    pub fn is_dirty(&self) -> bool {
        self.cleared || !self.changed.is_empty() || self.synced < self.entries.len()
    }

    /// Write what changed since the last flush into the runtime document.
    pub fn flush(&mut self, doc: &mut RuntimeDoc, execution: &ExecutionId) -> schema::Result<()> {
        if self.cleared {
            doc.clear_outputs(execution)?;
            self.cleared = false;
            self.synced = 0;
            self.changed.clear();
        }
        for &i in &self.changed {
            if i < self.synced {
                doc.replace_output(execution, i, &self.entries[i].manifest())?;
            }
        }
        self.changed.clear();
        for entry in &self.entries[self.synced..] {
            doc.append_output(execution, &entry.manifest())?;
        }
        self.synced = self.entries.len();
        Ok(())
    }

    fn before_output(&mut self) {
        if self.pending_clear {
            self.pending_clear = false;
            self.clear_now();
        }
    }

    fn clear_now(&mut self) {
        self.entries.clear();
        self.changed.clear();
        self.deferred.clear();
        self.cleared = self.synced > 0 || self.cleared;
        self.synced = 0;
    }

    fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
    }

    /// Over-long streams and their full text, to store as blobs when the
    /// execution ends.
    pub fn long_streams(&self) -> Vec<(usize, String)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Entry::Stream {
                    text,
                    omitted_bytes,
                    full_text: None,
                    ..
                } if text.len_bytes() > STREAM_INLINE_BYTES || *omitted_bytes > 0 => {
                    Some((i, text.render()))
                }
                _ => None,
            })
            .collect()
    }

    pub fn set_full_text(&mut self, i: usize, sha256: String) {
        if let Some(Entry::Stream { full_text, .. }) = self.entries.get_mut(i) {
            *full_text = Some(sha256);
            self.mark(i);
        }
    }

    /// The execution is over: write what was deferred.
    pub fn finish(&mut self) {
        for i in std::mem::take(&mut self.deferred) {
            self.mark(i);
        }
    }

    fn mark(&mut self, i: usize) {
        if i < self.synced {
            self.changed.insert(i);
        }
    }
}

/// What an event did to the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Changed,
    Unchanged,
    /// An update for a display this execution does not hold.
    ForeignDisplay,
}

fn push_capped(text: &mut TerminalText, omitted: &mut u64, chunk: &str) {
    if *omitted > 0 {
        *omitted += chunk.len() as u64;
        return;
    }
    let room = STREAM_CAP_BYTES.saturating_sub(text.len_bytes());
    if chunk.len() <= room {
        text.push(chunk);
        return;
    }
    let mut cut = room;
    while !chunk.is_char_boundary(cut) {
        cut -= 1;
    }
    text.push(&chunk[..cut]);
    *omitted += (chunk.len() - cut) as u64;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    fn stream(text: &str) -> KernelEvent {
        KernelEvent::Stream {
            name: kernels::StreamName::Stdout,
            text: text.into(),
        }
    }

    fn display(id: Option<&str>, text: &str) -> KernelEvent {
        let mut data = Map::new();
        data.insert("text/plain".into(), json!(text));
        KernelEvent::DisplayData {
            data,
            metadata: Map::new(),
            display_id: id.map(str::to_owned),
        }
    }

    fn texts(buffer: &OutputBuffer) -> Vec<String> {
        buffer
            .manifests()
            .into_iter()
            .map(|m| match m {
                OutputManifest::Stream { text, .. } => text,
                OutputManifest::DisplayData { data, .. } => match &data["text/plain"] {
                    MimePayload::Inline { value } => value.as_str().unwrap_or_default().to_owned(),
                    MimePayload::Blob { sha256, .. } => sha256.clone(),
                },
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn consecutive_stream_chunks_merge_and_follow_terminal_rules() {
        let mut b = OutputBuffer::new();
        b.apply(&stream("a\n"));
        b.apply(&stream("50%\r"));
        b.apply(&stream("99%\r"));
        b.apply(&display(None, "x"));
        b.apply(&stream("b"));
        assert_eq!(texts(&b), vec!["a\n99%", "x", "b"]);
    }

    #[test]
    fn clear_output_wait_clears_at_the_next_output() {
        let mut b = OutputBuffer::new();
        b.apply(&stream("frame 1"));
        b.apply(&KernelEvent::ClearOutput { wait: true });
        assert_eq!(
            texts(&b),
            vec!["frame 1"],
            "a waiting clear keeps the old output until the next"
        );
        b.apply(&stream("frame 2"));
        assert_eq!(texts(&b), vec!["frame 2"]);
        b.apply(&KernelEvent::ClearOutput { wait: false });
        assert!(b.manifests().is_empty());
    }

    #[test]
    fn update_display_data_replaces_by_id() {
        let mut b = OutputBuffer::new();
        b.apply(&display(Some("bar"), "0%"));
        b.apply(&stream("log\n"));
        let mut data = Map::new();
        data.insert("text/plain".into(), json!("100%"));
        let applied = b.apply(&KernelEvent::UpdateDisplayData {
            data: data.clone(),
            metadata: Map::new(),
            display_id: "bar".into(),
        });
        assert_eq!(applied, Applied::Changed);
        assert_eq!(texts(&b), vec!["100%", "log\n"]);
        let foreign = b.apply(&KernelEvent::UpdateDisplayData {
            data,
            metadata: Map::new(),
            display_id: "elsewhere".into(),
        });
        assert_eq!(foreign, Applied::ForeignDisplay);
    }

    #[test]
    fn long_streams_show_head_and_tail_around_a_marker() {
        let mut b = OutputBuffer::new();
        let line = "x".repeat(1023) + "\n";
        for _ in 0..1024 {
            b.apply(&stream(&line));
        }
        b.apply(&stream("the end\n"));
        assert_eq!(b.long_streams().len(), 1);
        b.set_full_text(0, "abc".into());
        match &b.manifests()[0] {
            OutputManifest::Stream {
                text, truncated, ..
            } => {
                assert!(text.len() < STREAM_INLINE_BYTES + 200, "{}", text.len());
                assert!(text.starts_with("xxx") && text.ends_with("the end\n"));
                assert!(text.contains("bytes not shown; the full output is blob abc"));
                let t = truncated.as_ref().unwrap();
                assert_eq!(t.full_text_sha256.as_deref(), Some("abc"));
                assert_eq!(
                    t.omitted_bytes as usize,
                    1024 * 1024 + 8 - STREAM_INLINE_BYTES
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flush_writes_only_what_changed() {
        let mut doc = RuntimeDoc::create("n").unwrap();
        let x = doc
            .queue_execution(
                &schema::CellId::random(),
                &schema::RunRequest::new("ada", vec![]),
                0,
            )
            .unwrap();
        let mut b = OutputBuffer::new();
        b.apply(&stream("one\n"));
        b.apply(&display(Some("d"), "first"));
        b.flush(&mut doc, &x).unwrap();
        let changes_before = doc.automerge().get_changes(&[]).len();
        b.apply(&stream("ignored: not last"));
        b.flush(&mut doc, &x).unwrap();
        assert_eq!(doc.execution(&x).unwrap().outputs, b.manifests());
        assert_eq!(doc.automerge().get_changes(&[]).len(), changes_before + 1);
        b.apply(&KernelEvent::ClearOutput { wait: false });
        b.apply(&stream("after clear"));
        b.flush(&mut doc, &x).unwrap();
        assert_eq!(doc.execution(&x).unwrap().outputs, b.manifests());
        assert_eq!(b.manifests().len(), 1);
    }
}
