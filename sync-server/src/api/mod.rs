//! The REST API: notebooks, users, grants, tokens and blobs (secrets are
//! in `secrets::routes`). Every error is JSON `{"error": code, "message":
//! ...}` with a fitting status.
//!
//! Authentication happens in [`require_token`], a layer in front of every
//! authenticated route, before any handler runs and so before any request
//! body is read: an anonymous client cannot make the server buffer a body.

mod ai;
mod blobs;
mod files;
mod history;
mod ipynb;
mod kernelspecs;
mod notebooks;
mod runtime;
mod tokens;
mod users;

pub use ai::{for_runtime as ai_for_runtime, models as ai_models};
pub use blobs::{get_blob, put_blob};
pub use files::{delete_file, get_file, list_files, put_file};
pub use history::{history, notebook_at};
pub use ipynb::{export_notebook, import_notebook};
pub use kernelspecs::kernelspecs;
pub use notebooks::{
    create_notebook, get_notebook, grant, list_notebooks, preview_notebook, rename_notebook,
};
pub use runtime::{runtime_status, start_runtime, stop_runtime};
pub use tokens::{create_runtime_token, create_token, list_tokens, revoke_token};
pub use users::{create_user, me};

use crate::app::AppState;
use crate::auth::{self, Principal};
use crate::store::{MintedAs, NotebookRecord, TokenScope};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use schema::wire::Role;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// Something failed on the server's side; the caller learns no more
    /// (whoever failed logs the cause).
    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }
    /// The server cannot run the notebook's agent (binary missing, kernel
    /// listing failed, the supervisor refused).
    pub(crate) fn runtime_unavailable(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::warn!(%message, "runtime unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "runtime_unavailable",
            message,
        )
    }
}

impl From<crate::error::ServerError> for ApiError {
    fn from(e: crate::error::ServerError) -> Self {
        tracing::error!(error = %e, "request failed");
        Self::internal()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": self.code, "message": self.message})),
        )
            .into_response()
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// The token from `Authorization: Bearer`, or from `?token=` on a GET or
/// HEAD: a query string is fine for a link or an image, but it lands in
/// histories and logs, so nothing that changes state accepts one.
fn token_from(request: &Request) -> Result<Option<String>, ApiError> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        return Ok(token);
    }
    let query = request.uri().query().unwrap_or("");
    let from_query = query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "token").then(|| v.to_owned())
    });
    match from_query {
        Some(_) if !matches!(*request.method(), Method::GET | Method::HEAD) => {
            Err(ApiError::unauthorized(
                "?token= is accepted on GET requests only (links and images); \
                 send the token as Authorization: Bearer",
            ))
        }
        other => Ok(other),
    }
}

/// Authenticate, then hand the [`Principal`] to the handler in the
/// request's extensions.
pub async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = match token_from(&request) {
        Ok(Some(t)) => t,
        Ok(None) => return ApiError::unauthorized("a valid token is required").into_response(),
        Err(e) => return e.into_response(),
    };
    match auth::authenticate(state.store.as_ref(), &token).await {
        Ok(Some(who)) => {
            request.extensions_mut().insert(who);
            next.run(request).await
        }
        Ok(None) => ApiError::unauthorized("a valid token is required").into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The caller's role in a notebook; a missing notebook and no access look alike.
pub(crate) async fn role(
    state: &AppState,
    who: &Principal,
    notebook_id: &str,
) -> ApiResult<(NotebookRecord, Role)> {
    let notebook = state.store.notebook(notebook_id).await?;
    let role = auth::role_in(state.store.as_ref(), who, notebook_id).await?;
    match (notebook, role) {
        (Some(n), Some(r)) => Ok((n, r)),
        _ => Err(ApiError::not_found(format!("no notebook {notebook_id}"))),
    }
}

/// The caller may start and stop the notebook's runtime (and mint its
/// tokens): an owner or editor acting as themselves, not through a runtime
/// token. Returns the role a token they mint carries.
pub(crate) async fn runtime_manager(
    state: &AppState,
    who: &Principal,
    notebook_id: &str,
) -> ApiResult<MintedAs> {
    let (_, my_role) = role(state, who, notebook_id).await?;
    match (my_role, &who.scope) {
        (Role::Owner, TokenScope::User) => Ok(MintedAs::Owner),
        (Role::Editor, TokenScope::User) => Ok(MintedAs::Editor),
        _ => Err(ApiError::forbidden(
            "only an owner or editor can start or stop a runtime",
        )),
    }
}

/// A JSON body, or a 400 naming what is wrong with it.
pub(crate) fn json_body<T>(
    body: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<T> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// A display name: trimmed, 1 to `max` characters (not bytes: a name in
/// emoji is as long as it looks).
pub(crate) fn display_name(raw: &str, max: usize) -> ApiResult<String> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > max {
        return Err(ApiError::bad_request(format!(
            "name must be 1 to {max} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "name may not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

pub async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok", "schema_version": schema::SCHEMA_VERSION}))
}
