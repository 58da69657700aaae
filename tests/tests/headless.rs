//! `cathode-run`, as nbclient and papermill users run notebooks: import,
//! parameters, every cell in order on a runtime the server starts, outputs
//! printed, the executed notebook written; nbclient's rules for tagged,
//! empty and input-asking cells, timeouts and dying kernels.

use cathode_tests::ipynb::{code, markdown, nbformat_check, notebook};
use cathode_tests::server::bin_dir;
use cathode_tests::TestServer;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn cathode_run(server: &TestServer, args: &[&str]) -> Run {
    // A file per run: runs in parallel rewriting one shared file made one
    // of them read it empty, between the truncation and the write.
    let token_file = tempfile::NamedTempFile::new_in(server.data_dir.path()).unwrap();
    std::fs::write(token_file.path(), &server.owner_token).unwrap();
    let out = Command::new(bin_dir().join("cathode-run"))
        .arg("--server-url")
        .arg(server.http_url())
        .arg("--token-file")
        .arg(token_file.path())
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, file: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(file).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

fn python3() -> Value {
    json!({"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
}

fn tagged(mut cell: Value, tag: &str) -> Value {
    cell["metadata"]["tags"] = json!([tag]);
    cell
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn text(output: &Value) -> String {
    match output
        .get("text")
        .or_else(|| output["data"].get("text/plain"))
    {
        Some(Value::Array(lines)) => lines.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

#[test]
fn the_sample_notebook_runs_headless_with_its_outputs() {
    let server = TestServer::start().unwrap();
    let sample = cathode_tests::package_dir().join("../examples/tour.ipynb");
    let run = cathode_run(
        &server,
        &[
            "--import",
            sample.to_str().unwrap(),
            "--kernel",
            "wasm-python",
            "--allow-errors",
        ],
    );
    let stdout = &run.stdout;
    assert_eq!(
        run.code,
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
fn parameters_tags_and_the_executed_notebook() {
    let server = TestServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = notebook(
        vec![
            markdown("title", "# Monthly report"),
            tagged(
                code("defaults", "month = 'Jan'\nrate = 1.0\nlimit = 3"),
                "parameters",
            ),
            code("empty", "   \n"),
            code(
                "body",
                "print(month, rate * 2, limit, type(limit).__name__)",
            ),
            tagged(code("skipped", "print('never run')"), "skip-execution"),
            tagged(
                code("fails", "raise ValueError('expected')"),
                "raises-exception",
            ),
            code("after", "print('after the expected error')"),
        ],
        python3(),
    );
    let input = write(dir.path(), "report.ipynb", &file);
    let output = dir.path().join("executed.ipynb");
    let run = cathode_run(
        &server,
        &[
            "--import",
            &input,
            "--output",
            output.to_str().unwrap(),
            "-p",
            "month",
            "Feb",
            "-p",
            "rate",
            "2.5",
            "-y",
            "limit: 7\nextra: [1, 2]",
        ],
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Feb 5.0 7 int\n"), "{}", run.stdout);
    assert!(!run.stdout.contains("never run"), "{}", run.stdout);
    assert!(
        run.stdout.contains("after the expected error"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("skipped (tagged skip-execution)"),
        "{}",
        run.stdout
    );

    let executed = read(&output);
    assert_eq!(
        nbformat_check(&std::fs::read(&output).unwrap(), None)["valid"],
        true
    );
    let cells = executed["cells"].as_array().unwrap();
    let ids: Vec<&str> = cells.iter().map(|c| c["id"].as_str().unwrap()).collect();
    // The injected cell sits right after the one tagged `parameters`.
    assert_eq!(ids[1], "defaults");
    let injected = &cells[2];
    assert_eq!(injected["metadata"]["tags"], json!(["injected-parameters"]));
    let source: String = injected["source"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        source,
        "# Parameters\nmonth = \"Feb\"\nrate = 2.5\nlimit = 7\nextra = [1, 2]\n"
    );
    let by_id = |id: &str| cells.iter().find(|c| c["id"] == id).unwrap().clone();
    // The empty cell was not sent to the kernel; the counts show it.
    assert_eq!(by_id("empty")["execution_count"], Value::Null);
    assert_eq!(by_id("skipped")["execution_count"], Value::Null);
    assert_eq!(by_id("skipped")["outputs"], json!([]));
    assert_eq!(by_id("body")["execution_count"], 3);
    assert_eq!(text(&by_id("body")["outputs"][0]), "Feb 5.0 7 int\n");
    assert_eq!(by_id("fails")["outputs"][0]["ename"], "ValueError");
    assert_eq!(
        text(&by_id("after")["outputs"][0]),
        "after the expected error\n"
    );
}

#[test]
fn stops_at_the_first_error_and_still_writes_the_notebook() {
    let server = TestServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = notebook(
        vec![
            code("one", "print('one')"),
            code("boom", "raise ValueError('boom')"),
            code("never", "print('never')"),
        ],
        python3(),
    );
    let input = write(dir.path(), "failing.ipynb", &file);
    let output = dir.path().join("out.ipynb");
    let run = cathode_run(
        &server,
        &["--import", &input, "--output", output.to_str().unwrap()],
    );
    assert_eq!(run.code, Some(1));
    assert!(
        run.stdout.contains("one\n") && run.stdout.contains("ValueError"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("never"),
        "ran past the error:\n{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("cell 2 (id boom) failed: ValueError: boom"),
        "{}",
        run.stderr
    );
    let executed = read(&output);
    assert_eq!(executed["cells"][1]["outputs"][0]["ename"], "ValueError");
    assert_eq!(executed["cells"][2]["outputs"], json!([]));
}

#[test]
fn input_fails_at_once_unless_answers_are_given_on_both_kernels() {
    let server = TestServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = notebook(
        vec![code(
            "ask",
            "import getpass\nname = input('name? ')\nword = getpass.getpass('password? ')\nprint(f'{name} has {len(word)} characters')",
        )],
        json!({}),
    );
    let input = write(dir.path(), "ask.ipynb", &file);
    let answers = dir.path().join("answers.txt");
    // The second line answers getpass(): sealed to the agent's key, it is
    // never written readable (the first, an input() answer, is).
    std::fs::write(&answers, "Adalovelace\nsw0rdfish-42\n").unwrap();
    for kernel in ["python3", "wasm-python"] {
        let started = std::time::Instant::now();
        let run = cathode_run(&server, &["--import", &input, "--kernel", kernel]);
        assert_eq!(run.code, Some(1), "{kernel}: {}", run.stdout);
        assert!(
            run.stdout.contains("StdinNotImplementedError"),
            "{kernel}: input() did not fail at once:\n{}",
            run.stdout
        );
        eprintln!(
            "{kernel}: input() failed the run in {:?}",
            started.elapsed()
        );

        let run = cathode_run(
            &server,
            &[
                "--import",
                &input,
                "--kernel",
                kernel,
                "--stdin",
                answers.to_str().unwrap(),
            ],
        );
        assert_eq!(
            run.code,
            Some(0),
            "{kernel}: {}\n{}",
            run.stdout,
            run.stderr
        );
        assert!(
            run.stdout.contains("Adalovelace has 12 characters\n"),
            "{kernel}: {}",
            run.stdout
        );
    }
    // Every change of every notebook's document, decoded: the input()
    // answer is there in clear (the search works), the password is not.
    let history = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(notebook_histories(&server));
    assert!(
        history.contains("Adalovelace"),
        "the search finds the input() answer"
    );
    assert!(
        history.contains("ciphertext"),
        "no sealed answer was written"
    );
    assert!(
        !history.contains("sw0rdfish"),
        "the password is in a document"
    );
}

/// The decoded changes of every notebook's document, as text.
async fn notebook_histories(server: &TestServer) -> String {
    let (_, list) = server
        .api(
            reqwest::Method::GET,
            "/api/notebooks",
            &server.owner_token,
            None,
        )
        .await
        .unwrap();
    let mut text = String::new();
    for notebook in list["notebooks"].as_array().unwrap() {
        let id = notebook["id"].as_str().unwrap();
        let client =
            cathode_client::NotebookClient::connect(server.client_config(&server.owner_token, id))
                .await
                .unwrap();
        text.push_str(&cathode_tests::history_text::decoded_history(&client).await);
        client.close().await;
    }
    text
}

#[test]
fn a_cell_past_the_timeout_is_interrupted_and_ends_the_run() {
    let server = TestServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = notebook(
        vec![
            code(
                "slow",
                "import time\nfor i in range(600):\n    time.sleep(0.1)",
            ),
            code("next", "print('not reached')"),
        ],
        python3(),
    );
    let input = write(dir.path(), "slow.ipynb", &file);
    let run = cathode_run(&server, &["--import", &input, "--timeout", "2"]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(run.stdout.contains("KeyboardInterrupt"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("cell 1 (id slow) failed: it ran past the 2 s timeout"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("not reached"));
}

#[test]
fn a_kernel_that_dies_ends_the_run_naming_the_cell() {
    let server = TestServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = notebook(
        vec![
            code("fine", "print('fine')"),
            code("dies", "import os\nos._exit(3)"),
            code("next", "print('not reached')"),
        ],
        python3(),
    );
    let input = write(dir.path(), "dies.ipynb", &file);
    let run = cathode_run(&server, &["--import", &input, "--allow-errors"]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(
        run.stderr.contains("cell 2 (id dies) failed") && run.stderr.contains("kernel died"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("not reached"), "{}", run.stdout);
}

#[test]
fn parallel_runs_keep_ipython_history_in_memory() {
    let server = TestServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = notebook(
        vec![
            code("history", "print(get_ipython().history_manager.hist_file)"),
            code("work", "import time\nfor i in range(20):\n    time.sleep(0.05)\nprint('done', sum(range(10)))"),
        ],
        python3(),
    );
    let input = write(dir.path(), "parallel.ipynb", &file);
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| cathode_run(&server, &["--import", &input])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in runs {
        assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
        assert!(run.stdout.contains(":memory:\n"), "{}", run.stdout);
        assert!(run.stdout.contains("done 45\n"), "{}", run.stdout);
    }
}
