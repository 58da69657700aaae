//! The notebook's secrets, fetched once at start from the server's
//! runtime-only endpoint. They go to the kernel as environment variables
//! and to the masker; they are never logged and never written anywhere.

use crate::config::Config;
use crate::error::{AgentError, Result};
use crate::masking::Masker;
use zeroize::Zeroizing;

/// Names and values; `Debug` shows names only.
#[derive(Default)]
pub struct Secrets {
    entries: Vec<(String, Zeroizing<String>)>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Secrets {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Secrets {
        Secrets {
            entries: pairs
                .into_iter()
                .map(|(name, value)| (name, Zeroizing::new(value)))
                .collect(),
        }
    }

    /// The kernel's extra environment.
    pub fn env(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .map(|(name, value)| (name.clone(), value.to_string()))
            .collect()
    }

    pub fn masker(&self) -> Masker {
        self.masker_with(&[])
    }

    /// A masker for the secrets and `extra` named values (AI provider keys).
    pub fn masker_with(&self, extra: &[(String, String)]) -> Masker {
        Masker::new(
            self.entries
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .chain(extra.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
        )
    }

    pub async fn fetch(config: &Config) -> Result<Secrets> {
        let url = format!(
            "{}/api/notebooks/{}/runtime/secrets",
            config.server_url.trim_end_matches('/'),
            config.notebook_id
        );
        let fail = |what: String| AgentError::Secrets(what);
        let response = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&config.token)
            .send()
            .await
            .map_err(|e| fail(format!("asking the server: {e}")))?;
        let status = response.status();
        if status == reqwest::StatusCode::FORBIDDEN {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            if body["error"] == "secrets_withheld" {
                // An editor's runtime token: the notebook runs, without the
                // secrets its owner keeps from editors.
                tracing::warn!(
                    "{}",
                    body["message"]
                        .as_str()
                        .unwrap_or("secrets withheld from this token")
                );
                return Ok(Secrets::default());
            }
            return Err(fail(format!(
                "the server answered {status}: {}",
                body["message"].as_str().unwrap_or("no message")
            )));
        }
        if !status.is_success() {
            // The server's error message names no value; pass it on.
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            return Err(fail(format!(
                "the server answered {status}: {}",
                body["message"].as_str().unwrap_or("no message")
            )));
        }
        #[derive(serde::Deserialize)]
        struct Reply {
            secrets: std::collections::BTreeMap<String, String>,
        }
        let reply: Reply = response
            .json()
            .await
            .map_err(|_| fail("the server's reply is not the expected JSON".into()))?;
        Ok(Secrets::from_pairs(reply.secrets))
    }
}
