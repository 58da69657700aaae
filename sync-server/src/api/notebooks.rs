//! Notebooks and who may do what in them.

use super::{display_name, json_body, role, ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::Principal;
use crate::room::RoomCommand;
use crate::rooms::Asked;
use crate::store::{NotebookRecord, TokenScope};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use schema::wire::Role;
use schema::{NotebookDoc, RuntimeDoc};
use serde::Deserialize;
use serde_json::json;

/// Longest notebook name, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 200;

#[derive(Deserialize)]
pub struct CreateNotebook {
    name: String,
}

pub async fn create_notebook(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Result<Json<CreateNotebook>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    if who.scope != TokenScope::User {
        return Err(ApiError::forbidden(
            "runtime tokens cannot create notebooks",
        ));
    }
    let body = json_body(body)?;
    let name = display_name(&body.name, MAX_NAME_CHARS)?;
    let id = new_notebook_id();
    let notebook = NotebookDoc::create(&id).map_err(crate::error::ServerError::from)?;
    let runtime = RuntimeDoc::create(&id).map_err(crate::error::ServerError::from)?;
    let record = store_new_notebook(&state, &who, id, name, &notebook, &runtime).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": record.id, "name": record.name, "role": "owner"})),
    ))
}

pub(crate) fn new_notebook_id() -> String {
    format!("nb-{}", uuid::Uuid::new_v4().simple())
}

/// Store a new notebook whose two documents the server wrote: their
/// changes become the log's first rows, the caller its owner.
pub(crate) async fn store_new_notebook(
    state: &AppState,
    who: &Principal,
    id: String,
    name: String,
    notebook: &NotebookDoc,
    runtime: &RuntimeDoc,
) -> ApiResult<NotebookRecord> {
    let record = NotebookRecord {
        id,
        name,
        created_by: who.user.id.clone(),
        created_at_ms: schema::clock::now_ms(),
    };
    let rows = crate::room::initial_rows(
        &record.id,
        &who.user.name,
        notebook.automerge(),
        runtime.automerge(),
    );
    state.store.create_notebook(&record, &rows).await?;
    crate::room::initial_snapshots(
        state.store.as_ref(),
        &record.id,
        notebook.automerge(),
        runtime.automerge(),
        &rows,
    )
    .await;
    tracing::info!(notebook_id = %record.id, "notebook created");
    Ok(record)
}

pub async fn list_notebooks(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> ApiResult<Json<serde_json::Value>> {
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
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let (n, role) = role(&state, &who, &id).await?;
    Ok(Json(
        json!({"id": n.id, "name": n.name, "role": role.as_str(), "created_at_ms": n.created_at_ms}),
    ))
}

/// `GET /api/notebooks/{id}/preview`: the notebook's name and the caller's
/// role with both documents as JSON and their heads (`schema::preview`),
/// which a page shows while its own replica loads. The documents' JSON is
/// the room's (kept while the documents stand still: `room/preview_cache.rs`),
/// put into the body as it is.
pub async fn preview_notebook(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (n, role) = role(&state, &who, &id).await?;
    let asked = state
        .rooms
        .ask(&id, |reply| RoomCommand::Preview { reply })
        .await;
    let preview = match asked {
        Asked::Answered(_, Some(preview)) => preview,
        // The room logged why.
        Asked::Answered(_, None) => return Err(ApiError::internal()),
        _ => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the notebook cannot be opened right now",
            ))
        }
    };
    let quoted = |s: &str| serde_json::Value::from(s).to_string();
    let body = format!(
        r#"{{"id":{},"name":{},"role":{},"notebook":{},"runtime":{}}}"#,
        quoted(&n.id),
        quoted(&n.name),
        quoted(role.as_str()),
        preview.notebook,
        preview.runtime,
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(Deserialize)]
pub struct RenameNotebook {
    name: String,
}

/// `PATCH /api/notebooks/{id}` `{"name"}`: owners and editors (as
/// themselves, not through a runtime token) rename a notebook.
pub async fn rename_notebook(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: Result<Json<RenameNotebook>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let (n, my_role) = role(&state, &who, &id).await?;
    if !matches!(my_role, Role::Owner | Role::Editor) || who.scope != TokenScope::User {
        return Err(ApiError::forbidden(
            "only an owner or editor can rename a notebook",
        ));
    }
    let body = json_body(body)?;
    let name = display_name(&body.name, MAX_NAME_CHARS)?;
    if !state.store.rename_notebook(&id, &name).await? {
        return Err(ApiError::not_found(format!("no notebook {id}")));
    }
    Ok(Json(
        json!({"id": n.id, "name": name, "role": my_role.as_str(), "created_at_ms": n.created_at_ms}),
    ))
}

#[derive(Deserialize)]
pub struct Grant {
    user_id: String,
    role: String,
}

/// Give a user a role in a notebook (or change it). Open connections of
/// that user, and runtime tokens they minted, take the new role at once.
pub async fn grant(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: Result<Json<Grant>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<StatusCode> {
    let (_, my_role) = role(&state, &who, &id).await?;
    if my_role != Role::Owner || who.scope != TokenScope::User {
        return Err(ApiError::forbidden("only an owner can grant roles"));
    }
    let body = json_body(body)?;
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
    state.rooms.revalidate(&id, None).await;
    Ok(StatusCode::NO_CONTENT)
}
