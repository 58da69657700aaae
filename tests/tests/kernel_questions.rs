//! Completion and inspection through the server on both kernels: the
//! question goes to the runtime agent and the answer back to the asker
//! only, nothing written to a document; a viewer may not ask; a question
//! asked while a long cell runs is answered at once (busy), not queued
//! behind it; an inspected secret comes back masked.

use cathode_client::NotebookClient;
use cathode_tests::cells::{add_cell, request_run, stdout_of, wait_execution};
use cathode_tests::runtime::wait_runtime;
use cathode_tests::TestServer;
use reqwest::Method;
use schema::automerge::ChangeHash;
use schema::{DocKind, ExecutionState, KernelAnswer, KernelQuery};
use serde_json::json;
use std::time::Duration;

const SECRET: &str = "tok-5ecret-value-771";
const ASK_LIMIT: Duration = Duration::from_secs(20);

fn complete(code: &str) -> KernelQuery {
    KernelQuery::Complete {
        code: code.into(),
        cursor_pos: code.chars().count(),
    }
}

fn inspect(code: &str) -> KernelQuery {
    KernelQuery::Inspect {
        code: code.into(),
        cursor_pos: code.chars().count(),
        detail_level: 0,
    }
}

fn inspected_text(answer: &KernelAnswer) -> String {
    match answer {
        KernelAnswer::Inspect { found: true, data } => data
            .get("text/plain")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        other => panic!("not an inspection: {other:?}"),
    }
}

type Heads = (Vec<ChangeHash>, Vec<ChangeHash>);

/// Both documents' heads once nothing has arrived for 300 ms: the agent's
/// own start-up writes can reach this client after the runtime reports
/// idle over REST.
async fn quiet_heads(client: &NotebookClient) -> Heads {
    let mut heads = (
        client.heads(DocKind::Notebook).await.unwrap(),
        client.heads(DocKind::Runtime).await.unwrap(),
    );
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = (
            client.heads(DocKind::Notebook).await.unwrap(),
            client.heads(DocKind::Runtime).await.unwrap(),
        );
        if now == heads {
            return heads;
        }
        heads = now;
    }
}

/// The events written to either document after `heads`, but for lease
/// renewals (the agent renews its lease on a timer, questions or not).
async fn events_since(client: &NotebookClient, heads: Heads) -> Vec<String> {
    let (notebook, runtime) = heads;
    let names = |doc: &schema::automerge::Automerge, since: &[ChangeHash]| -> Vec<String> {
        doc.get_changes(since)
            .iter()
            .map(|c| schema::event::event_name(c.message()).to_owned())
            .filter(|name| name != "LeaseRenewed")
            .collect()
    };
    let mut events = client
        .notebook(move |nb| names(nb.automerge(), &notebook))
        .await
        .unwrap();
    events.extend(
        client
            .runtime(move |rt| names(rt.automerge(), &runtime))
            .await
            .unwrap(),
    );
    events
}

async fn questions_on(kernel: &str) {
    let server = TestServer::start().unwrap();
    let (notebook, client) = server.notebook_with_owner("questions").await.unwrap();
    server
        .set_secret(&notebook, "API_TOKEN", SECRET)
        .await
        .unwrap();

    // No runtime yet: said so, not a hang.
    let answer = client
        .ask_kernel(complete("import o"), ASK_LIMIT)
        .await
        .unwrap();
    assert!(
        matches!(&answer, KernelAnswer::Unavailable { reason } if reason.contains("no runtime")),
        "{kernel}: {answer:?}"
    );

    let path = format!("/api/notebooks/{notebook}/runtime");
    let (code, started) = server
        .api(
            Method::POST,
            &path,
            &server.owner_token,
            Some(json!({"kernel": kernel})),
        )
        .await
        .unwrap();
    assert_eq!(code, 201, "{started}");
    wait_runtime(&server, &notebook, "idle", Duration::from_secs(120), |s| {
        s["state"] == "idle"
    })
    .await;
    let heads_before = quiet_heads(&client).await;

    let answer = client
        .ask_kernel(complete("import o"), ASK_LIMIT)
        .await
        .unwrap();
    match &answer {
        KernelAnswer::Complete {
            matches,
            cursor_start,
            cursor_end,
            ..
        } => {
            assert!(matches.iter().any(|m| m == "os"), "{kernel}: {matches:?}");
            assert_eq!((*cursor_start, *cursor_end), (7, 8), "{kernel}");
        }
        other => panic!("{kernel}: {other:?}"),
    }
    // Code points, not bytes: the same completion after a non-ASCII line.
    let code = "s = 'héllo wörld'\nimport o";
    let answer = client.ask_kernel(complete(code), ASK_LIMIT).await.unwrap();
    assert!(
        matches!(&answer, KernelAnswer::Complete { matches, cursor_start, .. }
            if matches.iter().any(|m| m == "os") && *cursor_start == code.chars().count() - 1),
        "{kernel}: {answer:?}"
    );
    let answer = client
        .ask_kernel(inspect("print("), ASK_LIMIT)
        .await
        .unwrap();
    let text = inspected_text(&answer);
    assert!(text.contains("print("), "{kernel}: {text}");
    // Asking wrote nothing to either document.
    assert_eq!(
        events_since(&client, heads_before).await,
        Vec::<String>::new(),
        "{kernel}: a question changed a document"
    );

    // An inspected secret comes back masked.
    let cell = add_cell(
        &client,
        "import os\ntoken = os.environ['API_TOKEN']\nprint(len(token))",
    )
    .await;
    let request = request_run(&client, &cell).await;
    let done = wait_execution(&client, &request, "the token read", |x| {
        x.state == ExecutionState::Done
    })
    .await;
    assert_eq!(stdout_of(&done).trim(), SECRET.len().to_string());
    let answer = client
        .ask_kernel(inspect("token"), ASK_LIMIT)
        .await
        .unwrap();
    let text = inspected_text(&answer);
    assert!(
        !text.contains(SECRET),
        "{kernel}: the secret in an inspection: {text}"
    );
    assert!(text.contains("[MASKED:API_TOKEN]"), "{kernel}: {text}");

    // A viewer may not ask: completion runs code in the kernel's namespace.
    let viewer_token = server
        .user_with_role(&notebook, "vic", "viewer")
        .await
        .unwrap();
    let viewer = NotebookClient::connect(server.client_config(&viewer_token, &notebook))
        .await
        .unwrap();
    let answer = viewer
        .ask_kernel(complete("import o"), ASK_LIMIT)
        .await
        .unwrap();
    assert!(
        matches!(&answer, KernelAnswer::Unavailable { reason } if reason.contains("viewer")),
        "{kernel}: {answer:?}"
    );

    // While a 10-second cell runs: answered (busy) while it still runs.
    let slow = add_cell(&client, "import time\ntime.sleep(10)").await;
    let request = request_run(&client, &slow).await;
    wait_execution(&client, &request, "the slow cell running", |x| {
        x.state == ExecutionState::Running
    })
    .await;
    let answer = client
        .ask_kernel(complete("import o"), ASK_LIMIT)
        .await
        .unwrap();
    assert_eq!(answer, KernelAnswer::Busy, "{kernel}");
    let still = wait_execution(&client, &request, "the slow cell", |_| true).await;
    assert_eq!(
        still.state,
        ExecutionState::Running,
        "{kernel}: the answer waited for the cell"
    );
    viewer.close().await;
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_and_inspection_on_ipykernel() {
    questions_on("python3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_and_inspection_on_wasm_python() {
    questions_on("wasm-python").await;
}
