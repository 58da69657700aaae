//! Every input the fuzzers keep (`fuzz/regressions/<target>/`), run through
//! the same code as the fuzz target: what once crashed must now pass
//! through without a panic.

use std::path::PathBuf;

/// Read at run time: a test binary reused from a shared target folder may
/// have been built in another checkout, whose path `env!` would bake in.
fn regressions() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("../fuzz/regressions")
}

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = regressions().join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no regression inputs in {}",
        dir.display()
    );
    files
}

#[test]
fn frame_regressions() {
    for path in inputs("frame") {
        let data = std::fs::read(&path).unwrap();
        sync_server::guard::fuzzing::frame(&data);
    }
}

#[test]
fn sync_message_regressions() {
    for path in inputs("sync_message") {
        let data = std::fs::read(&path).unwrap();
        sync_server::guard::fuzzing::sync_message(&data);
    }
}

#[test]
fn the_empty_actor_crash_is_refused_by_the_guard() {
    let path = regressions().join("sync_message/empty-actor-id-panics-automerge-apply");
    let data = std::fs::read(path).unwrap();
    let limits = sync_server::guard::Limits::default();
    assert!(sync_server::guard::check_sync_message(&data, &limits).is_err());
}
