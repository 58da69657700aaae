//! Secrets end to end: the REST API's permissions, encryption at rest, and
//! masking at every egress of a real runtime agent running real kernels.

use cathode_client::NotebookClient;
use cathode_tests::cells::{add_cell, error_of, request_run, stdout_of, wait_state};
use cathode_tests::{AgentOptions, TestAgent, TestServer};
use reqwest::Method;
use schema::{ExecutionRecord, ExecutionState, OutputManifest};
use serde_json::json;

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// The server file and its WAL side files, as raw bytes.
fn database_bytes(server: &TestServer) -> Vec<u8> {
    let db = server.database_path();
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        if let Ok(b) = std::fs::read(&path) {
            bytes.extend(b);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_reach_only_the_runtime_and_are_sealed_at_rest() {
    let mut server = TestServer::start().unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "vault")
        .await
        .unwrap();
    let other = server
        .create_notebook(&server.owner_token, "other")
        .await
        .unwrap();
    let editor = server
        .user_with_role(&notebook, "eve", "editor")
        .await
        .unwrap();
    let viewer = server
        .user_with_role(&notebook, "val", "viewer")
        .await
        .unwrap();
    let runtime = server.runtime_token(&notebook).await.unwrap();
    let other_runtime = server.runtime_token(&other).await.unwrap();
    let value = format!("sk-live-{}", random_hex(16));
    let path = format!("/api/notebooks/{notebook}/secrets/API_KEY");

    // Validation: short values, bad and reserved names, malformed bodies.
    for (name, body, why) in [
        ("API_KEY", json!({"value": "short"}), "at least 8"),
        ("1BAD", json!({"value": value}), "environment variable name"),
        ("PATH", json!({"value": value}), "reserved"),
        ("LD_PRELOAD", json!({"value": value}), "reserved"),
        ("API_KEY", json!({"val": value}), "must be JSON"),
    ] {
        let (status, reply) = server
            .api(
                Method::PUT,
                &format!("/api/notebooks/{notebook}/secrets/{name}"),
                &server.owner_token,
                Some(body),
            )
            .await
            .unwrap();
        assert_eq!(status, 400, "{name}: {reply}");
        assert!(reply["message"].as_str().unwrap().contains(why), "{reply}");
        assert!(
            !reply.to_string().contains(&value),
            "an error echoed the value"
        );
    }
    // Only an owner sets secrets.
    let (status, _) = server
        .api(Method::PUT, &path, &editor, Some(json!({"value": value})))
        .await
        .unwrap();
    assert_eq!(status, 403);
    server
        .set_secret(&notebook, "API_KEY", &value)
        .await
        .unwrap();

    // Owners and editors see names, never values; viewers see nothing.
    for token in [&server.owner_token, &editor] {
        let (status, list) = server
            .api(
                Method::GET,
                &format!("/api/notebooks/{notebook}/secrets"),
                token,
                None,
            )
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(list["secrets"][0]["name"], "API_KEY");
        assert!(!list.to_string().contains(&value));
    }
    let (status, _) = server
        .api(
            Method::GET,
            &format!("/api/notebooks/{notebook}/secrets"),
            &viewer,
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 403);

    // Values go to this notebook's runtime token alone.
    let reveal = format!("/api/notebooks/{notebook}/runtime/secrets");
    let (status, got) = server
        .api(Method::GET, &reveal, &runtime, None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(got["secrets"]["API_KEY"], value.as_str());
    for token in [&server.owner_token, &editor, &viewer] {
        let (status, body) = server.api(Method::GET, &reveal, token, None).await.unwrap();
        assert_eq!(status, 403, "{body}");
    }
    let (status, _) = server
        .api(Method::GET, &reveal, &other_runtime, None)
        .await
        .unwrap();
    assert_eq!(status, 404);

    // Sealed at rest; the key lives beside, not inside, the database.
    let key_file = server.data_dir.path().join("secrets.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    let key_hex = std::fs::read_to_string(&key_file).unwrap();
    server.terminate();
    let db = database_bytes(&server);
    assert!(
        !contains(&db, &value),
        "the database holds the secret in clear"
    );
    assert!(
        !contains(&db, key_hex.trim()),
        "the database holds the master key"
    );

    // After a restart the runtime still gets it; a deleted secret is gone.
    server.restart().unwrap();
    let (_, got) = server
        .api(Method::GET, &reveal, &runtime, None)
        .await
        .unwrap();
    assert_eq!(got["secrets"]["API_KEY"], value.as_str());
    let (status, _) = server
        .api(Method::DELETE, &path, &server.owner_token, None)
        .await
        .unwrap();
    assert_eq!(status, 204);
    let (_, got) = server
        .api(Method::GET, &reveal, &runtime, None)
        .await
        .unwrap();
    assert_eq!(got["secrets"], json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passphrase_master_key_is_checked_at_start() {
    let passphrase = ["--secrets-passphrase", "correct horse battery staple"];
    let mut server = TestServer::start_with(&passphrase).unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "passphrase")
        .await
        .unwrap();
    let runtime = server.runtime_token(&notebook).await.unwrap();
    let value = format!("pw-{}", random_hex(16));
    server
        .set_secret(&notebook, "DB_PASSWORD", &value)
        .await
        .unwrap();
    // A passphrase replaces the key file: none is written.
    assert!(!server.data_dir.path().join("secrets.key").exists());

    // A wrong passphrase stops the server at start, not at first use.
    server.set_extra_args(&["--secrets-passphrase", "not the right passphrase"]);
    assert!(server.restart().is_err(), "started with a wrong master key");
    server.set_extra_args(&passphrase);
    server.restart().unwrap();
    let reveal = format!("/api/notebooks/{notebook}/runtime/secrets");
    let (status, got) = server
        .api(Method::GET, &reveal, &runtime, None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(got["secrets"]["DB_PASSWORD"], value.as_str());
}

/// With an explicit database and no master key (a team's Postgres set up
/// without one, say) secrets are off: the API says how to turn them on, and
/// agents still run cells, with no secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_master_key_secrets_are_off_and_agents_still_run() {
    let db_dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        db_dir.path().join("explicit.sqlite").display()
    );
    let server = TestServer::start_with(&["--database-url", &url]).unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "no-key")
        .await
        .unwrap();
    let runtime = server.runtime_token(&notebook).await.unwrap();
    let (status, body) = server
        .api(
            Method::PUT,
            &format!("/api/notebooks/{notebook}/secrets/API_TOKEN"),
            &server.owner_token,
            Some(json!({ "value": "a-long-enough-value" })),
        )
        .await
        .unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "secrets_disabled", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("--secrets-key-file"), "{message}");
    let reveal = format!("/api/notebooks/{notebook}/runtime/secrets");
    // The runtime simply gets none, so agents are not stopped by it.
    let (status, got) = server
        .api(Method::GET, &reveal, &runtime, None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(got["secrets"], json!({}));

    let owner = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();
    let _agent = TestAgent::start(&server, &notebook, &runtime, "wasm-python").unwrap();
    let cell = add_cell(&owner, "print('ran without secrets')").await;
    let r = request_run(&owner, &cell).await;
    let x = wait_state(&owner, &r, &[ExecutionState::Done]).await;
    assert_eq!(stdout_of(&x), "ran without secrets\n");
}

/// The forms of a value this test checks for, computed independently of
/// the agent's own list.
fn encodings(value: &str) -> Vec<String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let mut forms = vec![
        value.to_owned(),
        serde_json::to_string(value)
            .unwrap()
            .trim_matches('"')
            .to_owned(),
        value
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect(),
        value
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#x27;"),
    ];
    // Base64 at each alignment, without the characters shared with neighbours.
    for offset in 0..3 {
        let mut padded = vec![b'x'; offset];
        padded.extend_from_slice(value.as_bytes());
        let encoded = b64.encode(&padded);
        let first = (offset * 8).div_ceil(6);
        let last = ((offset + value.len()) * 8) / 6;
        forms.push(encoded[first..last].to_owned());
    }
    forms
}

fn assert_clean(what: &str, bytes: &[u8], secrets: &[&str]) {
    for secret in secrets {
        for form in encodings(secret) {
            assert!(!contains(bytes, &form), "{what} contains {form:?}");
        }
    }
}

fn text_of(x: &ExecutionRecord) -> String {
    serde_json::to_string(&x.outputs).unwrap()
}

async fn run(client: &NotebookClient, source: &str, state: ExecutionState) -> ExecutionRecord {
    let cell = add_cell(client, source).await;
    let request = request_run(client, &cell).await;
    wait_state(client, &request, &[state]).await
}

async fn masking_end_to_end(kernel: &str) {
    let mut server = TestServer::start().unwrap();
    let (notebook, owner) = server.notebook_with_owner("masked").await.unwrap();
    let api_key = format!("sk-live-{}", random_hex(16));
    let db_url = format!("postgres://admin:p@ss w0rd&<{}>/db'x\"", random_hex(4));
    server
        .set_secret(&notebook, "API_KEY", &api_key)
        .await
        .unwrap();
    server
        .set_secret(&notebook, "DB_URL", &db_url)
        .await
        .unwrap();
    let runtime = server.runtime_token(&notebook).await.unwrap();
    let log = server.data_dir.path().join("agent.log");
    let options = AgentOptions {
        log: Some((log.clone(), "info,kernels=debug".into())),
        ..AgentOptions::default()
    };
    let mut agent = TestAgent::start_with(&server, &notebook, &runtime, kernel, &options).unwrap();

    // The kernel has the secrets as environment variables; output masks them.
    let x = run(
        &owner,
        "import os\nk = os.environ['API_KEY']\nd = os.environ['DB_URL']\nprint('key:', k)\nprint(len(k), len(d))",
        ExecutionState::Done,
    )
    .await;
    assert_eq!(
        stdout_of(&x),
        format!(
            "key: [MASKED:API_KEY]\n{} {}\n",
            api_key.len(),
            db_url.chars().count()
        )
    );

    // Printed in two pieces half a second apart: far longer than the flush
    // interval, so the first piece alone would have been written.
    let x = run(
        &owner,
        "import sys, time\nsys.stdout.write('pieces ' + k[:12]); sys.stdout.flush()\ntime.sleep(0.5)\nsys.stdout.write(k[12:] + ' end\\n'); sys.stdout.flush()",
        ExecutionState::Done,
    )
    .await;
    assert_eq!(stdout_of(&x), "pieces [MASKED:API_KEY] end\n");

    // Encoded as code commonly encodes it.
    let x = run(
        &owner,
        "import base64, json, urllib.parse, html\nprint(base64.b64encode(('admin:' + k).encode()).decode())\nprint(json.dumps(d))\nprint(urllib.parse.quote(d))\nprint(urllib.parse.quote_plus(d))\nprint(html.escape(d))\nprint(repr(d))",
        ExecutionState::Done,
    )
    .await;
    let lines: Vec<String> = stdout_of(&x).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(lines[0].contains("[MASKED:API_KEY]"), "{}", lines[0]);
    for line in &lines[1..] {
        assert!(line.contains("[MASKED:DB_URL]"), "{line}");
    }

    // Rich output and a traceback.
    let x = run(
        &owner,
        "class Card:\n    def _repr_html_(self):\n        return '<b>' + html.escape(d) + '</b>'\nCard()",
        ExecutionState::Done,
    )
    .await;
    assert!(
        text_of(&x).contains("<b>[MASKED:DB_URL]</b>"),
        "{}",
        text_of(&x)
    );
    let x = run(
        &owner,
        "def connect(secret):\n    raise ValueError('cannot connect with ' + secret)\nconnect(k)",
        ExecutionState::Error,
    )
    .await;
    let (_, evalue, traceback) = error_of(&x).unwrap();
    let error = (evalue, traceback);
    assert_eq!(error.0, "cannot connect with [MASKED:API_KEY]");
    assert!(
        error.1.concat().contains("[MASKED:API_KEY]"),
        "{:?}",
        error.1
    );

    // A long output: its full text goes to the blob store, masked.
    let x = run(
        &owner,
        "print(('row ' + k + '\\n') * 20000, end='')",
        ExecutionState::Done,
    )
    .await;
    let full = x
        .outputs
        .iter()
        .find_map(|o| match o {
            OutputManifest::Stream {
                truncated: Some(t), ..
            } => t.full_text_sha256.clone(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no full-text blob in {:?}", x.outputs));
    let full = server.blob(&full).await.unwrap();
    assert_eq!(full, "row [MASKED:API_KEY]\n".repeat(20000).into_bytes());

    // Written straight to the kernel process's stderr, past the kernel's
    // capture: the kernels crate logs it, and the log line is masked.
    if kernel == "python3" {
        run(
            &owner,
            "os.write(2, ('direct ' + k + '\\n').encode()); import time; time.sleep(0.2)",
            ExecutionState::Done,
        )
        .await;
    }

    let documents = owner
        .runtime(|rt| rt.automerge().save_nocompress())
        .await
        .unwrap();
    let notebook_doc = owner
        .notebook(|nb| nb.automerge().save_nocompress())
        .await
        .unwrap();
    agent.kill();
    server.terminate();
    let secrets = [api_key.as_str(), db_url.as_str()];
    assert_clean("the runtime document's history", &documents, &secrets);
    assert_clean("the notebook document's history", &notebook_doc, &secrets);
    assert_clean("the database", &database_bytes(&server), &secrets);
    let log = std::fs::read(&log).unwrap();
    assert_clean("the agent's log", &log, &secrets);
    if kernel == "python3" {
        assert!(
            contains(&log, "direct [MASKED:API_KEY]"),
            "the kernel's stderr was not logged: {}",
            String::from_utf8_lossy(&log)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masking_end_to_end_on_ipykernel() {
    masking_end_to_end("python3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masking_end_to_end_on_wasm_python() {
    masking_end_to_end("wasm-python").await;
}
