//! The history REST calls: the notebook's changes as bursts of work, paged
//! newest first; the notebook as it was after a change; who may read them;
//! and what a page costs on a notebook with a long history (rows read,
//! never time). Each also runs on a real PostgreSQL.

use cathode_client::NotebookClient;
use cathode_tests::postgres::PostgresCluster;
use cathode_tests::server::ServerOptions;
use cathode_tests::TestServer;
use reqwest::Method;
use schema::{Attribution, CellType, Placement};
use serde_json::Value;
use std::time::Duration;

async fn get(server: &TestServer, token: &str, path: &str) -> (u16, Value) {
    server.api(Method::GET, path, token, None).await.unwrap()
}

fn kinds(page: &Value) -> Vec<String> {
    page["bursts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// Each test twice: on the embedded SQLite and on PostgreSQL, the team
/// setup (its migrations, its queries and the points rebuilt from its log).
macro_rules! on_sqlite_and_postgres {
    ($sqlite:ident, $postgres:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $body(TestServer::start().unwrap()).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            let cluster = PostgresCluster::start().unwrap();
            let options = ServerOptions {
                database_url: Some(cluster.database(stringify!($postgres)).unwrap()),
                ..ServerOptions::default()
            };
            $body(TestServer::start_with_options(&[], options).unwrap()).await;
        }
    };
}

on_sqlite_and_postgres!(
    bursts_points_and_paging,
    bursts_points_and_paging_on_postgres,
    bursts_points_and_paging_on
);

async fn bursts_points_and_paging_on(server: TestServer) {
    let (notebook, owner) = server.notebook_with_owner("history").await.unwrap();
    let bob = server
        .user_with_role(&notebook, "bob", "editor")
        .await
        .unwrap();
    let viewer = server
        .user_with_role(&notebook, "vera", "viewer")
        .await
        .unwrap();
    let a = owner
        .edit_notebook(|nb| nb.create_cell(CellType::Code, Placement::End, "a = 1"))
        .await
        .unwrap()
        .unwrap();
    for (i, ch) in "23".chars().enumerate() {
        let a = a.clone();
        owner
            .edit_notebook(move |nb| nb.splice_source(&a, 5 + i, 0, &ch.to_string()))
            .await
            .unwrap()
            .unwrap();
    }
    let b = owner
        .edit_notebook(|nb| nb.create_cell(CellType::Markdown, Placement::End, "# doomed"))
        .await
        .unwrap()
        .unwrap();
    owner
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();
    let bob_client = NotebookClient::connect(server.client_config(&bob, &notebook))
        .await
        .unwrap();
    bob_client
        .wait_notebook(Duration::from_secs(10), |nb| {
            nb.cell_ids().map(|c| c.len() == 2).unwrap_or(false)
        })
        .await
        .unwrap();
    let b2 = b.clone();
    bob_client
        .edit_notebook(move |nb| nb.delete_cell(&b2))
        .await
        .unwrap()
        .unwrap();
    let a2 = a.clone();
    bob_client
        .edit_notebook(move |nb| nb.request_execution(&a2, "bob"))
        .await
        .unwrap()
        .unwrap();
    bob_client
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();
    // An AI run's edit, attributed to it.
    let a3 = a.clone();
    owner
        .edit_notebook(move |nb| {
            nb.set_attribution(Some(Attribution {
                by: "ai:test/model".into(),
                on_behalf_of: "owner".into(),
                ai_run: "x-run-1".into(),
            }));
            let r = nb.splice_source(&a3, 0, 0, "# ai\n");
            nb.set_attribution(None);
            r
        })
        .await
        .unwrap()
        .unwrap();
    owner
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();

    let path = format!("/api/notebooks/{notebook}/history");
    let (status, page) = get(&server, &server.owner_token, &path).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        kinds(&page),
        [
            "ai_run",
            "ran",
            "deleted",
            "created",
            "edited",
            "created",
            "created_notebook"
        ],
        "{page}"
    );
    let bursts = page["bursts"].as_array().unwrap();
    assert_eq!(bursts[0]["ai_run"], "x-run-1");
    assert_eq!(bursts[0]["by"], "ai:test/model");
    assert_eq!(bursts[2]["author"], "bob");
    assert_eq!(bursts[3]["author"], "owner");
    assert_eq!(bursts[2]["cells"], serde_json::json!([b.to_string()]));
    assert_eq!(bursts[4]["changes"], 2, "the two keystrokes are one burst");
    assert_eq!(bursts[4]["author"], bursts[5]["author"]);
    assert!(page["next_before"].is_null());
    // Newest first, each burst's changes contiguous.
    for pair in bursts.windows(2) {
        assert_eq!(
            pair[0]["first_seq"].as_i64().unwrap(),
            pair[1]["last_seq"].as_i64().unwrap() + 1
        );
    }

    // Paged two at a time, the same bursts.
    let mut paged = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let q = match before {
            Some(b) => format!("{path}?limit=2&before={b}"),
            None => format!("{path}?limit=2"),
        };
        let (status, p) = get(&server, &viewer, &q).await;
        assert_eq!(status, 200, "a viewer reads history: {p}");
        assert!(p["bursts"].as_array().unwrap().len() <= 2);
        paged.extend(kinds(&p));
        match p["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    assert_eq!(paged, kinds(&page));
    // The second read decoded nothing: details are kept.
    assert_eq!(
        get(&server, &server.owner_token, &path).await.1["decoded"],
        0
    );

    // The notebook just before the delete, and now.
    let before_delete = bursts[2]["first_seq"].as_i64().unwrap() - 1;
    let (status, then) = get(&server, &viewer, &format!("{path}/{before_delete}")).await;
    assert_eq!(status, 200, "{then}");
    let cells = then["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "{then}");
    assert_eq!(cells[0]["source"], "a = 123");
    assert_eq!(cells[1]["id"], b.to_string());
    assert_eq!(cells[1]["cell_type"], "markdown");
    assert_eq!(cells[1]["source"], "# doomed");
    let last = bursts[0]["last_seq"].as_i64().unwrap();
    let now = get(&server, &viewer, &format!("{path}/{last}")).await.1;
    let cells = now["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 1);
    assert_eq!(cells[0]["source"], "# ai\na = 123");

    // Who may not read it, and what is refused.
    let stranger = {
        let (_, user) = server
            .api(
                Method::POST,
                "/api/users",
                &server.owner_token,
                Some(serde_json::json!({"name": "eve"})),
            )
            .await
            .unwrap();
        user["token"].as_str().unwrap().to_owned()
    };
    assert_eq!(get(&server, &stranger, &path).await.0, 404);
    assert_eq!(get(&server, &stranger, &format!("{path}/1")).await.0, 404);
    assert_eq!(get(&server, "cth_nonsense", &path).await.0, 401);
    assert_eq!(
        get(&server, &viewer, &format!("{path}?limit=0")).await.0,
        400
    );
    assert_eq!(
        get(&server, &viewer, &format!("{path}/{}", last + 100))
            .await
            .0,
        404
    );
    owner.close().await;
    bob_client.close().await;
}

on_sqlite_and_postgres!(
    a_long_history_reads_a_bounded_page,
    a_long_history_reads_a_bounded_page_on_postgres,
    long_history_on
);

async fn long_history_on(server: TestServer) {
    let (notebook, owner) = server.notebook_with_owner("long").await.unwrap();
    let changes = 12_000;
    cathode_tests::burst::prefill(&owner, changes)
        .await
        .unwrap();
    // Then some separate bursts on top: a new cell after each pause.
    let path = format!("/api/notebooks/{notebook}/history");
    let (status, first) = get(&server, &server.owner_token, &format!("{path}?limit=5")).await;
    assert_eq!(status, 200, "{first}");
    let rows = first["rows_read"].as_u64().unwrap();
    assert!(rows <= 5_000, "a page read {rows} rows of {changes}");
    let bursts = first["bursts"].as_array().unwrap();
    assert_eq!(
        bursts.len(),
        1,
        "one person typing is one burst, cut at the page's rows"
    );
    assert_eq!(bursts[0]["kind"], "edited");
    assert_eq!(bursts[0]["changes"].as_u64().unwrap(), rows);
    let mut before = first["next_before"].as_i64().expect("more pages");
    let mut total_changes = rows;
    let mut pages = 1;
    loop {
        let (status, p) = get(
            &server,
            &server.owner_token,
            &format!("{path}?limit=5&before={before}"),
        )
        .await;
        assert_eq!(status, 200, "{p}");
        assert!(p["rows_read"].as_u64().unwrap() <= 5_000);
        total_changes += p["bursts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["changes"].as_u64().unwrap())
            .sum::<u64>();
        pages += 1;
        match p["next_before"].as_i64() {
            Some(b) => before = b,
            None => break,
        }
    }
    // Every change of the log is in exactly one burst: typing, the cell, the notebook.
    assert_eq!(total_changes, changes as u64 + 2);
    assert!(pages >= 3, "{pages} pages");
    // Read again: nothing decoded a second time.
    let again = get(&server, &server.owner_token, &format!("{path}?limit=5"))
        .await
        .1;
    assert_eq!(again["decoded"], 0);
    // The notebook half way, rebuilt once and then served from memory.
    let half = (changes / 2) as i64;
    let (status, at) = get(&server, &server.owner_token, &format!("{path}/{half}")).await;
    assert_eq!(status, 200, "{at}");
    let source = at["cells"][0]["source"].as_str().unwrap();
    assert_eq!(
        source.len(),
        half as usize - 2,
        "one character per change after the first two"
    );
    owner.close().await;
}

on_sqlite_and_postgres!(
    a_point_holds_metadata_and_attachments,
    a_point_holds_metadata_and_attachments_on_postgres,
    point_with_metadata_on
);

/// A point of history carries each cell's metadata and attachments, so a
/// restore from it brings them back with the source.
async fn point_with_metadata_on(server: TestServer) {
    let (notebook, owner) = server.notebook_with_owner("kept").await.unwrap();
    let tags = serde_json::json!(["keep", "me"]);
    let attachments = serde_json::json!({"dot.png": {"image/png": "iVBORw0KGgo="}});
    let (t, a) = (tags.clone(), attachments.clone());
    let cell = owner
        .edit_notebook(move |nb| {
            let id = nb.create_cell(
                CellType::Markdown,
                Placement::End,
                "![dot](attachment:dot.png)",
            )?;
            nb.set_metadata(&id, "tags", Some(&t))?;
            nb.set_attachments(&id, Some(&a))?;
            Ok::<_, schema::SchemaError>(id)
        })
        .await
        .unwrap()
        .unwrap();
    owner
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();
    let path = format!("/api/notebooks/{notebook}/history");
    let (_, page) = get(&server, &server.owner_token, &path).await;
    let last = page["bursts"][0]["last_seq"].as_i64().unwrap();
    let c = cell.clone();
    owner
        .edit_notebook(move |nb| nb.delete_cell(&c))
        .await
        .unwrap()
        .unwrap();
    owner
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();

    let (status, then) = get(&server, &server.owner_token, &format!("{path}/{last}")).await;
    assert_eq!(status, 200, "{then}");
    let kept = &then["cells"][0];
    assert_eq!(kept["id"], cell.to_string(), "{then}");
    assert_eq!(kept["metadata"]["tags"], tags, "{then}");
    assert_eq!(kept["attachments"], attachments, "{then}");
}
