use crate::secrets::MasterKeySource;
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
    /// The secrets master key's source; `None` disables secrets.
    pub secrets_key: Option<MasterKeySource>,
}
