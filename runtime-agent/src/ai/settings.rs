//! The AI providers this agent may use, fetched once at start from the
//! server (only an agent the server started gets them, keys included; see
//! `sync-server/src/api/ai.rs`). Keys go to the masker like secrets and are
//! never logged: `Debug` shows provider names only.

use crate::config::Config;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ModelInfo {
    pub id: String,
    #[serde(default = "yes")]
    pub tools: bool,
    #[serde(default)]
    pub images: bool,
    #[serde(default = "default_context")]
    pub context_tokens: u32,
}

fn yes() -> bool {
    true
}

fn default_context() -> u32 {
    32_000
}

#[derive(Clone, Deserialize)]
pub struct Provider {
    pub name: String,
    pub base_url: String,
    pub api_key: Option<String>,
    pub models: Vec<ModelInfo>,
}

/// What the server told this agent.
#[derive(Clone, Default, Deserialize)]
pub struct AiSettings {
    #[serde(default)]
    pub providers: Vec<Provider>,
    pub default_model: Option<String>,
    #[serde(default = "ten")]
    pub max_turns: u32,
    /// Said in an AI cell when nothing is configured.
    #[serde(default)]
    pub how_to_configure: String,
    /// Why this agent has no providers at all (not started by the server).
    #[serde(skip)]
    pub withheld: Option<String>,
}

fn ten() -> u32 {
    10
}

impl std::fmt::Debug for AiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.providers.iter().map(|p| &p.name))
            .finish()
    }
}

/// A chosen model, with where it is served.
#[derive(Clone, Debug)]
pub struct ChosenModel {
    /// `provider/model`, as shown and attributed.
    pub id: String,
    pub info: ModelInfo,
    pub endpoint: super::llm::Endpoint,
}

impl AiSettings {
    /// Fetch from the server; a refusal (an agent someone started by
    /// hand) or an unreachable endpoint leaves the AI unavailable, with
    /// the reason, and the agent runs on.
    pub async fn fetch(config: &Config) -> AiSettings {
        let url = format!(
            "{}/api/notebooks/{}/runtime/ai",
            config.server_url.trim_end_matches('/'),
            config.notebook_id
        );
        let unavailable = |why: String| AiSettings {
            withheld: Some(why),
            ..AiSettings::default()
        };
        let response = match reqwest::Client::new()
            .get(&url)
            .bearer_auth(&config.token)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return unavailable(format!("could not ask the server for AI providers: {e}"))
            }
        };
        let status = response.status();
        if !status.is_success() {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            return unavailable(
                body["message"]
                    .as_str()
                    .unwrap_or("the server gave no AI providers to this agent")
                    .to_owned(),
            );
        }
        match response.json::<AiSettings>().await {
            Ok(settings) => settings,
            Err(e) => unavailable(format!("the server's AI settings could not be read: {e}")),
        }
    }

    /// Provider keys, to be masked wherever they might appear.
    pub fn keys(&self) -> Vec<(String, String)> {
        self.providers
            .iter()
            .filter_map(|p| {
                p.api_key
                    .clone()
                    .map(|k| (format!("AI_KEY_{}", p.name.to_uppercase()), k))
            })
            .collect()
    }

    /// `wanted` (`provider/model`, or a bare model id), else the default.
    pub fn choose(&self, wanted: Option<&str>) -> Result<ChosenModel, String> {
        if let Some(why) = &self.withheld {
            return Err(why.clone());
        }
        let all: Vec<(String, &Provider, &ModelInfo)> = self
            .providers
            .iter()
            .flat_map(|p| {
                p.models
                    .iter()
                    .map(move |m| (format!("{}/{}", p.name, m.id), p, m))
            })
            .collect();
        if all.is_empty() {
            return Err(self.how_to_configure.clone());
        }
        let pick = wanted
            .or(self.default_model.as_deref())
            .and_then(|w| all.iter().find(|(id, _, m)| id == w || m.id == w))
            .or_else(|| all.first());
        let Some((id, provider, info)) = pick else {
            return Err(self.how_to_configure.clone());
        };
        if let Some(w) = wanted {
            if id != w && info.id != w {
                let names: Vec<&str> = all.iter().map(|(id, _, _)| id.as_str()).collect();
                return Err(format!(
                    "the model {w:?} is not configured on this server (there are: {})",
                    names.join(", ")
                ));
            }
        }
        Ok(ChosenModel {
            id: id.clone(),
            info: (*info).clone(),
            endpoint: super::llm::Endpoint {
                base_url: provider.base_url.clone(),
                api_key: provider.api_key.clone(),
            },
        })
    }
}
