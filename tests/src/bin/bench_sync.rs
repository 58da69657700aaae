//! Sync benchmark: change propagation between clients, durable change
//! throughput into the SQLite event log, a burst of large changes on a
//! fresh and on a long-lived notebook, and the cost of an open notebook.
//!
//! `cargo run --release -p cathode-tests --bin bench-sync` (builds the
//! server too; run `cargo build --release --bins` first). Prints a table;
//! not part of the test suite, because wall-clock figures on a shared
//! machine are for reading, not asserting.

use anyhow::{Context, Result};
use cathode_client::NotebookClient;
use cathode_tests::probe::edit_latencies;
use cathode_tests::stats::{ms, percentile};
use cathode_tests::TestServer;
use schema::{CellId, CellType, DocKind, Placement};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A writes one character; time until B's replica has it.
async fn propagation(
    server: &TestServer,
    receivers: usize,
    edits: usize,
) -> Result<(Duration, Duration)> {
    let notebook = server
        .create_notebook(&server.owner_token, "propagation")
        .await?;
    let config = server.client_config(&server.owner_token, &notebook);
    let writer = NotebookClient::connect(config.clone()).await?;
    let cell: CellId = writer
        .edit_notebook(|nb| nb.create_cell(CellType::Code, Placement::End, ""))
        .await??;
    writer.wait_acknowledged(Duration::from_secs(10)).await?;
    let mut observers = Vec::new();
    for _ in 0..receivers {
        observers.push(NotebookClient::connect(config.clone()).await?);
    }
    let reader = &observers[0];
    let mut samples = edit_latencies(&writer, reader, &cell, 0, edits).await?;
    samples.sort();
    for o in observers {
        o.close().await;
    }
    writer.close().await;
    Ok((percentile(&samples, 50.0), percentile(&samples, 99.0)))
}

/// Durable appends per second through the group-commit writer, with many
/// concurrent appenders (as many rooms would), and one at a time.
async fn durable_throughput(dir: &std::path::Path) -> Result<(f64, f64)> {
    use sync_server::event_log::EventLog;
    use sync_server::store::{ChangeRow, SqlStore, Store};
    let url = format!("sqlite://{}", dir.join("throughput.sqlite").display());
    let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url).await?);
    let (log, task) = EventLog::start(store.clone());
    let row = |notebook: usize, seq: i64| ChangeRow {
        notebook_id: format!("nb-{notebook}"),
        doc: DocKind::Notebook,
        seq,
        hash: format!("{notebook}-{seq}"),
        actor: "bench".into(),
        author: "bench".into(),
        event_type: "SourceEdited".into(),
        bytes: vec![0x85; 120],
        created_at_ms: 0,
    };
    // One at a time: every append waits for its own commit.
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(2) {
        n += 1;
        log.append(vec![row(0, n)]).await?;
    }
    let serial = n as f64 / start.elapsed().as_secs_f64();
    // 100 concurrent appenders.
    let start = Instant::now();
    let mut tasks = Vec::new();
    for a in 1..=100usize {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0i64;
            while start.elapsed() < Duration::from_secs(3) {
                n += 1;
                if log.append(vec![row(a, n)]).await.is_err() {
                    break;
                }
            }
            n
        }));
    }
    let mut total = 0i64;
    for t in tasks {
        total += t.await?;
    }
    let concurrent = total as f64 / start.elapsed().as_secs_f64();
    log.close().await;
    let _ = task.await;
    store.close().await;
    Ok((serial, concurrent))
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("bad VmRSS")?
        .parse()?)
}

/// Memory per open notebook (200 cells × 2 KB) and the cold open time.
async fn open_cost(notebooks: usize) -> Result<(f64, Duration, Duration)> {
    let mut server = TestServer::start()?;
    let mut ids = Vec::new();
    for n in 0..notebooks {
        let id = server
            .create_notebook(&server.owner_token, &format!("big {n}"))
            .await?;
        let client =
            NotebookClient::connect(server.client_config(&server.owner_token, &id)).await?;
        client
            .edit_notebook(|nb| {
                for i in 0..200 {
                    let source: String = format!("# cell {i}\n")
                        .chars()
                        .chain(std::iter::repeat_n('x', 2048 - 10))
                        .collect();
                    nb.create_cell(CellType::Code, Placement::End, &source)?;
                }
                Ok::<_, schema::SchemaError>(())
            })
            .await??;
        client.wait_acknowledged(Duration::from_secs(60)).await?;
        client.close().await;
        ids.push(id);
    }
    // Cold: a fresh process with nothing in memory.
    server.restart()?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.pid().context("no server pid")?;
    let before = rss_kib(pid)?;
    let mut opens = Vec::new();
    let mut clients = Vec::new();
    for id in &ids {
        let start = Instant::now();
        let client = NotebookClient::connect(server.client_config(&server.owner_token, id)).await?;
        opens.push(start.elapsed());
        let cells = client
            .notebook(|nb| nb.cell_ids().map(|c| c.len()).unwrap_or(0))
            .await?;
        anyhow::ensure!(cells == 200, "notebook opened with {cells} cells");
        clients.push(client);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_kib(pid)?;
    opens.sort();
    let per_notebook_mib = (after.saturating_sub(before)) as f64 / notebooks as f64 / 1024.0;
    Ok((
        per_notebook_mib,
        percentile(&opens, 50.0),
        *opens.last().unwrap_or(&Duration::ZERO),
    ))
}

/// One burst: how long, and the CPU seconds the server and the two
/// clients (this process) spent on it.
struct Burst {
    took: Duration,
    server_cpu: f64,
    clients_cpu: f64,
}

/// 3,000 changes of 4 KB from one peer, until another has them all: on a
/// fresh notebook and on one with 100,000 changes of history.
async fn bursts(
    shape: cathode_tests::burst::BurstShape,
    changes: usize,
    history: usize,
) -> Result<Vec<Burst>> {
    use cathode_tests::burst::cpu_seconds;
    let server = TestServer::start()?;
    let server_pid = server.pid().context("no server pid")?;
    let mut times = Vec::new();
    for prior in [0, history] {
        let notebook = server.create_notebook(&server.owner_token, "burst").await?;
        let config = server.client_config(&server.owner_token, &notebook);
        let writer = NotebookClient::connect(config.clone()).await?;
        if prior > 0 {
            cathode_tests::burst::prefill(&writer, prior).await?;
        }
        let reader = NotebookClient::connect(config).await?;
        let (server_before, me_before) = (cpu_seconds(server_pid), cpu_seconds(std::process::id()));
        let took = cathode_tests::burst::burst(
            &writer,
            &reader,
            shape,
            changes,
            4096,
            Duration::from_secs(1800),
        )
        .await?;
        times.push(Burst {
            took,
            server_cpu: cpu_seconds(server_pid) - server_before,
            clients_cpu: cpu_seconds(std::process::id()) - me_before,
        });
        writer.close().await;
        reader.close().await;
    }
    Ok(times)
}

/// Whether `BENCH_SECTIONS` (comma-separated; all when unset) names this one.
fn section(name: &str) -> bool {
    std::env::var("BENCH_SECTIONS")
        .map(|s| s.split(',').any(|x| x.trim() == name))
        .unwrap_or(true)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let edits: usize = std::env::var("BENCH_EDITS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    println!("cathode sync benchmark (loopback, SQLite WAL with synchronous=FULL)");
    if section("propagation") {
        println!("\nchange propagation, one character A -> server -> B, {edits} edits");
        println!("{:<28} {:>12} {:>12}", "connected receivers", "p50", "p99");
        let server = TestServer::start()?;
        for receivers in [1usize, 10, 50] {
            let (p50, p99) = propagation(&server, receivers, edits).await?;
            println!("{:<28} {:>12} {:>12}", receivers, ms(p50), ms(p99));
        }
    }
    if section("throughput") {
        throughput_section().await?;
    }
    if section("burst") {
        burst_section().await?;
    }
    if section("open") {
        open_section().await?;
    }
    Ok(())
}

async fn throughput_section() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (serial, grouped) = durable_throughput(dir.path()).await?;
    println!("\ndurable changes per second into the SQLite event log");
    println!("{:<28} {:>12.0}", "one at a time", serial);
    println!("{:<28} {:>12.0}", "100 concurrent (group commit)", grouped);
    println!(
        "{:<28} {:>12.1}x",
        "group commit gain",
        grouped / serial.max(1.0)
    );
    Ok(())
}

async fn burst_section() -> Result<()> {
    let burst_changes = 3_000;
    let history: usize = std::env::var("BENCH_HISTORY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    println!(
        "\nburst of {burst_changes} changes of 4 KB from one peer, until another has them all"
    );
    println!(
        "{:<34} {:>12} {:>12} {:>12}",
        "", "time", "server CPU", "clients CPU"
    );
    use cathode_tests::burst::BurstShape;
    for shape in [BurstShape::NewCells, BurstShape::Appends] {
        let runs = bursts(shape, burst_changes, history).await?;
        let what = match shape {
            BurstShape::NewCells => "new cells",
            BurstShape::Appends => "appends to one cell",
        };
        for (label, run) in [format!("{what}, fresh"), format!("{what}, after {history}")]
            .iter()
            .zip(&runs)
        {
            println!(
                "{:<34} {:>12} {:>11.1}s {:>11.1}s",
                label,
                ms(run.took),
                run.server_cpu,
                run.clients_cpu
            );
        }
    }
    Ok(())
}

async fn open_section() -> Result<()> {
    let notebooks = 10;
    let (mib, open_p50, open_max) = open_cost(notebooks).await?;
    println!("\nopen notebook of 200 cells x 2 KB ({notebooks} notebooks, cold server)");
    println!("{:<28} {:>12.2} MiB", "server memory per notebook", mib);
    println!("{:<28} {:>12}", "cold open p50", ms(open_p50));
    println!("{:<28} {:>12}", "cold open max", ms(open_max));
    Ok(())
}
