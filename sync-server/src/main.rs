use anyhow::Context;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use sync_server::config::{AgentLimits, RuntimePolicy, ServerLimits};
use sync_server::secrets::MasterKeySource;
use sync_server::{Config, Server};

/// cathode's sync server.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "CATHODE_BIND", default_value = "127.0.0.1:8787")]
    bind: SocketAddr,
    /// Database: sqlite://PATH (embedded, the default) or postgres://...
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Directory for the embedded SQLite database when no DATABASE_URL is set.
    #[arg(long, env = "CATHODE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Largest WebSocket frame accepted, in bytes.
    #[arg(long, env = "CATHODE_MAX_FRAME_BYTES", default_value_t = 8 * 1024 * 1024)]
    max_frame_bytes: usize,
    /// Largest blob accepted, in bytes.
    #[arg(long, env = "CATHODE_MAX_BLOB_BYTES", default_value_t = 64 * 1024 * 1024)]
    max_blob_bytes: usize,
    /// Write the owner token created on first start to this file (mode 0600).
    #[arg(long, env = "CATHODE_OWNER_TOKEN_FILE")]
    owner_token_file: Option<PathBuf>,
    /// File holding the secrets master key (64 hex characters; created if
    /// missing). Default with the embedded database: secrets.key in the data
    /// directory. Keep it, and its backups, apart from the database's.
    #[arg(
        long,
        env = "CATHODE_SECRETS_KEY_FILE",
        conflicts_with = "secrets_passphrase"
    )]
    secrets_key_file: Option<PathBuf>,
    /// Derive the secrets master key from this passphrase (Argon2id) instead
    /// of a key file.
    #[arg(long, env = "CATHODE_SECRETS_PASSPHRASE", hide_env_values = true)]
    secrets_passphrase: Option<String>,
    /// Open TCP connections at most (lowered to fit the open-file limit).
    #[arg(long, env = "CATHODE_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Open TCP connections from one IP address at most.
    #[arg(long, env = "CATHODE_MAX_CONNECTIONS_PER_IP", default_value_t = 512)]
    max_connections_per_ip: usize,
    /// Milliseconds a client has to send a request's headers.
    #[arg(long, env = "CATHODE_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Milliseconds without a byte either way before a connection is closed.
    #[arg(long, env = "CATHODE_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    idle_timeout_ms: u64,
    /// Milliseconds a WebSocket peer may stay silent (pings are sent every 30 s).
    #[arg(
        long,
        env = "CATHODE_WEBSOCKET_IDLE_TIMEOUT_MS",
        default_value_t = 90_000
    )]
    websocket_idle_timeout_ms: u64,
    /// Milliseconds a whole HTTP request may take, body included.
    #[arg(long, env = "CATHODE_REQUEST_TIMEOUT_MS", default_value_t = 300_000)]
    request_timeout_ms: u64,
    /// Milliseconds a peer's socket may take to accept a frame before the
    /// peer is closed as too slow (it resumes on reconnecting).
    #[arg(long, env = "CATHODE_PEER_WRITE_TIMEOUT_MS", default_value_t = 30_000)]
    peer_write_timeout_ms: u64,
    /// Presence updates relayed per peer per second (faster ones coalesce).
    #[arg(long, env = "CATHODE_PRESENCE_PER_SECOND", default_value_t = 20)]
    presence_per_second: u32,
    /// Milliseconds SIGTERM waits for rooms to finish their work.
    #[arg(long, env = "CATHODE_SHUTDOWN_TIMEOUT_MS", default_value_t = 10_000)]
    shutdown_timeout_ms: u64,
    /// The runtime-agent binary; by default the one beside this server's
    /// own executable, else `runtime-agent` on PATH.
    #[arg(long, env = "CATHODE_AGENT_BIN")]
    agent_bin: Option<PathBuf>,
    /// Milliseconds a notebook's room stays in memory with nobody connected.
    #[arg(long, env = "CATHODE_ROOM_UNLOAD_MS", default_value_t = 60_000)]
    room_unload_ms: u64,
    /// Do not start a notebook's agent when someone runs a cell with no
    /// agent connected (start it with POST /api/notebooks/{id}/runtime).
    #[arg(long, env = "CATHODE_NO_AUTO_RUNTIME")]
    no_auto_runtime: bool,
    /// The kernel for notebooks whose metadata names none.
    #[arg(long, env = "CATHODE_DEFAULT_KERNEL", default_value = "wasm-python")]
    default_kernel: String,
    /// Stop an agent whose notebook has had nobody connected and nothing
    /// running for this many minutes (fractions allowed; 0: never).
    #[arg(long, env = "CATHODE_RUNTIME_IDLE_MINUTES", default_value_t = 60.0)]
    runtime_idle_minutes: f64,
    /// Restart a crashed agent at most this many times ...
    #[arg(long, env = "CATHODE_RUNTIME_RESTART_LIMIT", default_value_t = 5)]
    runtime_restart_limit: u32,
    /// ... within this many minutes; then leave it dead.
    #[arg(
        long,
        env = "CATHODE_RUNTIME_RESTART_WINDOW_MINUTES",
        default_value_t = 10.0
    )]
    runtime_restart_window_minutes: f64,
    /// Milliseconds before the first restart of a crashed agent (doubling).
    #[arg(
        long,
        env = "CATHODE_RUNTIME_RESTART_BACKOFF_MS",
        default_value_t = 1000
    )]
    runtime_restart_backoff_ms: u64,
    /// Each agent's (and each of its kernels') writable memory, in MiB.
    #[arg(long, env = "CATHODE_AGENT_MEMORY_MB")]
    agent_memory_mb: Option<u64>,
    /// Each agent's CPU time, in seconds.
    #[arg(long, env = "CATHODE_AGENT_CPU_SECONDS")]
    agent_cpu_seconds: Option<u64>,
    /// Each agent's open files.
    #[arg(long, env = "CATHODE_AGENT_OPEN_FILES")]
    agent_open_files: Option<u64>,
    /// Where each notebook's folder (its kernel's working directory, the
    /// files API's files) lives: DIR/<notebook id>. Default: notebooks/ in
    /// the data directory.
    #[arg(long, env = "CATHODE_NOTEBOOK_FILES_DIR")]
    notebook_files_dir: Option<PathBuf>,
    /// The browser UI's build directory (web-client's `npm run build`);
    /// default: web-client/dist in the source tree this server was built from.
    #[arg(long, env = "CATHODE_WEB_DIR")]
    web_dir: Option<PathBuf>,
    /// AI providers (JSON: providers, keys, models); without it,
    /// CATHODE_AI_BASE_URL, CATHODE_AI_API_KEY and CATHODE_AI_MODELS
    /// configure one endpoint.
    #[arg(long, env = "CATHODE_AI_CONFIG")]
    ai_config: Option<PathBuf>,
}

fn minutes(value: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value * 60.0)
        .map_err(|_| anyhow::anyhow!("--{flag} must be a number of minutes, 0 or more"))
}

fn default_agent_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("runtime-agent")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("runtime-agent"))
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".local/share/cathode")
}

/// The data directory holds the database and the secrets key: created for
/// its owner alone (an existing one keeps its mode; the files in it are
/// 0600 either way).
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CATHODE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    // With the embedded database the key file defaults to the data
    // directory; with an explicit DATABASE_URL secrets need an explicit key.
    let mut default_key_file = None;
    let database_url = match args.database_url {
        Some(url) => url,
        None => {
            let dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
            create_private_dir(&dir)
                .with_context(|| format!("creating data directory {}", dir.display()))?;
            default_key_file = Some(dir.join("secrets.key"));
            let database = dir.join("cathode.sqlite");
            sync_server::limits::private_database_files(&database)
                .with_context(|| format!("creating {}", database.display()))?;
            format!("sqlite://{}", database.display())
        }
    };
    let secrets_key = match (args.secrets_passphrase, args.secrets_key_file) {
        (Some(passphrase), _) => Some(MasterKeySource::Passphrase(passphrase.into())),
        (None, Some(path)) => Some(MasterKeySource::KeyFile(path)),
        (None, None) => default_key_file.map(MasterKeySource::KeyFile),
    };
    if secrets_key.is_none() {
        tracing::warn!("secrets are disabled: no --secrets-key-file or CATHODE_SECRETS_PASSPHRASE");
    }
    let config = Config {
        bind: args.bind,
        database_url,
        max_frame_bytes: args.max_frame_bytes,
        max_blob_bytes: args.max_blob_bytes,
        owner_token_file: args.owner_token_file,
        secrets_key,
        agent_binary: args.agent_bin.unwrap_or_else(default_agent_binary),
        runtime: RuntimePolicy {
            auto_start: !args.no_auto_runtime,
            default_kernel: args.default_kernel,
            idle_after: Some(minutes(args.runtime_idle_minutes, "runtime-idle-minutes")?)
                .filter(|d| !d.is_zero()),
            restart_limit: args.runtime_restart_limit,
            restart_window: minutes(
                args.runtime_restart_window_minutes,
                "runtime-restart-window-minutes",
            )?,
            restart_backoff: Duration::from_millis(args.runtime_restart_backoff_ms),
            agent_limits: AgentLimits {
                memory_bytes: args.agent_memory_mb.map(|mb| mb.saturating_mul(1 << 20)),
                cpu_seconds: args.agent_cpu_seconds,
                open_files: args.agent_open_files,
            },
            notebook_files_dir: std::path::absolute(args.notebook_files_dir.unwrap_or_else(|| {
                let data = args.data_dir.clone().unwrap_or_else(default_data_dir);
                data.join("notebooks")
            }))
            .context("--notebook-files-dir")?,
        },
        ai: sync_server::ai_config::AiConfig::load(args.ai_config.as_deref())
            .map_err(|e| anyhow::anyhow!(e))?,
        web_dir: args
            .web_dir
            .unwrap_or_else(sync_server::web::default_web_dir),
        limits: ServerLimits {
            max_connections: args.max_connections,
            max_connections_per_ip: args.max_connections_per_ip,
            header_timeout: Duration::from_millis(args.header_timeout_ms),
            idle_timeout: Duration::from_millis(args.idle_timeout_ms),
            websocket_idle_timeout: Duration::from_millis(args.websocket_idle_timeout_ms),
            request_timeout: Duration::from_millis(args.request_timeout_ms),
            peer_write_timeout: Duration::from_millis(args.peer_write_timeout_ms),
            presence_per_second: args.presence_per_second,
            shutdown_timeout: Duration::from_millis(args.shutdown_timeout_ms),
            room_unload_after: Duration::from_millis(args.room_unload_ms),
            ..ServerLimits::default()
        },
    };
    let server = Server::bind(config).await.context("starting the server")?;
    let addr = server.local_addr()?;
    match &server.first_owner_token {
        Some(token) => println!("cathode sync-server: open http://{addr}/?token={token}"),
        None => println!(
            "cathode sync-server: open http://{addr}/ with the owner token printed on first start"
        ),
    }
    println!("cathode sync-server: listening on {addr}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    server.run(shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
