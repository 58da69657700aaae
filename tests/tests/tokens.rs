//! Tokens (the hardening issue's finding 5): listed by id, revoked at once
//! (open connections included), expiring, and a runtime token that works
//! only while its issuer keeps the role it was minted with; secret values
//! only for tokens minted by an owner.

use cathode_client::{ConnectionState, NotebookClient};
use cathode_tests::TestServer;
use reqwest::Method;
use schema::wire::Role;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

async fn wait_failed(client: &NotebookClient) -> String {
    let mut state = client.connection_state();
    let outcome = tokio::time::timeout(WAIT, async {
        loop {
            if let ConnectionState::Failed(reason) = state.borrow_and_update().clone() {
                return reason;
            }
            if state.changed().await.is_err() {
                return "client stopped".to_owned();
            }
        }
    })
    .await;
    outcome.expect("the connection was not cut off")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_listed_by_id_and_revoked_at_once() {
    let server = TestServer::start().unwrap();
    let (status, made) = server
        .api(
            Method::POST,
            "/api/tokens",
            &server.owner_token,
            Some(json!({"label": "script"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{made}");
    let token = made["token"].as_str().unwrap().to_owned();
    let id = made["token_id"].as_str().unwrap().to_owned();

    let (status, listed) = server
        .api(Method::GET, "/api/tokens", &token, None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let tokens = listed["tokens"].as_array().unwrap();
    assert!(tokens.len() >= 2, "{listed}");
    let mine = tokens.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(mine["label"], "script");
    assert_eq!(mine["current"], true);
    assert!(mine["created_at_ms"].as_i64().unwrap() > 0);
    assert!(
        !listed.to_string().contains(&token),
        "a listing showed a secret"
    );

    let notebook = server.create_notebook(&token, "revocation").await.unwrap();
    let client = NotebookClient::connect(server.client_config(&token, &notebook))
        .await
        .unwrap();
    let (status, _) = server
        .api(
            Method::DELETE,
            &format!("/api/tokens/{id}"),
            &server.owner_token,
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 204);
    let reason = wait_failed(&client).await;
    eprintln!("revoked connection: {reason}");
    let (status, _) = server
        .api(Method::GET, "/api/me", &token, None)
        .await
        .unwrap();
    assert_eq!(status, 401);
    // Someone else's token cannot be revoked, or even seen.
    let other = server
        .user_with_role(&notebook, "bo", "editor")
        .await
        .unwrap();
    let (_, owner_list) = server
        .api(Method::GET, "/api/tokens", &server.owner_token, None)
        .await
        .unwrap();
    let owner_id = owner_list["tokens"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = server
        .api(
            Method::DELETE,
            &format!("/api/tokens/{owner_id}"),
            &other,
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editors_runtime_token_reads_no_secrets_and_ends_with_the_role() {
    let server = TestServer::start().unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "secrets")
        .await
        .unwrap();
    server
        .set_secret(&notebook, "API_KEY", "sk-very-secret-value")
        .await
        .unwrap();
    let (status, user) = server
        .api(
            Method::POST,
            "/api/users",
            &server.owner_token,
            Some(json!({"name": "eddie"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    let editor = user["token"].as_str().unwrap().to_owned();
    let grant = |role: &str| json!({"user_id": user["user_id"], "role": role});
    let grants = format!("/api/notebooks/{notebook}/grants");
    server
        .api(
            Method::POST,
            &grants,
            &server.owner_token,
            Some(grant("editor")),
        )
        .await
        .unwrap();

    let mint = format!("/api/notebooks/{notebook}/runtime-tokens");
    let (status, minted) = server
        .api(Method::POST, &mint, &editor, None)
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(minted["minted_as"], "editor");
    assert_eq!(minted["reads_secrets"], false);
    let editors_runtime = minted["token"].as_str().unwrap().to_owned();
    let reveal = format!("/api/notebooks/{notebook}/runtime/secrets");
    let (status, body) = server
        .api(Method::GET, &reveal, &editors_runtime, None)
        .await
        .unwrap();
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "secrets_withheld");
    assert!(!body.to_string().contains("sk-very-secret-value"));
    // An owner's runtime token reads them.
    let owners_runtime = server.runtime_token(&notebook).await.unwrap();
    let (status, body) = server
        .api(Method::GET, &reveal, &owners_runtime, None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["secrets"]["API_KEY"], "sk-very-secret-value");

    // The editor's runtime token is connected, as an agent's would be, and
    // so is the editor.
    let agent = NotebookClient::connect(server.client_config(&editors_runtime, &notebook))
        .await
        .unwrap();
    assert_eq!(agent.role().await.unwrap(), Some(Role::Runtime));
    let person = NotebookClient::connect(server.client_config(&editor, &notebook))
        .await
        .unwrap();

    // Demoted to viewer: the runtime token they minted stops at once, its
    // connection included; they themselves come back as a viewer.
    server
        .api(
            Method::POST,
            &grants,
            &server.owner_token,
            Some(grant("viewer")),
        )
        .await
        .unwrap();
    let reason = wait_failed(&agent).await;
    eprintln!("retired runtime connection: {reason}");
    let (status, _) = server
        .api(Method::GET, &reveal, &editors_runtime, None)
        .await
        .unwrap();
    assert_eq!(status, 404);
    let (status, _) = server
        .api(Method::POST, &mint, &editor, None)
        .await
        .unwrap();
    assert_eq!(status, 403, "a viewer minted a runtime token");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if person.role().await.unwrap() == Some(Role::Viewer) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still an editor");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Promoting them again does not revive the old token's secrets, and an
    // owner demoted to editor retires the tokens they minted as owner.
    let (status, _) = server
        .api(Method::GET, &reveal, &owners_runtime, None)
        .await
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_stop_working_and_their_connections_close() {
    let server = TestServer::start().unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "expiry")
        .await
        .unwrap();
    let (status, made) = server
        .api(
            Method::POST,
            "/api/tokens",
            &server.owner_token,
            Some(json!({"expires_in_seconds": 2})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    let token = made["token"].as_str().unwrap().to_owned();
    let client = NotebookClient::connect(server.client_config(&token, &notebook))
        .await
        .unwrap();
    let (status, _) = server
        .api(Method::GET, "/api/me", &token, None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let reason = wait_failed(&client).await;
    eprintln!("expired connection: {reason}");
    let (status, _) = server
        .api(Method::GET, "/api/me", &token, None)
        .await
        .unwrap();
    assert_eq!(status, 401);
    for bad in [json!({"expires_in_seconds": 0}), json!({"expire": 5})] {
        let (status, _) = server
            .api(Method::POST, "/api/tokens", &server.owner_token, Some(bad))
            .await
            .unwrap();
        assert_eq!(status, 400);
    }
}
