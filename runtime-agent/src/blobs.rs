//! Large and binary output payloads go to the server's content-addressed
//! blob store; the runtime document keeps only their hash and size, so a
//! plot re-drawn a hundred times does not bloat the document's history.

use crate::config::Config;
use crate::outputs::Offloaded;
use base64::Engine;
use schema::MimePayload;

/// Payloads larger than this (in bytes, decoded) are stored as blobs.
pub const INLINE_LIMIT: usize = 16 * 1024;

pub struct BlobStore {
    http: reqwest::Client,
    url: String,
    /// `GET {this}{sha256}` reads a blob back.
    read_url: String,
    token: String,
}

impl BlobStore {
    pub fn new(config: &Config) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!(
                "{}/api/notebooks/{}/blobs",
                config.server_url.trim_end_matches('/'),
                config.notebook_id
            ),
            read_url: format!("{}/blobs/", config.server_url.trim_end_matches('/')),
            token: config.token.clone(),
        }
    }

    /// Read a blob back (an image the AI's model is shown).
    pub async fn get(&self, sha256: &str) -> Result<Vec<u8>, String> {
        let response = self
            .http
            .get(format!("{}{sha256}", self.read_url))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("the server answered {}", response.status()));
        }
        Ok(response.bytes().await.map_err(|e| e.to_string())?.to_vec())
    }

    /// Store `bytes`, retrying a few times: a server restarting or busy
    /// should not cost an output its payload.
    pub async fn put(&self, bytes: Vec<u8>) -> Result<String, String> {
        // Shared, not copied, between attempts.
        let bytes = bytes::Bytes::from(bytes);
        let mut delay = std::time::Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match self.put_once(bytes.clone()).await {
                Ok(sha) => return Ok(sha),
                Err(e) if attempt < 4 => {
                    tracing::warn!(error = %e, attempt, "storing a blob failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 3;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn put_once(&self, bytes: bytes::Bytes) -> Result<String, String> {
        let resp = self
            .http
            .put(&self.url)
            .bearer_auth(&self.token)
            .body(bytes)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status}: {}", body["message"]));
        }
        body["sha256"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "no sha256 in the reply".to_owned())
    }

    /// Move every large payload of a MIME bundle to the blob store. Images
    /// are stored decoded, so `GET /blobs/{hash}` serves the image itself. A
    /// payload that cannot be stored stays inline: an output is never lost.
    pub async fn offload(&self, data: &serde_json::Map<String, serde_json::Value>) -> Offloaded {
        let mut offloaded = Offloaded::new();
        for (mime, value) in data {
            let bytes = match value {
                serde_json::Value::String(s) if is_base64_image(mime) => {
                    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
                    match base64::engine::general_purpose::STANDARD.decode(compact) {
                        Ok(b) => b,
                        Err(_) => s.clone().into_bytes(),
                    }
                }
                serde_json::Value::String(s) => s.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            };
            if bytes.len() <= INLINE_LIMIT {
                continue;
            }
            let size_bytes = bytes.len() as u64;
            match self.put(bytes).await {
                Ok(sha256) => {
                    offloaded.insert(mime.clone(), MimePayload::Blob { sha256, size_bytes });
                }
                Err(e) => {
                    tracing::warn!(%mime, error = %e, "could not store a blob; keeping the payload inline")
                }
            }
        }
        offloaded
    }
}

fn is_base64_image(mime: &str) -> bool {
    mime.starts_with("image/") && mime != "image/svg+xml"
}
