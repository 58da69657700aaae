//! Helpers for whole-system tests: a real `sync-server` process on a
//! loopback port with its own SQLite file, and small REST and raw-protocol
//! clients.

pub mod agent;
pub mod ai;
pub mod burst;
pub mod cells;
pub mod fake_llm;
pub mod history_text;
pub mod ipynb;
pub mod postgres;
pub mod probe;
pub mod raw;
pub mod runtime;
pub mod server;
pub mod stats;

pub use agent::{AgentOptions, TestAgent};
pub use server::{served_notebook, TestServer};

/// The heads every replica must reach once all have synced: those of all
/// their documents merged.
pub async fn merged_notebook_heads(
    clients: &[cathode_client::NotebookClient],
) -> Vec<schema::automerge::ChangeHash> {
    let mut merged = schema::automerge::Automerge::new();
    for c in clients {
        if let Ok(mut doc) = c.notebook(|nb| nb.automerge().clone()).await {
            let _ = merged.merge(&mut doc);
        }
    }
    let mut heads = merged.get_heads();
    heads.sort();
    heads
}

/// This package's folder in the checkout the tests run from. Read at run
/// time: a test binary reused from a shared target folder may have been
/// built in another checkout, whose path `env!` would have baked in.
pub fn package_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
