//! AI cells against a scripted OpenAI-compatible server, with a real
//! server, a real agent and real kernels: the streamed answer, tool calls
//! (in fragments, in parallel, invalid), a run that creates, runs, sees
//! an error, fixes and reruns a cell while another client watches, the
//! context it sends, provider failures, the turn limit and interrupts.

use cathode_client::NotebookClient;
use cathode_tests::ai::{
    add_ai_cell, replies, server_with_ai, status, tool_calls, tool_results, AiModel, API_KEY,
};
use cathode_tests::cells::{
    add_cell, error_of, executions_of_cell, request_interrupt, request_run, stdout_of,
    wait_cell_execution, wait_execution, wait_state,
};
use cathode_tests::fake_llm::{
    answer, contents, decide, last_tool_result, tool_calls as calls, Chunk, FakeLlm, Turn,
};
use schema::{ExecutionRecord, ExecutionState};
use serde_json::{json, Value};
use std::time::Duration;

async fn run_ai(client: &NotebookClient, prompt: &str) -> ExecutionRecord {
    let cell = add_ai_cell(client, prompt).await;
    let request = request_run(client, &cell).await;
    wait_execution(client, &request, "the AI run", |x| x.state.is_finished()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_answer_arrives_intact_and_the_request_is_well_formed() {
    let text = "Here is the fix:\n\n```python\nprint('a\\nb')\n```\nDone.";
    let fake = FakeLlm::start(vec![answer(text)]).await;
    let server = server_with_ai(&fake, "wasm-python", AiModel::default(), 10);
    let (_, client) = server.notebook_with_owner("ai answer").await.unwrap();
    add_cell(&client, "x = 40 + 2").await;
    let done = run_ai(&client, "Explain x").await;
    assert_eq!(done.state, ExecutionState::Done, "{done:?}");
    assert_eq!(replies(&done), vec![text.to_owned()]);
    assert_eq!(status(&done)["state"], "done");
    assert_eq!(status(&done)["model"], "fake/fake-model");
    assert_eq!(status(&done)["usage"]["completion_tokens"], 20);

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r["model"], "fake-model");
    assert_eq!(r["stream"], true);
    assert_eq!(r["stream_options"]["include_usage"], true);
    let tools: Vec<&str> = r["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    for tool in [
        "create_cell",
        "modify_cell",
        "execute_cell",
        "read_cell",
        "run_scratch",
    ] {
        assert!(tools.contains(&tool), "{tool} missing from {tools:?}");
    }
    assert_eq!(
        r["tools"][4]["function"]["parameters"]["properties"]["timeout_seconds"]["type"],
        "integer"
    );
    assert_eq!(fake.authorizations()[0], format!("Bearer {API_KEY}"));
    let context = contents(r, "user").join("\n");
    assert!(context.contains("x = 40 + 2"), "{context}");
    assert!(context.contains("Explain x"), "{context}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_parallel_calls_and_bad_arguments_are_handled() {
    let fake = FakeLlm::start(vec![
        // Two calls in one response, arguments in 3-character pieces.
        calls(
            &[
                (
                    "call_1",
                    "create_cell",
                    r#"{"source": "y = 'a\\nb'", "cell_type": "code"}"#,
                ),
                (
                    "call_2",
                    "create_cell",
                    r##"{"source": "# notes", "cell_type": "markdown"}"##,
                ),
            ],
            3,
        ),
        // Invalid JSON, and an unknown cell.
        calls(
            &[
                ("call_3", "modify_cell", r#"{"cell_id": "c-1", "source": "#),
                ("call_4", "delete_cell", r#"{"cell_id": "c-nowhere"}"#),
            ],
            5,
        ),
        answer("Two cells made."),
    ])
    .await;
    let server = server_with_ai(&fake, "wasm-python", AiModel::default(), 10);
    let (_, client) = server.notebook_with_owner("ai tools").await.unwrap();
    let done = run_ai(&client, "Make two cells").await;
    assert_eq!(done.state, ExecutionState::Done, "{done:?}");
    let sources: Vec<String> = client
        .notebook(|nb| nb.cells().unwrap().into_iter().map(|c| c.source).collect())
        .await
        .unwrap();
    assert!(sources.contains(&"y = 'a\\nb'".to_owned()), "{sources:?}");
    assert!(sources.contains(&"# notes".to_owned()), "{sources:?}");
    let results = tool_results(&done);
    assert_eq!(results.len(), 4);
    assert_eq!(results[2]["ok"], false);
    assert!(results[2]["result"]["error"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    assert!(results[3]["result"]["error"]
        .as_str()
        .unwrap()
        .contains("there is no cell c-nowhere"));
    // The model was told about both failures.
    let third = &fake.requests()[2];
    let told = contents(third, "tool").join("\n");
    assert!(
        told.contains("not valid JSON") && told.contains("there is no cell"),
        "{told}"
    );
    assert_eq!(tool_calls(&done).len(), 4);
}

/// A run that creates a cell, runs it into an error, reads the traceback,
/// fixes it, runs it again and answers; a second client watches it happen.
async fn create_run_fix_rerun(kernel: &str) {
    let id_of = |request: &Value| -> String {
        // The created cell's id, from the first tool result.
        let tool = contents(request, "tool");
        let first: Value = serde_json::from_str(&tool[0]).unwrap();
        first["cell_id"].as_str().unwrap().to_owned()
    };
    let fake = FakeLlm::start(vec![
        calls(
            &[(
                "c1",
                "create_cell",
                r#"{"source": "total = sum([1, 2]) / 0"}"#,
            )],
            4,
        ),
        decide(move |r| {
            let id = id_of(r);
            calls(
                &[("c2", "execute_cell", &format!(r#"{{"cell_id": "{id}"}}"#))],
                6,
            )
        }),
        decide(move |r| {
            let id = id_of(r);
            let seen = last_tool_result(r);
            assert!(
                seen["outputs"]
                    .as_str()
                    .unwrap()
                    .contains("ZeroDivisionError"),
                "{seen}"
            );
            calls(
                &[(
                    "c3",
                    "modify_cell",
                    &format!(
                        r#"{{"cell_id": "{id}", "source": "total = sum([1, 2])\nprint(total)"}}"#
                    ),
                )],
                6,
            )
        }),
        decide(move |r| {
            let id = id_of(r);
            calls(
                &[("c4", "execute_cell", &format!(r#"{{"cell_id": "{id}"}}"#))],
                6,
            )
        }),
        answer("Fixed: `total` is 3."),
    ])
    .await;
    let server = server_with_ai(&fake, kernel, AiModel::default(), 10);
    let (notebook, client) = server.notebook_with_owner("ai fixes").await.unwrap();
    cathode_tests::ai::set_approval(&client, "auto", 60).await;
    let watcher = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();
    // The watcher records every source the new cell has as it changes.
    let seen_sources = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let watch = {
        let seen = seen_sources.clone();
        let mut revision = watcher.revision();
        let watcher = std::sync::Arc::new(watcher);
        let w = watcher.clone();
        tokio::spawn(async move {
            loop {
                if revision.changed().await.is_err() {
                    return;
                }
                let sources: Vec<String> = w
                    .notebook(|nb| {
                        nb.cells()
                            .unwrap_or_default()
                            .into_iter()
                            .filter(|c| c.source.starts_with("total"))
                            .map(|c| c.source)
                            .collect()
                    })
                    .await
                    .unwrap_or_default();
                let mut seen = seen.lock().unwrap();
                for s in sources {
                    if seen.last() != Some(&s) {
                        seen.push(s);
                    }
                }
            }
        })
    };
    let done = run_ai(&client, "Compute the total").await;
    assert_eq!(done.state, ExecutionState::Done, "{kernel}: {done:?}");
    assert_eq!(replies(&done).last().unwrap(), "Fixed: `total` is 3.");
    let results = tool_results(&done);
    assert_eq!(results[1]["ok"], false, "the first run failed");
    assert!(
        results[1]["result"]["outputs"]
            .as_str()
            .unwrap()
            .contains("Traceback")
            || kernel == "wasm-python"
    );
    assert_eq!(results[3]["ok"], true, "{}", results[3]);
    assert!(results[3]["result"]["outputs"]
        .as_str()
        .unwrap()
        .contains('3'));
    tokio::time::sleep(Duration::from_millis(500)).await;
    watch.abort();
    let seen = seen_sources.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            "total = sum([1, 2]) / 0".to_owned(),
            "total = sum([1, 2])\nprint(total)".to_owned()
        ],
        "{kernel}: the watcher saw"
    );
    // The edits carry the AI run's attribution.
    let attributed = client
        .notebook(|nb| {
            schema::history(nb.automerge())
                .into_iter()
                .filter_map(|h| h.attribution)
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert!(attributed.len() >= 3, "{attributed:?}");
    assert!(attributed
        .iter()
        .all(|a| a.by == "ai:fake/fake-model" && a.ai_run == done.execution_id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ai_run_fixes_a_cell_while_another_client_watches_on_ipykernel() {
    create_run_fix_rerun("python3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ai_run_fixes_a_cell_while_another_client_watches_on_wasm_python() {
    create_run_fix_rerun("wasm-python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_failures_end_the_run_with_a_clear_message() {
    let fake = FakeLlm::start(vec![
        Turn::Status {
            code: 429,
            retry_after: Some("1".into()),
            body: r#"{"error": {"message": "slow down"}}"#.into(),
        },
        answer("after the retry"),
        Turn::Status {
            code: 500,
            retry_after: None,
            body: r#"{"error": {"message": "the model is on fire"}}"#.into(),
        },
        Turn::BreakAfter(vec![Chunk::Content("Half an ans".into())]),
    ])
    .await;
    let server = server_with_ai(&fake, "wasm-python", AiModel::default(), 10);
    let (_, client) = server.notebook_with_owner("ai failures").await.unwrap();
    let retried = run_ai(&client, "first").await;
    assert_eq!(retried.state, ExecutionState::Done, "{retried:?}");
    assert_eq!(replies(&retried), vec!["after the retry".to_owned()]);
    let failed = run_ai(&client, "second").await;
    assert_eq!(failed.state, ExecutionState::Error);
    let message = status(&failed)["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("500") && message.contains("the model is on fire"),
        "{message}"
    );
    let broken = run_ai(&client, "third").await;
    assert_eq!(broken.state, ExecutionState::Error);
    let message = status(&broken)["message"].as_str().unwrap().to_owned();
    assert!(message.contains("broke off"), "{message}");
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_turn_limit_and_an_interrupt_stop_the_loop() {
    let reading = |id: &'static str| calls(&[(id, "list_variables", "{}")], 10);
    let fake = FakeLlm::start(vec![
        reading("r1"),
        reading("r2"),
        // For the interrupt: a slow answer.
        Turn::Stream(
            std::iter::once(Chunk::Content("Thinking".into()))
                .chain((0..100).flat_map(|_| {
                    [
                        Chunk::Pause(Duration::from_millis(200)),
                        Chunk::Content(".".into()),
                    ]
                }))
                .chain([Chunk::Finish("stop".into())])
                .collect(),
        ),
    ])
    .await;
    let server = server_with_ai(&fake, "wasm-python", AiModel::default(), 2);
    let (_, client) = server.notebook_with_owner("ai limits").await.unwrap();
    let limited = run_ai(&client, "loop forever").await;
    assert_eq!(status(&limited)["state"], "turn_limit", "{limited:?}");
    assert_eq!(fake.requests().len(), 2);

    let cell = add_ai_cell(&client, "think slowly").await;
    let request = request_run(&client, &cell).await;
    wait_execution(&client, &request, "the reply starting", |x| {
        replies(x)
            .first()
            .is_some_and(|r| r.starts_with("Thinking"))
    })
    .await;
    request_interrupt(&client).await;
    let stopped = wait_execution(&client, &request, "interrupted", |x| x.state.is_finished()).await;
    assert_eq!(status(&stopped)["state"], "interrupted", "{stopped:?}");
    assert!(
        replies(&stopped)[0].len() < "Thinking".len() + 100,
        "it ran to the end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_provider_says_how_to_configure_one() {
    let server = cathode_tests::TestServer::start_with_options(
        &[],
        cathode_tests::server::ServerOptions {
            auto_runtime: true,
            ..Default::default()
        },
    )
    .unwrap();
    let (_, client) = server.notebook_with_owner("no ai").await.unwrap();
    let done = run_ai(&client, "hello?").await;
    assert_eq!(done.state, ExecutionState::Error);
    assert_eq!(status(&done)["state"], "unavailable");
    assert!(
        status(&done)["message"]
            .as_str()
            .unwrap()
            .contains("--ai-config"),
        "{done:?}"
    );
    let (code, models) = server
        .api(
            reqwest::Method::GET,
            "/api/ai/models",
            &server.owner_token,
            None,
        )
        .await
        .unwrap();
    assert_eq!(code, 200);
    assert_eq!(models["configured"], false);
    let _ = wait_state;
    let _ = json!(null);
}

/// An interrupt while a tool runs a long cell stops both: the cell ends
/// with KeyboardInterrupt instead of sleeping on, the AI run ends
/// interrupted, and the model is not asked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_during_a_tool_stops_the_cell_and_the_run() {
    let fake = FakeLlm::start(vec![]).await;
    let server = server_with_ai(&fake, "python3", AiModel::default(), 10);
    let (_, client) = server.notebook_with_owner("ai interrupt").await.unwrap();
    cathode_tests::ai::set_approval(&client, "auto", 60).await;
    let slow = add_cell(
        &client,
        "import time\nprint('started', flush=True)\ntime.sleep(60)\nprint('slept')",
    )
    .await;
    let args = json!({"cell_id": slow.to_string()}).to_string();
    fake.push(vec![
        calls(&[("x1", "execute_cell", &args)], 10),
        answer("It finished."),
    ]);

    let ai = add_ai_cell(&client, "run the slow cell").await;
    let request = request_run(&client, &ai).await;
    // The tool's run of the slow cell is under way, perhaps before its code
    // has started: the kernel holds such an interrupt until it has.
    let started = wait_cell_execution(&client, &slow, "its run under way", |x| {
        x.state == ExecutionState::Running
    })
    .await;
    request_interrupt(&client).await;

    let stopped = wait_execution(&client, &request, "the AI run interrupted", |x| {
        x.state.is_finished()
    })
    .await;
    assert_eq!(status(&stopped)["state"], "interrupted", "{stopped:?}");
    let runs = executions_of_cell(&client, &slow).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    // The cell's own end may land just after the run's.
    let slow_run = wait_execution(&client, &started.request_id, "the slow cell ended", |x| {
        x.state.is_finished()
    })
    .await;
    assert_eq!(slow_run.state, ExecutionState::Error, "{slow_run:?}");
    assert_eq!(
        error_of(&slow_run).map(|e| e.0),
        Some("KeyboardInterrupt"),
        "{slow_run:?}"
    );
    assert!(!stdout_of(&slow_run).contains("slept"));
    assert_eq!(fake.requests().len(), 1, "the model was asked again");
}
