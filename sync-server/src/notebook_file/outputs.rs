//! One output between nbformat's JSON and the runtime document's
//! [`OutputManifest`], stored the way the runtime agent stores what a
//! kernel sends (`runtime-agent/src/blobs.rs`, `outputs.rs`): payloads over
//! 16 KiB go to the blob store (images decoded, so `/blobs/{sha}` serves
//! the image itself; JSON as its text; anything else as UTF-8), and a
//! stream over 16 KiB keeps its head and tail in the document with the
//! whole text in a blob. Export reverses exactly that.

use base64::Engine;
use schema::{MimeBundle, MimePayload, OutputManifest, StreamName, Truncation};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Larger payloads (decoded bytes) and stream texts go to the blob store.
pub const INLINE_LIMIT: usize = 16 * 1024;
/// What a long stream keeps in the document, at each end.
const STREAM_END_BYTES: usize = 1024;

/// Blobs an import makes, by sha256, stored before the notebook is.
pub type NewBlobs = HashMap<String, Vec<u8>>;

fn keep(blobs: &mut NewBlobs, bytes: Vec<u8>) -> String {
    let sha = hex::encode(Sha256::digest(&bytes));
    blobs.insert(sha.clone(), bytes);
    sha
}

/// nbformat's multiline string: a string, or lines to be joined.
pub fn joined(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// Lines with their line ends, as Jupyter writes sources and texts.
pub fn split_lines(s: &str) -> Value {
    Value::Array(s.split_inclusive('\n').map(|l| json!(l)).collect())
}

fn is_base64_image(mime: &str) -> bool {
    mime.starts_with("image/") && mime != "image/svg+xml"
}

pub fn is_json_mime(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn stream(name: StreamName, text: String, blobs: &mut NewBlobs) -> OutputManifest {
    if text.len() <= INLINE_LIMIT {
        return OutputManifest::Stream {
            name,
            text,
            truncated: None,
        };
    }
    let head = &text[..floor_boundary(&text, STREAM_END_BYTES)];
    let tail = &text[ceil_boundary(&text, text.len() - STREAM_END_BYTES)..];
    let hidden = (text.len() - head.len() - tail.len()) as u64;
    let shown =
        format!("{head}\n[... {hidden} bytes not shown; the full output is in a blob ...]\n{tail}");
    let sha = keep(blobs, text.into_bytes());
    OutputManifest::Stream {
        name,
        text: shown,
        truncated: Some(Truncation {
            omitted_bytes: hidden,
            full_text_sha256: Some(sha),
        }),
    }
}

fn bundle(data: &Map<String, Value>, blobs: &mut NewBlobs) -> MimeBundle {
    let mut out = MimeBundle::new();
    for (mime, value) in data {
        // Text arrives as lines; JSON types keep their value.
        let value = match value {
            Value::Array(_) if !is_json_mime(mime) => Value::String(joined(value)),
            other => other.clone(),
        };
        let bytes = match &value {
            Value::String(s) if is_base64_image(mime) => {
                let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
                // Not base64 after all: kept inline, exactly as it came.
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .ok()
            }
            Value::String(s) => Some(s.clone().into_bytes()),
            other => Some(other.to_string().into_bytes()),
        };
        let payload = match bytes {
            Some(bytes) if bytes.len() > INLINE_LIMIT => MimePayload::Blob {
                size_bytes: bytes.len() as u64,
                sha256: keep(blobs, bytes),
            },
            _ => MimePayload::Inline { value },
        };
        out.insert(mime.clone(), payload);
    }
    out
}

fn object_or_empty(v: Option<&Value>) -> Value {
    match v {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => json!({}),
    }
}

/// A validated nbformat output as a manifest. `cell_count` stands in for
/// an `execute_result` whose own count is null (the manifest has no null).
pub fn import_output(
    output: &Value,
    cell_count: Option<i64>,
    blobs: &mut NewBlobs,
) -> OutputManifest {
    let field = |k: &str| output.get(k);
    let empty = Map::new();
    let data = field("data").and_then(Value::as_object).unwrap_or(&empty);
    match field("output_type").and_then(Value::as_str) {
        Some("stream") => {
            let name = match field("name").and_then(Value::as_str) {
                Some("stderr") => StreamName::Stderr,
                _ => StreamName::Stdout,
            };
            stream(name, field("text").map(joined).unwrap_or_default(), blobs)
        }
        Some("execute_result") => OutputManifest::ExecuteResult {
            execution_count: field("execution_count")
                .and_then(Value::as_i64)
                .or(cell_count)
                .unwrap_or(0),
            data: bundle(data, blobs),
            metadata: object_or_empty(field("metadata")),
        },
        Some("error") => OutputManifest::Error {
            ename: field("ename")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            evalue: field("evalue")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            traceback: field("traceback")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        },
        // display_data; validation admits no other type.
        _ => OutputManifest::DisplayData {
            data: bundle(data, blobs),
            metadata: object_or_empty(field("metadata")),
            display_id: field("transient")
                .and_then(|t| t.get("display_id"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
    }
}

/// The blobs an export of `output` reads.
pub fn blobs_of(output: &OutputManifest) -> Vec<String> {
    match output {
        OutputManifest::Stream {
            truncated:
                Some(Truncation {
                    full_text_sha256: Some(sha),
                    ..
                }),
            ..
        } => vec![sha.clone()],
        OutputManifest::DisplayData { data, .. } | OutputManifest::ExecuteResult { data, .. } => {
            data.values()
                .filter_map(|p| match p {
                    MimePayload::Blob { sha256, .. } => Some(sha256.clone()),
                    MimePayload::Inline { .. } => None,
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Text MIME types are written as lines, as Jupyter does.
fn mime_value(mime: &str, value: Value) -> Value {
    match value {
        Value::String(s)
            if mime.starts_with("text/")
                || mime == "application/javascript"
                || mime == "image/svg+xml" =>
        {
            split_lines(&s)
        }
        other => other,
    }
}

fn export_bundle(data: &MimeBundle, blobs: &HashMap<String, Vec<u8>>) -> Map<String, Value> {
    let mut out = Map::new();
    for (mime, payload) in data {
        let value = match payload {
            MimePayload::Inline { value } => value.clone(),
            MimePayload::Blob { sha256, .. } => match blobs.get(sha256) {
                Some(bytes) if is_base64_image(mime) => {
                    json!(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
                Some(bytes) if is_json_mime(mime) => serde_json::from_slice(bytes)
                    .unwrap_or_else(|_| json!(String::from_utf8_lossy(bytes))),
                Some(bytes) => json!(String::from_utf8_lossy(bytes)),
                // A blob gone missing: say so rather than write a broken file.
                None => {
                    out.insert(
                        "text/plain".into(),
                        json!(format!("[output not exported: blob {sha256} is missing]")),
                    );
                    continue;
                }
            },
        };
        out.insert(mime.clone(), mime_value(mime, value));
    }
    out
}

/// A manifest as an nbformat 4.5 output, with its blobs inlined back and a
/// cut stream whole again.
pub fn export_output(output: &OutputManifest, blobs: &HashMap<String, Vec<u8>>) -> Value {
    match output {
        OutputManifest::Stream {
            name,
            text,
            truncated,
        } => {
            let full = truncated
                .as_ref()
                .and_then(|t| t.full_text_sha256.as_ref())
                .and_then(|sha| blobs.get(sha))
                .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
            let name = match name {
                StreamName::Stdout => "stdout",
                StreamName::Stderr => "stderr",
            };
            json!({"output_type": "stream", "name": name, "text": split_lines(full.as_deref().unwrap_or(text))})
        }
        OutputManifest::DisplayData { data, metadata, .. } => json!({
            "output_type": "display_data",
            "data": export_bundle(data, blobs),
            "metadata": object_or_empty(Some(metadata)),
        }),
        OutputManifest::ExecuteResult {
            execution_count,
            data,
            metadata,
        } => json!({
            "output_type": "execute_result",
            "execution_count": execution_count,
            "data": export_bundle(data, blobs),
            "metadata": object_or_empty(Some(metadata)),
        }),
        OutputManifest::Error {
            ename,
            evalue,
            traceback,
        } => json!({
            "output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(output: Value) -> (OutputManifest, Value, usize) {
        let mut blobs = NewBlobs::new();
        let manifest = import_output(&output, Some(1), &mut blobs);
        let count = blobs.len();
        (manifest.clone(), export_output(&manifest, &blobs), count)
    }

    #[test]
    fn a_long_stream_is_cut_in_the_document_and_whole_in_export() {
        let text = "line of output\n".repeat(5000);
        let (manifest, back, blobs) =
            round_trip(json!({"output_type": "stream", "name": "stdout", "text": text}));
        assert_eq!(blobs, 1);
        match manifest {
            OutputManifest::Stream {
                text: shown,
                truncated: Some(t),
                ..
            } => {
                assert!(shown.len() < 3 * STREAM_END_BYTES, "{}", shown.len());
                assert!(t.omitted_bytes > 70_000);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(joined(&back["text"]), text);
    }

    #[test]
    fn a_large_image_goes_to_a_blob_decoded_and_comes_back_encoded() {
        let bytes: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let (manifest, back, blobs) = round_trip(json!({
            "output_type": "display_data", "metadata": {"image/png": {"width": 4}},
            "data": {"image/png": format!("{b64}\n"), "text/plain": ["<Figure>"]}}));
        assert_eq!(blobs, 1);
        let OutputManifest::DisplayData { data, .. } = manifest else {
            panic!()
        };
        assert!(matches!(
            data["image/png"],
            MimePayload::Blob {
                size_bytes: 40_000,
                ..
            }
        ));
        assert_eq!(back["data"]["image/png"], json!(b64));
        assert_eq!(back["data"]["text/plain"], json!(["<Figure>"]));
        assert_eq!(back["metadata"]["image/png"]["width"], 4);
    }

    #[test]
    fn json_payloads_keep_their_value_large_or_small() {
        let big: Vec<Value> = (0..5000).map(|i| json!({"i": i})).collect();
        let (_, back, blobs) = round_trip(json!({
            "output_type": "execute_result", "execution_count": null, "metadata": {},
            "data": {"application/json": big, "application/vnd.raw.v1+json": {"a": "😀"}}}));
        assert_eq!(blobs, 1);
        assert_eq!(
            back["data"]["application/json"].as_array().map(Vec::len),
            Some(5000)
        );
        assert_eq!(back["data"]["application/vnd.raw.v1+json"]["a"], "😀");
        assert_eq!(back["execution_count"], 1, "a null count takes the cell's");
    }

    #[test]
    fn errors_round_trip() {
        let error = json!({"output_type": "error", "ename": "ZeroDivisionError", "evalue": "x",
                           "traceback": ["\u{1b}[0;31mTraceback\u{1b}[0m", "line"]});
        let (_, back, _) = round_trip(error.clone());
        assert_eq!(back, error);
    }
}
