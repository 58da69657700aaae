//! Sync frames a hostile peer sends (the hardening issue's findings 1, 2 and
//! 6): each is refused for that peer alone, the server and the room live
//! on, and the other peers keep receiving edits.

use cathode_client::NotebookClient;
use cathode_tests::raw::RawPeer;
use cathode_tests::TestServer;
use schema::automerge::sync::{self, SyncDoc};
use schema::automerge::transaction::Transactable;
use schema::automerge::{Automerge, ObjType, ReadDoc, ROOT};
use schema::wire::{ErrorCode, Frame};
use schema::{CellType, DocKind, Placement};
use std::io::Write;
use std::time::Duration;
use sync_server::guard::{encode_chunk, write_uleb};

const WAIT: Duration = Duration::from_secs(20);

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// An edit by `writer` that `reader` then sees: the room is alive.
async fn room_still_serves(writer: &NotebookClient, reader: &NotebookClient, label: &str) {
    let label = label.to_owned();
    let cell = writer
        .edit_notebook(move |nb| nb.create_cell(CellType::Markdown, Placement::End, &label))
        .await
        .unwrap()
        .unwrap();
    reader
        .wait_notebook(WAIT, move |nb| {
            nb.cell_ids().unwrap_or_default().contains(&cell)
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bloom_frames_neither_kill_the_server_nor_the_room() {
    let server = TestServer::start().unwrap();
    let (notebook, owner) = server.notebook_with_owner("bloom").await.unwrap();
    let watcher = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();
    let viewer = server
        .user_with_role(&notebook, "vic", "viewer")
        .await
        .unwrap();
    let frames = [
        // 2^32-1 probes: "memory allocation of 17179869180 bytes failed".
        (
            "huge probe count",
            hex("10 00 42 00 00 01 00 08 01 08 ff ff ff ff 0f 00 00"),
        ),
        // 0 bits per entry: a division by zero in the room task.
        (
            "zero bits per entry",
            hex("10 00 42 00 00 01 00 03 01 00 07 00"),
        ),
        // 20 million probes: 180 ms and 68 MiB for 16 bytes.
        (
            "twenty million probes",
            hex("10 00 42 00 00 01 00 07 01 08 80 da c4 09 00 00"),
        ),
    ];
    for (name, frame) in frames {
        for _ in 0..3 {
            let (mut peer, _) = RawPeer::hello(&server.ws_url(), &viewer, &notebook)
                .await
                .unwrap();
            peer.send_bytes(frame.clone()).await.unwrap();
            let error = peer.next_error(WAIT).await.unwrap();
            let error = error.unwrap_or_else(|| panic!("{name}: no error frame"));
            assert_eq!(error.code, ErrorCode::BadSync, "{name}: {}", error.message);
            assert!(error.fatal);
            assert!(peer.closed(WAIT).await, "{name}: left open");
        }
        assert!(server.healthy(WAIT).await, "{name}: the server died");
        room_still_serves(&owner, &watcher, name).await;
    }
}

/// A raw DEFLATE stream of `n` zero bytes: about a thousandth of `n`.
fn deflated_zeros(n: usize) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1 << 20];
    for _ in 0..n / block.len() {
        e.write_all(&block).unwrap();
    }
    e.finish().unwrap()
}

fn sync_frame(chunks: Vec<Vec<u8>>) -> Vec<u8> {
    let message = sync::Message {
        heads: vec![],
        need: vec![],
        have: vec![],
        changes: chunks.into(),
        flags: None,
        version: sync::MessageVersion::V1,
    };
    Frame::Sync {
        doc: DocKind::Notebook,
        message: message.encode(),
    }
    .encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_and_run_length_bombs_stay_within_a_memory_bound() {
    let server = TestServer::start().unwrap();
    let (notebook, owner) = server.notebook_with_owner("bombs").await.unwrap();
    let watcher = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();
    let editor = server
        .user_with_role(&notebook, "eve", "editor")
        .await
        .unwrap();
    // Let the room settle before measuring.
    room_still_serves(&owner, &watcher, "warm up").await;
    let (_, peak_before) = server.memory_kib();

    // About 1 MB on the wire that inflates to 4 GiB (3 GiB of server memory
    // and an 8-second stall before): a compressed change, then a document
    // whose column is compressed.
    let bomb = deflated_zeros(4 << 30);
    assert!(bomb.len() < 8 << 20, "{}", bomb.len());
    let mut document = vec![0, 0, 0, 1];
    write_uleb(&mut document, (4 << 4) | 0b1000 | 2);
    write_uleb(&mut document, bomb.len() as u64);
    document.extend_from_slice(&bomb);
    // A change whose action column is a run of 2^40 values: seven bytes.
    let mut run = vec![0, 1, 0xaa, 1, 1, 0, 0, 0, 1];
    write_uleb(&mut run, (4 << 4) | 2);
    run.extend([7, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x01]);
    let cases = [
        (
            "compressed change",
            sync_frame(vec![encode_chunk(2, &bomb)]),
        ),
        (
            "compressed document column",
            sync_frame(vec![encode_chunk(0, &document)]),
        ),
        (
            "run of 2^40 operations",
            sync_frame(vec![encode_chunk(1, &run)]),
        ),
    ];
    for (name, frame) in cases {
        let (mut peer, _) = RawPeer::hello(&server.ws_url(), &editor, &notebook)
            .await
            .unwrap();
        peer.send_bytes(frame).await.unwrap();
        let error = peer.next_error(WAIT).await.unwrap();
        let error = error.unwrap_or_else(|| panic!("{name}: no error frame"));
        assert_eq!(error.code, ErrorCode::TooLarge, "{name}: {}", error.message);
        assert!(peer.closed(WAIT).await);
        room_still_serves(&owner, &watcher, name).await;
    }
    // Inflation stops at the cap, 256 MiB: the server's peak may grow by
    // that and the frames themselves, not by gigabytes.
    let (_, peak_after) = server.memory_kib();
    let grown_mib = (peak_after.saturating_sub(peak_before)) / 1024;
    assert!(grown_mib < 400, "peak memory grew by {grown_mib} MiB");
}

/// A change made on a replica of the notebook by hand, outside the typed
/// API, and pushed as a writer would.
async fn push_rogue(
    server: &TestServer,
    token: &str,
    notebook: &str,
    write: impl FnOnce(&mut schema::automerge::transaction::Transaction<'_>, &Automerge),
) -> (schema::wire::ErrorFrame, schema::automerge::ChangeHash) {
    let (mut peer, _) = RawPeer::hello(&server.ws_url(), token, notebook)
        .await
        .unwrap();
    let mut replica = Automerge::new();
    let mut state = sync::State::new();
    peer.pull(DocKind::Notebook, &mut replica, &mut state)
        .await
        .unwrap();
    let snapshot = replica.clone();
    let mut tx = replica.transaction();
    write(&mut tx, &snapshot);
    let hash = tx.commit().0.unwrap();
    peer.push_change(DocKind::Notebook, &replica, hash)
        .await
        .unwrap();
    let error = peer
        .next_error(WAIT)
        .await
        .unwrap()
        .expect("an error frame");
    // The refusal is for that change; the connection stays up.
    assert!(!error.fatal, "{}", error.message);
    let m = replica.generate_sync_message(&mut state);
    if let Some(m) = m {
        peer.send_frame(&Frame::Sync {
            doc: DocKind::Notebook,
            message: m.encode(),
        })
        .await
        .unwrap();
    }
    (error, hash)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_cannot_brick_the_notebook() {
    let mut server = TestServer::start().unwrap();
    let (notebook, owner) = server.notebook_with_owner("brick").await.unwrap();
    let editor = server
        .user_with_role(&notebook, "ed", "editor")
        .await
        .unwrap();
    let mut refused = Vec::new();
    let (error, hash) = push_rogue(&server, &editor, &notebook, |tx, _| {
        tx.put(ROOT, "schema_version", 999).unwrap();
    })
    .await;
    assert_eq!(error.code, ErrorCode::Forbidden);
    assert!(
        error.message.contains("schema_version"),
        "{}",
        error.message
    );
    refused.push(hash);
    let (_, hash) = push_rogue(&server, &editor, &notebook, |tx, _| {
        tx.put(ROOT, "kind", "runtime").unwrap();
    })
    .await;
    refused.push(hash);
    let (_, hash) = push_rogue(&server, &editor, &notebook, |tx, _| {
        tx.put_object(ROOT, "cells", ObjType::Map).unwrap();
    })
    .await;
    refused.push(hash);
    let (_, hash) = push_rogue(&server, &editor, &notebook, |tx, doc| {
        let cells = doc.get(ROOT, "cells").unwrap().unwrap().1;
        tx.put(&cells, "c-1", "not a cell").unwrap();
    })
    .await;
    refused.push(hash);

    // Nothing was stored: every client still opens the notebook, before
    // and after a restart, and edits it.
    room_still_serves(&owner, &owner, "after the attempts").await;
    server.restart().unwrap();
    let fresh = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();
    fresh
        .wait_notebook(WAIT, |nb| nb.cell_ids().is_ok())
        .await
        .unwrap();
    for hash in refused {
        let has = fresh
            .notebook(move |nb| nb.automerge().get_change_by_hash(&hash).is_some())
            .await
            .unwrap();
        assert!(!has, "a refused change was stored");
    }
    let again = NotebookClient::connect(server.client_config(&server.owner_token, &notebook))
        .await
        .unwrap();
    room_still_serves(&fresh, &again, "after the restart").await;
}
