//! A notebook's folder: uploaded through the files API, read by both
//! kernels with a relative path, what a kernel writes listed and served;
//! traversal in every spelling and symlinks out of the folder refused, a
//! viewer kept to reading, an oversized upload refused leaving nothing.

use cathode_tests::cells::{add_cell, error_of, request_run, stdout_of, wait_execution};
use cathode_tests::TestServer;
use reqwest::Method;
use schema::ExecutionState;
use serde_json::{json, Value};
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CSV: &str = "city,people\nLyon,522250\nNantes,323204\n";

fn folder(server: &TestServer, notebook: &str) -> PathBuf {
    server.data_dir.path().join("notebooks").join(notebook)
}

fn files_url(server: &TestServer, notebook: &str, path: &str) -> String {
    format!(
        "{}/api/notebooks/{notebook}/files/{path}",
        server.http_url()
    )
}

/// A request with a raw body; status, content type and body.
async fn send(
    method: Method,
    url: &str,
    token: &str,
    body: Option<&[u8]>,
) -> (u16, String, Vec<u8>) {
    let mut request = reqwest::Client::new().request(method, url);
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.body(body.to_vec());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, response.bytes().await.unwrap().to_vec())
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into()))
}

/// HTTP/1.1 by hand: an HTTP client library normalises `..` and `%2e%2e`
/// out of a URL before sending it, so it could never send what an
/// attacker would. Returns the status and the body.
async fn raw(server: &TestServer, head: &str, body: &[u8]) -> (u16, String) {
    let mut socket = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (and close) before reading a refused body.
    let _ = socket.write_all(body).await;
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

async fn raw_request(
    server: &TestServer,
    method: &str,
    target: &str,
    token: &str,
) -> (u16, String) {
    let content_length = if method == "PUT" {
        "Content-Length: 1\r\n"
    } else {
        ""
    };
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n{content_length}Connection: close\r\n\r\n",
        server.addr
    );
    raw(server, &head, if method == "PUT" { b"x" } else { b"" }).await
}

fn listed(listing: &Value, name: &str) -> Option<Value> {
    listing["entries"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .cloned()
}

async fn list(server: &TestServer, notebook: &str, token: &str) -> Value {
    let url = format!("{}/api/notebooks/{notebook}/files", server.http_url());
    let (status, kind, body) = send(Method::GET, &url, token, None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(kind.starts_with("application/json"), "{kind}");
    json_of(&body)
}

/// Start the notebook's agent on `kernel` and run one cell there that
/// reads the uploaded CSV by a relative path and writes a file.
async fn read_and_write_from(
    server: &TestServer,
    notebook: &str,
    client: &cathode_client::NotebookClient,
    kernel: &str,
) -> String {
    let (code, started) = server
        .api(
            Method::POST,
            &format!("/api/notebooks/{notebook}/runtime"),
            &server.owner_token,
            Some(json!({ "kernel": kernel })),
        )
        .await
        .unwrap();
    assert_eq!(code, 201, "{started}");
    let source = format!(
        "import os, csv\n\
         print(os.getcwd())\n\
         rows = list(csv.DictReader(open('data.csv')))\n\
         print(rows[1]['city'], sum(int(r['people']) for r in rows))\n\
         os.makedirs('out', exist_ok=True)\n\
         with open('out/{kernel}.txt', 'w') as f:\n    f.write('written by {kernel}')\n"
    );
    let cell = add_cell(client, &source).await;
    let request = request_run(client, &cell).await;
    let done = wait_execution(client, &request, &format!("the cell on {kernel}"), |x| {
        matches!(x.state, ExecutionState::Done | ExecutionState::Error)
    })
    .await;
    assert_eq!(
        done.state,
        ExecutionState::Done,
        "{kernel}: {:?}",
        error_of(&done)
    );
    let (code, stopped) = server
        .api(
            Method::DELETE,
            &format!("/api/notebooks/{notebook}/runtime"),
            &server.owner_token,
            None,
        )
        .await
        .unwrap();
    assert_eq!(code, 200, "{stopped}");
    stdout_of(&done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_kernels_run_in_the_notebooks_folder() {
    let server = TestServer::start().unwrap();
    let (notebook, client) = server.notebook_with_owner("files").await.unwrap();
    let owner = server.owner_token.clone();
    let url = files_url(&server, &notebook, "data.csv");

    let (status, _, body) = send(Method::PUT, &url, &owner, Some(b"old")).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = send(Method::PUT, &url, &owner, Some(CSV.as_bytes())).await;
    assert_eq!(status, 200, "replacing: {}", String::from_utf8_lossy(&body));
    assert_eq!(json_of(&body)["size"], CSV.len());
    let (status, kind, body) = send(Method::GET, &url, &owner, None).await;
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
    assert_eq!(body, CSV.as_bytes());

    let dir = folder(&server, &notebook);
    assert_eq!(std::fs::read_to_string(dir.join("data.csv")).unwrap(), CSV);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the notebook's folder is readable by others");

    let canonical = std::fs::canonicalize(&dir).unwrap();
    for kernel in ["python3", "wasm-python"] {
        let stdout = read_and_write_from(&server, &notebook, &client, kernel).await;
        let (cwd, rest) = stdout.split_once('\n').unwrap_or_default();
        assert!(
            dir == std::path::Path::new(cwd) || canonical == std::path::Path::new(cwd),
            "{kernel} runs in {cwd:?}, not {}",
            dir.display()
        );
        assert_eq!(rest, "Nantes 845454\n", "{kernel} read the CSV wrongly");

        // What the kernel wrote is listed and served.
        let (status, _, body) = send(
            Method::GET,
            &files_url(&server, &notebook, &format!("out/{kernel}.txt")),
            &owner,
            None,
        )
        .await;
        assert_eq!(status, 200, "{kernel}'s file");
        assert_eq!(body, format!("written by {kernel}").as_bytes());
    }
    let listing = list(&server, &notebook, &owner).await;
    let csv = listed(&listing, "data.csv").unwrap_or_else(|| panic!("{listing}"));
    assert_eq!(
        (csv["kind"].as_str(), csv["size"].as_u64()),
        (Some("file"), Some(CSV.len() as u64))
    );
    assert!(
        csv["modified_ms"].as_i64().unwrap_or(0) > 1_600_000_000_000,
        "{csv}"
    );
    assert_eq!(listed(&listing, "out").unwrap()["kind"], "dir");
    let (status, _, body) = send(
        Method::GET,
        &files_url(&server, &notebook, "out/"),
        &owner,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let out = json_of(&body);
    assert_eq!(out["path"], "out", "{out}");
    for kernel in ["python3", "wasm-python"] {
        let entry = listed(&out, &format!("{kernel}.txt")).unwrap_or_else(|| panic!("{out}"));
        assert_eq!(entry["path"], format!("out/{kernel}.txt"));
    }

    // The agent wrote nothing there itself: only the upload and the cells' files.
    let mut on_disk: Vec<String> = walk(&dir);
    on_disk.sort();
    assert_eq!(
        on_disk,
        vec!["data.csv", "out", "out/python3.txt", "out/wasm-python.txt"],
        "unexpected files in the notebook's folder"
    );

    // Delete a file, then a folder with what it holds.
    let (status, _, _) = send(
        Method::DELETE,
        &files_url(&server, &notebook, "out"),
        &owner,
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert!(!dir.join("out").exists());
    let (status, _, _) = send(Method::DELETE, &url, &owner, None).await;
    assert_eq!(status, 204);
    let (status, _, _) = send(Method::GET, &url, &owner, None).await;
    assert_eq!(status, 404);
    assert_eq!(list(&server, &notebook, &owner).await["entries"], json!([]));
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(dir.join(&rel)).unwrap() {
            let entry = entry.unwrap();
            let path = rel.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                stack.push(path.clone());
            }
            found.push(path.to_string_lossy().into_owned());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_and_symlinks_out_are_refused() {
    let server = TestServer::start().unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "t")
        .await
        .unwrap();
    let owner = server.owner_token.clone();
    let (status, _, _) = send(
        Method::PUT,
        &files_url(&server, &notebook, "data.csv"),
        &owner,
        Some(CSV.as_bytes()),
    )
    .await;
    assert_eq!(status, 201);
    let base = format!("/api/notebooks/{notebook}/files/");
    let long_name = "n".repeat(300);
    let long_path = vec!["d".repeat(200); 6].join("/");
    let refusals = [
        ("../../cathode.sqlite", "'..'"),
        ("a/../../../cathode.sqlite", "'..'"),
        ("%2e%2e/%2e%2e/cathode.sqlite", "'..'"),
        ("%2E%2E/secrets.key", "'..'"),
        ("..%2f..%2fcathode.sqlite", "%2F"),
        ("%2fetc%2fpasswd", "%2F"),
        ("/etc/passwd", "absolute"),
        ("..%5c..%5ccathode.sqlite", "%5C"),
        ("a%00.csv", "U+0000"),
        ("a%0d%0ab", "U+000D"),
        ("a//b", "empty"),
        (".env", "hidden"),
        (long_name.as_str(), "255 bytes"),
        (long_path.as_str(), "1024"),
        ("%ff%fe", "UTF-8"),
    ];
    for method in ["GET", "PUT", "DELETE"] {
        for (path, says) in &refusals {
            let (status, body) =
                raw_request(&server, method, &format!("{base}{path}"), &owner).await;
            assert_eq!(status, 400, "{method} {path}: {body}");
            let message = json_of(body.as_bytes())["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(
                message.contains(says),
                "{method} {path}: {message:?} does not say {says}"
            );
        }
    }
    // Nothing was written beside the folder or the data directory.
    let notebooks = server.data_dir.path().join("notebooks");
    assert_eq!(
        walk(&notebooks),
        vec![notebook.clone(), format!("{notebook}/data.csv")]
    );
    assert!(server.database_path().exists());

    // Links planted in the folder (a kernel could make them) that lead out.
    let dir = folder(&server, &notebook);
    let data = server.data_dir.path();
    std::os::unix::fs::symlink(data, dir.join("data-dir")).unwrap();
    std::os::unix::fs::symlink("../../secrets.key", dir.join("key")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd")).unwrap();
    std::os::unix::fs::symlink("data.csv", dir.join("alias.csv")).unwrap();
    for (method, path) in [
        (Method::GET, "data-dir/cathode.sqlite"),
        (Method::GET, "data-dir/"),
        (Method::GET, "key"),
        (Method::GET, "passwd"),
        (Method::PUT, "data-dir/planted.txt"),
        (Method::PUT, "data-dir/new/planted.txt"),
        (Method::DELETE, "data-dir/cathode.sqlite"),
    ] {
        let body = (method == Method::PUT).then_some(&b"planted"[..]);
        let (status, _, answer) = send(
            method.clone(),
            &files_url(&server, &notebook, path),
            &owner,
            body,
        )
        .await;
        let message = json_of(&answer)["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(status, 403, "{method} {path}: {message}");
        assert!(
            message.contains("symbolic link"),
            "{method} {path}: {message}"
        );
    }
    assert!(!data.join("planted.txt").exists() && !data.join("new").exists());
    assert!(server.database_path().exists());
    // A link inside the folder works; the ones out are listed as links.
    let (status, _, body) = send(
        Method::GET,
        &files_url(&server, &notebook, "alias.csv"),
        &owner,
        None,
    )
    .await;
    assert_eq!((status, body.as_slice()), (200, CSV.as_bytes()));
    let listing = list(&server, &notebook, &owner).await;
    for name in ["data-dir", "key", "passwd"] {
        assert_eq!(
            listed(&listing, name).unwrap()["kind"],
            "symlink",
            "{listing}"
        );
    }
    assert_eq!(listed(&listing, "alias.csv").unwrap()["kind"], "file");
    // Deleting a link removes the link, not what it points at.
    let (status, _, _) = send(
        Method::DELETE,
        &files_url(&server, &notebook, "data-dir"),
        &owner,
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert!(dir.join("data-dir").symlink_metadata().is_err());
    assert!(server.database_path().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_read_and_only_editors_write() {
    let server = TestServer::start().unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "roles")
        .await
        .unwrap();
    let viewer = server
        .user_with_role(&notebook, "vic", "viewer")
        .await
        .unwrap();
    let editor = server
        .user_with_role(&notebook, "eda", "editor")
        .await
        .unwrap();
    let runtime = server.runtime_token(&notebook).await.unwrap();
    let other = server
        .create_notebook(&server.owner_token, "other")
        .await
        .unwrap();
    let outsider = server.user_with_role(&other, "oz", "editor").await.unwrap();
    let url = files_url(&server, &notebook, "data.csv");

    let (status, _, body) = send(Method::PUT, &url, &editor, Some(CSV.as_bytes())).await;
    assert_eq!(
        status,
        201,
        "an editor could not upload: {}",
        String::from_utf8_lossy(&body)
    );
    for (who, token) in [("viewer", &viewer), ("runtime token", &runtime)] {
        let (status, _, body) = send(Method::PUT, &url, token, Some(b"overwritten")).await;
        assert_eq!(
            status,
            403,
            "a {who} uploaded: {}",
            String::from_utf8_lossy(&body)
        );
        let (status, _, _) = send(
            Method::PUT,
            &files_url(&server, &notebook, "new/"),
            token,
            None,
        )
        .await;
        assert_eq!(status, 403, "a {who} made a folder");
        let (status, _, _) = send(Method::DELETE, &url, token, None).await;
        assert_eq!(status, 403, "a {who} deleted");
    }
    let message = {
        let (_, _, body) = send(Method::PUT, &url, &viewer, Some(b"x")).await;
        json_of(&body)["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(message.contains("viewer"), "{message}");
    let (status, _, body) = send(Method::GET, &url, &viewer, None).await;
    assert_eq!(
        (status, body.as_slice()),
        (200, CSV.as_bytes()),
        "the viewer's read"
    );
    assert!(listed(&list(&server, &notebook, &viewer).await, "data.csv").is_some());
    // ?token= works on a GET (a download link), as for blobs.
    let (status, _, body) = send(Method::GET, &format!("{url}?token={viewer}"), "", None).await;
    assert_eq!((status, body.as_slice()), (200, CSV.as_bytes()));
    // Someone with no role sees no notebook at all.
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let (status, _, _) = send(method.clone(), &url, &outsider, Some(b"x")).await;
        assert_eq!(status, 404, "{method} by an outsider");
    }
    let (status, _, _) = send(Method::GET, &url, "cth_not_a_token", None).await;
    assert_eq!(status, 401);
    // A folder made by an editor; a file over it is a conflict.
    let (status, _, _) = send(
        Method::PUT,
        &files_url(&server, &notebook, "raw/2024/"),
        &editor,
        None,
    )
    .await;
    assert_eq!(status, 201);
    assert!(folder(&server, &notebook).join("raw/2024").is_dir());
    let (status, _, _) = send(
        Method::PUT,
        &files_url(&server, &notebook, "raw"),
        &editor,
        Some(b"x"),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        std::fs::read(folder(&server, &notebook).join("data.csv")).unwrap(),
        CSV.as_bytes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_uploads_are_refused_and_leave_nothing() {
    let server = TestServer::start_with(&["--max-blob-bytes", "4096"]).unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "big")
        .await
        .unwrap();
    let owner = server.owner_token.clone();
    let big = vec![b'x'; 10_000];

    // Declared too large: refused before the body is read.
    let (status, _, body) = send(
        Method::PUT,
        &files_url(&server, &notebook, "big.bin"),
        &owner,
        Some(&big),
    )
    .await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    assert!(json_of(&body)["message"]
        .as_str()
        .unwrap_or_default()
        .contains("4096"));

    // Not declared (chunked): refused once it passes the limit.
    let target = format!("/api/notebooks/{notebook}/files/sub/chunked.bin");
    let head = format!(
        "PUT {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {owner}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.addr
    );
    let mut chunked = Vec::new();
    for piece in big.chunks(1000) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, answer) = raw(&server, &head, &chunked).await;
    assert_eq!(status, 413, "{answer}");

    // Nothing left: no file, no scratch file (the listing hides those, so
    // look at the disk).
    let dir = folder(&server, &notebook);
    let left: Vec<String> = walk(&dir).into_iter().filter(|p| p != "sub").collect();
    assert!(left.is_empty(), "a refused upload left {left:?}");
    let (status, _, _) = send(
        Method::GET,
        &files_url(&server, &notebook, "big.bin"),
        &owner,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // At the limit is fine, and an upload over an existing file that is
    // refused keeps the old one.
    let fits = vec![b'y'; 4096];
    let url = files_url(&server, &notebook, "fits.bin");
    let (status, _, _) = send(Method::PUT, &url, &owner, Some(&fits)).await;
    assert_eq!(status, 201);
    let (status, _, _) = send(Method::PUT, &url, &owner, Some(&big)).await;
    assert_eq!(status, 413);
    assert_eq!(std::fs::read(dir.join("fits.bin")).unwrap(), fits);
}
