use std::net::SocketAddr;
use std::path::PathBuf;

/// How the server runs; built from flags and environment by `main`.
#[derive(Clone, Debug)]
pub struct Config {
    pub bind: SocketAddr,
    /// `sqlite://...` (default, embedded) or `postgres://...`.
    pub database_url: String,
    /// Frames larger than this get an error frame and a closed connection.
    pub max_frame_bytes: usize,
    /// Largest blob accepted by PUT.
    pub max_blob_bytes: usize,
    /// Where to write the owner token created on first start (mode 0600).
    pub owner_token_file: Option<PathBuf>,
}

impl Config {
    pub fn for_tests(database_url: String) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url,
            max_frame_bytes: 8 * 1024 * 1024,
            max_blob_bytes: 64 * 1024 * 1024,
            owner_token_file: None,
        }
    }
}
