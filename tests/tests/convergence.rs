//! Many clients editing one cell's source at once converge, and the server's
//! copy after a restart is the same text.

use cathode_client::NotebookClient;
use cathode_tests::TestServer;
use rand::{Rng, SeedableRng};
use schema::{CellId, CellType, Placement};
use std::time::Duration;

async fn concurrent_edits(clients: usize, edits_each: usize) {
    let mut server = TestServer::start().unwrap();
    let (notebook, first) = server.notebook_with_owner("converge").await.unwrap();
    let cell: CellId = first
        .edit_notebook(|nb| nb.create_cell(CellType::Code, Placement::End, "seed"))
        .await
        .unwrap()
        .unwrap();
    first
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();

    let mut peers = vec![first];
    for _ in 1..clients {
        peers.push(
            NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
                .await
                .unwrap(),
        );
    }
    let mut tasks = Vec::new();
    for (i, peer) in peers.into_iter().enumerate() {
        let cell = cell.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(i as u64);
            for n in 0..edits_each {
                let delay = rng.random_range(0..8);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let text = format!("{}{}", (b'a' + (i % 26) as u8) as char, n % 10);
                let at: usize = rng.random_range(0..1000);
                let delete = rng.random_bool(0.2);
                let cell = cell.clone();
                peer.edit_notebook(move |nb| {
                    let len = nb.source(&cell).map(|s| s.chars().count()).unwrap_or(0);
                    let pos = at % (len + 1);
                    let del = if delete && pos < len { 1 } else { 0 };
                    nb.splice_source(&cell, pos, del, &text)
                })
                .await
                .unwrap()
                .unwrap();
            }
            peer
        }));
    }
    let mut peers = Vec::new();
    for t in tasks {
        peers.push(t.await.unwrap());
    }
    for p in &peers {
        p.wait_acknowledged(Duration::from_secs(60)).await.unwrap();
    }
    // Every replica reaches the same text.
    let mut texts = Vec::new();
    let target_heads = cathode_tests::merged_notebook_heads(&peers).await;
    for p in &peers {
        let heads = target_heads.clone();
        p.wait_notebook(Duration::from_secs(60), move |nb| {
            let mut mine = nb.heads();
            mine.sort();
            mine == heads
        })
        .await
        .unwrap();
        let cell = cell.clone();
        texts.push(
            p.notebook(move |nb| nb.source(&cell).unwrap())
                .await
                .unwrap(),
        );
    }
    assert!(texts.windows(2).all(|w| w[0] == w[1]), "replicas diverged");
    let expected_len = texts[0].chars().count();
    assert!(expected_len > 4, "edits were lost: {:?}", texts[0]);
    for p in peers {
        p.close().await;
    }

    // The server's copy after a restart is the same text.
    server.restart().unwrap();
    let late = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();
    let c = cell.clone();
    let after = late
        .notebook(move |nb| nb.source(&c).unwrap())
        .await
        .unwrap();
    assert_eq!(after, texts[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_converge_on_one_cell() {
    concurrent_edits(2, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_clients_converge_on_one_cell() {
    concurrent_edits(20, 40).await;
}
