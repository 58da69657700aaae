//! The REST API: notebooks, users, grants, runtime tokens and blobs.
//! Every error is JSON `{"error": code, "message": ...}` with a fitting status.

use crate::app::AppState;
use crate::auth::{self, Principal};
use crate::store::{NotebookRecord, TokenScope};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use schema::wire::Role;
use schema::{NotebookDoc, RuntimeDoc};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

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
    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid token is required",
        )
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
}

impl From<crate::error::ServerError> for ApiError {
    fn from(e: crate::error::ServerError) -> Self {
        tracing::error!(error = %e, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
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

/// The token from `Authorization: Bearer`, or `?token=` for links and images.
fn token_from(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .or_else(|| query.get("token").cloned())
}

pub(crate) async fn principal(
    state: &AppState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> ApiResult<Principal> {
    let token = token_from(headers, query).ok_or_else(ApiError::unauthorized)?;
    auth::authenticate(state.store.as_ref(), &token)
        .await?
        .ok_or_else(ApiError::unauthorized)
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

pub async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok", "schema_version": schema::SCHEMA_VERSION}))
}

pub async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<serde_json::Value>> {
    let who = principal(&state, &headers, &query).await?;
    let runtime_notebook = match &who.scope {
        TokenScope::Runtime { notebook_id } => Some(notebook_id.clone()),
        TokenScope::User => None,
    };
    Ok(Json(json!({
        "user_id": who.user.id,
        "name": who.user.name,
        "is_admin": who.user.is_admin,
        "runtime_notebook": runtime_notebook,
    })))
}

#[derive(Deserialize)]
pub struct CreateNotebook {
    name: String,
}

pub async fn create_notebook(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Result<Json<CreateNotebook>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let who = principal(&state, &headers, &query).await?;
    if who.scope != TokenScope::User {
        return Err(ApiError::forbidden(
            "runtime tokens cannot create notebooks",
        ));
    }
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::bad_request("name must be 1 to 200 characters"));
    }
    let record = NotebookRecord {
        id: format!("nb-{}", uuid::Uuid::new_v4().simple()),
        name: name.to_owned(),
        created_by: who.user.id.clone(),
        created_at_ms: schema::clock::now_ms(),
    };
    let notebook = NotebookDoc::create(&record.id).map_err(crate::error::ServerError::from)?;
    let runtime = RuntimeDoc::create(&record.id).map_err(crate::error::ServerError::from)?;
    let rows = crate::room::initial_rows(
        &record.id,
        &who.user.name,
        notebook.automerge(),
        runtime.automerge(),
    );
    state.store.create_notebook(&record, &rows).await?;
    tracing::info!(notebook_id = %record.id, "notebook created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": record.id, "name": record.name, "role": "owner"})),
    ))
}

pub async fn list_notebooks(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<serde_json::Value>> {
    let who = principal(&state, &headers, &query).await?;
    let listed: Vec<serde_json::Value> = match &who.scope {
        TokenScope::Runtime { notebook_id } => match state.store.notebook(notebook_id).await? {
            Some(n) => vec![json!({"id": n.id, "name": n.name, "role": "runtime"})],
            None => vec![],
        },
        TokenScope::User => state
            .store
            .notebooks_for_user(&who.user.id, who.user.is_admin)
            .await?
            .into_iter()
            .map(|(n, role)| {
                let role = if who.user.is_admin { Role::Owner } else { role.unwrap_or(Role::Viewer) };
                json!({"id": n.id, "name": n.name, "role": role.as_str(), "created_at_ms": n.created_at_ms})
            })
            .collect(),
    };
    Ok(Json(json!({ "notebooks": listed })))
}

pub async fn get_notebook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<serde_json::Value>> {
    let who = principal(&state, &headers, &query).await?;
    let (n, role) = role(&state, &who, &id).await?;
    Ok(Json(
        json!({"id": n.id, "name": n.name, "role": role.as_str(), "created_at_ms": n.created_at_ms}),
    ))
}

#[derive(Deserialize)]
pub struct CreateUser {
    name: String,
    #[serde(default)]
    is_admin: bool,
}

pub async fn create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Result<Json<CreateUser>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let who = principal(&state, &headers, &query).await?;
    if !(who.user.is_admin && who.scope == TokenScope::User) {
        return Err(ApiError::forbidden("only a server admin can create users"));
    }
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::bad_request("name must be 1 to 100 characters"));
    }
    let user = state.store.create_user(name, body.is_admin).await?;
    let token = auth::issue_token(state.store.as_ref(), &user.id, &TokenScope::User).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user_id": user.id, "name": user.name, "token": token})),
    ))
}

#[derive(Deserialize)]
pub struct Grant {
    user_id: String,
    role: String,
}

pub async fn grant(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Result<Json<Grant>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<StatusCode> {
    let who = principal(&state, &headers, &query).await?;
    let (_, my_role) = role(&state, &who, &id).await?;
    if my_role != Role::Owner {
        return Err(ApiError::forbidden("only an owner can grant roles"));
    }
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let role = match Role::parse(&body.role) {
        Some(r @ (Role::Owner | Role::Editor | Role::Viewer)) => r,
        _ => {
            return Err(ApiError::bad_request(
                "role must be owner, editor or viewer",
            ))
        }
    };
    if state.store.user(&body.user_id).await?.is_none() {
        return Err(ApiError::not_found(format!("no user {}", body.user_id)));
    }
    state.store.set_grant(&id, &body.user_id, role).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_runtime_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let who = principal(&state, &headers, &query).await?;
    let (_, my_role) = role(&state, &who, &id).await?;
    if !matches!(my_role, Role::Owner | Role::Editor) || who.scope != TokenScope::User {
        return Err(ApiError::forbidden(
            "only an owner or editor can start a runtime",
        ));
    }
    let scope = TokenScope::Runtime {
        notebook_id: id.clone(),
    };
    let token = auth::issue_token(state.store.as_ref(), &who.user.id, &scope).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "notebook_id": id})),
    ))
}

pub async fn put_blob(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let who = principal(&state, &headers, &query).await?;
    let (_, my_role) = role(&state, &who, &id).await?;
    if my_role != Role::Runtime {
        return Err(ApiError::forbidden(
            "only the notebook's runtime stores blobs",
        ));
    }
    let sha256 = hex::encode(Sha256::digest(&body));
    state.store.put_blob(&id, &sha256, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"sha256": sha256, "size": body.len()})),
    ))
}

pub async fn get_blob(
    State(state): State<AppState>,
    Path(sha256): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let who = principal(&state, &headers, &query).await?;
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "a blob is named by its sha256 in hex",
        ));
    }
    let sha256 = sha256.to_ascii_lowercase();
    let mut allowed = false;
    for notebook_id in state.store.blob_notebooks(&sha256).await? {
        if auth::role_in(state.store.as_ref(), &who, &notebook_id)
            .await?
            .is_some()
        {
            allowed = true;
            break;
        }
    }
    // Forbidden and missing look the same: a token learns nothing about
    // other notebooks' outputs.
    let bytes = match allowed {
        true => state.store.blob(&sha256).await?,
        false => None,
    }
    .ok_or_else(|| ApiError::not_found(format!("no blob {sha256}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable",
            ),
        ],
        bytes,
    )
        .into_response())
}
