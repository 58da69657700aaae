//! The browser UI's static files (`web-client/`, built by `npm run build`
//! into `--web-dir`): the page at `/` (the notebook list) and at
//! `/notebooks/{id}`, its hashed assets under `/assets/`, and the page that
//! output HTML runs in (`/sandbox/output-frame.html`).
//!
//! Every page carries a strict Content-Security-Policy: the UI runs only
//! its own bundle (plus Automerge's WebAssembly), talks only to this
//! server, and is never framed. Output HTML and JavaScript never run in the
//! UI's page: they run in `sandbox="allow-scripts"` iframes without
//! `allow-same-origin`, loaded from the frame page, whose own policy also
//! sandboxes it (so even opened directly it has an opaque origin and cannot
//! read the UI's storage or token) and lets it connect nowhere.

use crate::app::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The UI's policy: its own scripts and wasm, its own server, no framing.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
     connect-src 'self'; frame-src 'self'; worker-src 'self' blob:; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The output frame's policy: scripts may run (outputs need them), in a
/// sandbox with an opaque origin, and may fetch nothing.
pub const FRAME_CSP: &str = "sandbox allow-scripts; default-src 'none'; \
     script-src 'unsafe-inline' 'unsafe-eval' https: data: blob:; \
     style-src 'unsafe-inline' https: data:; img-src data: blob: https:; \
     font-src data: https:; media-src data: blob:; connect-src 'none'; \
     form-action 'none'; base-uri 'none'";

const FRAME_PAGE: &str = "sandbox/output-frame.html";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/notebooks/{id}", get(notebook_page))
        .route("/assets/{*path}", get(asset))
        .route("/sandbox/output-frame.html", get(frame_page))
        .route("/sw.js", get(service_worker))
}

async fn index(State(state): State<AppState>) -> Response {
    page(&state).await
}

async fn notebook_page(State(state): State<AppState>, Path(_id): Path<String>) -> Response {
    page(&state).await
}

async fn page(state: &AppState) -> Response {
    let path = state.config.web_dir.join("index.html");
    match tokio::fs::read(&path).await {
        Ok(body) => with_headers(body, "text/html; charset=utf-8", PAGE_CSP, "no-store"),
        Err(_) => not_built(state),
    }
}

/// The UI has not been built: say how, rather than serve a blank page.
fn not_built(state: &AppState) -> Response {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>cathode</title>\
         <h1>cathode sync-server</h1><p>The notebook UI is not built in <code>{}</code>. \
         Run <code>bash scripts/run.sh</code>, or <code>npm ci &amp;&amp; npm run build</code> \
         in <code>web-client/</code>, or point <code>--web-dir</code> at a build. \
         The REST API is under <code>/api</code> and peers connect to <code>/ws</code>.</p>",
        html_escape(&state.config.web_dir.display().to_string())
    );
    with_headers(
        body.into_bytes(),
        "text/html; charset=utf-8",
        PAGE_CSP,
        "no-store",
    )
}

async fn frame_page(State(state): State<AppState>) -> Response {
    let path = state.config.web_dir.join(FRAME_PAGE);
    match tokio::fs::read(&path).await {
        Ok(body) => with_headers(body, "text/html; charset=utf-8", FRAME_CSP, "no-cache"),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The page's service worker (web-client `worker/`), at the root so that
/// its scope covers every page. Never cached by HTTP: a new build's worker
/// must be seen at once.
async fn service_worker(State(state): State<AppState>) -> Response {
    match tokio::fs::read(state.config.web_dir.join("sw.js")).await {
        Ok(body) => with_headers(body, "text/javascript; charset=utf-8", PAGE_CSP, "no-cache"),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A file of the build under `/assets/`: only plain names (letters,
/// digits, `.`, `-`, `_`, not starting with a dot) in at most two levels,
/// so nothing outside the build directory can be named.
async fn asset(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    let parts: Vec<&str> = path.split('/').collect();
    let plain = |p: &&str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.len() <= 128
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    };
    if parts.len() > 2 || !parts.iter().all(plain) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(content_type) = content_type(&path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let file = parts
        .iter()
        .fold(state.config.web_dir.clone(), |dir, p| dir.join(p));
    match tokio::fs::read(&file).await {
        // Names carry a content hash: cached for good. The page itself
        // (index.html) is never cached, so a new build is picked up.
        Ok(body) => with_headers(
            body,
            content_type,
            PAGE_CSP,
            "public, max-age=31536000, immutable",
        ),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

fn content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1;
    Some(match ext {
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "map" => "application/json",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => return None,
    })
}

fn with_headers(body: Vec<u8>, content_type: &str, csp: &str, cache: &str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    let set = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static(""));
    headers.insert(header::CONTENT_TYPE, set(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, set(csp));
    headers.insert(header::CACHE_CONTROL, set(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Where `npm run build` writes the UI in this source tree: the default
/// `--web-dir` for a server built from it.
pub fn default_web_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-client/dist")
}
