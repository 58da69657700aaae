//! The checks against real Automerge messages and against the attacks they
//! exist for.

use super::*;
use schema::automerge::sync::{self, SyncDoc};
use schema::automerge::transaction::Transactable;
use schema::automerge::{Automerge, ObjType, ReadDoc, ROOT};
use std::io::Write;

fn limits() -> Limits {
    Limits::default()
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// A document with some text, and a peer that has synced none of it.
fn doc_with_text(chars: usize) -> Automerge {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    let text = tx.put_object(ROOT, "t", ObjType::Text).unwrap();
    tx.splice_text(&text, 0, 0, &"x".repeat(chars)).unwrap();
    tx.commit();
    doc
}

#[test]
fn the_reported_bloom_frames_are_refused() {
    // v1, no heads, no need, one have with no last_sync and an 8-byte bloom
    // of 1 entry, 8 bits per entry, 2^32-1 probes, no changes.
    let huge_probes = hex("42 00 00 01 00 08 01 08 ff ff ff ff 0f 00 00");
    let err = check_sync_message(&huge_probes, &limits()).unwrap_err();
    assert!(err.message.contains("probes"), "{err}");
    // The same with 0 bits per entry (a division by zero in Automerge).
    let zero_bits = hex("42 00 00 01 00 03 01 00 07 00");
    let err = check_sync_message(&zero_bits, &limits()).unwrap_err();
    assert!(err.message.contains("bits per entry"), "{err}");
    // 20 million probes.
    let many = hex("42 00 00 01 00 07 01 08 80 da c4 09 00 00");
    assert!(check_sync_message(&many, &limits()).is_err());
    // Two haves, and counts larger than the message.
    assert!(check_sync_message(&hex("42 00 00 02 00 00 00 00 00"), &limits()).is_err());
    assert!(check_sync_message(&hex("42 ff ff ff ff 0f"), &limits()).is_err());
    assert!(check_sync_message(&hex("42 00 00 00 ff ff 03"), &limits()).is_err());
}

#[test]
fn what_automerge_itself_sends_passes_unchanged() {
    let doc = doc_with_text(5_000);
    let mut empty = Automerge::new();
    let (mut ours, mut theirs) = (sync::State::new(), sync::State::new());
    // A full exchange both ways, V1 and V2 messages (a whole document
    // included), every message checked.
    let mut documents = 0;
    for _ in 0..10 {
        let a = doc.generate_sync_message(&mut ours);
        let b = empty.generate_sync_message(&mut theirs);
        if a.is_none() && b.is_none() {
            break;
        }
        for (m, to) in [(a, 0), (b, 1)] {
            let Some(m) = m else { continue };
            let bytes = m.encode();
            documents += m_documents(&bytes);
            let checked = check_sync_message(&bytes, &limits()).unwrap();
            assert!(matches!(checked.bytes, std::borrow::Cow::Borrowed(_)));
            let m = sync::Message::decode(&checked.bytes).unwrap();
            if to == 0 {
                empty.receive_sync_message(&mut theirs, m).unwrap();
            } else {
                let mut doc2 = doc.clone();
                doc2.receive_sync_message(&mut ours, m).unwrap();
            }
        }
    }
    assert_eq!(empty.get_heads(), doc.get_heads());
    assert!(
        documents > 0,
        "no whole-document (V2) message was exercised"
    );
}

/// How many document chunks a sync message carries.
fn m_documents(bytes: &[u8]) -> usize {
    let m = sync::Message::decode(bytes).unwrap();
    m.changes
        .iter()
        .flat_map(|c| split_chunks(c).unwrap())
        .filter(|(k, _)| *k == ChunkKind::Document)
        .count()
}

#[test]
fn a_compressed_change_is_inflated_once_and_keeps_its_hash() {
    let doc = doc_with_text(20_000);
    let mut change = doc.get_changes(&[]).pop().unwrap();
    let compressed = change.bytes().into_owned();
    assert!(
        compressed.len() < change.raw_bytes().len(),
        "not compressed"
    );
    let message = sync::Message {
        heads: doc.get_heads(),
        need: vec![],
        have: vec![],
        changes: vec![compressed].into(),
        flags: None,
        version: sync::MessageVersion::V1,
    };
    let encoded = message.encode();
    let checked = check_sync_message(&encoded, &limits()).unwrap();
    let decoded = sync::Message::decode(&checked.bytes).unwrap();
    let chunk = decoded.changes.iter().next().unwrap();
    assert_eq!(chunk[8], 1, "rewritten as an uncompressed change");
    let again = schema::automerge::Change::from_bytes(chunk.to_vec()).unwrap();
    assert_eq!(again.hash(), change.hash());
}

/// A raw DEFLATE stream of `n` zero bytes.
fn deflated_zeros(n: usize) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(block.len());
        e.write_all(&block[..k]).unwrap();
        left -= k;
    }
    e.finish().unwrap()
}

fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    encode_chunk(kind, body)
}

fn message_with(chunks: Vec<Vec<u8>>) -> Vec<u8> {
    sync::Message {
        heads: vec![],
        need: vec![],
        have: vec![],
        changes: chunks.into(),
        flags: None,
        version: sync::MessageVersion::V1,
    }
    .encode()
}

#[test]
fn deflate_bombs_stop_at_the_limit() {
    // 1 GiB of zeros in about a megabyte: a compressed change...
    let bomb = deflated_zeros(1 << 30);
    let frame = message_with(vec![chunk(2, &bomb)]);
    let err = check_sync_message(&frame, &limits()).unwrap_err();
    assert!(err.too_large, "{err}");
    // ...and a document chunk's deflated column.
    // No actors, no heads, no change columns, one op column (id 4,
    // integer, deflated).
    let mut doc = vec![0, 0, 0, 1];
    reader::write_uleb(&mut doc, (4 << 4) | 0b1000 | 2);
    reader::write_uleb(&mut doc, bomb.len() as u64);
    doc.extend_from_slice(&bomb);
    let frame = message_with(vec![chunk(0, &doc)]);
    let err = check_sync_message(&frame, &limits()).unwrap_err();
    assert!(err.too_large, "{err}");
}

#[test]
fn bundles_and_unknown_chunks_are_refused() {
    for kind in [3u8, 7] {
        let frame = message_with(vec![chunk(kind, &[0; 4])]);
        assert!(check_sync_message(&frame, &limits()).is_err());
    }
}

#[test]
fn a_run_length_bomb_in_a_change_is_refused() {
    // A change whose action column is a run of 2^40 values.
    let mut body = Vec::new();
    body.push(0); // deps
    body.extend([1, 0xaa]); // actor
    body.push(1); // seq
    body.push(1); // start op
    body.push(0); // time
    body.push(0); // message
    body.push(0); // other actors
    body.push(1); // one column
    reader::write_uleb(&mut body, (4 << 4) | 2);
    let run = [0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x01];
    body.push(run.len() as u8);
    body.extend(run);
    let frame = message_with(vec![chunk(1, &body)]);
    let err = check_sync_message(&frame, &limits()).unwrap_err();
    assert!(err.too_large, "{err}");
}

#[test]
fn a_large_honest_edit_passes() {
    // Deleting 500,000 characters is a short change of many rows.
    let mut doc = doc_with_text(500_000);
    let text = doc.get(ROOT, "t").unwrap().unwrap().1;
    let before = doc.get_heads();
    let mut tx = doc.transaction();
    tx.splice_text(&text, 0, 500_000, "").unwrap();
    tx.commit();
    let change = doc.get_changes(&before).pop().unwrap();
    let frame = message_with(vec![change.raw_bytes().to_vec()]);
    assert!(frame.len() < 10_000, "{}", frame.len());
    check_sync_message(&frame, &limits()).unwrap();
}

#[test]
fn a_highly_compressible_whole_document_passes() {
    // A megabyte of one character deflates about a thousandfold: a whole
    // document (V2) message carrying it is honest and must pass.
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(ROOT, "padding", "y".repeat(4_000_000)).unwrap();
    tx.commit();
    let saved = doc.save();
    assert!(saved.len() < 20_000, "{}", saved.len());
    let frame = message_with(vec![saved]);
    check_sync_message(&frame, &limits()).unwrap();
}
