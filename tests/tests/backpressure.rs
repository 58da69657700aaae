//! Peers that do not read, flood presence or join by the hundred (the
//! hardening issue's finding 3): the server's memory stays bounded, a peer
//! that cannot keep up is cut off with a clear error, and it resumes on
//! reconnecting without losing anything.

use cathode_client::NotebookClient;
use cathode_tests::raw::RawPeer;
use cathode_tests::TestServer;
use schema::wire::{ErrorCode, Frame, Presence};
use schema::{CellType, Placement};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

fn random_text(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(rng.random_range(b'!'..=b'~')))
        .collect()
}

fn presence_frame(bytes: usize) -> Vec<u8> {
    Frame::Presence(Presence {
        peer_id: None,
        user: None,
        state: serde_json::json!({ "pad": "x".repeat(bytes) }),
    })
    .encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_readers_and_a_presence_flood_stay_within_a_memory_bound() {
    let server = TestServer::start_with(&["--peer-write-timeout-ms", "3000"]).unwrap();
    let (notebook, owner) = server.notebook_with_owner("flood").await.unwrap();
    let viewer = server
        .user_with_role(&notebook, "vi", "viewer")
        .await
        .unwrap();
    // Ten sockets that sync once, then never read again.
    let mut sleepers = Vec::new();
    for _ in 0..10 {
        let local = "127.0.0.1".parse().unwrap();
        let raw = RawPeer::open_tuned(&server.ws_url(), local, Some(64 * 1024))
            .await
            .unwrap();
        let (mut peer, _) = raw.say_hello(&viewer, &notebook).await.unwrap();
        let mut replica = schema::automerge::Automerge::new();
        let mut state = schema::automerge::sync::State::new();
        peer.pull(schema::DocKind::Notebook, &mut replica, &mut state)
            .await
            .unwrap();
        sleepers.push(peer);
    }
    let (_, peak_before) = server.memory_kib();

    // The same viewer floods 8 KB presence frames flat out for four seconds
    // (before: 5,000 relayed in 0.24 s, +433 MiB in 22 s).
    let (mut flooder, _) = RawPeer::hello(&server.ws_url(), &viewer, &notebook)
        .await
        .unwrap();
    let frame = presence_frame(8 * 1024 - 64);
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < Duration::from_secs(4) {
        for _ in 0..64 {
            flooder.feed_bytes(frame.clone()).await.unwrap();
        }
        futures_util::SinkExt::flush(&mut flooder.socket)
            .await
            .unwrap();
        sent += 64;
    }
    let (_, peak_after) = server.memory_kib();
    let grown_mib = peak_after.saturating_sub(peak_before) / 1024;
    eprintln!(
        "{sent} presence frames ({} MB) sent; peak grew {grown_mib} MiB",
        sent * 8 / 1024
    );
    assert!(sent > 1_000, "the flood did not get going");
    assert!(grown_mib < 64, "peak memory grew by {grown_mib} MiB");

    // Meanwhile edits keep flowing to a reading peer.
    let reader = NotebookClient::connect(server.client_config(&viewer, &notebook))
        .await
        .unwrap();
    // Enough to fill the sleepers' sockets: 16 MB, in metadata values of
    // a megabyte each (one operation apiece, so cheap to apply), random so
    // that no compression shrinks them on the wire.
    let mut cells = Vec::new();
    for _ in 0..16 {
        let v = serde_json::json!(random_text(1_000_000));
        cells.push(
            owner
                .edit_notebook(move |nb| {
                    let cell = nb.create_cell(CellType::Code, Placement::End, "")?;
                    nb.set_metadata(&cell, "padding", Some(&v))?;
                    Ok::<_, schema::SchemaError>(cell)
                })
                .await
                .unwrap()
                .unwrap(),
        );
    }
    owner.wait_acknowledged(WAIT).await.unwrap();
    let last = cells.last().cloned().unwrap();
    reader
        .wait_notebook(WAIT, move |nb| {
            nb.cell_ids().unwrap_or_default().contains(&last)
        })
        .await
        .unwrap();

    // The sleepers are cut off, with too_slow where the error still fit.
    // They go on not reading for longer than the write timeout first:
    // reading them at once drains what the server could not yet write,
    // and whether a socket had been full for the whole timeout by then
    // was a matter of timing.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut told = 0;
    for mut peer in sleepers {
        let mut closed = false;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match peer.next_frame(Duration::from_secs(10)).await {
                Ok(Some(Frame::Error(e))) if e.code == ErrorCode::TooSlow => told += 1,
                Ok(Some(_)) => {}
                Ok(None) => {
                    closed = true;
                    break;
                }
                Err(_) => break,
            }
        }
        assert!(closed, "a peer that never read was not cut off");
    }
    eprintln!("{told} of 10 cut-off peers received the too_slow error");

    // And one of them, reconnecting, resumes with everything.
    let back = NotebookClient::connect(server.client_config(&viewer, &notebook))
        .await
        .unwrap();
    let expected = cells.len();
    back.wait_notebook(WAIT, move |nb| {
        nb.cell_ids().map(|c| c.len()).unwrap_or(0) == expected
    })
    .await
    .unwrap();
    assert!(server.healthy(WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_joins_do_not_cost_n_squared_frames() {
    let server = TestServer::start().unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "crowd")
        .await
        .unwrap();
    let viewer = server
        .user_with_role(&notebook, "crowd", "viewer")
        .await
        .unwrap();
    const N: usize = 300;
    // Every peer counts the presence frames it receives, and reads all the
    // time (a fast reader is the worst case for fan-out).
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..N {
        let (mut peer, _) = RawPeer::hello(&server.ws_url(), &viewer, &notebook)
            .await
            .unwrap();
        let mut done = done_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut frames = 0usize;
            let mut peers_seen = std::collections::HashSet::new();
            loop {
                tokio::select! {
                    _ = done.wait_for(|d| *d) => break,
                    f = peer.next_frame(Duration::from_secs(30)) => match f {
                        Ok(Some(Frame::Peers(p))) => {
                            frames += 1;
                            for e in p.peers {
                                peers_seen.insert(e.peer_id);
                            }
                        }
                        Ok(Some(_)) => {}
                        _ => break,
                    },
                }
            }
            (frames, peers_seen.len())
        }));
    }
    // Let the last presence round go out.
    tokio::time::sleep(Duration::from_secs(2)).await;
    done_tx.send(true).unwrap();
    let mut total = 0;
    let mut everyone_known = true;
    for t in tasks {
        let (frames, seen) = t.await.unwrap();
        total += frames;
        everyone_known &= seen == N - 1;
    }
    eprintln!(
        "{N} joins: {total} presence frames in all (one per join and peer: {})",
        N * (N - 1) / 2
    );
    assert!(everyone_known, "a peer did not learn of every other");
    assert!(
        total < N * (N - 1) / 6,
        "{total} presence frames for {N} joins"
    );
}
