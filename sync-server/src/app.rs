//! Wiring: the store, the event log writer, the rooms and the HTTP router,
//! and an orderly shutdown that leaves nothing unflushed.

use crate::config::Config;
use crate::error::Result;
use crate::event_log::EventLog;
use crate::rooms::Rooms;
use crate::store::{SqlStore, Store, TokenScope};
use crate::{api, auth, connection, secrets};
use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::serve::ListenerExt;
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub rooms: Arc<Rooms>,
    pub config: Arc<Config>,
    pub vault: Arc<crate::secrets::Vault>,
}

/// A server bound to its address, not yet serving.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: AppState,
    log: EventLog,
    log_task: tokio::task::JoinHandle<()>,
    /// The owner token, present only on the very first start.
    pub first_owner_token: Option<String>,
}

impl Server {
    pub async fn bind(config: Config) -> Result<Self> {
        let store: Arc<dyn Store> = Arc::new(SqlStore::open(&config.database_url).await?);
        let first_owner_token = ensure_owner(store.as_ref(), &config).await?;
        let vault =
            crate::secrets::Vault::open(store.as_ref(), config.secrets_key.as_ref()).await?;
        let (log, log_task) = EventLog::start(store.clone());
        let rooms = Rooms::new(store.clone(), log.clone());
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        Ok(Self {
            listener,
            state: AppState {
                store,
                rooms,
                config: Arc::new(config),
                vault: Arc::new(vault),
            },
            log,
            log_task,
            first_owner_token,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serve until `shutdown` resolves, then close every room (each
    /// finishes its batch and snapshots), drain the event log and close the
    /// database.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let state = self.state.clone();
        let router = router(self.state.clone());
        // Every accepted socket gets TCP_NODELAY: Nagle plus delayed ACKs
        // would otherwise add tens of milliseconds to each small sync frame.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::warn!(error = %e, "could not set TCP_NODELAY");
            }
        });
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
            let mut stop_rx = stop_rx;
            let _ = stop_rx.wait_for(|s| *s).await;
        });
        let serving = tokio::spawn(async move { serve.await });
        shutdown.await;
        tracing::info!("shutting down: closing rooms");
        state.rooms.shut_down().await;
        let _ = stop_tx.send(true);
        // Connections still open are WebSockets already told to go away.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), serving).await;
        self.log.close().await;
        let _ = self.log_task.await;
        state.store.close().await;
        tracing::info!("shut down cleanly");
        Ok(())
    }
}

/// On first start (no users yet) create the owner and return its token.
async fn ensure_owner(store: &dyn Store, config: &Config) -> Result<Option<String>> {
    if store.user_count().await? > 0 {
        return Ok(None);
    }
    let owner = store.create_user("owner", true).await?;
    let token = auth::issue_token(store, &owner.id, &TokenScope::User).await?;
    if let Some(path) = &config.owner_token_file {
        write_private(path, &token)?;
    }
    Ok(Some(token))
}

/// Write a file only its owner can read (tokens, keys).
pub(crate) fn write_private(path: &std::path::Path, contents: &str) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

pub fn router(state: AppState) -> Router {
    let blob_limit = state.config.max_blob_bytes;
    Router::new()
        .route("/health", get(api::health))
        .route("/", get(index))
        .route("/api/me", get(api::me))
        .route(
            "/api/notebooks",
            post(api::create_notebook).get(api::list_notebooks),
        )
        .route("/api/notebooks/{id}", get(api::get_notebook))
        .route("/api/notebooks/{id}/grants", post(api::grant))
        .route(
            "/api/notebooks/{id}/runtime-tokens",
            post(api::create_runtime_token),
        )
        .route(
            "/api/notebooks/{id}/blobs",
            put(api::put_blob).layer(DefaultBodyLimit::max(blob_limit)),
        )
        .route("/api/notebooks/{id}/secrets", get(secrets::routes::list))
        .route(
            "/api/notebooks/{id}/secrets/{name}",
            put(secrets::routes::put).delete(secrets::routes::delete),
        )
        .route(
            "/api/notebooks/{id}/runtime/secrets",
            get(secrets::routes::reveal_for_runtime),
        )
        .route("/api/users", post(api::create_user))
        .route("/blobs/{sha256}", get(api::get_blob))
        .route("/ws", get(websocket))
        .with_state(state)
}

async fn index() -> axum::response::Html<&'static str> {
    axum::response::Html(concat!(
        "<!doctype html><meta charset=utf-8><title>cathode</title>",
        "<h1>cathode sync-server</h1>",
        "<p>The notebook UI is not served yet. The REST API is under <code>/api</code> ",
        "and peers connect to <code>/ws</code>.</p>"
    ))
}

async fn websocket(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    // Let frames somewhat over our limit through the WebSocket layer so that
    // we answer them with an error frame; far larger ones are cut off there.
    let ws_limit = state.config.max_frame_bytes.saturating_mul(4);
    upgrade
        .max_message_size(ws_limit)
        .max_frame_size(ws_limit)
        .on_upgrade(move |socket| connection::serve(socket, state))
}
