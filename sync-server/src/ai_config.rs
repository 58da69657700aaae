//! The AI providers an operator configures for the server: OpenAI-compatible
//! endpoints, their keys and models. Keys stay server-side: agents the
//! server starts fetch them the way they fetch secrets
//! (`GET /api/notebooks/{id}/runtime/ai`), browsers see only the models
//! (`GET /api/ai/models`), and no key is ever logged or written to a
//! document.
//!
//! Configured by `--ai-config FILE` (JSON, below) or, for one endpoint, by
//! `CATHODE_AI_BASE_URL`, `CATHODE_AI_API_KEY` and `CATHODE_AI_MODELS`
//! (comma-separated model ids).
//!
//! ```json
//! {"providers": [{"name": "openai", "base_url": "https://api.openai.com/v1",
//!                 "api_key_env": "OPENAI_API_KEY",
//!                 "models": [{"id": "gpt-4.1", "tools": true, "images": true,
//!                             "context_tokens": 128000}]}],
//!  "default_model": "openai/gpt-4.1", "max_turns": 10}
//! ```

use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelInfo {
    pub id: String,
    /// It takes tool definitions (function calling).
    #[serde(default = "yes")]
    pub tools: bool,
    /// It takes image parts in messages.
    #[serde(default)]
    pub images: bool,
    /// Its context window, in tokens.
    #[serde(default = "default_context")]
    pub context_tokens: u32,
}

fn yes() -> bool {
    true
}

fn default_context() -> u32 {
    32_000
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Provider {
    pub name: String,
    pub base_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    pub models: Vec<ModelInfo>,
}

impl std::fmt::Debug for Provider {
    // Never print a key, not even in a debug log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("models", &self.models)
            .finish()
    }
}

/// How a provider is written in the config file: the key in the file, in
/// an environment variable, or in a file of its own.
#[derive(Deserialize)]
struct ProviderFile {
    name: String,
    base_url: String,
    api_key: Option<String>,
    api_key_env: Option<String>,
    api_key_file: Option<std::path::PathBuf>,
    models: Vec<ModelInfo>,
}

#[derive(Deserialize)]
struct ConfigFile {
    providers: Vec<ProviderFile>,
    default_model: Option<String>,
    max_turns: Option<u32>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct AiConfig {
    pub providers: Vec<Provider>,
    /// `provider/model`.
    pub default_model: Option<String>,
    /// Model turns per AI run at most.
    pub max_turns: u32,
}

/// What a person is told when no provider is configured.
pub const HOW_TO_CONFIGURE: &str = "No AI provider is configured on this server. The operator \
    starts sync-server with --ai-config FILE (providers, keys and models as JSON) or with \
    CATHODE_AI_BASE_URL (an OpenAI-compatible endpoint such as https://api.openai.com/v1 or \
    Ollama's http://localhost:11434/v1), CATHODE_AI_API_KEY and CATHODE_AI_MODELS.";

impl AiConfig {
    pub fn is_configured(&self) -> bool {
        self.providers.iter().any(|p| !p.models.is_empty())
    }

    /// Read `--ai-config`, or the single-endpoint environment, or nothing.
    pub fn load(file: Option<&Path>) -> Result<Self, String> {
        let config = match file {
            Some(path) => Self::from_file(path)?,
            None => Self::from_env()?,
        };
        config.check()?;
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--ai-config {}: {e}", path.display()))?;
        let file: ConfigFile = serde_json::from_str(&text)
            .map_err(|e| format!("--ai-config {}: {e}", path.display()))?;
        let mut providers = Vec::new();
        for p in file.providers {
            let api_key = match (p.api_key, p.api_key_env, p.api_key_file) {
                (Some(key), None, None) => Some(key),
                (None, Some(var), None) => Some(std::env::var(&var).map_err(|_| {
                    format!(
                        "provider {}: the environment variable {var} is not set",
                        p.name
                    )
                })?),
                (None, None, Some(file)) => Some(
                    std::fs::read_to_string(&file)
                        .map_err(|e| format!("provider {}: {}: {e}", p.name, file.display()))?
                        .trim()
                        .to_owned(),
                ),
                (None, None, None) => None,
                _ => {
                    return Err(format!(
                        "provider {}: give at most one of api_key, api_key_env, api_key_file",
                        p.name
                    ))
                }
            };
            providers.push(Provider {
                name: p.name,
                base_url: p.base_url,
                api_key: api_key.filter(|k| !k.is_empty()),
                models: p.models,
            });
        }
        Ok(Self {
            providers,
            default_model: file.default_model,
            max_turns: file.max_turns.unwrap_or(10),
        })
    }

    fn from_env() -> Result<Self, String> {
        let Ok(base_url) = std::env::var("CATHODE_AI_BASE_URL") else {
            return Ok(Self {
                max_turns: 10,
                ..Self::default()
            });
        };
        let models: Vec<ModelInfo> = std::env::var("CATHODE_AI_MODELS")
            .map_err(|_| "CATHODE_AI_BASE_URL is set but CATHODE_AI_MODELS is not".to_owned())?
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(|id| ModelInfo {
                id: id.to_owned(),
                tools: true,
                images: std::env::var("CATHODE_AI_IMAGES").is_ok_and(|v| v == "1"),
                context_tokens: std::env::var("CATHODE_AI_CONTEXT_TOKENS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(default_context),
            })
            .collect();
        let first = models.first().map(|m| format!("default/{}", m.id));
        Ok(Self {
            providers: vec![Provider {
                name: "default".into(),
                base_url,
                api_key: std::env::var("CATHODE_AI_API_KEY")
                    .ok()
                    .filter(|k| !k.is_empty()),
                models,
            }],
            default_model: first,
            max_turns: 10,
        })
    }

    fn check(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for p in &self.providers {
            if p.name.is_empty() || p.name.contains('/') || !names.insert(&p.name) {
                return Err(format!(
                    "provider names must be unique and without '/' ({:?})",
                    p.name
                ));
            }
            if !(p.base_url.starts_with("http://") || p.base_url.starts_with("https://")) {
                return Err(format!("provider {}: base_url must be http(s)", p.name));
            }
        }
        if let Some(default) = &self.default_model {
            if !self.models().iter().any(|(id, _)| id == default) {
                return Err(format!(
                    "default_model {default:?} is not one of the configured models"
                ));
            }
        }
        if self.max_turns == 0 {
            return Err("max_turns must be at least 1".into());
        }
        Ok(())
    }

    /// Every model as `provider/model`, with what it supports.
    pub fn models(&self) -> Vec<(String, &ModelInfo)> {
        self.providers
            .iter()
            .flat_map(|p| {
                p.models
                    .iter()
                    .map(move |m| (format!("{}/{}", p.name, m.id), m))
            })
            .collect()
    }

    /// The default model, else the first configured.
    pub fn default_model(&self) -> Option<String> {
        self.default_model
            .clone()
            .or_else(|| self.models().first().map(|(id, _)| id.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_keys_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ai.json");
        std::env::set_var("CATHODE_TEST_AI_KEY_A", "sk-test-abcdefgh");
        std::fs::write(
            &path,
            r#"{"providers": [{"name": "local", "base_url": "http://127.0.0.1:1/v1",
                "api_key_env": "CATHODE_TEST_AI_KEY_A",
                "models": [{"id": "m1", "images": true}, {"id": "m2", "tools": false}]}],
                "default_model": "local/m2"}"#,
        )
        .unwrap();
        let config = AiConfig::load(Some(&path)).unwrap();
        assert_eq!(
            config.providers[0].api_key.as_deref(),
            Some("sk-test-abcdefgh")
        );
        assert_eq!(config.default_model().as_deref(), Some("local/m2"));
        assert_eq!(config.max_turns, 10);
        let models = config.models();
        assert_eq!(models[0].0, "local/m1");
        assert!(models[0].1.images && models[0].1.tools);
        assert!(
            !format!("{config:?}").contains("sk-test"),
            "a key in a debug print"
        );
    }

    #[test]
    fn bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ai.json");
        std::fs::write(
            &path,
            r#"{"providers": [{"name": "x", "base_url": "ftp://h", "models": []}]}"#,
        )
        .unwrap();
        assert!(AiConfig::load(Some(&path)).unwrap_err().contains("http"));
        std::fs::write(
            &path,
            r#"{"providers": [{"name": "x", "base_url": "http://h", "models": [{"id": "a"}]}],
                "default_model": "x/b"}"#,
        )
        .unwrap();
        assert!(AiConfig::load(Some(&path))
            .unwrap_err()
            .contains("default_model"));
    }
}
