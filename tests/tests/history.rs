//! The event log replays to the same documents, and reads back as typed
//! events in order.

use cathode_client::NotebookClient;
use cathode_tests::TestServer;
use schema::automerge::{Automerge, Change};
use schema::{CellType, DocumentEvent, Placement};
use sqlx::Row;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_event_log_rebuilds_the_documents() {
    let mut server = TestServer::start().unwrap();
    let (notebook, client) = server.notebook_with_owner("history").await.unwrap();
    let a = client
        .edit_notebook(|nb| nb.create_cell(CellType::Code, Placement::End, "a = 1"))
        .await
        .unwrap()
        .unwrap();
    let a2 = a.clone();
    client
        .edit_notebook(move |nb| nb.splice_source(&a2, 5, 0, "0"))
        .await
        .unwrap()
        .unwrap();
    let b = client
        .edit_notebook(|nb| nb.create_cell(CellType::Markdown, Placement::Start, "# hi"))
        .await
        .unwrap()
        .unwrap();
    let (a3, b2) = (a.clone(), b.clone());
    client
        .edit_notebook(move |nb| nb.move_cell(&b2, Placement::After(a3)))
        .await
        .unwrap()
        .unwrap();
    let a4 = a.clone();
    client
        .edit_notebook(move |nb| nb.request_execution(&a4, "owner"))
        .await
        .unwrap()
        .unwrap();
    client
        .edit_notebook(move |nb| nb.delete_cell(&b))
        .await
        .unwrap()
        .unwrap();
    client
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();
    let live = client.notebook(|nb| nb.automerge().save()).await.unwrap();
    client.close().await;
    assert_eq!(server.terminate(), Some(0));

    // Read the log straight from the SQLite file.
    let url = format!("sqlite://{}?mode=ro", server.database_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows = sqlx::query("SELECT seq, event_type, author, bytes FROM changes WHERE notebook_id = ? AND doc = 'notebook' ORDER BY seq")
        .bind(&notebook)
        .fetch_all(&pool)
        .await
        .unwrap();
    let seqs: Vec<i64> = rows.iter().map(|r| r.get("seq")).collect();
    assert_eq!(
        seqs,
        (1..=rows.len() as i64).collect::<Vec<_>>(),
        "gaps in the log"
    );
    let stored_events: Vec<String> = rows.iter().map(|r| r.get("event_type")).collect();
    assert_eq!(
        stored_events,
        vec![
            "NotebookCreated",
            "CellCreated",
            "SourceEdited",
            "CellCreated",
            "CellMoved",
            "ExecutionRequested",
            "CellDeleted"
        ]
    );
    assert!(rows.iter().all(|r| r.get::<String, _>("author") == "owner"));
    let mut replayed = Automerge::new();
    let changes: Vec<Change> = rows
        .iter()
        .map(|r| Change::from_bytes(r.get::<Vec<u8>, _>("bytes")).unwrap())
        .collect();
    replayed.apply_changes(changes).unwrap();
    let live = Automerge::load(&live).unwrap();
    assert_eq!(replayed.get_heads(), live.get_heads());
    assert_eq!(replayed.hydrate(None), live.hydrate(None));

    // Typed events, in order, from the document's own history.
    let events: Vec<DocumentEvent> = schema::history(&replayed)
        .into_iter()
        .map(|h| h.event.unwrap())
        .collect();
    assert!(
        matches!(&events[1], DocumentEvent::CellCreated { cell_id, cell_type: CellType::Code } if *cell_id == a)
    );
    assert!(
        matches!(&events[5], DocumentEvent::ExecutionRequested { cell_id, .. } if *cell_id == a)
    );

    // The log refuses rewrites.
    drop(pool);
    let rw = sqlx::SqlitePool::connect(&format!("sqlite://{}", server.database_path().display()))
        .await
        .unwrap();
    let update = sqlx::query("UPDATE changes SET author = 'mallory'")
        .execute(&rw)
        .await;
    assert!(update.is_err(), "the event log accepted an update");
    let delete = sqlx::query("DELETE FROM changes").execute(&rw).await;
    assert!(delete.is_err(), "the event log accepted a delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_bound_the_replay_and_load_the_same_document() {
    let mut server = TestServer::start().unwrap();
    let (notebook, client) = server.notebook_with_owner("snapshots").await.unwrap();
    let config = server.client_config(&server.owner_token, &notebook);
    let cell = client
        .edit_notebook(|nb| nb.create_cell(CellType::Code, Placement::End, ""))
        .await
        .unwrap()
        .unwrap();
    for i in 0..700 {
        let c = cell.clone();
        client
            .edit_notebook(move |nb| nb.splice_source(&c, 0, 0, &(i % 10).to_string()))
            .await
            .unwrap()
            .unwrap();
    }
    client
        .wait_acknowledged(Duration::from_secs(30))
        .await
        .unwrap();
    // A few changes that surely come after the periodic snapshot, however
    // the 700 were batched (a batch may end exactly at a snapshot).
    for text in ["x", "y", "z"] {
        let c = cell.clone();
        client
            .edit_notebook(move |nb| nb.splice_source(&c, 0, 0, text))
            .await
            .unwrap()
            .unwrap();
        client
            .wait_acknowledged(Duration::from_secs(30))
            .await
            .unwrap();
    }
    let live = client.notebook(|nb| nb.automerge().save()).await.unwrap();
    client.close().await;
    // SIGKILL: only the periodic snapshot (not the shutdown one) exists.
    server.kill();
    let url = format!("sqlite://{}?mode=ro", server.database_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let snapshot: i64 = sqlx::query(
        "SELECT MAX(upto_seq) AS s FROM snapshots WHERE notebook_id = ? AND doc = 'notebook'",
    )
    .bind(&notebook)
    .fetch_one(&pool)
    .await
    .unwrap()
    .get("s");
    let total: i64 =
        sqlx::query("SELECT MAX(seq) AS s FROM changes WHERE notebook_id = ? AND doc = 'notebook'")
            .bind(&notebook)
            .fetch_one(&pool)
            .await
            .unwrap()
            .get("s");
    assert!(
        snapshot >= 500 && snapshot < total,
        "snapshot at {snapshot} of {total}"
    );
    pool.close().await;

    server.restart().unwrap();
    let fresh = NotebookClient::connect(config).await.unwrap();
    let reloaded = fresh.notebook(|nb| nb.automerge().save()).await.unwrap();
    let (a, b) = (
        Automerge::load(&live).unwrap(),
        Automerge::load(&reloaded).unwrap(),
    );
    assert_eq!(a.get_heads(), b.get_heads());
    assert_eq!(a.hydrate(None), b.hydrate(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_notebook_starts_with_snapshots_of_its_first_changes() {
    use cathode_tests::ipynb::{code, import, notebook};
    let server = TestServer::start().unwrap();
    // Cells of about 2 KB: one operation per character in the first change.
    let cells = (0..40)
        .map(|i| {
            code(
                &format!("c{i}"),
                &format!("x_{i} = {i}  # padding\n").repeat(90),
            )
        })
        .collect();
    let file = serde_json::to_vec(&notebook(cells, serde_json::json!({}))).unwrap();
    let (status, body) = import(&server, &server.owner_token, &file, "big").await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();

    let url = format!("sqlite://{}?mode=ro", server.database_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for doc in ["notebook", "runtime"] {
        let snapshot = sqlx::query(
            "SELECT upto_seq, bytes FROM snapshots WHERE notebook_id = ? AND doc = ? \
             ORDER BY upto_seq DESC LIMIT 1",
        )
        .bind(&id)
        .bind(doc)
        .fetch_optional(&pool)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no snapshot of the {doc} document"));
        let last: i64 =
            sqlx::query("SELECT MAX(seq) AS s FROM changes WHERE notebook_id = ? AND doc = ?")
                .bind(&id)
                .bind(doc)
                .fetch_one(&pool)
                .await
                .unwrap()
                .get("s");
        assert_eq!(snapshot.get::<i64, _>("upto_seq"), last, "{doc}");
        // The snapshot is the document the log replays to.
        let rows =
            sqlx::query("SELECT bytes FROM changes WHERE notebook_id = ? AND doc = ? ORDER BY seq")
                .bind(&id)
                .bind(doc)
                .fetch_all(&pool)
                .await
                .unwrap();
        let mut replayed = Automerge::new();
        for row in rows {
            let change = Change::from_bytes(row.get::<Vec<u8>, _>("bytes")).unwrap();
            replayed.apply_changes([change]).unwrap();
        }
        let loaded = Automerge::load(&snapshot.get::<Vec<u8>, _>("bytes")).unwrap();
        assert_eq!(loaded.get_heads(), replayed.get_heads(), "{doc}");
        assert_eq!(loaded.hydrate(None), replayed.hydrate(None), "{doc}");
    }
    pool.close().await;

    // And the room opens from it: a client sees every cell.
    let client = NotebookClient::connect(server.client_config(&server.owner_token, &id))
        .await
        .unwrap();
    let sources = client
        .notebook(|nb| nb.cells().map(|cells| cells.len()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sources, 40);
    client.close().await;
}
