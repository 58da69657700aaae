//! Give a notebook a long history, for the browser benchmark's history
//! panel (`web-client/bench/bench.ts`): `history-fill WS_URL TOKEN
//! NOTEBOOK CHANGES` makes CHANGES changes as one person working: a new
//! cell, then 49 one-character edits of it, and again, acknowledged a
//! thousand at a time.

use anyhow::{Context, Result};
use cathode_client::{ClientConfig, NotebookClient};
use schema::{CellType, Placement};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: history-fill WS_URL TOKEN NOTEBOOK CHANGES";
    let ws = args.get(1).context(usage)?;
    let token = args.get(2).context(usage)?;
    let notebook = args.get(3).context(usage)?;
    let changes: usize = args.get(4).context(usage)?.parse().context(usage)?;
    let client = NotebookClient::connect(ClientConfig::new(ws, token, notebook)).await?;
    let mut cell = None;
    let mut typed = 0;
    for i in 0..changes {
        match cell.clone() {
            Some(c) if i % 50 != 0 => {
                client
                    .edit_notebook(move |nb| nb.splice_source(&c, typed, 0, "h"))
                    .await??;
                typed += 1;
            }
            _ => {
                let id = client
                    .edit_notebook(|nb| nb.create_cell(CellType::Code, Placement::End, ""))
                    .await??;
                cell = Some(id);
                typed = 0;
            }
        }
        if i % 1000 == 999 {
            client.wait_acknowledged(Duration::from_secs(300)).await?;
        }
    }
    client.wait_acknowledged(Duration::from_secs(300)).await?;
    client.close().await;
    Ok(())
}
