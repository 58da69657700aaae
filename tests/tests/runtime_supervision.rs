//! The server looks after notebooks' agents on its own: it starts one
//! when a person runs a cell with none connected, restarts one that
//! crashes, stops one nobody uses, reports busy and idle, limits what each
//! may use, and after being killed leaves no process behind and serves
//! every notebook again.

use cathode_client::NotebookClient;
use cathode_tests::cells::{
    add_cell, error_of, request_run, stdout_of, wait_execution, wait_state,
};
use cathode_tests::runtime::{descendants, pid_of, runtime_status, wait_gone, wait_runtime};
use cathode_tests::server::ServerOptions;
use cathode_tests::TestServer;
use schema::ExecutionState;
use std::time::Duration;

/// Long enough for a cold agent and kernel on a loaded machine.
const START_WAIT: Duration = Duration::from_secs(120);

fn auto_server(extra: &[&str]) -> TestServer {
    TestServer::start_with_options(
        extra,
        ServerOptions {
            auto_runtime: true,
            ..ServerOptions::logged()
        },
    )
    .unwrap()
}

async fn run_to_done(client: &NotebookClient, source: &str, what: &str) -> String {
    let cell = add_cell(client, source).await;
    let request = request_run(client, &cell).await;
    let done = wait_execution(client, &request, what, |x| x.state.is_finished()).await;
    assert_eq!(done.state, ExecutionState::Done, "{what}: {done:?}");
    stdout_of(&done)
}

async fn runs_with_no_agent_started(kernel: &str) {
    let server = auto_server(&["--default-kernel", kernel]);
    let (notebook, client) = server.notebook_with_owner("pressing run").await.unwrap();
    assert_eq!(runtime_status(&server, &notebook).await["state"], "none");
    let out = run_to_done(&client, "print(6 * 7)", "a run with no agent").await;
    assert_eq!(out, "42\n");
    let status = wait_runtime(&server, &notebook, "idle", START_WAIT, |s| {
        s["state"] == "idle"
    })
    .await;
    assert_eq!(status["kernel"], kernel, "{status}");

    // Busy while a cell runs, idle after.
    let cell = add_cell(&client, "import time; time.sleep(3); print('slept')").await;
    let request = request_run(&client, &cell).await;
    wait_state(&client, &request, &[ExecutionState::Running]).await;
    wait_runtime(&server, &notebook, "busy", START_WAIT, |s| {
        s["state"] == "busy"
    })
    .await;
    let done = wait_execution(&client, &request, "the sleep", |x| x.state.is_finished()).await;
    assert_eq!(stdout_of(&done), "slept\n");
    wait_runtime(&server, &notebook, "idle again", START_WAIT, |s| {
        s["state"] == "idle"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_no_agent_starts_one_on_ipykernel() {
    runs_with_no_agent_started("python3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_no_agent_starts_one_on_wasm_python() {
    runs_with_no_agent_started("wasm-python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auto_runtime_a_run_waits_for_an_agent() {
    let server = TestServer::start().unwrap();
    let (notebook, client) = server.notebook_with_owner("manual").await.unwrap();
    let cell = add_cell(&client, "1").await;
    request_run(&client, &cell).await;
    client
        .wait_acknowledged(Duration::from_secs(30))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(runtime_status(&server, &notebook).await["state"], "none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_cell_loses_that_run_and_is_restarted() {
    let server = auto_server(&[
        "--default-kernel",
        "python3",
        "--runtime-restart-backoff-ms",
        "200",
    ]);
    let (notebook, client) = server.notebook_with_owner("crash").await.unwrap();
    let cell = add_cell(&client, "import time; time.sleep(600)").await;
    let request = request_run(&client, &cell).await;
    wait_state(&client, &request, &[ExecutionState::Running]).await;
    let status = runtime_status(&server, &notebook).await;
    let pid = pid_of(&status).unwrap();
    let kernels = descendants(pid);
    assert!(!kernels.is_empty(), "the agent has no kernel process");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    let lost = wait_execution(&client, &request, "the killed run", |x| {
        x.state.is_finished()
    })
    .await;
    assert_eq!(lost.state, ExecutionState::Lost, "{lost:?}");
    let restarted = wait_runtime(&server, &notebook, "a restarted agent", START_WAIT, |s| {
        s["state"] == "idle" && pid_of(s) != Some(pid)
    })
    .await;
    assert_eq!(restarted["restarts"], 1, "{restarted}");
    for k in kernels {
        assert!(
            wait_gone(k, Duration::from_secs(10)).await,
            "kernel {k} outlived its agent"
        );
    }
    let out = run_to_done(&client, "print('after')", "the run after the crash").await;
    assert_eq!(out, "after\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_leaves_no_process_and_serves_every_notebook_again() {
    let mut server = auto_server(&["--default-kernel", "python3"]);
    let mut notebooks = Vec::new();
    let mut processes = Vec::new();
    for i in 0..3 {
        let (notebook, client) = server
            .notebook_with_owner(&format!("three {i}"))
            .await
            .unwrap();
        run_to_done(&client, &format!("x = {i}; print(x)"), "a first run").await;
        let status = runtime_status(&server, &notebook).await;
        let pid = pid_of(&status).unwrap();
        processes.push(pid);
        processes.extend(descendants(pid));
        client.close().await;
        notebooks.push(notebook);
    }
    assert!(
        processes.len() >= 6,
        "three agents and their kernels: {processes:?}"
    );
    server.kill();
    for pid in &processes {
        assert!(
            wait_gone(*pid, Duration::from_secs(15)).await,
            "process {pid} outlived the killed server"
        );
    }

    server.restart().unwrap();
    for notebook in &notebooks {
        assert_eq!(runtime_status(&server, notebook).await["state"], "none");
        let client = NotebookClient::connect(server.client_config(&server.owner_token, notebook))
            .await
            .unwrap();
        let out = run_to_done(&client, "print('again')", "a run after the restart").await;
        assert_eq!(out, "again\n");
        client.close().await;
    }
    assert!(
        server
            .log()
            .contains("revoked the agent tokens of an earlier run"),
        "the killed server's agent tokens were not revoked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_nobody_uses_is_stopped() {
    // 0.05 minutes: three seconds.
    let server = auto_server(&[
        "--default-kernel",
        "python3",
        "--runtime-idle-minutes",
        "0.05",
    ]);
    let (notebook, client) = server.notebook_with_owner("idle").await.unwrap();
    run_to_done(&client, "print(1)", "a run").await;
    let pid = pid_of(&runtime_status(&server, &notebook).await).unwrap();

    // Someone connected keeps it, however long.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let status = runtime_status(&server, &notebook).await;
    assert_eq!(
        pid_of(&status),
        Some(pid),
        "culled with a person connected: {status}"
    );
    // A long cell keeps it too, with nobody connected.
    let cell = add_cell(&client, "import time; time.sleep(8)").await;
    let request = request_run(&client, &cell).await;
    wait_state(&client, &request, &[ExecutionState::Running]).await;
    client.close().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status = runtime_status(&server, &notebook).await;
    assert_eq!(status["state"], "busy", "culled while running: {status}");

    let culled = wait_runtime(&server, &notebook, "culled", Duration::from_secs(60), |s| {
        s["state"] == "none"
    })
    .await;
    assert!(
        culled["reason"]
            .as_str()
            .unwrap_or("")
            .contains("nobody connected"),
        "{culled}"
    );
    assert!(
        wait_gone(pid, Duration::from_secs(10)).await,
        "culled agent {pid} still runs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_limits_an_agents_memory() {
    let server = auto_server(&["--default-kernel", "python3", "--agent-memory-mb", "1024"]);
    let (_notebook, client) = server.notebook_with_owner("limits").await.unwrap();
    let out = run_to_done(
        &client,
        "import resource; print(resource.getrlimit(resource.RLIMIT_DATA)[0] >> 20)",
        "reading the limit",
    )
    .await;
    assert_eq!(out, "1024\n");
    let cell = add_cell(&client, "b = bytearray(3 << 30)").await;
    let request = request_run(&client, &cell).await;
    let failed = wait_execution(&client, &request, "a 3 GiB allocation", |x| {
        x.state.is_finished()
    })
    .await;
    assert_eq!(
        error_of(&failed).map(|(name, _, _)| name),
        Some("MemoryError"),
        "{failed:?}"
    );
    let out = run_to_done(&client, "print('still here')", "a run after").await;
    assert_eq!(out, "still here\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_default_kernel_is_refused_at_start() {
    let result = TestServer::start_with(&["--default-kernel", "../bin/sh"]);
    assert!(
        result.is_err(),
        "the server started with a bad --default-kernel"
    );
}
