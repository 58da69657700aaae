//! Wiring: the store, the event log writer, the rooms and the HTTP router,
//! and an orderly shutdown that leaves nothing unflushed.

use crate::config::Config;
use crate::error::Result;
use crate::event_log::EventLog;
use crate::http::ConnectionActivity;
use crate::rooms::Rooms;
use crate::store::{NewToken, SqlStore, Store, TokenScope};
use crate::{api, auth, connection, secrets};
use axum::extract::{DefaultBodyLimit, Request, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Router};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub rooms: Arc<Rooms>,
    pub config: Arc<Config>,
    pub vault: Arc<crate::secrets::Vault>,
    pub runtimes: crate::runtimes::Runtimes,
    /// This server as its own peers on this machine reach it (agents, MCP).
    pub self_url: String,
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
    pub async fn bind(mut config: Config) -> Result<Self> {
        let descriptors = crate::limits::raise_descriptor_limit();
        // Keep room for the database, kernels' pipes and the like: a
        // server that cannot open a file is worse than one that refuses a
        // connection.
        let ceiling = descriptors.saturating_sub(64).max(16) as usize;
        if config.limits.max_connections > ceiling {
            tracing::info!(
                descriptors,
                max_connections = ceiling,
                "connection limit lowered to fit the descriptor limit"
            );
            config.limits.max_connections = ceiling;
        }
        if !crate::runtimes::valid_kernel_name(&config.runtime.default_kernel) {
            return Err(crate::error::ServerError::Config(format!(
                "--default-kernel {:?} is not a kernel name",
                config.runtime.default_kernel
            )));
        }
        let store: Arc<dyn Store> = Arc::new(SqlStore::open(&config.database_url).await?);
        let first_owner_token = ensure_owner(store.as_ref(), &config).await?;
        let vault =
            crate::secrets::Vault::open(store.as_ref(), config.secrets_key.as_ref()).await?;
        let (log, log_task) = EventLog::start(store.clone());
        let inbound = config
            .limits
            .room_inbound_bytes
            .max(4 * config.max_frame_bytes);
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let bound = listener.local_addr()?;
        // Agents reach the server over loopback when it listens everywhere.
        let agent_host = if bound.ip().is_unspecified() {
            std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), bound.port())
        } else {
            bound
        };
        // Agents of an earlier run of this server (one that was killed, so
        // could not stop them) lose their tokens: any still alive is cut
        // off, and a new agent takes over its notebook's lease when needed.
        let revoked = store.delete_server_minted_tokens().await?;
        if revoked > 0 {
            tracing::info!(revoked, "revoked the agent tokens of an earlier run");
        }
        let runtimes = crate::runtimes::Runtimes::start(
            config.agent_binary.clone(),
            format!("http://{agent_host}"),
            store.clone(),
            config.runtime.clone(),
        );
        let rooms = Rooms::new(
            store.clone(),
            log.clone(),
            Arc::new(crate::guard::Limits::default()),
            inbound,
            config.limits.room_unload_after,
            Some(runtimes.report_sink()),
        );
        Ok(Self {
            listener,
            state: AppState {
                store,
                rooms,
                config: Arc::new(config),
                vault: Arc::new(vault),
                runtimes,
                self_url: format!("http://{agent_host}"),
            },
            log,
            log_task,
            first_owner_token,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serve until `shutdown` resolves. Then stop accepting at once, let
    /// every room finish the batch in hand and snapshot (within the
    /// shutdown timeout), drain the event log and close the database.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let state = self.state.clone();
        let router = router(self.state.clone());
        let limits = state.config.limits.clone();
        let deadline = limits.shutdown_timeout;
        let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(crate::http::serve(
            self.listener,
            router,
            limits,
            async move {
                let _ = stopped_rx.await;
            },
        ));
        shutdown.await;
        tracing::info!("shutting down: no longer accepting connections");
        let _ = stopped_tx.send(());
        let tracker = serving.await.ok();
        // Agents first, while their connections still stand: each marks its
        // session dead and releases its lease on the way out.
        state.runtimes.stop_all().await;
        state.rooms.shut_down(deadline).await;
        // Give the writers a moment to deliver the rooms' goodbyes.
        if let Some(tracker) = tracker {
            let until = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
            while tracker.open() > 0 && tokio::time::Instant::now() < until {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
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
    let (token, _) = auth::issue_token(
        store,
        &NewToken {
            user_id: &owner.id,
            issued_by: "server",
            scope: &TokenScope::User,
            minted_as: None,
            expires_at_ms: None,
            label: Some("owner, created on first start"),
        },
    )
    .await?;
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
    let mcp = crate::mcp::routes(state.self_url.clone(), state.config.bind.ip().to_string());
    let authenticated = Router::new()
        .merge(mcp)
        .route("/api/me", get(api::me))
        .route("/api/kernelspecs", get(api::kernelspecs))
        .route("/api/ai/models", get(api::ai_models))
        .route("/api/notebooks/{id}/runtime/ai", get(api::ai_for_runtime))
        .route(
            "/api/notebooks/{id}/runtime",
            get(api::runtime_status)
                .post(api::start_runtime)
                .delete(api::stop_runtime),
        )
        .route(
            "/api/notebooks",
            post(api::create_notebook).get(api::list_notebooks),
        )
        .route(
            "/api/notebooks/import",
            post(api::import_notebook).layer(DefaultBodyLimit::max(blob_limit)),
        )
        .route(
            "/api/notebooks/{id}",
            get(api::get_notebook).patch(api::rename_notebook),
        )
        .route("/api/notebooks/{id}/ipynb", get(api::export_notebook))
        .route("/api/notebooks/{id}/preview", get(api::preview_notebook))
        .route("/api/notebooks/{id}/history", get(api::history))
        .route("/api/notebooks/{id}/history/{seq}", get(api::notebook_at))
        .route("/api/notebooks/{id}/grants", post(api::grant))
        .route(
            "/api/notebooks/{id}/runtime-tokens",
            post(api::create_runtime_token),
        )
        .route(
            "/api/notebooks/{id}/blobs",
            put(api::put_blob).layer(DefaultBodyLimit::max(blob_limit)),
        )
        .route("/api/notebooks/{id}/files", get(api::list_files))
        .route("/api/notebooks/{id}/files/", get(api::list_files))
        .route(
            "/api/notebooks/{id}/files/{*path}",
            get(api::get_file)
                .put(api::put_file)
                .delete(api::delete_file),
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
        .route("/api/tokens", get(api::list_tokens).post(api::create_token))
        .route("/api/tokens/{id}", axum::routing::delete(api::revoke_token))
        .route("/api/users", post(api::create_user))
        .route("/blobs/{sha256}", get(api::get_blob))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            api::require_token,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_deadline,
        ));
    Router::new()
        .route("/health", get(api::health))
        .merge(crate::web::routes())
        .route("/ws", get(websocket))
        .merge(authenticated)
        .with_state(state)
}

/// A whole request, body included, gets `request_timeout`.
async fn request_deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.config.limits.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => api::ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!("the request took longer than {} s", limit.as_secs()),
        )
        .into_response(),
    }
}

async fn websocket(
    State(state): State<AppState>,
    connection: Option<Extension<ConnectionActivity>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Some(Extension(ConnectionActivity(activity))) = connection {
        activity.upgraded.store(true, Ordering::Relaxed);
    }
    // A frame somewhat over our limit still reaches us, to be answered with
    // an error frame; a larger one is cut off by the WebSocket layer. Either
    // way a connection buffers at most this much, before hello included.
    let ws_limit = state
        .config
        .max_frame_bytes
        .saturating_add(state.config.max_frame_bytes / 4 + 64 * 1024);
    upgrade
        .max_message_size(ws_limit)
        .max_frame_size(ws_limit)
        .on_upgrade(move |socket| connection::serve(socket, state))
}
