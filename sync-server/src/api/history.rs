//! `GET /api/notebooks/{id}/history` (the notebook's changes as bursts of
//! work, newest first, paged by `before`) and `GET
//! /api/notebooks/{id}/history/{seq}` (the notebook right after change
//! `seq`, read-only). Anyone with a role reads them, as they read the
//! notebook (`crate::history`).

use super::{role, ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::Principal;
use crate::history::{at, bursts};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

/// Bursts per page unless asked: enough to fill the panel.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;

#[derive(Deserialize, Default)]
pub struct HistoryQuery {
    /// Changes with a `seq` below this (the previous page's `next_before`).
    before: Option<i64>,
    limit: Option<usize>,
}

pub async fn history(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> ApiResult<Response> {
    role(&state, &who, &id).await?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_LIMIT}"
        )));
    }
    if query.before.is_some_and(|b| b < 1) {
        return Err(ApiError::bad_request(
            "before must be a positive change number",
        ));
    }
    // What the room has received is in the log before it is read.
    state.rooms.flushed(&id).await;
    let page = bursts::page(state.store.as_ref(), &id, query.before, limit).await?;
    Ok(Json(page).into_response())
}

pub async fn notebook_at(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, seq)): Path<(String, i64)>,
) -> ApiResult<Response> {
    role(&state, &who, &id).await?;
    state.rooms.flushed(&id).await;
    match at::notebook_at(state.store.as_ref(), &id, seq).await? {
        Some(value) => Ok(Json(value.as_ref().clone()).into_response()),
        None => Err(ApiError::not_found(format!(
            "no change {seq} in notebook {id}"
        ))),
    }
}
