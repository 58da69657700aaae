//! SIGTERM while rooms work through a backlog (the hardening issue's
//! finding 7): the server stops accepting at once, exits within its bound,
//! never opens a second room for a notebook, and every acknowledged change
//! is there after a restart, the log without gaps or duplicates.

use cathode_client::NotebookClient;
use cathode_tests::server::ServerOptions;
use cathode_tests::TestServer;
use schema::{CellId, CellType, Placement};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NOTEBOOKS: usize = 4;
const WRITERS: usize = 3;

/// Create cells as fast as the client takes them; every few, wait for the
/// server's acknowledgement and count those cells as safe. Stops when the
/// server goes away.
async fn write_until_gone(client: NotebookClient, safe: Arc<Mutex<Vec<CellId>>>) {
    let mut made = Vec::new();
    let pad = "p".repeat(2_000);
    loop {
        for _ in 0..25 {
            let p = pad.clone();
            match client
                .edit_notebook(move |nb| nb.create_cell(CellType::Code, Placement::End, &p))
                .await
            {
                Ok(Ok(cell)) => made.push(cell),
                _ => return,
            }
        }
        if client
            .wait_acknowledged(Duration::from_secs(3))
            .await
            .is_err()
        {
            return;
        }
        safe.lock().unwrap().append(&mut made);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_keeps_one_room_per_notebook_and_every_acknowledged_change() {
    let mut server =
        TestServer::start_with_options(&["--shutdown-timeout-ms", "5000"], ServerOptions::logged())
            .unwrap();
    let mut notebooks = Vec::new();
    for i in 0..NOTEBOOKS {
        notebooks.push(
            server
                .create_notebook(&server.owner_token, &format!("load {i}"))
                .await
                .unwrap(),
        );
    }
    let safe: Vec<Arc<Mutex<Vec<CellId>>>> = (0..NOTEBOOKS)
        .map(|_| Arc::new(Mutex::new(Vec::new())))
        .collect();
    let mut writers = Vec::new();
    for (i, notebook) in notebooks.iter().enumerate() {
        for _ in 0..WRITERS {
            let client =
                NotebookClient::connect(server.client_config(&server.owner_token, notebook))
                    .await
                    .unwrap();
            writers.push(tokio::spawn(write_until_gone(client, safe[i].clone())));
        }
    }
    // Load builds up, then SIGTERM in the middle of it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let acknowledged_before: usize = safe.iter().map(|s| s.lock().unwrap().len()).sum();
    assert!(acknowledged_before > 0, "no load got going");
    let signalled = Instant::now();
    server.signal_term();
    // It stops accepting at once: a new connection is refused, or told that
    // the server is shutting down; never served.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let late =
        NotebookClient::connect(server.client_config(&server.owner_token, &notebooks[0])).await;
    assert!(late.is_err(), "a connection was accepted after SIGTERM");
    let code = tokio::task::block_in_place(|| server.wait_exit(Duration::from_secs(60)));
    let took = signalled.elapsed();
    eprintln!(
        "exit {code:?} {took:?} after SIGTERM; {acknowledged_before} cells acknowledged by then"
    );
    assert_eq!(code, Some(0), "no clean exit within a minute");
    for w in writers {
        let _ = w.await;
    }

    let log = server.log();
    for notebook in &notebooks {
        let opened = log
            .lines()
            .filter(|l| l.contains("room opened") && l.contains(notebook.as_str()))
            .count();
        assert_eq!(opened, 1, "{notebook} had {opened} rooms:\n{log}");
    }
    assert!(!log.contains("UNIQUE constraint"), "{log}");
    assert!(!log.contains("append failed"), "{log}");

    // Everything acknowledged is there, and the log is one gapless sequence
    // per document.
    server.restart().unwrap();
    for (i, notebook) in notebooks.iter().enumerate() {
        let reader = NotebookClient::connect(server.client_config(&server.owner_token, notebook))
            .await
            .unwrap();
        let expected: Vec<CellId> = safe[i].lock().unwrap().clone();
        reader
            .wait_notebook(Duration::from_secs(30), |nb| nb.cell_ids().is_ok())
            .await
            .unwrap();
        let present = reader.notebook(|nb| nb.cell_ids().unwrap()).await.unwrap();
        let present: std::collections::HashSet<_> = present.into_iter().collect();
        let missing = expected.iter().filter(|c| !present.contains(c)).count();
        assert_eq!(
            missing, 0,
            "{missing} acknowledged cells lost in {notebook}"
        );
    }
    let url = format!("sqlite://{}", server.database_path().display());
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT notebook_id, doc, COUNT(*), MAX(seq) FROM changes GROUP BY notebook_id, doc",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for (notebook, doc, count, max) in rows {
        assert_eq!(count, max, "{notebook} {doc}: gaps in the log");
    }
}
