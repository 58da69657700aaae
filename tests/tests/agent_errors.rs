//! The runtime agent's start-up errors are clear and final.

use cathode_tests::server::bin_dir;
use cathode_tests::TestServer;
use std::process::Command;

fn agent(server: &TestServer, notebook: &str, token: &str, kernel: &str) -> (Option<i32>, String) {
    let out = Command::new(bin_dir().join("runtime-agent"))
        .env("NOTEBOOK_ID", notebook)
        .env("CATHODE_SERVER_URL", server.http_url())
        .env("CATHODE_TOKEN", token)
        .env("CATHODE_KERNEL", kernel)
        .env("CATHODE_LOG", "error")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_unknown_notebook_and_unknown_kernel_are_clear_errors() {
    let server = TestServer::start().unwrap();
    let notebook = server
        .create_notebook(&server.owner_token, "errors")
        .await
        .unwrap();
    let runtime = server.runtime_token(&notebook).await.unwrap();

    let (code, err) = agent(&server, &notebook, "cth_wrong", "python3");
    assert_ne!(code, Some(0));
    assert!(err.contains("refused the token"), "{err}");

    let (code, err) = agent(&server, "nb-missing", &runtime, "python3");
    assert_ne!(code, Some(0));
    assert!(err.contains("nb-missing does not exist"), "{err}");

    let (code, err) = agent(&server, &notebook, &server.owner_token, "python3");
    assert_ne!(code, Some(0));
    assert!(err.contains("needs a runtime token"), "{err}");

    let (code, err) = agent(&server, &notebook, &runtime, "no-such-kernel");
    assert_ne!(code, Some(0));
    assert!(err.contains("unknown kernel \"no-such-kernel\""), "{err}");
    assert!(
        err.contains("wasm-python") && err.contains("python3"),
        "lists what is available: {err}"
    );
}
