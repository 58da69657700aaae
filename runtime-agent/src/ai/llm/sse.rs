//! Server-sent events as an OpenAI-compatible stream sends them: `data:`
//! lines, events separated by a blank line, comments (`:`) ignored, and
//! `data: [DONE]` at the end. Bytes arrive in arbitrary pieces, so a line
//! (or a UTF-8 character) may be split between two reads.

/// One event's data, or the end of the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum SseEvent {
    Data(String),
    Done,
}

#[derive(Default)]
pub struct SseParser {
    pending: Vec<u8>,
    data: Vec<String>,
}

impl SseParser {
    /// Feed bytes; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if let Some(event) = self.dispatch() {
                    events.push(event);
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            if field == "data" {
                self.data.push(value.to_owned());
            }
        }
        events
    }

    /// The stream ended: an event not yet closed by a blank line counts.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let mut events = self.push(&rest);
            events.extend(self.push(b"\n\n"));
            return events.into_iter().next();
        }
        self.dispatch()
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if self.data.is_empty() {
            return None;
        }
        let data = std::mem::take(&mut self.data).join("\n");
        if data.trim() == "[DONE]" {
            Some(SseEvent::Done)
        } else {
            Some(SseEvent::Data(data))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_come_out_whole() {
        let stream =
            "data: {\"a\":\"é\"}\n\n: keep-alive\n\ndata: {\"b\":1}\r\n\r\ndata: [DONE]\n\n";
        let bytes = stream.as_bytes();
        for split in 1..bytes.len() {
            let mut p = SseParser::default();
            let mut events = p.push(&bytes[..split]);
            events.extend(p.push(&bytes[split..]));
            assert_eq!(
                events,
                vec![
                    SseEvent::Data("{\"a\":\"é\"}".into()),
                    SseEvent::Data("{\"b\":1}".into()),
                    SseEvent::Done
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn a_last_event_without_its_blank_line_counts() {
        let mut p = SseParser::default();
        assert!(p.push(b"data: {\"x\":1}").is_empty());
        assert_eq!(p.finish(), Some(SseEvent::Data("{\"x\":1}".into())));
    }
}
