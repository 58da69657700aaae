//! AI cells in tests: a server whose AI provider is the scripted fake
//! (`fake_llm.rs`), AI cells added and run, and their outputs read back.

use crate::fake_llm::FakeLlm;
use crate::server::ServerOptions;
use crate::TestServer;
use cathode_client::NotebookClient;
use schema::{CellId, CellType, ExecutionRecord, MimePayload, OutputManifest, Placement};
use serde_json::{json, Value};

/// The provider key the tests configure: it must never leave the server
/// and the agent except in the `Authorization` header to the provider.
pub const API_KEY: &str = "sk-cathode-test-Kq7Zr2Vw9Lp4Xn8";

pub const TOOL_CALL: &str = "application/vnd.cathode.ai.tool-call+json";
pub const TOOL_RESULT: &str = "application/vnd.cathode.ai.tool-result+json";
pub const STATUS: &str = "application/vnd.cathode.ai.status+json";

pub struct AiModel {
    pub id: &'static str,
    pub images: bool,
    pub context_tokens: u32,
}

impl Default for AiModel {
    fn default() -> Self {
        Self {
            id: "fake-model",
            images: true,
            context_tokens: 32_000,
        }
    }
}

/// A server (auto-starting agents on `kernel`) whose one provider is `fake`.
pub fn server_with_ai(fake: &FakeLlm, kernel: &str, model: AiModel, max_turns: u32) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let config = dir.join("ai.json");
    std::fs::write(
        &config,
        json!({"providers": [{"name": "fake", "base_url": fake.base_url, "api_key": API_KEY,
            "models": [{"id": model.id, "tools": true, "images": model.images,
                        "context_tokens": model.context_tokens}]}],
               "max_turns": max_turns})
        .to_string(),
    )
    .expect("write the AI config");
    TestServer::start_with_options(
        &[
            "--ai-config",
            config.to_str().unwrap_or_default(),
            "--default-kernel",
            kernel,
        ],
        ServerOptions {
            auto_runtime: true,
            ..ServerOptions::logged()
        },
    )
    .expect("start the server")
}

pub async fn add_ai_cell(client: &NotebookClient, prompt: &str) -> CellId {
    let prompt = prompt.to_owned();
    client
        .edit_notebook(move |nb| nb.create_cell(CellType::Ai, Placement::End, &prompt))
        .await
        .unwrap()
        .unwrap()
}

fn inline<'a>(output: &'a OutputManifest, mime: &str) -> Option<&'a Value> {
    match output {
        OutputManifest::DisplayData { data, .. } => match data.get(mime) {
            Some(MimePayload::Inline { value }) => Some(value),
            _ => None,
        },
        _ => None,
    }
}

/// The replies, one per model turn that wrote text.
pub fn replies(x: &ExecutionRecord) -> Vec<String> {
    x.outputs
        .iter()
        .filter_map(|o| {
            inline(o, "text/markdown")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

pub fn status(x: &ExecutionRecord) -> Value {
    x.outputs
        .iter()
        .find_map(|o| inline(o, STATUS).cloned())
        .unwrap_or(Value::Null)
}

pub fn tool_calls(x: &ExecutionRecord) -> Vec<Value> {
    x.outputs
        .iter()
        .filter_map(|o| inline(o, TOOL_CALL).cloned())
        .collect()
}

pub fn tool_results(x: &ExecutionRecord) -> Vec<Value> {
    x.outputs
        .iter()
        .filter_map(|o| inline(o, TOOL_RESULT).cloned())
        .collect()
}

/// Set the notebook's AI approval mode (`auto`, `ask_execute`, `ask_all`)
/// and how long a question waits.
pub async fn set_approval(client: &NotebookClient, mode: &str, timeout_seconds: u64) {
    let settings = json!({"ai_approval": mode, "ai_approval_timeout_seconds": timeout_seconds});
    client
        .edit_notebook(move |nb| nb.set_notebook_metadata("cathode", Some(&settings)))
        .await
        .unwrap()
        .unwrap();
}

/// Wait until the AI run's execution asks approval number `seq`.
pub async fn wait_approval(
    client: &NotebookClient,
    execution: &schema::ExecutionId,
    seq: u32,
) -> schema::ApprovalRequest {
    let mut revision = client.revision();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        revision.borrow_and_update();
        let x = execution.clone();
        // Another person's replica may not hold the execution yet: that is
        // "not asked yet", not a failure.
        let asked = match client
            .runtime(move |rt| rt.approval_request(&x))
            .await
            .unwrap()
        {
            Ok(asked) => asked,
            Err(schema::SchemaError::NoSuchExecution(_)) => None,
            Err(e) => panic!("reading the approval request: {e}"),
        };
        if let Some(a) = asked.filter(|a| a.seq == seq) {
            return a;
        }
        tokio::time::timeout_at(deadline, revision.changed())
            .await
            .expect("no approval was asked")
            .unwrap();
    }
}
