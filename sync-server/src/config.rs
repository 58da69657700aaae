use crate::secrets::MasterKeySource;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// The `runtime-agent` binary the server runs (never links: the two
    /// crates stay apart).
    pub agent_binary: PathBuf,
    pub runtime: RuntimePolicy,
    pub limits: ServerLimits,
    /// AI providers, keys included (never logged, never sent to browsers).
    pub ai: crate::ai_config::AiConfig,
    /// The browser UI's build (`web-client/`, `npm run build`), served at
    /// `/`, `/notebooks/{id}` and `/assets/` (see `web.rs`).
    pub web_dir: PathBuf,
}

/// How the server looks after notebooks' runtime agents.
#[derive(Clone, Debug)]
pub struct RuntimePolicy {
    /// A run request with no agent connected starts one.
    pub auto_start: bool,
    /// The kernel for a notebook whose metadata names none.
    pub default_kernel: String,
    /// An agent whose notebook has had nobody connected and nothing
    /// running for this long is stopped; `None`: never.
    pub idle_after: Option<Duration>,
    /// A crashed agent is restarted at most this many times within
    /// `restart_window`; past that it stays dead, its reason shown.
    pub restart_limit: u32,
    pub restart_window: Duration,
    /// The first restart waits this long; each further one twice as long.
    pub restart_backoff: Duration,
    pub agent_limits: AgentLimits,
    /// Holds one folder per notebook (`<this>/<notebook id>`), its
    /// kernel's working directory and what the files API serves; here,
    /// since the agents are started in it.
    pub notebook_files_dir: PathBuf,
}

/// Resource limits each agent process starts with (rlimits, inherited by
/// the kernel it starts, each counted per process). `None`: the server's own.
#[derive(Clone, Debug, Default)]
pub struct AgentLimits {
    /// RLIMIT_DATA: the process's writable private memory (heap and
    /// anonymous mappings; address space merely reserved, as WebAssembly
    /// guard regions are, does not count).
    pub memory_bytes: Option<u64>,
    /// RLIMIT_CPU: seconds of CPU time before the kernel sends SIGXCPU.
    pub cpu_seconds: Option<u64>,
    /// RLIMIT_NOFILE.
    pub open_files: Option<u64>,
}

impl Default for RuntimePolicy {
    fn default() -> Self {
        Self {
            auto_start: true,
            default_kernel: crate::runtimes::DEFAULT_KERNEL.to_owned(),
            idle_after: Some(Duration::from_secs(60 * 60)),
            restart_limit: 5,
            restart_window: Duration::from_secs(10 * 60),
            restart_backoff: Duration::from_secs(1),
            agent_limits: AgentLimits::default(),
            notebook_files_dir: PathBuf::from("notebooks"),
        }
    }
}

/// What one client may cost the server. Every default is safe on its own;
/// `main` exposes each as a flag.
#[derive(Clone, Debug)]
pub struct ServerLimits {
    /// Open TCP connections at most; past it the least recently active
    /// idle connection is closed to make room, or the new one is refused.
    pub max_connections: usize,
    /// Open TCP connections from one IP address at most.
    pub max_connections_per_ip: usize,
    /// Time to send a request's headers.
    pub header_timeout: Duration,
    /// A connection that neither sends nor receives anything for this long
    /// is closed (a request body that stalls included).
    pub idle_timeout: Duration,
    /// A WebSocket peer that sends nothing (not even a pong to our pings)
    /// for this long is closed.
    pub websocket_idle_timeout: Duration,
    /// A whole HTTP request, body included, at most.
    pub request_timeout: Duration,
    /// A peer whose socket does not take a frame within this is closed
    /// (`too_slow`); it resumes on reconnecting.
    pub peer_write_timeout: Duration,
    /// Presence updates relayed per peer per second; faster ones are
    /// coalesced (only the latest is relayed).
    pub presence_per_second: u32,
    /// Bytes of received sync frames a room may hold unread, in all.
    pub room_inbound_bytes: usize,
    /// How long SIGTERM waits for rooms and requests to finish.
    pub shutdown_timeout: Duration,
    /// A room with no peer for this long saves a snapshot and leaves
    /// memory; the next connection loads it again.
    pub room_unload_after: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_connections_per_ip: 512,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            websocket_idle_timeout: Duration::from_secs(90),
            request_timeout: Duration::from_secs(300),
            peer_write_timeout: Duration::from_secs(30),
            presence_per_second: 20,
            room_inbound_bytes: 64 << 20,
            shutdown_timeout: Duration::from_secs(10),
            room_unload_after: Duration::from_secs(60),
        }
    }
}
