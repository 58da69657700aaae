//! Acknowledged changes survive a SIGKILL of the server mid-stream.

use cathode_client::NotebookClient;
use cathode_tests::TestServer;
use schema::automerge::ReadDoc;
use schema::{CellType, DocKind, Placement};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_change_survives_sigkill() {
    let mut server = TestServer::start().unwrap();
    let (notebook, client) = server.notebook_with_owner("durable").await.unwrap();
    let config = server.client_config(&server.owner_token, &notebook);
    // A second peer: the room relays each batch to it before the commit
    // (it wrote none of it), which must not hasten the author's
    // acknowledgement.
    let observer = NotebookClient::connect(config.clone()).await.unwrap();
    let cell = client
        .edit_notebook(|nb| nb.create_cell(CellType::Code, Placement::End, ""))
        .await
        .unwrap()
        .unwrap();
    client
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();

    // A stream of edits; the server dies partway through, once enough have
    // been acknowledged to test anything (a loaded machine acknowledges
    // slower), with edits still in flight.
    let mut hashes = Vec::new();
    let mut acknowledged_so_far = 0;
    let mut killed = false;
    for i in 0..600 {
        let c = cell.clone();
        client
            .edit_notebook(move |nb| nb.splice_source(&c, 0, 0, &format!("{i};")))
            .await
            .unwrap()
            .unwrap();
        let heads = client.heads(DocKind::Notebook).await.unwrap();
        hashes.extend(heads);
        // One author: a change is acknowledged only after all before it.
        while acknowledged_so_far < hashes.len()
            && client
                .is_acknowledged(DocKind::Notebook, hashes[acknowledged_so_far])
                .await
                .unwrap()
        {
            acknowledged_so_far += 1;
        }
        if !killed && i >= 250 && acknowledged_so_far > 60 {
            server.kill();
            killed = true;
        }
        if killed && i >= 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    if !killed {
        server.kill();
    }
    let mut acknowledged = Vec::new();
    for h in &hashes {
        if client.is_acknowledged(DocKind::Notebook, *h).await.unwrap() {
            acknowledged.push(*h);
        }
    }
    assert!(
        acknowledged.len() > 50,
        "too few acknowledgements to test anything: {}",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() < hashes.len(),
        "edits after the kill cannot have been acknowledged"
    );
    client.close().await;
    observer.close().await;

    server.restart().unwrap();
    let fresh = NotebookClient::connect(config).await.unwrap();
    let missing = fresh
        .notebook(move |nb| {
            acknowledged
                .iter()
                .filter(|h| nb.automerge().get_change_by_hash(h).is_none())
                .count()
        })
        .await
        .unwrap();
    assert_eq!(missing, 0, "acknowledged changes lost after SIGKILL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_made_while_the_server_is_down_arrive_after_it_restarts() {
    let mut server = TestServer::start().unwrap();
    let (notebook, client) = server.notebook_with_owner("resume").await.unwrap();
    let config = server.client_config(&server.owner_token, &notebook);
    server.kill();
    let cell = client
        .edit_notebook(|nb| nb.create_cell(CellType::Markdown, Placement::End, "written offline"))
        .await
        .unwrap()
        .unwrap();
    server.restart().unwrap();
    client
        .wait_acknowledged(Duration::from_secs(30))
        .await
        .unwrap();
    let other = NotebookClient::connect(config).await.unwrap();
    let source = other
        .notebook(move |nb| nb.source(&cell).unwrap())
        .await
        .unwrap();
    assert_eq!(source, "written offline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly_and_keeps_everything() {
    let mut server = TestServer::start().unwrap();
    let (notebook, client) = server.notebook_with_owner("graceful").await.unwrap();
    let config = server.client_config(&server.owner_token, &notebook);
    for i in 0..50 {
        client
            .edit_notebook(move |nb| {
                nb.create_cell(CellType::Code, Placement::End, &format!("x = {i}"))
            })
            .await
            .unwrap()
            .unwrap();
    }
    client
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        server.terminate(),
        Some(0),
        "server did not exit cleanly on SIGTERM"
    );
    client.close().await;
    server.restart().unwrap();
    let fresh = NotebookClient::connect(config).await.unwrap();
    assert_eq!(
        fresh
            .notebook(|nb| nb.cell_ids().unwrap().len())
            .await
            .unwrap(),
        50
    );
}
