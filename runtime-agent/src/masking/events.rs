//! Masking kernel events as they arrive, before the output buffer, the blob
//! store or a log line sees them.
//!
//! A secret printed in pieces (`print(key[:6], end="")` then the rest)
//! arrives as two stream messages, and the first would be written to the
//! document before the second shows that together they form a secret. So
//! the end of a stream that could begin a secret is held back until the
//! next chunk decides it, or until the stream is interrupted by another
//! event or the execution ends.

use super::Masker;
use kernels::{KernelEvent, StreamName};
use std::sync::Arc;

pub struct EventMasker {
    masker: Arc<Masker>,
    held: Option<(StreamName, String)>,
}

impl EventMasker {
    pub fn new(masker: Arc<Masker>) -> Self {
        EventMasker { masker, held: None }
    }

    /// The events to pass on for `event`, masked; zero, one or two of them.
    pub fn push(&mut self, event: KernelEvent) -> Vec<KernelEvent> {
        if self.masker.is_empty() {
            return vec![event];
        }
        let mut out = Vec::with_capacity(2);
        match event {
            KernelEvent::Stream { name, text } => {
                let mut combined = match self.held.take() {
                    Some((held_name, held)) if held_name == name => held,
                    Some((held_name, held)) => {
                        out.extend(self.release_text(held_name, held));
                        String::new()
                    }
                    None => String::new(),
                };
                combined.push_str(&text);
                let mut masked = self.masker.mask(&combined).into_owned();
                let keep = self.masker.pending_prefix_len(&masked);
                if keep > 0 {
                    let held = masked.split_off(masked.len() - keep);
                    self.held = Some((name, held));
                }
                if !masked.is_empty() {
                    out.push(KernelEvent::Stream { name, text: masked });
                }
            }
            other => {
                out.extend(self.finish());
                out.push(self.mask_other(other));
            }
        }
        out
    }

    /// Whatever a stream still holds back: the execution ended, or
    /// something else is about to be shown after it.
    pub fn finish(&mut self) -> Option<KernelEvent> {
        let (name, held) = self.held.take()?;
        self.release_text(name, held)
    }

    fn release_text(&self, name: StreamName, text: String) -> Option<KernelEvent> {
        (!text.is_empty()).then(|| KernelEvent::Stream {
            name,
            text: self.masker.mask(&text).into_owned(),
        })
    }

    fn mask_other(&self, event: KernelEvent) -> KernelEvent {
        fn mask_bundle(
            m: &Masker,
            data: &mut kernels::MimeBundle,
            metadata: &mut serde_json::Map<String, serde_json::Value>,
        ) {
            data.values_mut().for_each(|v| m.mask_json(v));
            metadata.values_mut().for_each(|v| m.mask_json(v));
        }
        let m = &self.masker;
        match event {
            KernelEvent::DisplayData {
                mut data,
                mut metadata,
                display_id,
            } => {
                mask_bundle(m, &mut data, &mut metadata);
                KernelEvent::DisplayData {
                    data,
                    metadata,
                    display_id,
                }
            }
            KernelEvent::UpdateDisplayData {
                mut data,
                mut metadata,
                display_id,
            } => {
                mask_bundle(m, &mut data, &mut metadata);
                KernelEvent::UpdateDisplayData {
                    data,
                    metadata,
                    display_id,
                }
            }
            KernelEvent::ExecuteResult {
                execution_count,
                mut data,
                mut metadata,
            } => {
                mask_bundle(m, &mut data, &mut metadata);
                KernelEvent::ExecuteResult {
                    execution_count,
                    data,
                    metadata,
                }
            }
            KernelEvent::Error {
                mut ename,
                mut evalue,
                mut traceback,
            } => {
                m.mask_string(&mut ename);
                m.mask_string(&mut evalue);
                traceback.iter_mut().for_each(|line| m.mask_string(line));
                KernelEvent::Error {
                    ename,
                    evalue,
                    traceback,
                }
            }
            KernelEvent::InputRequest {
                mut prompt,
                password,
            } => {
                m.mask_string(&mut prompt);
                KernelEvent::InputRequest { prompt, password }
            }
            KernelEvent::Died { mut status } => {
                m.mask_string(&mut status.reason);
                KernelEvent::Died { status }
            }
            other @ (KernelEvent::Stream { .. }
            | KernelEvent::ClearOutput { .. }
            | KernelEvent::Status { .. }) => other,
        }
    }
}
