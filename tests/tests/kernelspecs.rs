//! `GET /api/kernelspecs` lists what a notebook's runtime can start: the
//! WASM kernel and every installed kernelspec (the test venv's ipykernel).

use cathode_tests::TestServer;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernelspecs_lists_wasm_python_and_installed_kernels() {
    let server = TestServer::start().unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/api/kernelspecs", server.http_url());

    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let listed: serde_json::Value = http
        .get(&url)
        .bearer_auth(&server.owner_token)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["default"], "wasm-python");
    let specs = listed["kernelspecs"].as_array().unwrap();
    assert_eq!(specs[0]["name"], "wasm-python", "{listed}");
    assert_eq!(specs[0]["language"], "python");
    let python3 = specs
        .iter()
        .find(|s| s["name"] == "python3")
        .unwrap_or_else(|| panic!("no python3 kernelspec in {listed}"));
    assert_eq!(python3["language"], "python");
    assert!(
        !python3["display_name"].as_str().unwrap_or("").is_empty(),
        "{python3}"
    );
}
