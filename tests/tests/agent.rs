//! The runtime agent end to end: real sync-server, real runtime-agent
//! processes, real kernels (ipykernel from the project's venv, and the WASM
//! Python kernel).

use cathode_client::NotebookClient;
use cathode_tests::cells::{
    add_cell, executions_for, request_run, stdout_of, wait_state, RUN_WAIT,
};
use cathode_tests::{TestAgent, TestServer};
use schema::{ExecutionRecord, ExecutionState, MimePayload, OutputManifest};
use std::time::Duration;

async fn served_notebook(name: &str) -> (TestServer, String, String, NotebookClient) {
    cathode_tests::served_notebook(name).await.unwrap()
}

fn result_text(x: &ExecutionRecord) -> Option<String> {
    x.outputs.iter().find_map(|o| match o {
        OutputManifest::ExecuteResult { data, .. } => match data.get("text/plain") {
            Some(MimePayload::Inline { value }) => value.as_str().map(str::to_owned),
            _ => None,
        },
        _ => None,
    })
}

async fn runs_cells_for(kernel: &str) {
    let server = TestServer::start().unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "agent")
        .await
        .unwrap();
    let runtime = server.runtime_token(&notebook).await.unwrap();
    let _agent = TestAgent::start(&server, &notebook, &runtime, kernel).unwrap();
    let alice = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();
    let bob = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();

    let a = add_cell(&alice, "x = 20\nprint('hello', x)").await;
    let b = add_cell(&alice, "x * 2 + 2").await;
    let c = add_cell(&alice, "1 / 0").await;
    let ra = request_run(&alice, &a).await;
    let rb = request_run(&alice, &b).await;
    let rc = request_run(&alice, &c).await;

    let xa = wait_state(&bob, &ra, &[ExecutionState::Done]).await;
    assert_eq!(stdout_of(&xa), "hello 20\n");
    let xb = wait_state(&bob, &rb, &[ExecutionState::Done]).await;
    assert_eq!(result_text(&xb).as_deref(), Some("42"));
    assert!(
        xb.execution_count > xa.execution_count,
        "counts {:?} {:?}",
        xa.execution_count,
        xb.execution_count
    );
    let xc = wait_state(&bob, &rc, &[ExecutionState::Error]).await;
    assert!(
        xc.outputs.iter().any(|o| matches!(o, OutputManifest::Error { ename, traceback, .. } if ename == "ZeroDivisionError" && !traceback.is_empty())),
        "{:?}",
        xc.outputs
    );
    // A plot: the PNG goes to the blob store, the document keeps its hash.
    let plot = add_cell(
        &alice,
        "import matplotlib.pyplot as plt\nplt.figure(figsize=(8, 6))\nplt.plot(range(100), [i * i for i in range(100)])\nplt.show()",
    )
    .await;
    let rp = request_run(&alice, &plot).await;
    let xp = wait_state(&bob, &rp, &[ExecutionState::Done]).await;
    let (sha, size) = xp
        .outputs
        .iter()
        .find_map(|o| match o {
            OutputManifest::DisplayData { data, .. } => match data.get("image/png") {
                Some(MimePayload::Blob { sha256, size_bytes }) => {
                    Some((sha256.clone(), *size_bytes))
                }
                _ => None,
            },
            _ => None,
        })
        .unwrap_or_else(|| panic!("no PNG blob in {:?}", xp.outputs));
    let png = server.blob(&sha).await.unwrap();
    assert_eq!(png.len() as u64, size);
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");

    // Alice (who asked) sees the same as Bob.
    let seen_by_alice = wait_state(&alice, &rb, &[ExecutionState::Done]).await;
    assert_eq!(seen_by_alice.outputs, xb.outputs);
    for x in [&xa, &xb, &xc] {
        assert!(x.started_at_ms.is_some() && x.ended_at_ms >= x.started_at_ms);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_cells_on_ipykernel() {
    runs_cells_for("python3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_cells_on_wasm_python() {
    runs_cells_for("wasm-python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_agent_displaces_the_older_one() {
    let (server, notebook, runtime, owner) = served_notebook("two agents").await;
    let mut first = TestAgent::start(&server, &notebook, &runtime, "python3").unwrap();
    let cell = add_cell(&owner, "print('first')").await;
    let r = request_run(&owner, &cell).await;
    wait_state(&owner, &r, &[ExecutionState::Done]).await;
    let first_session = owner
        .runtime(|rt| rt.lease().unwrap().unwrap().session_id)
        .await
        .unwrap();

    let mut second = TestAgent::start(&server, &notebook, &runtime, "python3").unwrap();
    let status = first
        .wait_exit(Duration::from_secs(30))
        .expect("the displaced agent kept running");
    assert!(status.success(), "{status:?}");
    assert!(second.is_running());
    let leader = owner
        .runtime(|rt| rt.lease().unwrap().unwrap().session_id)
        .await
        .unwrap();
    assert_ne!(leader, first_session);
    // The new leader runs cells.
    let r = request_run(&owner, &cell).await;
    let x = wait_state(&owner, &r, &[ExecutionState::Done]).await;
    assert_eq!(stdout_of(&x), "first\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_execution_marks_it_lost_and_the_queue_continues() {
    let (server, notebook, runtime, owner) = served_notebook("lost").await;
    let mut agent = TestAgent::start(&server, &notebook, &runtime, "python3").unwrap();
    // Where the kernel runs and where its connection file lives.
    let whereabouts = add_cell(
        &owner,
        "import os, sys\nprint(os.getpid(), sys.argv[sys.argv.index('-f') + 1])",
    )
    .await;
    let r = request_run(&owner, &whereabouts).await;
    let seen = stdout_of(&wait_state(&owner, &r, &[ExecutionState::Done]).await);
    let (kernel_pid, connection_file) = seen.trim().split_once(' ').expect("pid and file");
    let connection_dir = std::path::Path::new(connection_file)
        .parent()
        .expect("connection dir")
        .to_path_buf();
    assert!(connection_dir.exists());
    let slow = add_cell(
        &owner,
        "import time\nprint('started', flush=True)\ntime.sleep(600)",
    )
    .await;
    let next = add_cell(&owner, "print('next')").await;
    let r_slow = request_run(&owner, &slow).await;
    let r_next = request_run(&owner, &next).await;
    let running = wait_state(&owner, &r_slow, &[ExecutionState::Running]).await;
    assert_eq!(running.state, ExecutionState::Running);
    wait_state(&owner, &r_next, &[ExecutionState::Queued]).await;
    agent.kill();

    let _replacement = TestAgent::start(&server, &notebook, &runtime, "python3").unwrap();
    let lost = wait_state(&owner, &r_slow, &[ExecutionState::Lost]).await;
    assert_eq!(lost.execution_id, running.execution_id);
    let done = wait_state(&owner, &r_next, &[ExecutionState::Done]).await;
    assert_eq!(stdout_of(&done), "next\n");
    // Nothing ran twice.
    assert_eq!(executions_for(&owner, &r_slow).await.len(), 1);
    assert_eq!(executions_for(&owner, &r_next).await.len(), 1);
    // No orphan: the killed agent's kernel died with it, and the next
    // kernel started on this machine removed its connection directory.
    let state = wait_until_gone(kernel_pid).await;
    assert!(
        state.is_none(),
        "kernel {kernel_pid} outlived its agent: {state:?}"
    );
    assert!(
        !connection_dir.exists(),
        "{} left behind",
        connection_dir.display()
    );
}

/// Wait (bounded) for process `pid` to be gone or a zombie; returns its
/// state if it is still running.
async fn wait_until_gone(pid: &str) -> Option<String> {
    let stat = format!("/proc/{pid}/stat");
    let state = || {
        let text = std::fs::read_to_string(&stat).ok()?;
        // The state follows the parenthesised command name.
        let state = text
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .next()?
            .to_string();
        (state != "Z").then_some(state)
    };
    for _ in 0..600 {
        match state() {
            None => return None,
            Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    state()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_presses_of_run_give_one_execution_and_reruns_run_again() {
    concurrent_presses(false).await;
}

/// The same when Alice's press is a run all: its requests are made by a
/// `RunAllRequested` change, which the agent must recognise too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_press_concurrent_with_run_all_gives_one_execution() {
    concurrent_presses(true).await;
}

async fn concurrent_presses(alice_runs_all: bool) {
    let server = TestServer::start().unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "presses")
        .await
        .unwrap();
    let runtime = server.runtime_token(&notebook).await.unwrap();
    let alice = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();
    let bob = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();
    let cell = add_cell(&alice, "print('once')").await;
    alice
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();
    let c = cell.clone();
    bob.wait_notebook(Duration::from_secs(10), move |nb| nb.source(&c).is_ok())
        .await
        .unwrap();
    let _agent = TestAgent::start(&server, &notebook, &runtime, "python3").unwrap();

    // Both press run without seeing each other's press.
    alice.set_online(false).unwrap();
    bob.set_online(false).unwrap();
    let ra = if alice_runs_all {
        let c = cell.clone();
        alice
            .edit_notebook(|nb| nb.request_run_all("alice"))
            .await
            .unwrap()
            .unwrap()
            .into_iter()
            .find(|(id, _)| id == &c)
            .map(|(_, r)| r.request_id)
            .unwrap()
    } else {
        request_run(&alice, &cell).await
    };
    let rb = request_run(&bob, &cell).await;
    alice.set_online(true).unwrap();
    wait_state(&alice, &ra, &[ExecutionState::Done]).await;
    bob.set_online(true).unwrap();
    bob.wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();
    alice
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();
    // Once Alice has Bob's press too, she presses again: a deliberate re-run.
    let bob_heads = bob.heads(schema::DocKind::Notebook).await.unwrap();
    alice
        .wait_notebook(Duration::from_secs(10), move |nb| {
            bob_heads.iter().all(|h| {
                schema::automerge::ReadDoc::get_change_by_hash(nb.automerge(), h).is_some()
            })
        })
        .await
        .unwrap();
    let again = request_run(&alice, &cell).await;
    wait_state(&alice, &again, &[ExecutionState::Done]).await;
    let c = cell.clone();
    let runs = alice
        .runtime(move |rt| {
            rt.executions()
                .unwrap()
                .into_iter()
                .filter(|x| x.cell_id == c)
                .count()
        })
        .await
        .unwrap();
    assert_eq!(
        runs, 2,
        "the concurrent press ran again, or the re-run did not"
    );
    assert!(executions_for(&alice, &rb).await.is_empty());
}

async fn control(client: &NotebookClient, kind: schema::ControlKind) {
    client
        .edit_notebook(move |nb| nb.request_control(kind, "tester"))
        .await
        .unwrap()
        .unwrap();
}

async fn interrupt_restart_cancel_for(kernel: &str) {
    let (server, notebook, runtime, owner) = served_notebook("controls").await;
    let _agent = TestAgent::start(&server, &notebook, &runtime, kernel).unwrap();

    let set = add_cell(&owner, "state = 'kept'").await;
    let r = request_run(&owner, &set).await;
    wait_state(&owner, &r, &[ExecutionState::Done]).await;

    // Interrupt a sleeping cell; the cell queued behind it still runs.
    let sleeper = add_cell(
        &owner,
        "import time\nprint('sleeping', flush=True)\ntime.sleep(600)",
    )
    .await;
    let after = add_cell(&owner, "print(state)").await;
    let doomed = add_cell(&owner, "print('must not run')").await;
    let r_sleep = request_run(&owner, &sleeper).await;
    let r_after = request_run(&owner, &after).await;
    let r_doomed = request_run(&owner, &doomed).await;
    wait_state(&owner, &r_sleep, &[ExecutionState::Running]).await;
    let queued = wait_state(&owner, &r_doomed, &[ExecutionState::Queued]).await;
    control(
        &owner,
        schema::ControlKind::Cancel {
            execution_id: queued.execution_id.clone(),
        },
    )
    .await;
    wait_state(&owner, &r_doomed, &[ExecutionState::Cancelled]).await;
    control(&owner, schema::ControlKind::Interrupt).await;
    let interrupted = wait_state(&owner, &r_sleep, &[ExecutionState::Error]).await;
    assert!(
        interrupted.outputs.iter().any(
            |o| matches!(o, OutputManifest::Error { ename, .. } if ename == "KeyboardInterrupt")
        ),
        "{:?}",
        interrupted.outputs
    );
    let x = wait_state(&owner, &r_after, &[ExecutionState::Done]).await;
    assert_eq!(stdout_of(&x), "kept\n", "interrupt lost the kernel's state");
    let cancelled = executions_for(&owner, &r_doomed).await;
    assert_eq!(cancelled.len(), 1);
    assert!(
        cancelled[0].outputs.is_empty() && cancelled[0].started_at_ms.is_none(),
        "a cancelled cell ran"
    );

    // Restart loses state.
    control(&owner, schema::ControlKind::Restart).await;
    let check = add_cell(&owner, "print('state' in globals())").await;
    let r = request_run(&owner, &check).await;
    let x = wait_state(&owner, &r, &[ExecutionState::Done]).await;
    assert_eq!(stdout_of(&x), "False\n");
    assert_eq!(
        x.execution_count,
        Some(1),
        "execution count restarts with the kernel"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_restart_and_cancel_on_ipykernel() {
    interrupt_restart_cancel_for("python3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_restart_and_cancel_on_wasm_python() {
    interrupt_restart_cancel_for("wasm-python").await;
}

async fn input_answered_by_another_client_for(kernel: &str) {
    let (server, notebook, runtime, owner) = served_notebook("input").await;
    let editor_token = server
        .user_with_role(&notebook, "eve", "editor")
        .await
        .unwrap();
    let editor = NotebookClient::connect(server.client_config(&editor_token, &notebook))
        .await
        .unwrap();
    let _agent = TestAgent::start(&server, &notebook, &runtime, kernel).unwrap();

    let cell = add_cell(
        &owner,
        "a = input('first? ')\nb = input('second? ')\nprint(a + '+' + b)",
    )
    .await;
    let r = request_run(&owner, &cell).await;
    let running = wait_state(&editor, &r, &[ExecutionState::Running]).await;
    for (seq, answer) in [(0u32, "left"), (1, "right")] {
        // Wait (by notification) for the agent to ask, then answer as the editor.
        let x = running.execution_id.clone();
        let mut revision = editor.revision();
        let asked = loop {
            revision.borrow_and_update();
            let x2 = x.clone();
            if let Some(ask) = editor
                .runtime(move |rt| rt.input_request(&x2).unwrap())
                .await
                .unwrap()
            {
                if ask.seq == seq {
                    break ask;
                }
            }
            tokio::time::timeout(RUN_WAIT, revision.changed())
                .await
                .unwrap()
                .unwrap();
        };
        assert_eq!(asked.prompt, if seq == 0 { "first? " } else { "second? " });
        let x2 = x.clone();
        editor
            .edit_notebook(move |nb| nb.answer_input(&x2, seq, answer, "eve"))
            .await
            .unwrap()
            .unwrap();
    }
    let done = wait_state(&owner, &r, &[ExecutionState::Done]).await;
    assert!(
        stdout_of(&done).ends_with("left+right\n"),
        "{:?}",
        done.outputs
    );
    let x = done.execution_id.clone();
    assert_eq!(
        owner
            .runtime(move |rt| rt.input_request(&x).unwrap())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_answered_by_another_client_on_ipykernel() {
    input_answered_by_another_client_for("python3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_answered_by_another_client_on_wasm_python() {
    input_answered_by_another_client_for("wasm-python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_rides_out_a_server_sigkill_without_losing_output() {
    let (mut server, notebook, runtime, owner) = served_notebook("server dies").await;
    let _agent = TestAgent::start(&server, &notebook, &runtime, "python3").unwrap();
    let cell = add_cell(
        &owner,
        "import time\nfor i in range(8):\n    print(i, flush=True)\n    time.sleep(0.4)",
    )
    .await;
    let r = request_run(&owner, &cell).await;
    // Wait until the first line is out, then kill the server mid-cell.
    let mut revision = owner.revision();
    loop {
        revision.borrow_and_update();
        if executions_for(&owner, &r)
            .await
            .first()
            .map(|x| stdout_of(x).starts_with("0\n"))
            .unwrap_or(false)
        {
            break;
        }
        tokio::time::timeout(RUN_WAIT, revision.changed())
            .await
            .unwrap()
            .unwrap();
    }
    server.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart().unwrap();
    let done = wait_state(&owner, &r, &[ExecutionState::Done]).await;
    assert_eq!(stdout_of(&done), "0\n1\n2\n3\n4\n5\n6\n7\n");
    // A client that connects afresh reads the same from the restarted server.
    let late = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();
    let seen = wait_state(&late, &r, &[ExecutionState::Done]).await;
    assert_eq!(seen.outputs, done.outputs);
}

/// Bytes of every change in both documents: what history costs.
async fn history_bytes(client: &NotebookClient) -> usize {
    let nb = client
        .notebook(|nb| {
            nb.automerge()
                .get_changes(&[])
                .iter()
                .map(|c| c.raw_bytes().len())
                .sum::<usize>()
        })
        .await
        .unwrap();
    let rt = client
        .runtime(|rt| {
            rt.automerge()
                .get_changes(&[])
                .iter()
                .map(|c| c.raw_bytes().len())
                .sum::<usize>()
        })
        .await
        .unwrap();
    nb + rt
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerunning_a_megabyte_printer_keeps_the_documents_small() {
    let (server, notebook, runtime, owner) = served_notebook("growth").await;
    let _agent = TestAgent::start(&server, &notebook, &runtime, "python3").unwrap();
    let cell = add_cell(
        &owner,
        "for i in range(1024):\n    print(str(i).rjust(1023, 'x'))",
    )
    .await;
    let r = request_run(&owner, &cell).await;
    wait_state(&owner, &r, &[ExecutionState::Done]).await;
    let before = history_bytes(&owner).await;
    const RUNS: usize = 10;
    let mut last = None;
    for _ in 0..RUNS {
        let r = request_run(&owner, &cell).await;
        last = Some(wait_state(&owner, &r, &[ExecutionState::Done]).await);
    }
    let per_run = (history_bytes(&owner).await - before) / RUNS;
    assert!(
        per_run < 8 * 1024,
        "each run of a 1 MB print grew the documents by {per_run} bytes"
    );

    // The output shows its head and tail, and the whole text is a blob.
    let last = last.unwrap();
    let (text, truncated) = match &last.outputs[..] {
        [OutputManifest::Stream {
            text,
            truncated: Some(t),
            ..
        }] => (text.clone(), t.clone()),
        other => panic!("{other:?}"),
    };
    assert!(text.ends_with(&format!("{}\n", "1023".rjust_x())));
    let sha = truncated.full_text_sha256.expect("full text stored");
    let full = reqwest::Client::new()
        .get(format!("{}/blobs/{sha}", server.http_url()))
        .bearer_auth(&server.owner_token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(full.len(), 1024 * 1024);
    eprintln!("growth per run of a 1 MB print: {per_run} bytes");
}

trait RjustX {
    fn rjust_x(&self) -> String;
}

impl RjustX for str {
    /// Python's `str.rjust(1023, 'x')`.
    fn rjust_x(&self) -> String {
        format!("{}{}", "x".repeat(1023 - self.len()), self)
    }
}
