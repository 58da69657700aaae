//! What a peer that has nothing gets first: an imported notebook comes as
//! its changes, several of bounded size, not as one whole document, so a
//! browser can apply them a few at a time between keystrokes (web-client
//! `Replica.applyInSlices`), and each change comes once, though the peer's
//! answer to the room's first message says it has nothing too; and the
//! room's preview matches the documents.

use cathode_tests::ipynb::{code, import, notebook};
use cathode_tests::raw::RawPeer;
use cathode_tests::TestServer;
use reqwest::Method;
use schema::automerge::{sync, sync::SyncDoc, Automerge, Change};
use schema::wire::Frame;
use schema::{DocKind, NotebookDoc};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_notebook_reaches_a_new_peer_as_bounded_changes() {
    let server = TestServer::start().unwrap();
    // Forty cells of about 2 KB: 80 KB of source.
    let cells = (0..40)
        .map(|i| {
            code(
                &format!("c{i}"),
                &format!("# {i}\n{}", "x = 1\n".repeat(340)),
            )
        })
        .collect();
    let file = serde_json::to_vec(&notebook(cells, json!({}))).unwrap();
    let (status, reply) = import(&server, &server.owner_token, &file, "big").await;
    assert_eq!(status, 201, "{reply}");
    let id = reply["id"].as_str().unwrap().to_owned();

    let (mut peer, _) = RawPeer::hello(&server.ws_url(), &server.owner_token, &id)
        .await
        .unwrap();
    let mut replica = Automerge::new();
    let mut state = sync::State::new();
    // Our first message says we have nothing and (as Automerge 0.12 does)
    // that we understand whole-document messages.
    let first = replica.generate_sync_message(&mut state).unwrap();
    peer.send_frame(&Frame::Sync {
        doc: DocKind::Notebook,
        message: first.encode(),
    })
    .await
    .unwrap();
    // Answer every message at once, as a page does: the answer to the
    // server's first (its heads) goes out before the changes arrive, so
    // it too says we have nothing. Read until the server is quiet.
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    while let Ok(frame) = peer.next_frame(Duration::from_millis(1500)).await {
        match frame {
            Some(Frame::Sync {
                doc: DocKind::Notebook,
                message,
            }) => {
                let message = sync::Message::decode(&message).unwrap();
                chunks.extend(message.changes.iter().map(|c| c.to_vec()));
                replica.receive_sync_message(&mut state, message).unwrap();
                if let Some(reply) = replica.generate_sync_message(&mut state) {
                    // After the server has answered our first message
                    // (a page's answer comes a few ms later, not in the
                    // same batch).
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    peer.send_frame(&Frame::Sync {
                        doc: DocKind::Notebook,
                        message: reply.encode(),
                    })
                    .await
                    .unwrap();
                }
            }
            Some(_) => {}
            None => panic!("the server closed the connection"),
        }
    }
    // Each change came once: a second message saying "nothing" from the
    // same connection is not a peer that lost its data.
    let distinct: std::collections::HashSet<&Vec<u8>> = chunks.iter().collect();
    assert_eq!(distinct.len(), chunks.len(), "changes sent twice");
    // Every chunk is a change (a whole document would not parse as one),
    // and none carries much more than 8 KB of source.
    assert!(chunks.len() >= 10, "{} chunks", chunks.len());
    for chunk in &chunks {
        let change = Change::from_bytes(chunk.clone()).expect("a change, not a whole document");
        assert!(change.len() <= 2 * 8 * 1024, "{} operations", change.len());
    }
    let mut got = NotebookDoc::from_automerge(replica).unwrap();
    assert_eq!(got.cell_ids().unwrap().len(), 40);

    // The preview a page opens from is the same notebook, at the same heads.
    let path = format!("/api/notebooks/{id}/preview");
    let (status, preview) = server
        .api(Method::GET, &path, &server.owner_token, None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["role"], "owner");
    assert_eq!(preview["name"], "big");
    let heads: Vec<String> = got.heads().iter().map(|h| h.to_string()).collect();
    let mut preview_heads: Vec<String> =
        serde_json::from_value(preview["notebook"]["heads"].clone()).unwrap();
    preview_heads.sort();
    let mut sorted = heads.clone();
    sorted.sort();
    assert_eq!(preview_heads, sorted);
    let c7 = schema::CellId::from("c7");
    assert_eq!(
        preview["notebook"]["doc"]["cells"]["c7"]["source"],
        got.source(&c7).unwrap()
    );
    assert!(preview["runtime"]["doc"]["executions"].is_object());

    // The same version again gives the same documents, and a change is in
    // the next preview: what the room keeps (room/preview_cache.rs, whose
    // own tests check it is kept) must not outlive its version.
    let (_, again) = server
        .api(Method::GET, &path, &server.owner_token, None)
        .await
        .unwrap();
    assert_eq!(again["notebook"], preview["notebook"]);
    assert_eq!(again["runtime"], preview["runtime"]);
    got.set_source(&c7, "edited = True").unwrap();
    let edit = got
        .automerge_mut()
        .generate_sync_message(&mut state)
        .unwrap();
    peer.send_frame(&Frame::Sync {
        doc: DocKind::Notebook,
        message: edit.encode(),
    })
    .await
    .unwrap();
    let mut edited = serde_json::Value::Null;
    for _ in 0..50 {
        let (_, now) = server
            .api(Method::GET, &path, &server.owner_token, None)
            .await
            .unwrap();
        if now["notebook"]["doc"]["cells"]["c7"]["source"] == "edited = True" {
            edited = now;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(
        edited,
        serde_json::Value::Null,
        "the edit never reached the preview"
    );
    assert_ne!(edited["notebook"]["heads"], preview["notebook"]["heads"]);
    assert_eq!(edited["runtime"], preview["runtime"]);

    // No token, no preview; a person without a role gets a 404.
    let (status, _) = server
        .api(Method::GET, &path, "cth_not_a_token", None)
        .await
        .unwrap();
    assert_eq!(status, 401);
    let other = server
        .create_notebook(&server.owner_token, "other")
        .await
        .unwrap();
    let stranger = server
        .user_with_role(&other, "sam", "viewer")
        .await
        .unwrap();
    let (status, _) = server
        .api(Method::GET, &path, &stranger, None)
        .await
        .unwrap();
    assert_eq!(status, 404);
}
