//! The smaller findings of the hardening issue (point 9): names limited in
//! characters, not bytes; private database files; secret names a shell or
//! interpreter would act on, and blank secrets, refused.

use cathode_tests::TestServer;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_limited_in_characters() {
    let server = TestServer::start().unwrap();
    let token = &server.owner_token;
    let create = |name: String| {
        let server = &server;
        async move {
            server
                .api(
                    Method::POST,
                    "/api/notebooks",
                    token,
                    Some(json!({ "name": name })),
                )
                .await
                .unwrap()
        }
    };
    // 60 emoji are 240 bytes and 60 characters.
    let (status, body) = create("🚀".repeat(60)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "🚀".repeat(60));
    let (status, _) = create("é".repeat(200)).await;
    assert_eq!(status, 201);
    let (status, body) = create("é".repeat(201)).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = create("   ".into()).await;
    assert_eq!(status, 400);
    let (status, _) = create("line\nbreak".into()).await;
    assert_eq!(status, 400);
    let (status, body) = server
        .api(
            Method::POST,
            "/api/users",
            token,
            Some(json!({"name": "😀".repeat(100)})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_and_its_companions_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start().unwrap();
    // Writes, so that the WAL exists.
    let (_notebook, client) = server.notebook_with_owner("private").await.unwrap();
    client
        .edit_notebook(|nb| nb.create_cell(schema::CellType::Code, schema::Placement::End, "x"))
        .await
        .unwrap()
        .unwrap();
    client
        .wait_acknowledged(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(server.data_dir.path()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("cathode.sqlite") || name == "secrets.key" {
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{name} is {mode:o}");
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} files checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_names_that_run_code_and_blank_values_are_refused() {
    let server = TestServer::start().unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "secret rules")
        .await
        .unwrap();
    let put = |name: &str, value: &str| {
        let path = format!("/api/notebooks/{notebook}/secrets/{name}");
        let value = value.to_owned();
        let server = &server;
        async move {
            server
                .api(
                    Method::PUT,
                    &path,
                    &server.owner_token,
                    Some(json!({ "value": value })),
                )
                .await
                .unwrap()
        }
    };
    for name in [
        "BASH_ENV",
        "ENV",
        "PROMPT_COMMAND",
        "NODE_OPTIONS",
        "PERL5OPT",
        "RUBYOPT",
        "JAVA_TOOL_OPTIONS",
        "BASH_FUNC_x%%",
        "LD_PRELOAD",
    ] {
        let (status, body) = put(name, "a-long-enough-value").await;
        assert_eq!(status, 400, "{name}: {body}");
    }
    for blank in ["        ", " \t \n \r \t  ", "abc   def   "] {
        let (status, body) = put("API_KEY", blank).await;
        assert_eq!(status, 400, "{blank:?}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("whitespace"),
            "{body}"
        );
    }
    let (status, body) = put("API_KEY", "  eight-chars-and-more  ").await;
    assert_eq!(status, 204, "{body}");
}
