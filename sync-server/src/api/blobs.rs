//! Blobs: large outputs, stored by the runtime and read by anyone with a
//! role in a notebook that stored them.

use super::{role, ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::{self, Principal};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use schema::wire::Role;
use serde_json::json;
use sha2::{Digest, Sha256};

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("a blob is at most {limit} bytes"),
    )
}

/// Store a blob. The token and role are checked before a byte of the body
/// is read, and a declared length over the limit is refused unread.
pub async fn put_blob(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let (_, my_role) = role(&state, &who, &id).await?;
    if my_role != Role::Runtime {
        return Err(ApiError::forbidden(
            "only the notebook's runtime stores blobs",
        ));
    }
    let limit = state.config.max_blob_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large(limit))?;
    let sha256 = hex::encode(Sha256::digest(&body));
    state.store.put_blob(&id, &sha256, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"sha256": sha256, "size": body.len()})),
    ))
}

pub async fn get_blob(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(sha256): Path<String>,
) -> ApiResult<Response> {
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
