//! Approvals of an AI run's code, and undoing an AI run: approve once,
//! approve for the run, deny, no answer in time, a viewer who cannot
//! answer; and a run that created, modified, moved and deleted cells
//! reverted by one request, keeping a person's later edit.

use cathode_client::NotebookClient;
use cathode_tests::ai::{
    add_ai_cell, server_with_ai, set_approval, tool_results, wait_approval, AiModel,
};
use cathode_tests::cells::{add_cell, request_run, wait_execution, wait_state};
use cathode_tests::fake_llm::{answer, tool_calls, FakeLlm};
use schema::{ApprovalDecision, ControlKind, ExecutionState};
use std::time::Duration;

fn execute(id: &str, cell: &schema::CellId) -> cathode_tests::fake_llm::Turn {
    tool_calls(
        &[(id, "execute_cell", &format!(r#"{{"cell_id": "{cell}"}}"#))],
        7,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_once_deny_and_a_viewer_who_cannot_answer() {
    let fake = FakeLlm::start(Vec::new()).await;
    let server = server_with_ai(&fake, "wasm-python", AiModel::default(), 10);
    let (notebook, client) = server.notebook_with_owner("approvals").await.unwrap();
    set_approval(&client, "ask_execute", 120).await;
    let cell = add_cell(&client, "print('approved run')").await;
    fake.push(vec![
        execute("e1", &cell),
        execute("e2", &cell),
        answer("done"),
    ]);
    let bob_token = server
        .user_with_role(&notebook, "bob", "editor")
        .await
        .unwrap();
    let bob = NotebookClient::connect(server.client_config(&bob_token, &notebook))
        .await
        .unwrap();
    let vera_token = server
        .user_with_role(&notebook, "vera", "viewer")
        .await
        .unwrap();
    let vera = NotebookClient::connect(server.client_config(&vera_token, &notebook))
        .await
        .unwrap();

    let ai = add_ai_cell(&client, "run it twice").await;
    let request = request_run(&client, &ai).await;
    let running = wait_state(&client, &request, &[ExecutionState::Running]).await;
    let x = running.execution_id.clone();
    let asked = wait_approval(&bob, &x, 0).await;
    assert_eq!(asked.tool, "execute_cell");
    assert_eq!(asked.cell_id.as_ref(), Some(&cell));
    // The viewer cannot answer.
    let v = x.clone();
    let refused = vera
        .edit_notebook(move |nb| nb.answer_approval(&v, 0, ApprovalDecision::ApproveOnce, "vera"))
        .await;
    assert!(refused.is_err(), "a viewer answered an approval");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        fake.requests().len() == 1,
        "the run went on without an approval"
    );
    let b = x.clone();
    bob.edit_notebook(move |nb| nb.answer_approval(&b, 0, ApprovalDecision::ApproveOnce, "bob"))
        .await
        .unwrap()
        .unwrap();
    // Approve once: the second call asks again; bob denies it.
    wait_approval(&bob, &x, 1).await;
    let b = x.clone();
    bob.edit_notebook(move |nb| nb.answer_approval(&b, 1, ApprovalDecision::Deny, "bob"))
        .await
        .unwrap()
        .unwrap();
    let done = wait_execution(&client, &request, "the AI run", |r| r.state.is_finished()).await;
    assert_eq!(done.state, ExecutionState::Done, "{done:?}");
    let results = tool_results(&done);
    assert_eq!(results[0]["ok"], true, "{results:?}");
    assert!(results[0]["result"]["outputs"]
        .as_str()
        .unwrap()
        .contains("approved run"));
    assert_eq!(results[1]["ok"], false);
    assert_eq!(results[1]["result"]["error"], "bob denied this call");
    let told = cathode_tests::fake_llm::contents(&fake.requests()[2], "tool").join("\n");
    assert!(told.contains("bob denied this call"), "{told}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_for_the_run_and_no_answer_in_time() {
    let fake = FakeLlm::start(Vec::new()).await;
    let server = server_with_ai(&fake, "wasm-python", AiModel::default(), 10);
    let (_, client) = server.notebook_with_owner("approvals 2").await.unwrap();
    set_approval(&client, "ask_execute", 120).await;
    let cell = add_cell(&client, "print(6 * 7)").await;
    fake.push(vec![
        execute("a1", &cell),
        execute("a2", &cell),
        answer("both ran"),
    ]);
    let ai = add_ai_cell(&client, "run twice").await;
    let request = request_run(&client, &ai).await;
    let x = wait_state(&client, &request, &[ExecutionState::Running])
        .await
        .execution_id;
    wait_approval(&client, &x, 0).await;
    let y = x.clone();
    client
        .edit_notebook(move |nb| nb.answer_approval(&y, 0, ApprovalDecision::ApproveRun, "ada"))
        .await
        .unwrap()
        .unwrap();
    let done = wait_execution(&client, &request, "the AI run", |r| r.state.is_finished()).await;
    let results = tool_results(&done);
    assert!(results.iter().all(|r| r["ok"] == true), "{results:?}");
    let y = x.clone();
    let second = client
        .notebook(move |nb| nb.approval_answer(&y, 1))
        .await
        .unwrap()
        .unwrap();
    assert!(second.is_none(), "the second call asked again");

    set_approval(&client, "ask_execute", 2).await;
    fake.push(vec![execute("t1", &cell), answer("it timed out")]);
    let ai = add_ai_cell(&client, "run, nobody answers").await;
    let request = request_run(&client, &ai).await;
    let done = wait_execution(&client, &request, "the AI run", |r| r.state.is_finished()).await;
    let results = tool_results(&done);
    assert_eq!(
        results[0]["result"]["error"],
        "nobody approved this call within 2 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ai_run_is_undone_keeping_a_later_human_edit() {
    let fake = FakeLlm::start(Vec::new()).await;
    let server = server_with_ai(&fake, "wasm-python", AiModel::default(), 10);
    let (notebook, client) = server.notebook_with_owner("undo").await.unwrap();
    set_approval(&client, "auto", 60).await;
    let kept = add_cell(&client, "x = 1").await;
    let moved = add_cell(&client, "# moved").await;
    let gone = add_cell(&client, "print('gone')").await;
    let order_before: Vec<schema::CellId> =
        client.notebook(|nb| nb.cell_ids().unwrap()).await.unwrap();
    fake.push(vec![
        tool_calls(
            &[
                ("u1", "create_cell", r#"{"source": "y = 2"}"#),
                (
                    "u2",
                    "modify_cell",
                    &format!(r#"{{"cell_id": "{kept}", "source": "x = 10"}}"#),
                ),
                (
                    "u3",
                    "move_cell",
                    &format!(r#"{{"cell_id": "{moved}", "position": "start"}}"#),
                ),
                ("u4", "delete_cell", &format!(r#"{{"cell_id": "{gone}"}}"#)),
            ],
            9,
        ),
        answer("rearranged"),
    ]);
    let ai = add_ai_cell(&client, "rearrange").await;
    let request = request_run(&client, &ai).await;
    let done = wait_execution(&client, &request, "the AI run", |r| r.state.is_finished()).await;
    assert_eq!(done.state, ExecutionState::Done, "{done:?}");
    let made = tool_results(&done)[0]["result"]["cell_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A person edits the cell the AI changed, after it did.
    let k = kept.clone();
    client
        .edit_notebook(move |nb| nb.splice_source(&k, 6, 0, "\n# mine"))
        .await
        .unwrap()
        .unwrap();
    let bob_token = server
        .user_with_role(&notebook, "bob", "editor")
        .await
        .unwrap();
    let bob = NotebookClient::connect(server.client_config(&bob_token, &notebook))
        .await
        .unwrap();
    let run = done.execution_id.clone();
    bob.edit_notebook(move |nb| nb.request_control(ControlKind::UndoAiRun { ai_run: run }, "bob"))
        .await
        .unwrap()
        .unwrap();
    let made_id = schema::CellId::from(made.as_str());
    let gone_id = gone.clone();
    client
        .wait_notebook(Duration::from_secs(60), move |nb| {
            nb.cell(&gone_id).is_ok() && nb.cell(&made_id).is_err()
        })
        .await
        .unwrap();
    let k = kept.clone();
    let state = client
        .notebook(move |nb| {
            let mut ids = nb.cell_ids().unwrap();
            ids.retain(|c| nb.cell(c).unwrap().cell_type != schema::CellType::Ai);
            (ids, nb.source(&k).unwrap())
        })
        .await
        .unwrap();
    assert_eq!(state.1, "x = 1\n# mine");
    assert_eq!(state.0, order_before);
    let g = gone.clone();
    let restored = client
        .notebook(move |nb| nb.cell(&g).unwrap().source)
        .await
        .unwrap();
    assert_eq!(restored, "print('gone')");
    let undone = client
        .notebook(|nb| {
            schema::history(nb.automerge())
                .into_iter()
                .any(|h| matches!(h.event, Some(schema::DocumentEvent::AiRunUndone { .. })))
        })
        .await
        .unwrap();
    assert!(undone);
}
