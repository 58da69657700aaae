//! A notebook's files (`/api/notebooks/{id}/files/{path}`): the folder its
//! kernel runs in, so what is uploaded here is what `open("data.csv")`
//! reads, and what the kernel writes can be listed and downloaded.
//!
//! Anyone with a role reads; owners and editors (with their own tokens)
//! write and delete. Paths are checked as text first (`workdir::path`),
//! then resolved beneath the folder (`workdir::fs`); every filesystem call
//! runs on the blocking pool.

use super::{role, ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ServerError;
use crate::store::TokenScope;
use crate::workdir::fs::{self as wfs, Folder, Upload};
use crate::workdir::{self, RelPath};
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::StreamExt;
use schema::wire::Role;
use serde_json::json;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Entries in one listing at most; a folder holding more says `truncated`.
const MAX_LISTED: usize = 10_000;
/// Read size when serving a file.
const CHUNK: usize = 64 * 1024;

/// Run a filesystem call off tokio's worker threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)?
}

/// An io error as the client should see it: refusals by name, anything
/// unexpected logged and answered as internal.
fn fs_error(e: io::Error, shown: &str) -> ApiError {
    use io::ErrorKind::*;
    if wfs::is_escape(&e) {
        return ApiError::forbidden(format!(
            "{shown} leads out of the notebook's folder (through a symbolic link): refused"
        ));
    }
    match e.kind() {
        NotFound => ApiError::not_found(format!("no file or folder {shown}")),
        IsADirectory | NotADirectory | AlreadyExists | DirectoryNotEmpty => {
            ApiError::new(StatusCode::CONFLICT, "conflict", format!("{shown}: {e}"))
        }
        InvalidInput => ApiError::bad_request(format!("{shown}: {e}")),
        StorageFull | QuotaExceeded => ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage_full",
            "the server's disk is full",
        ),
        _ => ApiError::from(ServerError::Io(e)),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("an uploaded file is at most {limit} bytes (--max-blob-bytes)"),
    )
}

/// The caller may change the notebook's files: an owner or editor acting
/// as themselves. An agent's token may not: the agent writes nothing
/// there but what its kernel does.
fn check_writer(my_role: Role, who: &Principal) -> ApiResult<()> {
    match (my_role, &who.scope) {
        (Role::Owner | Role::Editor, TokenScope::User) => Ok(()),
        (Role::Viewer, _) => Err(ApiError::forbidden(
            "a viewer can read the notebook's files but not change them",
        )),
        _ => Err(ApiError::forbidden(
            "only the notebook's owners and editors change its files",
        )),
    }
}

/// The checked path of a request, from its decoded form and the raw URI
/// (for encoded separators, which decoding would hide).
fn rel_path(
    path: Result<Path<(String, String)>, PathRejection>,
    uri: &OriginalUri,
) -> ApiResult<(String, RelPath, bool)> {
    let Path((id, decoded)) = path.map_err(|e| match e {
        PathRejection::FailedToDeserializePathParams(_) => {
            ApiError::bad_request("the path is not valid percent-encoded UTF-8")
        }
        other => ApiError::bad_request(other.body_text()),
    })?;
    let raw = uri
        .path()
        .split_once("/files/")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let (rel, is_dir) = RelPath::parse(raw, &decoded).map_err(|e| match e {
        ServerError::InvalidPath(message) => ApiError::bad_request(message),
        other => ApiError::from(other),
    })?;
    Ok((id, rel, is_dir))
}

/// The notebook's folder, created if this is its first use, and opened.
async fn folder(state: &AppState, notebook_id: &str) -> ApiResult<std::sync::Arc<Folder>> {
    let root = &state.config.runtime.notebook_files_dir;
    let path = workdir::ensure(root, notebook_id)
        .await
        .map_err(|e| fs_error(e, "the notebook's folder"))?;
    let opened = blocking(move || Folder::open(&path))
        .await
        .map_err(|e| fs_error(e, "the notebook's folder"))?;
    Ok(std::sync::Arc::new(opened))
}

async fn listing(folder: std::sync::Arc<Folder>, rel: Option<RelPath>) -> ApiResult<Response> {
    let shown = rel.as_ref().map(RelPath::display).unwrap_or_default();
    let listed = blocking(move || folder.list(rel.as_ref(), MAX_LISTED))
        .await
        .map_err(|e| fs_error(e, &shown))?;
    Ok(Json(listed).into_response())
}

/// `GET /api/notebooks/{id}/files`: the notebook's folder, listed.
pub async fn list_files(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    role(&state, &who, &id).await?;
    listing(folder(&state, &id).await?, None).await
}

/// A file's bytes, or a folder's listing (JSON).
pub async fn get_file(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    uri: OriginalUri,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Response> {
    let (id, rel, is_dir) = rel_path(path, &uri)?;
    role(&state, &who, &id).await?;
    let folder = folder(&state, &id).await?;
    let shown = rel.display();
    if is_dir {
        return listing(folder, Some(rel)).await;
    }
    let opened = {
        let (folder, rel) = (folder.clone(), rel.clone());
        blocking(move || folder.open_file(&rel)).await
    };
    let (file, size) = match opened {
        Ok(opened) => opened,
        Err(e) if e.kind() == io::ErrorKind::IsADirectory => {
            return listing(folder, Some(rel)).await
        }
        Err(e) => return Err(fs_error(e, &shown)),
    };
    // At most the length stated, so the body always matches the header
    // even while the kernel appends to the file.
    let reader = tokio::fs::File::from_std(file).take(size);
    let body = futures_util::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let mut buf = vec![0; CHUNK];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(reader)))
            }
            Err(e) => Some((Err::<Bytes, _>(e), None)),
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, content_type(rel.name()))
        .header(header::CONTENT_LENGTH, size)
        // A file here is whatever a kernel or an editor wrote: never
        // sniffed into something else, never run as a page of ours.
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CONTENT_SECURITY_POLICY, "sandbox")
        .header(header::CACHE_CONTROL, "private, no-cache")
        .body(Body::from_stream(body))
        .map_err(|e| ApiError::from(ServerError::Io(io::Error::other(e))))
}

/// Upload a file (the raw body), creating the folders above it; a path
/// ending in `/` with no body creates a folder. The body goes to a
/// scratch file renamed into place once whole and synced, so a refused or
/// broken upload leaves nothing and readers never see half of one.
pub async fn put_file(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    uri: OriginalUri,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (id, rel, is_dir) = rel_path(path, &uri)?;
    let (_, my_role) = role(&state, &who, &id).await?;
    check_writer(my_role, &who)?;
    let limit = state.config.max_blob_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let folder = folder(&state, &id).await?;
    let shown = rel.display();
    if is_dir {
        if declared.is_some_and(|n| n > 0) {
            return Err(ApiError::bad_request(
                "a path ending in '/' names a folder: send no body to create it",
            ));
        }
        let made = rel.clone();
        blocking(move || folder.make_dirs(&made))
            .await
            .map_err(|e| fs_error(e, &shown))?;
        return Ok((
            StatusCode::CREATED,
            Json(json!({"path": shown, "name": rel.name(), "kind": "dir"})),
        )
            .into_response());
    }
    let (upload, file) = {
        let rel = rel.clone();
        blocking(move || folder.begin_upload(&rel))
            .await
            .map_err(|e| fs_error(e, &shown))?
    };
    let written = match receive(body, file, limit).await {
        Ok(written) => written,
        Err(e) => {
            abandon(upload).await;
            return Err(e);
        }
    };
    let replaced = upload.replaces;
    blocking(move || upload.commit())
        .await
        .map_err(|e| fs_error(e, &shown))?;
    tracing::info!(notebook_id = %id, bytes = written, "file uploaded");
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(json!({"path": shown, "name": rel.name(), "kind": "file", "size": written})),
    )
        .into_response())
}

/// Copy the body into the scratch file, at most `limit` bytes, synced.
async fn receive(body: Body, file: std::fs::File, limit: usize) -> ApiResult<u64> {
    let mut file = tokio::fs::File::from_std(file);
    let mut stream = body.into_data_stream();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::bad_request("the upload was cut off before its end; nothing was kept")
        })?;
        written += chunk.len() as u64;
        if written > limit as u64 {
            return Err(too_large(limit));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| fs_error(e, "the upload"))?;
    }
    file.flush().await.map_err(|e| fs_error(e, "the upload"))?;
    file.sync_all()
        .await
        .map_err(|e| fs_error(e, "the upload"))?;
    Ok(written)
}

async fn abandon(upload: Upload) {
    let _ = tokio::task::spawn_blocking(move || upload.abandon()).await;
}

/// Delete a file or link, or a folder with all it holds.
pub async fn delete_file(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    uri: OriginalUri,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<StatusCode> {
    let (id, rel, _) = rel_path(path, &uri)?;
    let (_, my_role) = role(&state, &who, &id).await?;
    check_writer(my_role, &who)?;
    let folder = folder(&state, &id).await?;
    let shown = rel.display();
    blocking(move || folder.remove(&rel))
        .await
        .map_err(|e| fs_error(e, &shown))?;
    Ok(StatusCode::NO_CONTENT)
}

/// The type a browser or a client expects for common notebook data; the
/// rest is bytes.
fn content_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "csv" => "text/csv; charset=utf-8",
        "tsv" => "text/tab-separated-values; charset=utf-8",
        "txt" | "md" | "py" | "log" | "toml" | "yaml" | "yml" | "ini" | "cfg" | "sql" => {
            "text/plain; charset=utf-8"
        }
        "json" => "application/json",
        "ipynb" => "application/x-ipynb+json",
        "html" | "htm" => "text/html; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("data.CSV"), "text/csv; charset=utf-8");
        assert_eq!(content_type("plot.png"), "image/png");
        assert_eq!(content_type("model.parquet"), "application/octet-stream");
        assert_eq!(content_type("Makefile"), "application/octet-stream");
    }
}
