//! `.ipynb` in and out: `POST /api/notebooks/import` makes a new notebook
//! from a file, `GET /api/notebooks/{id}/ipynb` writes one back. The
//! conversion is `notebook_file/`; this is the HTTP side.

use super::notebooks::{new_notebook_id, store_new_notebook, MAX_NAME_CHARS};
use super::{display_name, role, ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ServerError;
use crate::notebook_file::export::ExportSource;
use crate::notebook_file::import::{self, ImportedNotebook};
use crate::store::TokenScope;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use schema::{DocKind, NotebookDoc, RuntimeDoc};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

#[derive(Deserialize, Default)]
pub struct ImportQuery {
    /// The new notebook's name; else the uploaded file's, else the
    /// file's `metadata.title`, else "Imported notebook".
    name: Option<String>,
}

/// The file and the name it came with, from a JSON or multipart body.
async fn file_of(request: Request) -> ApiResult<(Bytes, Option<String>)> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let bytes = Bytes::from_request(request, &())
            .await
            .map_err(|e| ApiError::new(e.status(), "bad_request", e.body_text()))?;
        return Ok((bytes, None));
    }
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| ApiError::bad_request(e.body_text()))?;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::new(e.status(), "bad_request", e.body_text()))?
    {
        let Some(file_name) = field.file_name().map(str::to_owned) else {
            continue; // a plain form field
        };
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::new(e.status(), "bad_request", e.body_text()))?;
        let stem = file_name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(&file_name)
            .trim_end_matches(".ipynb")
            .to_owned();
        return Ok((bytes, Some(stem).filter(|s| !s.trim().is_empty())));
    }
    Err(ApiError::bad_request(
        "the form holds no file: send the .ipynb as a file field",
    ))
}

/// Write the imported file into a new notebook's two documents.
fn documents(id: &str, file: &ImportedNotebook) -> Result<(NotebookDoc, RuntimeDoc), ServerError> {
    let mut notebook = NotebookDoc::create(id)?;
    notebook.import_cells(&file.cells)?;
    for (key, value) in &file.metadata {
        notebook.set_notebook_metadata(key, Some(value))?;
    }
    let mut runtime = RuntimeDoc::create(id)?;
    if !file.executions.is_empty() {
        runtime.import_executions(&file.executions, schema::clock::now_ms())?;
    }
    Ok((notebook, runtime))
}

/// `POST /api/notebooks/import[?name=]`: a new notebook from a `.ipynb`
/// (the body, or a multipart form's file). A file that is not valid
/// nbformat gets a 400 naming each problem, and nothing is created.
pub async fn import_notebook(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(query): Query<ImportQuery>,
    request: Request,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    if who.scope != TokenScope::User {
        return Err(ApiError::forbidden(
            "runtime tokens cannot create notebooks",
        ));
    }
    let (bytes, file_name) = file_of(request).await?;
    let file = tokio::task::spawn_blocking(move || import::read(&bytes))
        .await
        .map_err(|e| ApiError::from(ServerError::Config(format!("import task failed: {e}"))))?
        .map_err(|why| ApiError::new(StatusCode::BAD_REQUEST, "invalid_notebook", why))?;
    let title = file
        .metadata
        .get("title")
        .and_then(|t| t.as_str())
        .map(str::to_owned);
    let name = query
        .name
        .or(file_name)
        .or(title)
        .map(|n| n.strip_suffix(".ipynb").map(str::to_owned).unwrap_or(n))
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "Imported notebook".to_owned());
    let name = display_name(&name, MAX_NAME_CHARS)?;
    let id = new_notebook_id();
    let (notebook, runtime) = {
        let id = id.clone();
        let file = &file;
        tokio::task::block_in_place(move || documents(&id, file)).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_notebook",
                format!("the file cannot be stored: {e}"),
            )
        })?
    };
    // Blobs first: no output may name a blob the store lacks.
    for (sha, bytes) in &file.blobs {
        state.store.put_blob(&id, sha, bytes).await?;
    }
    let record = store_new_notebook(&state, &who, id, name, &notebook, &runtime).await?;
    let outputs: usize = file.executions.iter().map(|x| x.outputs.len()).sum();
    tracing::info!(
        notebook_id = %record.id,
        cells = file.cells.len(),
        outputs,
        repaired = file.repairs.len(),
        "notebook imported"
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": record.id,
            "name": record.name,
            "role": "owner",
            "cells": file.cells.len(),
            "outputs": outputs,
            "kernel": file.kernel_name(),
            "repaired": file.repairs,
        })),
    ))
}

/// A file name for `Content-Disposition`: the notebook's name, with what
/// a file system or a header would choke on replaced.
fn file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.');
    let stem = cleaned.strip_suffix(".ipynb").unwrap_or(cleaned);
    let stem = if stem.trim().is_empty() {
        "notebook"
    } else {
        stem
    };
    format!("{stem}.ipynb")
}

/// RFC 6266: an ASCII fallback and the UTF-8 name percent-encoded.
fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| if c.is_ascii() && c != '%' { c } else { '_' })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `GET /api/notebooks/{id}/ipynb`: the notebook as it is now, as an
/// nbformat 4.5 file (anyone with a role on it).
pub async fn export_notebook(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (record, _) = role(&state, &who, &id).await?;
    state.rooms.flushed(&id).await;
    let store = state.store.as_ref();
    let notebook = crate::room::load_document(store, &id, DocKind::Notebook, &[]).await?;
    let runtime = crate::room::load_document(store, &id, DocKind::Runtime, &[]).await?;
    let source = tokio::task::block_in_place(|| {
        let notebook = NotebookDoc::from_automerge(notebook.doc)?;
        let runtime = RuntimeDoc::from_automerge(runtime.doc)?;
        ExportSource::read(&notebook, &runtime)
    })
    .map_err(ServerError::from)?;
    let mut blobs = HashMap::new();
    for sha in source.blobs_needed() {
        match store.blob(&sha).await? {
            Some(bytes) => {
                blobs.insert(sha, bytes);
            }
            None => tracing::warn!(notebook_id = %id, %sha, "an output's blob is missing"),
        }
    }
    let file = tokio::task::block_in_place(|| {
        let file = source.write(&blobs);
        // As Jupyter writes them: one-space indents, a final newline.
        let mut bytes = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut writer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
        serde::Serialize::serialize(&file, &mut writer).map(|()| {
            bytes.push(b'\n');
            bytes
        })
    })
    .map_err(|e| ServerError::Config(format!("could not write the file: {e}")))?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ipynb+json"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition(&file_name(&record.name))) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok((headers, file).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_and_keep_unicode() {
        assert_eq!(file_name("Sales 2024"), "Sales 2024.ipynb");
        assert_eq!(file_name("a/b:c"), "a_b_c.ipynb");
        assert_eq!(file_name("..."), "notebook.ipynb");
        assert_eq!(file_name("q3.ipynb"), "q3.ipynb");
        let header = disposition(&file_name("données \"x\""));
        assert!(
            header.contains("filename=\"donn_es _x_.ipynb\""),
            "{header}"
        );
        assert!(
            header.contains("filename*=UTF-8''donn%C3%A9es%20_x_.ipynb"),
            "{header}"
        );
    }
}
