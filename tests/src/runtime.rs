//! A notebook's runtime as the server reports it (`…/runtime`), and the
//! processes behind it, for tests that start, kill and wait for agents.

use crate::TestServer;
use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Whether a process runs; a zombie (exited, not yet reaped) counts as gone.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").split_whitespace().next();
            state != Some("Z")
        })
        .unwrap_or(false)
}

pub async fn wait_gone(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// Every live descendant of `pid` (an agent's kernel and its children).
/// Each thread lists the children it forked, so every thread is read: an
/// agent starts its kernel from one of tokio's worker threads.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        let Ok(threads) = std::fs::read_dir(format!("/proc/{parent}/task")) else {
            continue;
        };
        for thread in threads.flatten() {
            let children =
                std::fs::read_to_string(thread.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

pub async fn runtime_status(server: &TestServer, notebook: &str) -> Value {
    let path = format!("/api/notebooks/{notebook}/runtime");
    let (code, status) = server
        .api(Method::GET, &path, &server.owner_token, None)
        .await
        .unwrap_or((0, Value::Null));
    assert_eq!(code, 200, "GET {path}: {status}");
    status
}

/// Poll the runtime's status until `done` holds (agents start and stop as
/// processes; there is nothing to be notified by).
pub async fn wait_runtime(
    server: &TestServer,
    notebook: &str,
    what: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let status = runtime_status(server, notebook).await;
        if done(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never happened; last status {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn pid_of(status: &Value) -> Option<u32> {
    status["pid"].as_u64().map(|p| p as u32)
}
