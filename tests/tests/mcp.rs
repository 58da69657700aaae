//! cathode's tools over MCP, driven by rmcp's own client: over stdio (the
//! `cathode-mcp` binary, as Claude Code starts it) a client lists the
//! tools, creates and runs a cell that a person's client sees; over the
//! server's streamable HTTP a viewer's token gets only the read tools and
//! cannot edit.

use cathode_tests::cells::wait_execution;
use cathode_tests::server::{bin_dir, ServerOptions};
use cathode_tests::TestServer;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::ServiceExt;
use serde_json::{json, Value};
use std::time::Duration;

fn arguments(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Default::default(),
    }
}

fn text_of(result: &rmcp::model::CallToolResult) -> Value {
    let text = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<String>();
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_creates_and_runs_a_cell_people_see() {
    let server = TestServer::start_with_options(
        &["--default-kernel", "wasm-python"],
        ServerOptions {
            auto_runtime: true,
            ..Default::default()
        },
    )
    .unwrap();
    let (notebook, person) = server.notebook_with_owner("mcp").await.unwrap();
    let mut command = tokio::process::Command::new(bin_dir().join("cathode-mcp"));
    command
        .arg("--server-url")
        .arg(server.http_url())
        .env("CATHODE_TOKEN", &server.owner_token);
    let client = ().serve(TokioChildProcess::new(command).unwrap()).await.unwrap();
    let tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    for tool in [
        "list_notebooks",
        "read_context",
        "create_cell",
        "execute_cell",
        "modify_cell",
    ] {
        assert!(
            tools.contains(&tool.to_owned()),
            "{tool} missing: {tools:?}"
        );
    }
    assert!(
        !tools.contains(&"run_scratch".to_owned()),
        "kernel tools are the agent's"
    );
    let listed = client
        .call_tool(CallToolRequestParams::new("list_notebooks"))
        .await
        .unwrap();
    assert!(text_of(&listed).to_string().contains(&notebook));
    let created = client
        .call_tool(
            CallToolRequestParams::new("create_cell").with_arguments(arguments(
                json!({"notebook_id": notebook, "source": "print(6 * 7)"}),
            )),
        )
        .await
        .unwrap();
    let cell = text_of(&created)["cell_id"].as_str().unwrap().to_owned();
    // The person sees the cell as soon as it is made.
    let c = schema::CellId::from(cell.as_str());
    person
        .wait_notebook(Duration::from_secs(30), move |nb| nb.cell(&c).is_ok())
        .await
        .unwrap();
    let ran = client
        .call_tool(
            CallToolRequestParams::new("execute_cell")
                .with_arguments(arguments(json!({"notebook_id": notebook, "cell_id": cell}))),
        )
        .await
        .unwrap();
    let ran = text_of(&ran);
    assert_eq!(ran["state"], "done", "{ran}");
    assert!(ran["outputs"].as_str().unwrap().contains("42"), "{ran}");
    let context = client
        .call_tool(
            CallToolRequestParams::new("read_context")
                .with_arguments(arguments(json!({"notebook_id": notebook}))),
        )
        .await
        .unwrap();
    assert!(text_of(&context)["context"]
        .as_str()
        .unwrap()
        .contains("print(6 * 7)"));
    // The person's client has the run too, and the edit is attributed.
    let c = schema::CellId::from(cell.as_str());
    let request = person
        .notebook(move |nb| nb.cell(&c).unwrap().run_request.unwrap().request_id)
        .await
        .unwrap();
    wait_execution(&person, &request, "the MCP run", |x| x.state.is_finished()).await;
    let by = person
        .notebook(|nb| {
            schema::history(nb.automerge())
                .into_iter()
                .filter_map(|h| h.attribution)
                .map(|a| a.by)
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert!(by.iter().any(|b| b.starts_with("ai:mcp/")), "{by:?}");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_over_http_gets_only_the_read_tools() {
    let server = TestServer::start().unwrap();
    let (notebook, owner) = server.notebook_with_owner("mcp http").await.unwrap();
    cathode_tests::cells::add_cell(&owner, "x = 1").await;
    owner
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();
    let viewer = server
        .user_with_role(&notebook, "vera", "viewer")
        .await
        .unwrap();
    let config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            format!("{}/mcp", server.http_url()),
        )
        .auth_header(viewer);
    let transport = StreamableHttpClientTransport::from_config(config);
    let client = ().serve(transport).await.unwrap();
    let tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(tools.contains(&"read_cell".to_owned()) && tools.contains(&"read_context".to_owned()));
    assert!(!tools.contains(&"create_cell".to_owned()), "{tools:?}");
    assert!(!tools.contains(&"execute_cell".to_owned()), "{tools:?}");
    // Asking anyway is refused.
    let refused = client
        .call_tool(
            CallToolRequestParams::new("create_cell").with_arguments(arguments(
                json!({"notebook_id": notebook, "source": "import os"}),
            )),
        )
        .await
        .unwrap();
    assert_eq!(refused.is_error, Some(true));
    assert!(text_of(&refused).to_string().contains("viewer"));
    let context = client
        .call_tool(
            CallToolRequestParams::new("read_context")
                .with_arguments(arguments(json!({"notebook_id": notebook}))),
        )
        .await
        .unwrap();
    assert!(text_of(&context)["context"]
        .as_str()
        .unwrap()
        .contains("x = 1"));
    client.cancel().await.unwrap();
    // No token, no MCP.
    let plain = reqwest::Client::new()
        .post(format!("{}/mcp", server.http_url()))
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status().as_u16(), 401);
}
