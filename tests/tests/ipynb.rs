//! `.ipynb` in and out through the server: every nbformat test notebook
//! imported and exported (or refused with a message naming the problem,
//! creating nothing), and notebooks run on a real kernel exported with
//! every kind of output, checked by the official `nbformat` package and
//! imported again to the same content.

use base64::Engine;
use cathode_client::NotebookClient;
use cathode_tests::cells::{request_run, wait_execution};
use cathode_tests::ipynb::{
    code, export, import, markdown, nbformat_check, nbformat_fixtures, notebook,
};
use cathode_tests::server::ServerOptions;
use cathode_tests::TestServer;
use reqwest::Method;
use schema::{CellId, ExecutionState};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// How each of nbformat's test notebooks must fare: imported as is,
/// imported with its cell ids repaired (as `nbformat.read` repairs them),
/// or refused with a message holding these words.
enum Expect {
    Imported,
    Repaired,
    Refused(&'static [&'static str]),
}

fn expectations() -> BTreeMap<&'static str, Expect> {
    use Expect::*;
    BTreeMap::from([
        ("test4.ipynb", Imported),
        ("test4.5.ipynb", Imported),
        ("test4docinfo.ipynb", Imported),
        ("test4custom.ipynb", Imported),
        ("test4jupyter_metadata.ipynb", Imported),
        ("test4jupyter_metadata_timings.ipynb", Imported),
        ("many_tracebacks.ipynb", Imported),
        ("test2.ipynb", Imported),
        ("test3.ipynb", Imported),
        ("test3_no_min_version.ipynb", Imported),
        ("invalid_unique_cell_id.ipynb", Repaired),
        ("v4_5_no_cell_id.ipynb", Repaired),
        ("invalid_cell_id.ipynb", Repaired),
        (
            "invalid.ipynb",
            Refused(&[
                "cells[0]",
                "'source' is a required property",
                "heading",
                "bad stream",
            ]),
        ),
        (
            "v4_5_invalid_metadata.ipynb",
            Refused(&["metadata", "kernelspec", "tags"]),
        ),
        (
            "no_min_version.ipynb",
            Refused(&["'nbformat_minor' is a required property"]),
        ),
        ("test3_no_metadata.ipynb", Refused(&["metadata"])),
        ("test3_no_worksheets.ipynb", Refused(&["worksheets"])),
        ("test3_worksheet_with_no_cells.ipynb", Refused(&["cells"])),
        // A notebook from a future nbformat with cell and output types no
        // version we know has: refused by name rather than dropped.
        ("test4plus.ipynb", Refused(&["future cell"])),
    ])
}

async fn notebook_count(server: &TestServer) -> usize {
    let (_, listed) = server
        .api(Method::GET, "/api/notebooks", &server.owner_token, None)
        .await
        .unwrap();
    listed["notebooks"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_nbformat_test_notebook_is_imported_and_exported_or_refused_by_name() {
    let server = TestServer::start().unwrap();
    let dir = nbformat_fixtures();
    let expect = expectations();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        expect.len(),
        "a fixture without an expectation"
    );
    let mut imported = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let bytes = std::fs::read(path).unwrap();
        let before = notebook_count(&server).await;
        let (status, reply) = import(&server, &server.owner_token, &bytes, name).await;
        match &expect[name] {
            Expect::Refused(words) => {
                assert_eq!(status, 400, "{name} was not refused: {reply}");
                assert_eq!(reply["error"], "invalid_notebook", "{name}: {reply}");
                let message = reply["message"].as_str().unwrap_or_default();
                for word in *words {
                    assert!(
                        message.contains(word),
                        "{name}: {word:?} not in {message:?}"
                    );
                }
                assert_eq!(
                    notebook_count(&server).await,
                    before,
                    "{name} created something"
                );
            }
            outcome => {
                assert_eq!(status, 201, "{name} was not imported: {reply}");
                imported += 1;
                let repaired = reply["repaired"].as_array().map_or(0, Vec::len);
                match outcome {
                    Expect::Repaired => assert!(repaired > 0, "{name}: no repair reported"),
                    _ => assert_eq!(repaired, 0, "{name}: {reply}"),
                }
                let id = reply["id"].as_str().unwrap();
                let (status, disposition, file) = export(&server, &server.owner_token, id).await;
                assert_eq!(status, 200, "{name}");
                assert!(
                    disposition.contains(&format!("filename=\"{name}\"")),
                    "{name}: {disposition}"
                );
                let check = nbformat_check(&file, Some(path));
                assert_eq!(check["valid"], true, "{name}: {check}");
                let differences = check["differences"].as_array().unwrap();
                let shown: Vec<String> = differences
                    .iter()
                    .map(|d| {
                        let cut = |v: &Value| v.to_string().chars().take(400).collect::<String>();
                        format!(
                            "{}: was {} now {}",
                            d["where"],
                            cut(&d["original"]),
                            cut(&d["exported"])
                        )
                    })
                    .collect();
                assert!(
                    differences.is_empty(),
                    "{name} changed:\n{}",
                    shown.join("\n")
                );
            }
        }
    }
    assert_eq!(notebook_count(&server).await, imported);
}

/// Run one cell to its end; its final execution.
async fn run(client: &NotebookClient, cell: &str) -> schema::ExecutionRecord {
    let request = request_run(client, &CellId::from(cell)).await;
    wait_execution(client, &request, cell, |x| x.state.is_finished()).await
}

fn text_of(output: &Value) -> String {
    let field = output
        .get("text")
        .or_else(|| output["data"].get("text/plain"));
    match field {
        Some(Value::Array(lines)) => lines.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// A tiny PNG (1x1, red), as a markdown attachment carries it.
const PNG_1X1: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_notebook_exports_every_kind_of_output_and_imports_back_the_same() {
    let server = TestServer::start_with_options(
        &["--default-kernel", "python3"],
        ServerOptions {
            auto_runtime: true,
            ..ServerOptions::default()
        },
    )
    .unwrap();
    let mut intro = markdown("intro", "# Report\n\n![dot](attachment:dot.png)");
    intro["attachments"] = json!({"dot.png": {"image/png": PNG_1X1}});
    intro["metadata"] = json!({"tags": ["intro"], "custom": {"kept": [1, "two"]}});
    let mut plot = code(
        "plot",
        "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()",
    );
    plot["metadata"] = json!({"jupyter": {"source_hidden": true}, "collapsed": false});
    let mut boom = code("boom", "1 / 0");
    boom["metadata"] = json!({"tags": ["raises-exception"]});
    let file = notebook(
        vec![
            intro,
            plot,
            code("table", "import pandas as pd\npd.DataFrame({'city': ['Lyon', 'Nantes'], 'people': [522250, 323204]})"),
            code("long", "for i in range(1000):\n    print(f'{i:04d} ' + 'y' * 80)"),
            boom,
            code("shown", "handle = display('before', display_id=True)"),
            code("update", "handle.update('after')\nprint('updated')"),
            markdown("end", "The end."),
        ],
        json!({"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
               "language_info": {"name": "python"}, "custom_key": {"a": 1}}),
    );
    let (status, reply) = import(
        &server,
        &server.owner_token,
        &serde_json::to_vec(&file).unwrap(),
        "Report 2024",
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let id = reply["id"].as_str().unwrap().to_owned();
    assert_eq!(reply["kernel"], "python3");
    let client = NotebookClient::connect(server.client_config(&server.owner_token, &id))
        .await
        .unwrap();
    for cell in ["plot", "table", "long", "boom", "shown", "update"] {
        let done = run(&client, cell).await;
        let expected = if cell == "boom" {
            ExecutionState::Error
        } else {
            ExecutionState::Done
        };
        assert_eq!(done.state, expected, "{cell}: {done:?}");
    }

    let (status, disposition, exported) = export(&server, &server.owner_token, &id).await;
    assert_eq!(status, 200);
    assert!(disposition.contains("Report 2024.ipynb"), "{disposition}");
    let check = nbformat_check(&exported, None);
    assert_eq!(check["valid"], true, "{check}");
    let nb: Value = serde_json::from_slice(&exported).unwrap();
    let cells = nb["cells"].as_array().unwrap();
    let by_id = |id: &str| cells.iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(cells.len(), 8);
    assert_eq!(nb["metadata"]["custom_key"], json!({"a": 1}));
    assert_eq!(nb["metadata"]["kernelspec"]["name"], "python3");

    let intro = by_id("intro");
    assert_eq!(intro["attachments"]["dot.png"]["image/png"], PNG_1X1);
    assert_eq!(intro["metadata"]["custom"], json!({"kept": [1, "two"]}));
    assert_eq!(intro["metadata"]["tags"], json!(["intro"]));

    let plot = by_id("plot");
    assert_eq!(plot["metadata"]["jupyter"]["source_hidden"], true);
    let png = plot["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| o["data"]["image/png"].as_str())
        .expect("the plot's PNG");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(png.trim())
        .unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 2_000,
        "a plot this small? {} bytes",
        bytes.len()
    );

    let table = by_id("table");
    let html: String = table["outputs"][0]["data"]["text/html"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(html.contains("<table") && html.contains("Nantes"), "{html}");
    assert!(table["execution_count"].as_i64().is_some());

    let long = text_of(&by_id("long")["outputs"][0]);
    assert!(long.len() > 64 * 1024, "{} bytes", long.len());
    assert_eq!(long.lines().count(), 1000, "the stream is not whole");
    assert!(long.contains(&format!("0500 {}", "y".repeat(80))));

    let boom = by_id("boom");
    let error = &boom["outputs"][0];
    assert_eq!(error["output_type"], "error");
    assert_eq!(error["ename"], "ZeroDivisionError");
    assert!(error["traceback"].as_array().unwrap().len() > 1, "{error}");

    // The display made in one cell shows the value a later cell gave it.
    let shown = text_of(&by_id("shown")["outputs"][0]);
    assert_eq!(shown, "'after'");
    assert_eq!(text_of(&by_id("update")["outputs"][0]), "updated\n");

    // Imported again, it exports to the same file.
    let (status, again) = import(&server, &server.owner_token, &exported, "again").await;
    assert_eq!(status, 201, "{again}");
    let (_, _, second) = export(&server, &server.owner_token, again["id"].as_str().unwrap()).await;
    let second: Value = serde_json::from_slice(&second).unwrap();
    assert_eq!(second, nb, "a re-import changed the notebook");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_notebook_round_trips_after_a_run() {
    let server = TestServer::start_with_options(
        &[],
        ServerOptions {
            auto_runtime: true,
            ..ServerOptions::default()
        },
    )
    .unwrap();
    let sample = cathode_tests::package_dir().join("../examples/tour.ipynb");
    let (status, reply) = import(
        &server,
        &server.owner_token,
        &std::fs::read(&sample).unwrap(),
        "tour",
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let id = reply["id"].as_str().unwrap().to_owned();
    let client = NotebookClient::connect(server.client_config(&server.owner_token, &id))
        .await
        .unwrap();
    let code_cells: Vec<CellId> = client
        .notebook(|nb| {
            nb.cells()
                .unwrap()
                .into_iter()
                .filter(|c| c.cell_type == schema::CellType::Code)
                .map(|c| c.id)
                .collect()
        })
        .await
        .unwrap();
    for cell in &code_cells {
        run(&client, cell.as_str()).await;
    }
    let (_, _, exported) = export(&server, &server.owner_token, &id).await;
    let check = nbformat_check(&exported, None);
    assert_eq!(check["valid"], true, "{check}");
    let nb: Value = serde_json::from_slice(&exported).unwrap();
    let outputs: Vec<&Value> = nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["outputs"].as_array().into_iter().flatten())
        .collect();
    assert!(
        outputs.iter().any(|o| o["data"].get("image/png").is_some()),
        "no plot"
    );
    assert!(outputs.iter().any(|o| o["ename"] == "KeyError"), "no error");
    let (status, again) = import(&server, &server.owner_token, &exported, "tour again").await;
    assert_eq!(status, 201);
    let (_, _, second) = export(&server, &server.owner_token, again["id"].as_str().unwrap()).await;
    assert_eq!(serde_json::from_slice::<Value>(&second).unwrap(), nb);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_take_multipart_forms_and_viewers_export_but_do_not_import() {
    let server = TestServer::start().unwrap();
    let file = serde_json::to_vec(&notebook(vec![code("a", "1")], json!({}))).unwrap();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(file.clone()).file_name("Quarterly numbers.ipynb"),
    );
    let reply: Value = reqwest::Client::new()
        .post(format!("{}/api/notebooks/import", server.http_url()))
        .bearer_auth(&server.owner_token)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["name"], "Quarterly numbers", "{reply}");
    let id = reply["id"].as_str().unwrap();
    let viewer = server.user_with_role(id, "vera", "viewer").await.unwrap();
    let (status, _, exported) = export(&server, &viewer, id).await;
    assert_eq!(status, 200);
    assert_eq!(nbformat_check(&exported, None)["valid"], true);
    let runtime = server.runtime_token(id).await.unwrap();
    let (status, reply) = import(&server, &runtime, &file, "no").await;
    assert_eq!(status, 403, "{reply}");
    let (status, reply) = import(&server, &server.owner_token, b"{\"cells\": 3", "broken").await;
    assert_eq!(status, 400);
    assert!(
        reply["message"].as_str().unwrap().contains("not JSON"),
        "{reply}"
    );
}

/// A person clears outputs without any runtime running: the export has
/// none for that cell (and no count), the other cell keeps its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleared_outputs_are_not_exported() {
    let server = TestServer::start().unwrap();
    let printed = |text: &str, n: i64| {
        let mut cell = code(text, &format!("print({text:?})"));
        cell["execution_count"] = json!(n);
        cell["outputs"] =
            json!([{"output_type": "stream", "name": "stdout", "text": [format!("{text}\n")]}]);
        cell
    };
    let file = serde_json::to_vec(&notebook(
        vec![printed("kept", 1), printed("cleared", 2)],
        json!({}),
    ))
    .unwrap();
    let (status, reply) = import(&server, &server.owner_token, &file, "clearing").await;
    assert_eq!(status, 201, "{reply}");
    let id = reply["id"].as_str().unwrap().to_owned();
    let client = NotebookClient::connect(server.client_config(&server.owner_token, &id))
        .await
        .unwrap();
    let shown = client
        .runtime(|rt| rt.shown_executions())
        .await
        .unwrap()
        .unwrap();
    let target = CellId::from("cleared");
    let clear = schema::OutputsCleared::of(&shown[&target]);
    let written = client
        .edit_notebook(move |nb| nb.clear_outputs(&[(target, clear)]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(written, 1);
    client
        .wait_acknowledged(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let (status, _, exported) = export(&server, &server.owner_token, &id).await;
    assert_eq!(status, 200);
    assert_eq!(nbformat_check(&exported, None)["valid"], true);
    let nb: Value = serde_json::from_slice(&exported).unwrap();
    let cell = |id: &str| {
        nb["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(cell("cleared")["outputs"], json!([]));
    assert_eq!(cell("cleared")["execution_count"], Value::Null);
    assert_eq!(cell("kept")["execution_count"], 1);
    assert_eq!(text_of(&cell("kept")["outputs"][0]), "kept\n");
    client.close().await;
}
