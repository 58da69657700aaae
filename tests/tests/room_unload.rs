//! Rooms with nobody connected leave memory (the notebook-server issue):
//! 200 notebooks opened at once and then closed bring the server's resident
//! memory back near where it was before they were opened, and each one
//! loads again, whole, on the next connection.

use cathode_client::NotebookClient;
use cathode_tests::cells::add_cell;
use cathode_tests::server::ServerOptions;
use cathode_tests::TestServer;
use futures_util::future::join_all;
use std::time::{Duration, Instant};

const NOTEBOOKS: usize = 200;
const CELLS: usize = 5;
const CELL_CHARS: usize = 2_000;

fn rooms_closed(server: &TestServer) -> usize {
    server.log().matches("room closed").count()
}

async fn wait_rooms_closed(server: &TestServer, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while rooms_closed(server) < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} rooms unloaded",
            rooms_closed(server)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The freed memory is handed back as the room's task ends, just after
    // it logs.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn fill(server: &TestServer, notebook: &str, seed: usize) {
    let client = NotebookClient::connect(server.client_config(&server.owner_token, notebook))
        .await
        .unwrap();
    for i in 0..CELLS {
        add_cell(
            &client,
            &format!("# {seed}/{i}\n{}", "x".repeat(CELL_CHARS)),
        )
        .await;
    }
    client
        .wait_acknowledged(Duration::from_secs(30))
        .await
        .unwrap();
    client.close().await;
}

async fn open_whole(server: &TestServer, notebook: &str) -> NotebookClient {
    let client = NotebookClient::connect(server.client_config(&server.owner_token, notebook))
        .await
        .unwrap();
    let cells = client
        .notebook(|nb| nb.cells().map(|c| c.len()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cells, CELLS, "{notebook} did not load whole");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_rooms_unload_and_memory_returns() {
    let server =
        TestServer::start_with_options(&["--room-unload-ms", "500"], ServerOptions::logged())
            .unwrap();
    let mut notebooks = Vec::new();
    for i in 0..NOTEBOOKS {
        notebooks.push(
            server
                .create_notebook(&server.owner_token, &format!("unload {i}"))
                .await
                .unwrap(),
        );
    }
    for (chunk_no, chunk) in notebooks.chunks(8).enumerate() {
        join_all(
            chunk
                .iter()
                .enumerate()
                .map(|(i, nb)| fill(&server, nb, chunk_no * 8 + i)),
        )
        .await;
    }
    wait_rooms_closed(&server, NOTEBOOKS).await;
    let (before, _) = server.memory_kib();

    let mut open = Vec::new();
    for chunk in notebooks.chunks(20) {
        open.extend(join_all(chunk.iter().map(|nb| open_whole(&server, nb))).await);
    }
    let (loaded, _) = server.memory_kib();
    assert!(
        server.healthy(Duration::from_secs(5)).await,
        "server unhealthy with every room open"
    );
    join_all(open.into_iter().map(|c| c.close())).await;
    wait_rooms_closed(&server, 2 * NOTEBOOKS).await;
    let (after, _) = server.memory_kib();
    let held = loaded.saturating_sub(before);
    let kept = after.saturating_sub(before);
    eprintln!(
        "resident KiB: before {before}, with {NOTEBOOKS} rooms open {loaded} (+{held}), after they unloaded {after} (+{kept})"
    );
    // The rooms must have cost something, or this shows nothing.
    assert!(held > 20 * 1024, "200 open rooms held only {held} KiB");
    assert!(
        kept * 4 < held,
        "after unloading the server still holds {kept} of the {held} KiB the rooms took"
    );

    // Unloaded rooms load again from their snapshots, whole.
    let again = open_whole(&server, &notebooks[NOTEBOOKS / 2]).await;
    again.close().await;
}
