use anyhow::Context;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
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
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".local/share/cathode")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CATHODE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // With the embedded database the key file defaults to the data
    // directory; with an explicit DATABASE_URL secrets need an explicit key.
    let mut default_key_file = None;
    let database_url = match args.database_url {
        Some(url) => url,
        None => {
            let dir = args.data_dir.unwrap_or_else(default_data_dir);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating data directory {}", dir.display()))?;
            default_key_file = Some(dir.join("secrets.key"));
            format!("sqlite://{}", dir.join("cathode.sqlite").display())
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
