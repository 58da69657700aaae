//! Running a whole notebook without a browser, like nbclient or papermill:
//! every code cell in order through the notebook's runtime agent, outputs
//! printed as they finish, and a failure at the first error.

use cathode_client::NotebookClient;
use schema::{
    CellId, CellType, ExecutionRecord, ExecutionState, MimePayload, OutputManifest, Placement,
};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Cells of an `.ipynb` file, in order.
pub fn read_ipynb(text: &str) -> anyhow::Result<Vec<(CellType, String)>> {
    let nb: serde_json::Value = serde_json::from_str(text)?;
    let cells = nb["cells"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("not a notebook: no \"cells\" list"))?;
    cells
        .iter()
        .map(|cell| {
            let kind = match cell["cell_type"].as_str() {
                Some("code") => CellType::Code,
                Some("markdown") => CellType::Markdown,
                Some("raw") => CellType::Raw,
                other => anyhow::bail!("unsupported cell type {other:?}"),
            };
            let source = match &cell["source"] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(parts) => {
                    parts.iter().filter_map(|p| p.as_str()).collect()
                }
                _ => String::new(),
            };
            Ok((kind, source))
        })
        .collect()
}

/// Add the cells to the (new) notebook.
pub async fn import(client: &NotebookClient, cells: Vec<(CellType, String)>) -> anyhow::Result<()> {
    client
        .edit_notebook(move |nb| {
            for (kind, source) in &cells {
                nb.create_cell(*kind, Placement::End, source)?;
            }
            Ok::<_, schema::SchemaError>(())
        })
        .await??;
    client.wait_acknowledged(Duration::from_secs(30)).await?;
    Ok(())
}

/// How the run went.
pub struct Summary {
    pub ran: usize,
    pub failed: Option<CellId>,
}

/// Run every code cell in order and print its outputs. Stops at the first
/// error unless `allow_errors`.
pub async fn run_all(
    client: &NotebookClient,
    allow_errors: bool,
    out: &mut impl Write,
) -> anyhow::Result<Summary> {
    let code_cells: Vec<(CellId, String)> = client
        .notebook(|nb| {
            nb.cells().map(|cells| {
                cells
                    .into_iter()
                    .filter(|c| c.cell_type == CellType::Code)
                    .map(|c| (c.id, c.source))
                    .collect()
            })
        })
        .await??;
    let progress = std::io::stderr().is_terminal();
    let total = code_cells.len();
    let mut summary = Summary {
        ran: 0,
        failed: None,
    };
    for (i, (cell, source)) in code_cells.into_iter().enumerate() {
        if progress {
            let first_line = source
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(50)
                .collect::<String>();
            eprint!(
                "\r\u{1b}[2K[{}/{}] {} {first_line}",
                i + 1,
                total,
                bar(i, total)
            );
        }
        let started = Instant::now();
        let c = cell.clone();
        let request = client
            .edit_notebook(move |nb| nb.request_execution(&c, "cathode-run"))
            .await??;
        let record = wait_finished(client, &request.request_id).await?;
        if progress {
            eprint!("\r\u{1b}[2K");
        }
        summary.ran += 1;
        writeln!(
            out,
            "--- cell {} of {} [{}] {:?} in {} ms",
            i + 1,
            total,
            record
                .execution_count
                .map(|c| c.to_string())
                .unwrap_or_else(|| " ".into()),
            record.state,
            started.elapsed().as_millis()
        )?;
        for output in &record.outputs {
            write!(out, "{}", render(output))?;
        }
        if record.state != ExecutionState::Done {
            summary.failed.get_or_insert(cell);
            if !allow_errors {
                break;
            }
        }
    }
    if progress {
        eprintln!("\r\u{1b}[2K[{total}/{total}] {}", bar(total, total));
    }
    Ok(summary)
}

fn bar(done: usize, total: usize) -> String {
    let width = 20;
    let filled = (done * width)
        .checked_div(total)
        .unwrap_or(width)
        .min(width);
    format!("|{}{}|", "#".repeat(filled), ".".repeat(width - filled))
}

async fn wait_finished(
    client: &NotebookClient,
    request: &schema::RequestId,
) -> anyhow::Result<ExecutionRecord> {
    let mut revision = client.revision();
    loop {
        revision.borrow_and_update();
        let r = request.clone();
        let found = client
            .runtime(move |rt| {
                rt.executions()
                    .map(|xs| xs.into_iter().find(|x| x.request_id == r))
            })
            .await??;
        if let Some(x) = found {
            if x.state.is_finished() {
                return Ok(x);
            }
        }
        revision.changed().await?;
    }
}

/// An output as text for a terminal.
pub fn render(output: &OutputManifest) -> String {
    let mut text = match output {
        OutputManifest::Stream {
            text, truncated, ..
        } => {
            let mut t = text.clone();
            if let Some(cut) = truncated {
                t.push_str(&format!(
                    "\n[... {} more bytes not kept]\n",
                    cut.omitted_bytes
                ));
            }
            t
        }
        OutputManifest::ExecuteResult { data, .. } | OutputManifest::DisplayData { data, .. } => {
            let mut parts = Vec::new();
            for (mime, payload) in data {
                match (mime.as_str(), payload) {
                    ("text/plain", MimePayload::Inline { value }) => parts.push(
                        value
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| value.to_string()),
                    ),
                    (_, MimePayload::Inline { value }) if mime != "text/plain" => {
                        let size = value.as_str().map(|s| s.len()).unwrap_or(0);
                        parts.push(format!("[{mime}, {size} bytes]"));
                    }
                    (_, MimePayload::Blob { sha256, size_bytes }) => {
                        parts.push(format!("[{mime}, {size_bytes} bytes, blob {sha256}]"))
                    }
                    _ => {}
                }
            }
            parts.join("\n")
        }
        OutputManifest::Error {
            ename,
            evalue,
            traceback,
        } => {
            if traceback.is_empty() {
                format!("{ename}: {evalue}")
            } else {
                // Kernels differ on whether each entry ends in a newline.
                traceback
                    .iter()
                    .map(|l| l.trim_end_matches('\n'))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ipynb_sources_as_strings_or_lists() {
        let cells = read_ipynb(
            r##"{"cells": [
                {"cell_type": "markdown", "source": ["# Title\n", "text"]},
                {"cell_type": "code", "source": "1 + 1"}
            ]}"##,
        )
        .unwrap();
        assert_eq!(
            cells,
            vec![
                (CellType::Markdown, "# Title\ntext".into()),
                (CellType::Code, "1 + 1".into())
            ]
        );
        assert!(read_ipynb("{}").is_err());
        assert!(read_ipynb(r#"{"cells": [{"cell_type": "widget"}]}"#).is_err());
    }
}
