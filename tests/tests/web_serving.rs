//! The browser UI's side of the server: the page and its assets served
//! with a strict Content-Security-Policy, the output frame sandboxed by its
//! own policy, nothing outside the build directory reachable, a clear page
//! when the UI is not built; and renaming a notebook (`PATCH
//! /api/notebooks/{id}`), which owners and editors may do and nobody else.

use cathode_tests::TestServer;
use reqwest::Method;
use serde_json::json;

fn build_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html><p>ui</p>").unwrap();
    std::fs::write(dir.path().join("app-X1.js"), "console.log(1)").unwrap();
    std::fs::create_dir_all(dir.path().join("sandbox")).unwrap();
    std::fs::write(
        dir.path().join("sandbox/output-frame.html"),
        "<!doctype html><p>frame</p>",
    )
    .unwrap();
    std::fs::write(dir.path().join("secret.txt"), "not an asset").unwrap();
    dir
}

async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    reqwest::get(format!("{}{path}", server.http_url()))
        .await
        .unwrap()
}

#[tokio::test]
async fn pages_assets_and_the_output_frame() {
    let dir = build_dir();
    let web = dir.path().to_str().unwrap().to_owned();
    let server = TestServer::start_with(&["--web-dir", &web]).unwrap();
    for path in ["/", "/notebooks/nb-anything"] {
        let r = get(&server, path).await;
        assert_eq!(r.status(), 200, "{path}");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("'unsafe-inline' 'unsafe-eval'"), "{csp}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.text().await.unwrap(), "<!doctype html><p>ui</p>");
    }
    let js = get(&server, "/assets/app-X1.js").await;
    assert_eq!(js.status(), 200);
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(js.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let frame = get(&server, "/sandbox/output-frame.html").await;
    assert_eq!(frame.status(), 200);
    let frame_csp = frame.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        frame_csp.starts_with("sandbox allow-scripts;"),
        "{frame_csp}"
    );
    assert!(frame_csp.contains("connect-src 'none'"), "{frame_csp}");
    // Only files of known kinds, by plain names, inside the build.
    for path in [
        "/assets/secret.txt",
        "/assets/..%2Fsecret.txt",
        "/assets/../index.html",
        "/assets/.hidden.js",
        "/assets/a/b/c.js",
        "/assets/missing.js",
    ] {
        assert_eq!(get(&server, path).await.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn a_missing_build_says_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-built");
    let server = TestServer::start_with(&["--web-dir", missing.to_str().unwrap()]).unwrap();
    let r = get(&server, "/").await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.contains("not built"), "{body}");
    assert!(body.contains("npm run build"), "{body}");
}

#[tokio::test]
async fn owners_and_editors_rename_others_cannot() {
    let server = TestServer::start().unwrap();
    let owner = server.owner_token.clone();
    let nb = server.create_notebook(&owner, "Before").await.unwrap();
    let path = format!("/api/notebooks/{nb}");
    let (status, body) = server
        .api(
            Method::PATCH,
            &path,
            &owner,
            Some(json!({"name": "  After  "})),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "After");
    let (_, listed) = server
        .api(Method::GET, "/api/notebooks", &owner, None)
        .await
        .unwrap();
    assert_eq!(listed["notebooks"][0]["name"], "After");

    let editor = server.user_with_role(&nb, "ed", "editor").await.unwrap();
    let (status, _) = server
        .api(
            Method::PATCH,
            &path,
            &editor,
            Some(json!({"name": "By editor"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);

    let viewer = server.user_with_role(&nb, "vi", "viewer").await.unwrap();
    let (status, _) = server
        .api(
            Method::PATCH,
            &path,
            &viewer,
            Some(json!({"name": "By viewer"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 403);
    let runtime = server.runtime_token(&nb).await.unwrap();
    let (status, _) = server
        .api(
            Method::PATCH,
            &path,
            &runtime,
            Some(json!({"name": "By agent"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 403);
    for bad in [
        json!({"name": "   "}),
        json!({"name": "x".repeat(201)}),
        json!({}),
    ] {
        let (status, _) = server
            .api(Method::PATCH, &path, &owner, Some(bad.clone()))
            .await
            .unwrap();
        assert_eq!(status, 400, "{bad}");
    }
    let (status, _) = server
        .api(
            Method::PATCH,
            "/api/notebooks/nb-missing",
            &owner,
            Some(json!({"name": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 404);
    let (_, got) = server.api(Method::GET, &path, &viewer, None).await.unwrap();
    assert_eq!(got["name"], "By editor");
}
