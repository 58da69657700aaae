//! A client offline for 500 edits reconnects and converges, losing nothing.

use cathode_client::{ConnectionState, NotebookClient};
use cathode_tests::TestServer;
use schema::{CellType, Placement};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_offline_edits_converge() {
    let server = TestServer::start().unwrap();
    let (notebook, traveller) = server.notebook_with_owner("offline").await.unwrap();
    let stayer = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();
    let shared = traveller
        .edit_notebook(|nb| nb.create_cell(CellType::Code, Placement::End, "shared"))
        .await
        .unwrap()
        .unwrap();
    traveller
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();

    traveller.set_online(false).unwrap();
    let mut state = traveller.connection_state();
    state
        .wait_for(|s| *s == ConnectionState::Offline)
        .await
        .unwrap();

    let mut offline_cells = Vec::new();
    for i in 0..500 {
        let s = shared.clone();
        if i % 5 == 0 {
            let id = traveller
                .edit_notebook(move |nb| {
                    nb.create_cell(CellType::Code, Placement::End, &format!("offline {i}"))
                })
                .await
                .unwrap()
                .unwrap();
            offline_cells.push(id);
        } else {
            traveller
                .edit_notebook(move |nb| nb.splice_source(&s, 0, 0, "t"))
                .await
                .unwrap()
                .unwrap();
        }
    }
    // Meanwhile someone else works online.
    for _ in 0..50 {
        let s = shared.clone();
        stayer
            .edit_notebook(move |nb| {
                let len = nb.source(&s).unwrap().chars().count();
                nb.splice_source(&s, len, 0, "s")
            })
            .await
            .unwrap()
            .unwrap();
    }
    stayer
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();

    traveller.set_online(true).unwrap();
    traveller
        .wait_acknowledged(Duration::from_secs(30))
        .await
        .unwrap();
    let expected_cells = offline_cells.len() + 1;
    stayer
        .wait_notebook(Duration::from_secs(30), move |nb| {
            nb.cell_ids()
                .map(|c| c.len() == expected_cells)
                .unwrap_or(false)
        })
        .await
        .unwrap();
    let s = shared.clone();
    stayer
        .wait_notebook(Duration::from_secs(30), move |nb| {
            nb.source(&s)
                .map(|t| t.len() == 6 + 400 + 50)
                .unwrap_or(false)
        })
        .await
        .unwrap();
    let s = shared.clone();
    let theirs = stayer
        .notebook(move |nb| nb.source(&s).unwrap())
        .await
        .unwrap();
    let s = shared.clone();
    traveller
        .wait_notebook(Duration::from_secs(30), move |nb| {
            nb.source(&s).map(|t| t == theirs).unwrap_or(false)
        })
        .await
        .unwrap();
    let text = traveller
        .notebook(move |nb| nb.source(&shared).unwrap())
        .await
        .unwrap();
    assert_eq!(text.matches('t').count(), 400);
    assert_eq!(text.matches('s').count(), 50 + 1); // "shared" has one s
    for id in offline_cells {
        assert!(stayer
            .notebook(move |nb| nb.source(&id).is_ok())
            .await
            .unwrap());
    }
}
