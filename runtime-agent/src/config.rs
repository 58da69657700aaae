use std::path::PathBuf;
use std::time::Duration;

/// How the agent runs; built from flags and environment by `main`.
#[derive(Clone, Debug)]
pub struct Config {
    pub server_url: String,
    pub token: String,
    pub notebook_id: String,
    /// `wasm-python`, or the name of an installed Jupyter kernelspec.
    pub kernel: String,
    /// How long a lease lasts without renewal.
    pub lease_ttl: Duration,
    /// Outputs are written at most this often while a cell runs.
    pub flush_interval: Duration,
    /// Shown in the runtime document as the lease holder.
    pub agent_name: String,
    /// The kernel's working directory (absolute), the notebook's folder
    /// when the server starts the agent. `None`: the agent's own, for a
    /// Jupyter kernel, and `/` (nothing of the host) for wasm-python.
    pub workdir: Option<PathBuf>,
    /// IPython's history file for an ipykernel (`:memory:` for headless
    /// runs); `None`: IPython's default.
    pub ipython_hist_file: Option<String>,
}

impl Config {
    pub fn renew_every(&self) -> Duration {
        self.lease_ttl / 3
    }
}
