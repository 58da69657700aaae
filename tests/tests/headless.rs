//! `cathode-run`: import an .ipynb, start the agent, run every cell, print
//! outputs, fail at the first error (or carry on with --allow-errors).

use cathode_tests::server::bin_dir;
use cathode_tests::TestServer;
use std::process::Command;

fn run(
    server: &TestServer,
    notebook: &std::path::Path,
    allow_errors: bool,
) -> (Option<i32>, String) {
    let token_file = server.data_dir.path().join("token");
    std::fs::write(&token_file, &server.owner_token).unwrap();
    let mut cmd = Command::new(bin_dir().join("cathode-run"));
    cmd.arg("--server-url")
        .arg(server.http_url())
        .arg("--token-file")
        .arg(&token_file)
        .arg("--import")
        .arg(notebook)
        .arg("--start-agent")
        .arg("--kernel")
        .arg("python3");
    if allow_errors {
        cmd.arg("--allow-errors");
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_sample_notebook_runs_headless_with_its_outputs() {
    let server = TestServer::start().unwrap();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tour.ipynb");
    let (code, stdout) = run(&server, &sample, true);
    assert_eq!(
        code,
        Some(1),
        "the sample's last cell fails on purpose:\n{stdout}"
    );
    assert!(
        stdout.contains("Jan    120    9.5   1140.0"),
        "pandas table missing:\n{stdout}"
    );
    assert!(stdout.contains("[image/png"), "plot missing:\n{stdout}");
    assert!(stdout.contains("total revenue: 5230.50"), "{stdout}");
    assert!(stdout.contains("KeyError"), "{stdout}");
    assert_eq!(stdout.matches("--- cell ").count(), 4);
}

#[test]
fn stops_at_the_first_error() {
    let server = TestServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("failing.ipynb");
    std::fs::write(
        &path,
        r#"{"cells": [
            {"cell_type": "code", "source": "print('one')"},
            {"cell_type": "code", "source": "raise ValueError('boom')"},
            {"cell_type": "code", "source": "print('never')"}
        ]}"#,
    )
    .unwrap();
    let (code, stdout) = run(&server, &path, false);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("one\n") && stdout.contains("ValueError"),
        "{stdout}"
    );
    assert!(!stdout.contains("never"), "ran past the error:\n{stdout}");
    // And a clean notebook exits 0.
    let ok = dir.path().join("ok.ipynb");
    std::fs::write(
        &ok,
        r#"{"cells": [{"cell_type": "code", "source": "print(6 * 7)"}]}"#,
    )
    .unwrap();
    let (code, stdout) = run(&server, &ok, false);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("42\n"));
}
