//! cathode's notebook tools over the Model Context Protocol, so Claude
//! Code or any MCP client can work in a notebook while people watch: the
//! same tools the agent's AI cells use (`cathode-tools`, one
//! implementation), plus `list_notebooks` and `read_context`, each taking
//! the notebook it acts on.
//!
//! It acts with a user's token and that user's role: over stdio the token
//! it was started with, over streamable HTTP (served by `sync-server` at
//! `/mcp`) the `Authorization` header of each request. Edits go through a
//! `NotebookClient` like any peer's, so everyone connected sees them live,
//! stamped `ai:mcp/<client>` with one run id per MCP session (an undo of
//! that run reverts them). A token that only views gets only the
//! read-only tools, and the server refuses a viewer's edits anyway. Tools
//! that need the kernel (variables, scratch code) are the agent's alone
//! and are not offered here.

mod context;

use cathode_client::{ClientConfig, NotebookClient};
use cathode_tools::ToolContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use schema::automerge::ChangeHash;
use schema::{Attribution, CellId};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Mutex as AsyncMutex;

/// Tools that need the kernel, which only the runtime agent holds.
const KERNEL_TOOLS: [&str; 3] = ["list_variables", "inspect_variable", "run_scratch"];

/// Where the client last saw each cell of one notebook.
type SeenCells = Arc<Mutex<HashMap<CellId, Vec<ChangeHash>>>>;

/// One MCP server: one session of one client.
pub struct CathodeMcp {
    server_url: String,
    /// The token of a stdio server; `None`: each HTTP request's own.
    token: Option<String>,
    http: reqwest::Client,
    /// One connection per (token, notebook), kept for the session.
    clients: AsyncMutex<HashMap<(String, String), Arc<NotebookClient>>>,
    /// Per notebook, the heads at which the client last saw each cell.
    seen: Mutex<HashMap<String, SeenCells>>,
    /// This session's run id: every edit it makes carries it.
    run: String,
}

fn schema_object(value: Value) -> Arc<Map<String, Value>> {
    Arc::new(match value {
        Value::Object(m) => m,
        _ => Map::new(),
    })
}

fn with_notebook(parameters: &Value) -> Value {
    let mut p = parameters.clone();
    p["properties"]["notebook_id"] =
        json!({"type": "string", "description": "The notebook to act on (see list_notebooks)."});
    let mut required: Vec<Value> = p["required"].as_array().cloned().unwrap_or_default();
    required.insert(0, json!("notebook_id"));
    p["required"] = Value::Array(required);
    p
}

/// The tools offered over MCP, read-only ones only for a viewer.
pub fn tools(read_only: bool) -> Vec<Tool> {
    let mut tools = vec![
        Tool::new(
            "list_notebooks",
            "The notebooks this token may open, with their ids and the token's role in each.",
            schema_object(json!({"type": "object", "properties": {}, "additionalProperties": false})),
        ),
        Tool::new(
            "read_context",
            "A notebook as a model reads it: every cell in order with its id, type, source, execution count, state and outputs (long ones cut, errors with their traceback).",
            schema_object(json!({"type": "object", "properties": {
                "notebook_id": {"type": "string"}}, "required": ["notebook_id"], "additionalProperties": false})),
        ),
    ];
    for d in cathode_tools::definitions() {
        if KERNEL_TOOLS.contains(&d.name) || (read_only && !cathode_tools::is_read_only(d.name)) {
            continue;
        }
        tools.push(Tool::new(
            d.name,
            d.description,
            schema_object(with_notebook(&d.parameters)),
        ));
    }
    tools
}

fn text_result(value: &Value, ok: bool) -> CallToolResponse {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let result = if ok {
        CallToolResult::success(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::error(vec![ContentBlock::text(text)])
    };
    result.into()
}

fn bearer(context: &RequestContext<RoleServer>) -> Option<String> {
    let parts = context.extensions.get::<http::request::Parts>()?;
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    value.strip_prefix("Bearer ").map(|t| t.trim().to_owned())
}

impl CathodeMcp {
    /// `token`: the stdio server's; `None` for HTTP (each request's).
    pub fn new(server_url: &str, token: Option<String>) -> Self {
        Self {
            server_url: server_url.trim_end_matches('/').to_owned(),
            token,
            http: reqwest::Client::new(),
            clients: AsyncMutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            run: format!("mcp-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn token_of(&self, context: &RequestContext<RoleServer>) -> Result<String, McpError> {
        self.token
            .clone()
            .or_else(|| bearer(context))
            .ok_or_else(|| {
                McpError::invalid_request("a token is required (Authorization: Bearer)", None)
            })
    }

    async fn notebooks(&self, token: &str) -> Result<Value, String> {
        let response = self
            .http
            .get(format!("{}/api/notebooks", self.server_url))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("the server answered {}", response.status()));
        }
        response.json().await.map_err(|e| e.to_string())
    }

    /// Whether this token only views every notebook it can open.
    async fn views_only(&self, token: &str) -> bool {
        match self.notebooks(token).await {
            Ok(list) => list["notebooks"]
                .as_array()
                .map(|n| n.iter().all(|n| n["role"] == "viewer"))
                .unwrap_or(true),
            Err(_) => true,
        }
    }

    async fn client(&self, token: &str, notebook: &str) -> Result<Arc<NotebookClient>, String> {
        let mut clients = self.clients.lock().await;
        let key = (token.to_owned(), notebook.to_owned());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let client = NotebookClient::connect(ClientConfig::new(&self.server_url, token, notebook))
            .await
            .map_err(|e| format!("cannot open notebook {notebook}: {e}"))?;
        let client = Arc::new(client);
        clients.insert(key, client.clone());
        Ok(client)
    }

    fn seen_of(&self, notebook: &str) -> SeenCells {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.entry(notebook.to_owned()).or_default().clone()
    }

    async fn call(
        &self,
        token: &str,
        name: &str,
        mut args: Map<String, Value>,
        peer: &str,
    ) -> (Value, bool) {
        if name == "list_notebooks" {
            return match self.notebooks(token).await {
                Ok(list) => (list, true),
                Err(e) => (json!({"error": e}), false),
            };
        }
        let Some(notebook) = args
            .remove("notebook_id")
            .and_then(|v| v.as_str().map(str::to_owned))
        else {
            return (json!({"error": "'notebook_id' is required"}), false);
        };
        let client = match self.client(token, &notebook).await {
            Ok(c) => c,
            Err(e) => return (json!({"error": e}), false),
        };
        if name == "read_context" {
            return match context::read(&client).await {
                Ok(text) => (json!({"notebook_id": notebook, "context": text}), true),
                Err(e) => (json!({"error": e}), false),
            };
        }
        if KERNEL_TOOLS.contains(&name) {
            return (
                json!({"error": format!("{name} needs the notebook's kernel, which only its runtime agent holds: it is not offered over MCP")}),
                false,
            );
        }
        let role = client.role().await.ok().flatten();
        if role == Some(schema::wire::Role::Viewer) && !cathode_tools::is_read_only(name) {
            return (
                json!({"error": "your role in this notebook is viewer: read-only tools only"}),
                false,
            );
        }
        let user = self.me(token).await.unwrap_or_else(|| "someone".into());
        let seen = self.seen_of(&notebook);
        let heads = client
            .heads(schema::DocKind::Notebook)
            .await
            .unwrap_or_default();
        let ctx = ToolContext {
            client: &client,
            attribution: Some(Attribution {
                by: format!("ai:mcp/{peer}"),
                on_behalf_of: user.clone(),
                ai_run: self.run.clone(),
            }),
            requested_by: format!("mcp:{peer} for {user}"),
            kernel: None,
            seen: &seen,
            context_heads: heads,
        };
        let outcome = cathode_tools::call(&ctx, name, &Value::Object(args).to_string()).await;
        (outcome.result, outcome.ok)
    }

    async fn me(&self, token: &str) -> Option<String> {
        let response = self
            .http
            .get(format!("{}/api/me", self.server_url))
            .bearer_auth(token)
            .send()
            .await
            .ok()?;
        let me: Value = response.json().await.ok()?;
        me["name"]
            .as_str()
            .or_else(|| me["user"]["name"].as_str())
            .map(str::to_owned)
    }
}

impl ServerHandler for CathodeMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("cathode", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Work in cathode notebooks: list_notebooks, then read_context to see a notebook \
                 as it ran, then create, modify, move, delete and execute cells. People editing \
                 the notebook see your changes as you make them.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let token = self.token_of(&context)?;
        let read_only = self.views_only(&token).await;
        Ok(ListToolsResult::with_all_items(tools(read_only)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let token = self.token_of(&context)?;
        let peer = context
            .peer
            .peer_info()
            .map(|i| i.client_info.name.clone())
            .unwrap_or_else(|| "client".into());
        let args = request.arguments.unwrap_or_default();
        let (value, ok) = self.call(&token, &request.name, args, &peer).await;
        Ok(text_result(&value, ok))
    }
}
