//! Where the time goes when a big notebook is opened: building, saving,
//! loading from a snapshot, replaying changes, and a first sync.
mod common;
use schema::automerge::sync::{self, SyncDoc};
use schema::automerge::Automerge;
use schema::NotebookDoc;
use std::time::Instant;

fn main() {
    let t = Instant::now();
    let nb = common::two_hundred_cells();
    println!("build 200 cells: {:?}", t.elapsed());
    let t = Instant::now();
    let saved = nb.automerge().save();
    println!("save: {:?} ({} bytes)", t.elapsed(), saved.len());
    let t = Instant::now();
    let loaded = Automerge::load(&saved).unwrap();
    println!("load snapshot: {:?}", t.elapsed());
    let changes = nb.automerge().get_changes(&[]);
    let t = Instant::now();
    let mut replay = Automerge::new();
    replay.apply_changes(changes.clone()).unwrap();
    println!("apply {} changes: {:?}", changes.len(), t.elapsed());
    let t = Instant::now();
    let mut bytes = Vec::new();
    for mut c in changes {
        bytes.extend_from_slice(&c.bytes());
    }
    let mut inc = Automerge::new();
    inc.load_incremental(&bytes).unwrap();
    println!("load_incremental of all changes: {:?}", t.elapsed());
    let t = Instant::now();
    let mut client = Automerge::new();
    let (mut s1, mut s2) = (sync::State::new(), sync::State::new());
    let mut rounds = 0;
    loop {
        let a = loaded.generate_sync_message(&mut s1);
        let b = client.generate_sync_message(&mut s2);
        if a.is_none() && b.is_none() {
            break;
        }
        rounds += 1;
        if let Some(m) = a {
            let m = sync::Message::decode(&m.encode()).unwrap();
            client.receive_sync_message(&mut s2, m).unwrap();
        }
        if let Some(m) = b {
            let m = sync::Message::decode(&m.encode()).unwrap();
            let mut l = loaded.clone();
            l.receive_sync_message(&mut s1, m).unwrap();
        }
    }
    println!(
        "first sync to an empty peer: {:?} ({rounds} rounds)",
        t.elapsed()
    );
    let t = Instant::now();
    let n = NotebookDoc::from_automerge(client)
        .unwrap()
        .cells()
        .unwrap()
        .len();
    println!("read {n} cells: {:?}", t.elapsed());
}
