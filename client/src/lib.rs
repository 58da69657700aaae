//! The library every Rust peer of cathode uses: the runtime agent, the
//! tests, later the SDK and CLI.
//!
//! A [`NotebookClient`] keeps local replicas of a notebook's two documents
//! and keeps them in sync with the server over one WebSocket. The replicas
//! and the connection are owned by one task; callers reach them by sending
//! closures ([`NotebookClient::notebook`], [`NotebookClient::edit_notebook`])
//! and learn of changes by awaiting a revision counter, never by polling.
//! When the connection drops, the task keeps accepting local edits and
//! reconnects with backoff; the Automerge sync protocol then exchanges
//! whatever either side missed, so nothing made offline is lost.

mod connection;
mod error;
mod kernel_port;
mod replica;

pub use error::{ClientError, Result};
pub use kernel_port::IncomingKernelRequest;
pub use replica::{ConnectionState, NotebookClient, PeerPresence};

/// Where and who to connect as.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `ws://host:port/ws`, or `http://host:port` (the path is added).
    pub server_url: String,
    pub token: String,
    pub notebook_id: String,
    /// First reconnect delay; doubles up to `max_backoff`.
    pub min_backoff: std::time::Duration,
    pub max_backoff: std::time::Duration,
}

impl ClientConfig {
    pub fn new(server_url: &str, token: &str, notebook_id: &str) -> Self {
        Self {
            server_url: server_url.to_owned(),
            token: token.to_owned(),
            notebook_id: notebook_id.to_owned(),
            min_backoff: std::time::Duration::from_millis(50),
            max_backoff: std::time::Duration::from_secs(5),
        }
    }

    pub(crate) fn ws_url(&self) -> String {
        let base = self.server_url.trim_end_matches('/');
        let base = if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else {
            base.to_owned()
        };
        if base.ends_with("/ws") {
            base
        } else {
            format!("{base}/ws")
        }
    }
}
