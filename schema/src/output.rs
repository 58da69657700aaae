//! Output manifests: what an execution produced, small enough for the
//! runtime document. Large or binary payloads live in the blob store and the
//! manifest only names them, so re-running a noisy cell does not bloat the
//! document's history.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One MIME type's payload: inline when small, otherwise a blob reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "storage", rename_all = "snake_case")]
pub enum MimePayload {
    Inline { value: serde_json::Value },
    Blob { sha256: String, size_bytes: u64 },
}

pub type MimeBundle = BTreeMap<String, MimePayload>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamName {
    Stdout,
    Stderr,
}

/// One output of an execution, in the order the kernel produced it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "output_type", rename_all = "snake_case")]
pub enum OutputManifest {
    Stream {
        name: StreamName,
        text: String,
        /// Set when the text was cut at the output cap; the full text is in
        /// this blob if it was kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        truncated: Option<Truncation>,
    },
    DisplayData {
        data: MimeBundle,
        #[serde(default)]
        metadata: serde_json::Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_id: Option<String>,
    },
    ExecuteResult {
        execution_count: i64,
        data: MimeBundle,
        #[serde(default)]
        metadata: serde_json::Value,
    },
    Error {
        ename: String,
        evalue: String,
        traceback: Vec<String>,
    },
}

/// How much of an output was dropped at the cap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncation {
    pub omitted_bytes: u64,
    /// The whole text, when it was kept in the blob store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_text_sha256: Option<String>,
}

impl OutputManifest {
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub(crate) fn from_json(raw: &str) -> Option<Self> {
        serde_json::from_str(raw).ok()
    }
}
