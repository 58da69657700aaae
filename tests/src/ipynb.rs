//! `.ipynb` files in tests: building valid ones, importing and exporting
//! them through the server, and checking an export with the official
//! `nbformat` package (`tests/python/nbformat_check.py`, run in the test
//! venv that `scripts/setup-kernels.sh` installs).

use crate::TestServer;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// nbformat's own test notebooks (`../shared/fixtures/nbformat`, beside
/// the clone), or `CATHODE_FIXTURES/nbformat`.
pub fn nbformat_fixtures() -> PathBuf {
    if let Some(dir) = std::env::var_os("CATHODE_FIXTURES") {
        return PathBuf::from(dir).join("nbformat");
    }
    let manifest = crate::package_dir();
    for dir in manifest.ancestors() {
        let candidate = dir.join("shared/fixtures/nbformat");
        if candidate.is_dir() {
            return candidate;
        }
    }
    panic!(
        "nbformat's test notebooks are not in shared/fixtures/nbformat above {}; set CATHODE_FIXTURES",
        manifest.display()
    )
}

fn venv_python() -> PathBuf {
    let venv = std::env::var_os("CATHODE_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cathode/venv")))
        .expect("CATHODE_VENV or HOME");
    venv.join("bin/python")
}

/// A valid nbformat 4.5 notebook of these cells.
pub fn notebook(cells: Vec<Value>, metadata: Value) -> Value {
    json!({"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": cells})
}

pub fn code(id: &str, source: &str) -> Value {
    json!({"id": id, "cell_type": "code", "metadata": {}, "source": source,
           "execution_count": null, "outputs": []})
}

pub fn markdown(id: &str, source: &str) -> Value {
    json!({"id": id, "cell_type": "markdown", "metadata": {}, "source": source})
}

/// `POST /api/notebooks/import` with the file as the body: status, reply.
pub async fn import(server: &TestServer, token: &str, file: &[u8], name: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/notebooks/import", server.http_url()))
        .query(&[("name", name)])
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(file.to_vec())
        .send()
        .await
        .expect("import request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// `GET /api/notebooks/{id}/ipynb`: status, `Content-Disposition`, bytes.
pub async fn export(server: &TestServer, token: &str, notebook: &str) -> (u16, String, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/notebooks/{notebook}/ipynb",
            server.http_url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("export request");
    let status = response.status().as_u16();
    let disposition = response
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response.bytes().await.expect("export body").to_vec();
    (status, disposition, bytes)
}

/// What nbformat says of `exported` (and how it differs from `original`,
/// read as `nbformat.read` reads it): `{"valid", "errors", "differences"}`.
pub fn nbformat_check(exported: &[u8], original: Option<&Path>) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("exported.ipynb");
    std::fs::write(&path, exported).expect("write the export");
    let script = crate::package_dir().join("python/nbformat_check.py");
    let mut command = std::process::Command::new(venv_python());
    command.arg(script).arg(&path);
    if let Some(original) = original {
        command.arg(original);
    }
    let out = command.output().expect("run the venv's python");
    assert!(
        out.status.success(),
        "nbformat_check.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("nbformat_check.py prints JSON")
}
