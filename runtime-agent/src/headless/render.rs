//! Outputs as text for a terminal, as `cathode-run` prints them.

use schema::{MimePayload, OutputManifest};

/// An output as text for a terminal.
pub fn render(output: &OutputManifest) -> String {
    let mut text = match output {
        OutputManifest::Stream {
            text, truncated, ..
        } => {
            let mut t = text.clone();
            if let Some(cut) = truncated {
                t.push_str(&format!(
                    "\n[... {} more bytes not kept]\n",
                    cut.omitted_bytes
                ));
            }
            t
        }
        OutputManifest::ExecuteResult { data, .. } | OutputManifest::DisplayData { data, .. } => {
            let mut parts = Vec::new();
            for (mime, payload) in data {
                match (mime.as_str(), payload) {
                    ("text/plain", MimePayload::Inline { value }) => parts.push(
                        value
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| value.to_string()),
                    ),
                    (_, MimePayload::Inline { value }) if mime != "text/plain" => {
                        let size = value.as_str().map(|s| s.len()).unwrap_or(0);
                        parts.push(format!("[{mime}, {size} bytes]"));
                    }
                    (_, MimePayload::Blob { sha256, size_bytes }) => {
                        parts.push(format!("[{mime}, {size_bytes} bytes, blob {sha256}]"))
                    }
                    _ => {}
                }
            }
            parts.join("\n")
        }
        OutputManifest::Error {
            ename,
            evalue,
            traceback,
        } => {
            if traceback.is_empty() {
                format!("{ename}: {evalue}")
            } else {
                // Kernels differ on whether each entry ends in a newline.
                traceback
                    .iter()
                    .map(|l| l.trim_end_matches('\n'))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
