//! Outputs as the model reads them: text preferred (`text/llm+plain`, then
//! `text/markdown`, `text/plain`, JSON), ANSI colours stripped, long text
//! cut to its head and tail with what was left out said, errors with their
//! whole traceback, images named by type and size (the agent sends them as
//! image parts to models that take images).

use schema::{MimeBundle, MimePayload, OutputManifest, StreamName};
use serde_json::Value;

/// How much of a long text is kept, in characters.
#[derive(Clone, Copy, Debug)]
pub struct Cut {
    pub head: usize,
    pub tail: usize,
}

impl Cut {
    /// For outputs in the notebook's context.
    pub const CONTEXT: Cut = Cut {
        head: 1500,
        tail: 800,
    };
    /// For a tool's answer about one cell (read_cell).
    pub const FULL: Cut = Cut {
        head: 20_000,
        tail: 5_000,
    };
}

/// One output for the model: text, or an image it may see.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Text(String),
    Image {
        mime: String,
        payload: MimePayload,
        /// Said instead when the model cannot take images.
        described: String,
    },
}

/// Remove ANSI escape sequences (colours in tracebacks and streams).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // CSI: parameters then one final byte in @..~
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// `text`, or its head and tail around a note of what was left out.
pub fn cut(text: &str, cut: Cut) -> String {
    let total = text.chars().count();
    if total <= cut.head + cut.tail + 100 {
        return text.to_owned();
    }
    let head: String = text.chars().take(cut.head).collect();
    let tail: String = text.chars().skip(total - cut.tail).collect();
    let omitted = total - cut.head - cut.tail;
    format!("{head}\n[... {omitted} characters left out ...]\n{tail}")
}

fn inline_text(payload: &MimePayload) -> Option<String> {
    match payload {
        MimePayload::Inline {
            value: Value::String(s),
        } => Some(s.clone()),
        MimePayload::Inline { value } => Some(value.to_string()),
        MimePayload::Blob { .. } => None,
    }
}

fn size_of(payload: &MimePayload) -> u64 {
    match payload {
        MimePayload::Inline { value } => {
            value.as_str().map_or(value.to_string().len(), str::len) as u64
        }
        MimePayload::Blob { size_bytes, .. } => *size_bytes,
    }
}

fn bundle(data: &MimeBundle, limit: Cut) -> Vec<Part> {
    let mut parts = Vec::new();
    for mime in [
        "text/llm+plain",
        "text/markdown",
        "text/plain",
        "application/json",
    ] {
        if let Some(payload) = data.get(mime) {
            let text = match inline_text(payload) {
                Some(t) => cut(&strip_ansi(&t), limit),
                None => format!(
                    "[{mime}, {} bytes, kept in the blob store]",
                    size_of(payload)
                ),
            };
            parts.push(Part::Text(text));
            break;
        }
    }
    for (mime, payload) in data {
        if mime.starts_with("image/") && mime != "image/svg+xml" {
            parts.push(Part::Image {
                mime: mime.clone(),
                payload: payload.clone(),
                described: format!("[image {mime}, {} bytes]", size_of(payload)),
            });
        }
    }
    if parts.is_empty() {
        let kinds: Vec<String> = data
            .iter()
            .map(|(m, p)| format!("{m}, {} bytes", size_of(p)))
            .collect();
        parts.push(Part::Text(format!("[{}]", kinds.join("; "))));
    }
    parts
}

/// One output as parts for the model.
pub fn output(output: &OutputManifest, limit: Cut) -> Vec<Part> {
    match output {
        OutputManifest::Stream {
            name,
            text,
            truncated,
        } => {
            let mut text = cut(&strip_ansi(text), limit);
            if let Some(t) = truncated {
                text.push_str(&format!(
                    "\n[{} more bytes of this stream were not kept here]",
                    t.omitted_bytes
                ));
            }
            let label = match name {
                StreamName::Stdout => "stdout",
                StreamName::Stderr => "stderr",
            };
            vec![Part::Text(format!("[{label}]\n{text}"))]
        }
        OutputManifest::ExecuteResult { data, .. } | OutputManifest::DisplayData { data, .. } => {
            bundle(data, limit)
        }
        OutputManifest::Error {
            ename,
            evalue,
            traceback,
        } => {
            let trace = strip_ansi(&traceback.join("\n"));
            vec![Part::Text(format!("[error] {ename}: {evalue}\n{trace}"))]
        }
    }
}

/// Outputs as one text (images described), for a tool's answer.
pub fn outputs_text(outputs: &[OutputManifest], limit: Cut) -> String {
    outputs
        .iter()
        .flat_map(|o| output(o, limit))
        .map(|p| match p {
            Part::Text(t) => t,
            Part::Image { described, .. } => described,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ansi_is_stripped_and_long_text_cut() {
        assert_eq!(
            strip_ansi("\u{1b}[0;31mValueError\u{1b}[0m: x"),
            "ValueError: x"
        );
        let long: String = (0..5000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let c = cut(&long, Cut { head: 10, tail: 5 });
        assert!(c.starts_with(&long[..10]) && c.ends_with(&long[4995..]));
        assert!(c.contains("4985 characters left out"));
    }

    #[test]
    fn text_is_preferred_and_images_kept_aside() {
        let mut data = MimeBundle::new();
        data.insert(
            "text/plain".into(),
            MimePayload::Inline {
                value: json!("<Figure>"),
            },
        );
        data.insert(
            "text/markdown".into(),
            MimePayload::Inline {
                value: json!("**hi**"),
            },
        );
        data.insert(
            "image/png".into(),
            MimePayload::Blob {
                sha256: "ab".into(),
                size_bytes: 900,
            },
        );
        let parts = bundle(&data, Cut::CONTEXT);
        assert_eq!(parts[0], Part::Text("**hi**".into()));
        assert!(matches!(&parts[1], Part::Image { mime, .. } if mime == "image/png"));
    }
}
