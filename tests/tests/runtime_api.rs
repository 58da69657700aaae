//! The server starts and stops a notebook's runtime agent itself
//! (`…/runtime`), with a token it mints and revokes, and leaves no agent
//! behind when it stops, cleanly or killed.

use cathode_tests::cells::{add_cell, request_run, stdout_of, wait_execution};
use cathode_tests::runtime::{alive, wait_gone};
use cathode_tests::server::ServerOptions;
use cathode_tests::TestServer;
use reqwest::Method;
use schema::ExecutionState;
use serde_json::json;
use std::time::{Duration, Instant};

async fn runs_on_a_started_agent(kernel: &str) {
    let mut server = TestServer::start_with_options(&[], ServerOptions::logged()).unwrap();
    let (notebook, client) = server.notebook_with_owner("on demand").await.unwrap();
    let path = format!("/api/notebooks/{notebook}/runtime");
    let owner = server.owner_token.clone();

    let (code, status) = server.api(Method::GET, &path, &owner, None).await.unwrap();
    assert_eq!(
        (code, status["state"].as_str()),
        (200, Some("none")),
        "{status}"
    );

    let viewer = server
        .user_with_role(&notebook, "vic", "viewer")
        .await
        .unwrap();
    let (code, _) = server
        .api(
            Method::POST,
            &path,
            &viewer,
            Some(json!({"kernel": kernel})),
        )
        .await
        .unwrap();
    assert_eq!(code, 403, "a viewer started a runtime");
    let (code, status) = server.api(Method::GET, &path, &viewer, None).await.unwrap();
    assert_eq!((code, status["state"].as_str()), (200, Some("none")));

    let (code, _) = server
        .api(
            Method::POST,
            &path,
            &owner,
            Some(json!({"kernel": "no such/kernel"})),
        )
        .await
        .unwrap();
    assert_eq!(code, 400);

    let (code, started) = server
        .api(Method::POST, &path, &owner, Some(json!({"kernel": kernel})))
        .await
        .unwrap();
    assert_eq!(code, 201, "{started}");
    assert_eq!(started["state"], "starting", "{started}");
    assert_eq!(started["kernel"], kernel);
    let pid = started["pid"].as_u64().unwrap() as u32;
    assert!(alive(pid));

    let (_, tokens) = server
        .api(Method::GET, "/api/tokens", &owner, None)
        .await
        .unwrap();
    let server_minted = |tokens: &serde_json::Value| {
        tokens["tokens"]
            .as_array()
            .map(|t| t.iter().filter(|t| t["minted_as"] == "server").count())
            .unwrap_or(0)
    };
    assert_eq!(server_minted(&tokens), 1, "{tokens}");

    let cell = add_cell(&client, "print(6 * 7)").await;
    let request = request_run(&client, &cell).await;
    let done = wait_execution(&client, &request, "the run on the started agent", |x| {
        x.state == ExecutionState::Done
    })
    .await;
    assert_eq!(stdout_of(&done), "42\n");

    let (code, stopped) = server
        .api(Method::DELETE, &path, &owner, None)
        .await
        .unwrap();
    assert_eq!(
        (code, stopped["state"].as_str()),
        (200, Some("none")),
        "{stopped}"
    );
    assert!(
        wait_gone(pid, Duration::from_secs(10)).await,
        "agent {pid} still running"
    );
    let (_, tokens) = server
        .api(Method::GET, "/api/tokens", &owner, None)
        .await
        .unwrap();
    assert_eq!(
        server_minted(&tokens),
        0,
        "the stopped agent's token lives on: {tokens}"
    );

    // SIGTERM of the server stops its agents.
    let (_, started) = server
        .api(Method::POST, &path, &owner, Some(json!({"kernel": kernel})))
        .await
        .unwrap();
    let pid = started["pid"].as_u64().unwrap() as u32;
    client.close().await;
    assert_eq!(server.terminate(), Some(0));
    assert!(
        wait_gone(pid, Duration::from_secs(5)).await,
        "SIGTERM left agent {pid}"
    );
    // Stopped by the server before it went, not by the parent-death signal.
    let stopped = format!("pid={pid}");
    assert!(
        server
            .log()
            .lines()
            .any(|l| l.contains("runtime agent stopped") && l.contains(&stopped)),
        "the server did not stop agent {pid} itself:\n{}",
        server.log()
    );

    // SIGKILL of the server leaves none behind either.
    server.restart().unwrap();
    let (code, started) = server
        .api(Method::POST, &path, &owner, Some(json!({"kernel": kernel})))
        .await
        .unwrap();
    assert_eq!(code, 201, "{started}");
    let pid = started["pid"].as_u64().unwrap() as u32;
    server.kill();
    assert!(
        wait_gone(pid, Duration::from_secs(10)).await,
        "SIGKILL left agent {pid}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_started_agent_runs_cells_on_ipykernel() {
    runs_on_a_started_agent("python3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_started_agent_runs_cells_on_wasm_python() {
    runs_on_a_started_agent("wasm-python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_keeps_dying_is_restarted_to_the_limit_then_reported_dead() {
    let server = TestServer::start_with(&[
        "--runtime-restart-limit",
        "2",
        "--runtime-restart-backoff-ms",
        "200",
    ])
    .unwrap();
    let (notebook, _client) = server.notebook_with_owner("dies").await.unwrap();
    let path = format!("/api/notebooks/{notebook}/runtime");
    let owner = server.owner_token.clone();
    let (code, started) = server
        .api(
            Method::POST,
            &path,
            &owner,
            Some(json!({"kernel": "not-installed"})),
        )
        .await
        .unwrap();
    assert_eq!(code, 201, "{started}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let (_, status) = server.api(Method::GET, &path, &owner, None).await.unwrap();
        if status["state"] == "dead" {
            break status;
        }
        assert!(Instant::now() < deadline, "never reported dead: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["exit_status"], 1, "{status}");
    assert_eq!(status["restarts"], 2, "{status}");
    let reason = status["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("not restarted") && reason.contains("2 times"),
        "the reason does not say the restarts ran out: {status}"
    );
    let log = status["log_tail"].to_string();
    assert!(
        log.contains("not-installed"),
        "the log tail does not say why: {status}"
    );
}
