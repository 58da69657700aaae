//! A burst of 3,000 changes of 4 KB from one editor (the hardening issue's
//! finding 8: a room once spent over six minutes at full CPU on it) reaches
//! another peer whole. How long it takes is `bench-sync`'s figure, not an
//! assertion.

use cathode_client::NotebookClient;
use cathode_tests::TestServer;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_three_thousand_changes_arrives_whole() {
    let server = TestServer::start().unwrap();
    let (notebook, writer) = server.notebook_with_owner("burst").await.unwrap();
    let reader = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();
    let took = cathode_tests::burst::burst(
        &writer,
        &reader,
        cathode_tests::burst::BurstShape::NewCells,
        3_000,
        4096,
        Duration::from_secs(900),
    )
    .await
    .unwrap();
    eprintln!("3,000 changes of 4 KB: {took:?} until the other peer had them all");
    writer
        .wait_acknowledged(Duration::from_secs(120))
        .await
        .unwrap();
}
