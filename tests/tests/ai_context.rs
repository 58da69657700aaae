//! What an AI run sends its provider, checked at the scripted server: the
//! notebook's outputs, traceback, variables, an image and earlier AI turns
//! in the context; the cut said when the budget is small; no secret in any
//! form, on both kernels; the provider key nowhere but the request header;
//! and a person's typing kept while the AI rewrites the same cell.

use base64::Engine;
use cathode_client::NotebookClient;
use cathode_tests::ai::{add_ai_cell, replies, server_with_ai, tool_results, AiModel, API_KEY};
use cathode_tests::cells::{add_cell, request_run, wait_execution};
use cathode_tests::fake_llm::{answer, contents, tool_calls as calls, Chunk, FakeLlm, Turn};
use schema::{ExecutionRecord, ExecutionState};
use serde_json::Value;
use std::time::Duration;

async fn run(client: &NotebookClient, cell: &schema::CellId) -> ExecutionRecord {
    let request = request_run(client, cell).await;
    wait_execution(client, &request, "a run", |x| x.state.is_finished()).await
}

async fn run_code(client: &NotebookClient, source: &str) -> ExecutionRecord {
    let cell = add_cell(client, source).await;
    run(client, &cell).await
}

async fn run_ai(client: &NotebookClient, prompt: &str) -> ExecutionRecord {
    let cell = add_ai_cell(client, prompt).await;
    run(client, &cell).await
}

/// Every image part of a request's user messages.
fn image_urls(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter_map(|p| p.pointer("/image_url/url").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_holds_outputs_errors_variables_images_and_earlier_turns() {
    let fake = FakeLlm::start(vec![answer("first answer"), answer("second answer")]).await;
    let server = server_with_ai(&fake, "python3", AiModel::default(), 10);
    let (_, client) = server.notebook_with_owner("ai context").await.unwrap();
    run_code(
        &client,
        "import pandas as pd\ndf = pd.DataFrame({'city': ['Lyon', 'Nantes', 'Lille'], 'people': [522250, 323204, 236710]})\nprint('rows', len(df))",
    )
    .await;
    run_code(
        &client,
        "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.show()",
    )
    .await;
    let failed = run_code(&client, "def f(x):\n    return x / 0\nf(int(df.people[0]))").await;
    assert_eq!(failed.state, ExecutionState::Error);
    let first = run_ai(&client, "first question").await;
    assert_eq!(replies(&first), vec!["first answer".to_owned()]);
    let second = run_ai(&client, "a follow-up").await;
    assert_eq!(second.state, ExecutionState::Done, "{second:?}");

    let requests = fake.requests();
    let r = &requests[1];
    let user = contents(r, "user").join("\n");
    assert!(user.contains("rows 3"), "the stream output: {user}");
    assert!(user.contains("ZeroDivisionError"), "{user}");
    assert!(
        user.contains("Traceback") && user.contains("return x / 0"),
        "the whole traceback: {user}"
    );
    assert!(
        user.contains("\"name\":\"df\""),
        "the data frame variable: {user}"
    );
    assert!(user.contains("\"shape\":[3,2]"), "its shape: {user}");
    assert!(user.contains("\"people\":\"int64\""), "its dtypes: {user}");
    assert!(user.contains("Nantes"), "its first rows: {user}");
    assert!(!user.contains('\u{1b}'), "ANSI codes reached the model");
    let images = image_urls(r);
    assert_eq!(images.len(), 1, "one plot");
    let png = images[0]
        .strip_prefix("data:image/png;base64,")
        .expect("a PNG data URL");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(png)
        .unwrap();
    assert!(bytes.starts_with(b"\x89PNG"));
    // The earlier AI cell's turn, as messages of its own.
    assert!(contents(r, "user").iter().any(|c| c == "first question"));
    assert!(contents(r, "assistant").iter().any(|c| c == "first answer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_budget_cuts_what_it_must_and_says_so() {
    let fake = FakeLlm::start(vec![answer("ok")]).await;
    let model = AiModel {
        context_tokens: 4_000,
        images: false,
        ..AiModel::default()
    };
    let server = server_with_ai(&fake, "wasm-python", model, 10);
    let (_, client) = server.notebook_with_owner("ai budget").await.unwrap();
    for i in 0..12 {
        run_code(&client, &format!("print('{i}' * 2000)")).await;
    }
    let failed = run_code(&client, "raise RuntimeError('the latest error')").await;
    assert_eq!(failed.state, ExecutionState::Error);
    let done = run_ai(&client, "what failed?").await;
    assert_eq!(done.state, ExecutionState::Done);
    let user = contents(&fake.requests()[0], "user").join("\n");
    assert!(user.contains("To fit the model's context"), "{user}");
    assert!(
        user.contains("the latest error"),
        "the latest error is never cut: {user}"
    );
    assert!(user.contains("what failed?"));
    assert!(
        user.chars().count() < 4_000 * 4,
        "{} characters",
        user.chars().count()
    );
}

const SECRET: &str = "hunter2-Zq9xK7pW";

async fn secrets_never_reach_the_provider(kernel: &str) {
    let fake = FakeLlm::start(vec![
        calls(&[("v", "inspect_variable", r#"{"name": "creds"}"#)], 8),
        answer("done"),
    ])
    .await;
    let server = server_with_ai(&fake, kernel, AiModel::default(), 10);
    let (notebook, client) = server.notebook_with_owner("ai secrets").await.unwrap();
    server
        .set_secret(&notebook, "DB_PASSWORD", SECRET)
        .await
        .unwrap();
    // A cell whose source holds the value, typed by someone by mistake.
    add_cell(&client, &format!("# connect with {SECRET}")).await;
    run_code(
        &client,
        "import os\npw = os.environ['DB_PASSWORD']\nprint(pw)",
    )
    .await;
    run_code(&client, "raise ValueError('login failed for ' + pw)").await;
    run_code(
        &client,
        "import pandas as pd\ncreds = pd.DataFrame({'user': ['ada'], 'password': [pw]})\nencoded = __import__('base64').b64encode(pw.encode()).decode()",
    )
    .await;
    let done = run_ai(&client, &format!("why does {SECRET} fail?")).await;
    assert_eq!(done.state, ExecutionState::Done, "{kernel}: {done:?}");
    let sent = fake.everything_received();
    let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET);
    for form in [
        SECRET.to_owned(),
        b64.clone(),
        b64.trim_end_matches('=').to_owned(),
    ] {
        assert!(
            !sent.contains(&form),
            "{kernel}: {form} reached the provider"
        );
    }
    assert!(
        sent.contains("[MASKED:DB_PASSWORD]"),
        "{kernel}: nothing masked was sent?"
    );
    // The data frame's value went through inspect_variable too.
    let inspected = &tool_results(&done)[0];
    assert!(
        inspected["result"]
            .to_string()
            .contains("[MASKED:DB_PASSWORD]"),
        "{inspected}"
    );
    // The provider key: only ever in the header.
    assert!(!sent.contains(API_KEY));
    let history = cathode_tests::history_text::decoded_history(&client).await;
    assert!(
        history.contains("DB_PASSWORD"),
        "{kernel}: the decoded history holds the outputs (the search works)"
    );
    assert!(
        !history.contains(API_KEY),
        "{kernel}: the key in a document"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for name in ["cathode.sqlite", "cathode.sqlite-wal", "server.log"] {
        let path = server.data_dir.path().join(name);
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(API_KEY),
                "{kernel}: the key in {name}"
            );
        }
    }
    let (_, status) = server
        .api(
            reqwest::Method::GET,
            &format!("/api/notebooks/{notebook}/runtime"),
            &server.owner_token,
            None,
        )
        .await
        .unwrap();
    assert!(
        !status.to_string().contains(API_KEY),
        "the key in the agent's log tail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_provider_on_ipykernel() {
    secrets_never_reach_the_provider("python3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_provider_on_wasm_python() {
    secrets_never_reach_the_provider("wasm-python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_in_a_cell_the_ai_rewrites_loses_nothing() {
    let fake = FakeLlm::start(Vec::new()).await;
    let server = server_with_ai(&fake, "wasm-python", AiModel::default(), 10);
    let (_, client) = server.notebook_with_owner("ai typing").await.unwrap();
    let target = add_cell(&client, "a = 1\nb = 2\n").await;
    let modify =
        format!(r#"{{"cell_id": "{target}", "source": "a = 10\nb = 2\n"}}"#).replace('\n', "\\n");
    let mut chunks = vec![Chunk::Pause(Duration::from_millis(1500))];
    if let Turn::Stream(rest) = calls(&[("m", "modify_cell", &modify)], 4) {
        chunks.extend(rest);
    }
    fake.push(vec![Turn::Stream(chunks), answer("a is 10 now")]);
    let ai = add_ai_cell(&client, "make a ten").await;
    let request = request_run(&client, &ai).await;
    // While the model thinks, a person types at the end of the same cell,
    // one character at a time.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for ch in "# mine\n".chars() {
        let t = target.clone();
        client
            .edit_notebook(move |nb| {
                let len = nb.source(&t)?.chars().count();
                nb.splice_source(&t, len, 0, &ch.to_string())
            })
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = wait_execution(&client, &request, "the AI run", |x| x.state.is_finished()).await;
    assert_eq!(done.state, ExecutionState::Done, "{done:?}");
    let t = target.clone();
    let source = client
        .notebook(move |nb| nb.source(&t))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(source, "a = 10\nb = 2\n# mine\n");
}
