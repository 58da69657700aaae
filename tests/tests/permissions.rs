//! Tokens and roles, checked on connect and on every message.

use cathode_client::{ClientError, NotebookClient};
use cathode_tests::raw::{typed_change, RawPeer};
use cathode_tests::TestServer;
use reqwest::Method;
use schema::automerge::sync;
use schema::automerge::Automerge;
use schema::automerge::ReadDoc;
use schema::wire::ErrorCode;
use schema::{CellType, DocKind, Placement};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// Connect raw, sync `kind`, make a typed change to it, and push it by
/// hand; returns the error frame the server answered with (if any) and the
/// change's hash.
async fn push_change(
    server: &TestServer,
    token: &str,
    notebook: &str,
    kind: DocKind,
) -> (
    Option<schema::wire::ErrorFrame>,
    schema::automerge::ChangeHash,
) {
    let (mut peer, _) = RawPeer::hello(&server.ws_url(), token, notebook)
        .await
        .unwrap();
    let mut replica = Automerge::new();
    let mut state = sync::State::new();
    peer.pull(kind, &mut replica, &mut state).await.unwrap();
    let (replica, hash) = typed_change(kind, replica).unwrap();
    peer.push_change(kind, &replica, hash).await.unwrap();
    let error = peer.next_error(Duration::from_secs(3)).await.ok().flatten();
    (error, hash)
}

async fn server_has(
    server: &TestServer,
    notebook: &str,
    kind: DocKind,
    hash: schema::automerge::ChangeHash,
) -> bool {
    let client = NotebookClient::connect(server.client_config(&server.owner_token, notebook))
        .await
        .unwrap();
    let found = match kind {
        DocKind::Notebook => {
            client
                .notebook(move |nb| nb.automerge().get_change_by_hash(&hash).is_some())
                .await
        }
        DocKind::Runtime => {
            client
                .runtime(move |rt| rt.automerge().get_change_by_hash(&hash).is_some())
                .await
        }
    };
    client.close().await;
    found.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_changes_are_refused_and_never_persisted() {
    let mut server = TestServer::start().unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "guarded")
        .await
        .unwrap();
    let viewer = server
        .user_with_role(&notebook, "vera", "viewer")
        .await
        .unwrap();

    let (error, hash) = push_change(&server, &viewer, &notebook, DocKind::Notebook).await;
    let error = error.expect("the server must answer a viewer's change with an error frame");
    assert_eq!(error.code, ErrorCode::Forbidden);
    assert!(!server_has(&server, &notebook, DocKind::Notebook, hash).await);
    server.restart().unwrap();
    assert!(
        !server_has(&server, &notebook, DocKind::Notebook, hash).await,
        "persisted anyway"
    );

    // The client library refuses locally too, and a viewer still reads.
    let client = NotebookClient::connect(server.client_config(&viewer, &notebook))
        .await
        .unwrap();
    let refused = client
        .edit_notebook(|nb| nb.create_cell(CellType::Code, Placement::End, "x"))
        .await;
    assert!(matches!(refused, Err(ClientError::ReadOnly { .. })));
    assert!(client.notebook(|nb| nb.cell_ids().is_ok()).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_runtime_token_writes_the_runtime_document() {
    let server = TestServer::start().unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "runtime only")
        .await
        .unwrap();
    let editor = server
        .user_with_role(&notebook, "eddie", "editor")
        .await
        .unwrap();

    let (error, hash) = push_change(&server, &editor, &notebook, DocKind::Runtime).await;
    assert_eq!(error.map(|e| e.code), Some(ErrorCode::Forbidden));
    assert!(!server_has(&server, &notebook, DocKind::Runtime, hash).await);
    // The owner is no runtime either.
    let (error, hash) =
        push_change(&server, &server.owner_token, &notebook, DocKind::Runtime).await;
    assert_eq!(error.map(|e| e.code), Some(ErrorCode::Forbidden));
    assert!(!server_has(&server, &notebook, DocKind::Runtime, hash).await);

    // An editor writes the notebook document fine.
    let (error, hash) = push_change(&server, &editor, &notebook, DocKind::Notebook).await;
    assert!(error.is_none(), "editor refused: {error:?}");
    assert!(server_has(&server, &notebook, DocKind::Notebook, hash).await);

    // The runtime token writes the runtime document.
    let runtime = server.runtime_token(&notebook).await.unwrap();
    let agent = NotebookClient::connect(server.client_config(&runtime, &notebook))
        .await
        .unwrap();
    let session = schema::SessionId::random();
    agent
        .edit_runtime(move |rt| rt.claim_lease(&session, "agent", "python3", 0, 1000))
        .await
        .unwrap()
        .unwrap();
    agent.wait_acknowledged(WAIT).await.unwrap();
    let owner = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();
    assert!(owner
        .runtime(|rt| rt.lease().unwrap().is_some())
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tokens_and_other_notebooks_are_refused() {
    let server = TestServer::start().unwrap();
    let a = server
        .create_notebook(&server.owner_token, "A")
        .await
        .unwrap();
    let b = server
        .create_notebook(&server.owner_token, "B")
        .await
        .unwrap();
    let editor_a = server.user_with_role(&a, "alice", "editor").await.unwrap();
    let runtime_a = server.runtime_token(&a).await.unwrap();

    let refused = NotebookClient::connect(server.client_config("cth_not_a_token", &a)).await;
    assert!(
        matches!(
            refused,
            Err(ClientError::Refused {
                code: ErrorCode::Unauthorized,
                ..
            })
        ),
        "{refused:?}"
    );
    for token in [&editor_a, &runtime_a] {
        let refused = NotebookClient::connect(server.client_config(token, &b)).await;
        assert!(
            matches!(
                refused,
                Err(ClientError::Refused {
                    code: ErrorCode::NotFound,
                    ..
                })
            ),
            "{refused:?}"
        );
    }
    let missing = NotebookClient::connect(server.client_config(&editor_a, "nb-nope")).await;
    assert!(matches!(
        missing,
        Err(ClientError::Refused {
            code: ErrorCode::NotFound,
            ..
        })
    ));

    // REST: no token, a wrong token, another notebook.
    let (status, body) = server
        .api(Method::GET, "/api/notebooks", "", None)
        .await
        .unwrap();
    assert_eq!(status, 401);
    assert_eq!(body["error"], "unauthorized");
    let (status, _) = server
        .api(Method::GET, "/api/notebooks", "cth_wrong", None)
        .await
        .unwrap();
    assert_eq!(status, 401);
    let (status, _) = server
        .api(Method::GET, &format!("/api/notebooks/{b}"), &editor_a, None)
        .await
        .unwrap();
    assert_eq!(status, 404);
    let (status, list) = server
        .api(Method::GET, "/api/notebooks", &editor_a, None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let ids: Vec<_> = list["notebooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, vec![a.clone()]);
    // Editors cannot grant; bad roles are rejected clearly.
    let (status, _) = server
        .api(
            Method::POST,
            &format!("/api/notebooks/{a}/grants"),
            &editor_a,
            Some(serde_json::json!({"user_id": "u-x", "role": "owner"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 403);
    let (status, body) = server
        .api(
            Method::POST,
            &format!("/api/notebooks/{a}/grants"),
            &server.owner_token,
            Some(serde_json::json!({"user_id": "u-x", "role": "god"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");

    // Blobs: B's runtime stores a blob; A's tokens cannot read it, B's owner can.
    let runtime_b = server.runtime_token(&b).await.unwrap();
    let http = reqwest::Client::new();
    let put = http
        .put(format!("{}/api/notebooks/{b}/blobs", server.http_url()))
        .bearer_auth(&runtime_b)
        .body(b"secret plot bytes".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 201);
    let sha = put.json::<serde_json::Value>().await.unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    // A's runtime cannot store into B.
    let put = http
        .put(format!("{}/api/notebooks/{b}/blobs", server.http_url()))
        .bearer_auth(&runtime_a)
        .body(b"x".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 404);
    for token in [&editor_a, &runtime_a] {
        let got = http
            .get(format!("{}/blobs/{sha}", server.http_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status().as_u16(), 404);
    }
    let got = http
        .get(format!(
            "{}/blobs/{sha}?token={}",
            server.http_url(),
            server.owner_token
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"secret plot bytes");
}
