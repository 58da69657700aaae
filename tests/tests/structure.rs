//! Concurrent moves, inserts and deletes from several clients, over many
//! seeds: never a duplicated cell, never a lost one.

use cathode_client::NotebookClient;
use cathode_tests::TestServer;
use rand::{Rng, SeedableRng};
use schema::{CellId, CellType, Placement};
use std::collections::BTreeSet;
use std::time::Duration;

const CLIENTS: usize = 4;
const OPS_EACH: usize = 30;
const SEEDS: u64 = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_structure_edits_never_duplicate_or_lose_cells() {
    let server = TestServer::start().unwrap();
    for seed in 0..SEEDS {
        run_seed(&server, seed).await;
    }
}

async fn run_seed(server: &TestServer, seed: u64) {
    let notebook = server
        .create_notebook(&server.owner_token, &format!("seed {seed}"))
        .await
        .unwrap();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(
            NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
                .await
                .unwrap(),
        );
    }
    // A few cells everyone starts from.
    for i in 0..5 {
        clients[0]
            .edit_notebook(move |nb| {
                nb.create_cell(CellType::Code, Placement::End, &format!("base {i}"))
            })
            .await
            .unwrap()
            .unwrap();
    }
    clients[0]
        .wait_acknowledged(Duration::from_secs(10))
        .await
        .unwrap();
    let base: BTreeSet<CellId> = clients[0]
        .notebook(|nb| nb.cell_ids().unwrap())
        .await
        .unwrap()
        .into_iter()
        .collect();
    for c in &clients[1..] {
        let want = base.clone();
        c.wait_notebook(Duration::from_secs(10), move |nb| {
            nb.cell_ids()
                .map(|ids| ids.into_iter().collect::<BTreeSet<_>>() == want)
                .unwrap_or(false)
        })
        .await
        .unwrap();
    }

    let mut tasks = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed * 100 + i as u64);
            let mut created = BTreeSet::new();
            let mut deleted = BTreeSet::new();
            for _ in 0..OPS_EACH {
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..4))).await;
                let ids = client.notebook(|nb| nb.cell_ids().unwrap()).await.unwrap();
                let pick =
                    |rng: &mut rand::rngs::StdRng| ids[rng.random_range(0..ids.len())].clone();
                match rng.random_range(0..10) {
                    0..=3 => {
                        let placement = if ids.is_empty() || rng.random_bool(0.3) {
                            Placement::End
                        } else {
                            Placement::After(pick(&mut rng))
                        };
                        // The anchor may have been deleted concurrently: a clean error, no cell.
                        match client
                            .edit_notebook(move |nb| {
                                nb.create_cell(CellType::Code, placement, "new")
                            })
                            .await
                            .unwrap()
                        {
                            Ok(id) => {
                                created.insert(id);
                            }
                            Err(schema::SchemaError::NoSuchCell(_)) => {}
                            Err(e) => panic!("create failed: {e}"),
                        }
                    }
                    4..=7 if ids.len() > 1 => {
                        let (a, b) = (pick(&mut rng), pick(&mut rng));
                        let placement = if rng.random_bool(0.5) {
                            Placement::Before(b)
                        } else {
                            Placement::After(b)
                        };
                        // The target may have been deleted concurrently; that is a clean error.
                        let _ = client
                            .edit_notebook(move |nb| nb.move_cell(&a, placement))
                            .await
                            .unwrap();
                    }
                    8..=9 if ids.len() > 2 => {
                        let victim = pick(&mut rng);
                        let v = victim.clone();
                        if client
                            .edit_notebook(move |nb| nb.delete_cell(&v))
                            .await
                            .unwrap()
                            .is_ok()
                        {
                            deleted.insert(victim);
                        }
                    }
                    _ => {}
                }
            }
            (client, created, deleted)
        }));
    }
    let mut clients = Vec::new();
    let mut created = base.clone();
    let mut deleted = BTreeSet::new();
    for t in tasks {
        let (c, cr, de) = t.await.unwrap();
        created.extend(cr);
        deleted.extend(de);
        clients.push(c);
    }
    for c in &clients {
        c.wait_acknowledged(Duration::from_secs(30)).await.unwrap();
    }
    let expected: BTreeSet<CellId> = created.difference(&deleted).cloned().collect();
    let mut orders = Vec::new();
    for c in &clients {
        let want = expected.clone();
        c.wait_notebook(Duration::from_secs(30), move |nb| {
            nb.cell_ids()
                .map(|ids| ids.into_iter().collect::<BTreeSet<_>>() == want)
                .unwrap_or(false)
        })
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: cells lost or resurrected: {e}"));
        let order = c.notebook(|nb| nb.cell_ids().unwrap()).await.unwrap();
        let unique: BTreeSet<_> = order.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            order.len(),
            "seed {seed}: a cell appears twice"
        );
        orders.push(order);
    }
    // Same order everywhere once converged.
    let target = cathode_tests::merged_notebook_heads(&clients).await;
    let mut final_orders = Vec::new();
    for c in &clients {
        let t = target.clone();
        c.wait_notebook(Duration::from_secs(30), move |nb| {
            let mut h = nb.heads();
            h.sort();
            h == t
        })
        .await
        .unwrap();
        final_orders.push(c.notebook(|nb| nb.cell_ids().unwrap()).await.unwrap());
    }
    assert!(
        final_orders.windows(2).all(|w| w[0] == w[1]),
        "seed {seed}: orders differ"
    );
    for c in clients {
        c.close().await;
    }
}
