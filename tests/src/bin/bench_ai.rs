//! AI benchmark (issue 11), printed, never asserted:
//!
//! 1. building the model's context for a 200-cell notebook with outputs:
//!    time, and its size in tokens before and after a 32k-token budget;
//! 2. the agent's overhead per tool call, from the model's last fragment to
//!    the tool's result sent back, for `create_cell` and for `execute_cell`
//!    of `1+1` on both kernels (against a scripted provider on loopback;
//!    Anode's `execute_cell` polls every 500 ms, so its floor is half a
//!    second);
//! 3. the variable summary on a kernel holding a 1-million-row data frame.
//!
//! `cargo build --release -p cathode-tests --bin bench-ai -p sync-server
//! -p runtime-agent --bins && "$CARGO_TARGET_DIR/release/bench-ai"`
//! (`--calls N`, default 30).

use anyhow::{Context, Result};
use cathode_tests::ai::{add_ai_cell, server_with_ai, set_approval, AiModel};
use cathode_tests::cells::{add_cell, request_run, wait_execution};
use cathode_tests::fake_llm::{answer, tool_calls, FakeLlm, Turn};
use cathode_tests::stats::{ms, percentile};
use kernels::jupyter::{JupyterKernel, JupyterOptions, KernelSpecFinder};
use kernels::wasm::{WasmKernel, WasmOptions};
use kernels::{ExecuteRequest, Kernel};
use runtime_agent::ai::context::{self, Input};
use runtime_agent::ai::kernel_access::AgentKernel;
use runtime_agent::ai::settings::ModelInfo;
use schema::{
    CellType, ExecutionRecord, MimePayload, NotebookDoc, OutputManifest, Placement, RunRequest,
    RuntimeDoc, StreamName,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn venv() -> std::path::PathBuf {
    std::env::var_os("CATHODE_VENV")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| std::path::PathBuf::from(h).join(".cache/cathode/venv"))
        })
        .unwrap_or_default()
}

/// A 200-cell notebook, each cell 2 KB of source with a printed output and
/// a result, and its shown executions.
fn big_notebook() -> Result<(
    NotebookDoc,
    HashMap<schema::CellId, ExecutionRecord>,
    schema::CellId,
)> {
    let mut nb = NotebookDoc::create("nb-bench")?;
    let mut rt = RuntimeDoc::create("nb-bench")?;
    for i in 0..200 {
        let source = format!("# cell {i}\n{}", "value = compute(x) + 1\n".repeat(90));
        let cell = nb.create_cell(CellType::Code, Placement::End, &source)?;
        let x = rt.queue_execution(&cell, &RunRequest::new("ada", nb.heads()), 1)?;
        rt.start_execution(&x, i as i64 + 1, 2)?;
        rt.append_output(
            &x,
            &OutputManifest::Stream {
                name: StreamName::Stdout,
                text: format!("row {i}: {}\n", "0.125 ".repeat(300)),
                truncated: None,
            },
        )?;
        rt.append_output(
            &x,
            &OutputManifest::ExecuteResult {
                execution_count: i as i64 + 1,
                data: [(
                    "text/plain".to_owned(),
                    MimePayload::Inline {
                        value: serde_json::json!(format!("result {i}")),
                    },
                )]
                .into(),
                metadata: serde_json::Value::Null,
            },
        )?;
        rt.finish_execution(&x, schema::ExecutionState::Done, 3)?;
    }
    let ai = nb.create_cell(CellType::Ai, Placement::End, "summarise the notebook")?;
    let shown = rt.shown_executions()?;
    Ok((nb, shown, ai))
}

fn context_part() -> Result<()> {
    let (nb, shown, ai) = big_notebook()?;
    let model = |tokens: u32| ModelInfo {
        id: "m".into(),
        tools: true,
        images: false,
        context_tokens: tokens,
    };
    let mut times = Vec::new();
    let mut sizes = (0, 0, Vec::new());
    for round in 0..10 {
        let t = Instant::now();
        let big = context::build(&Input {
            notebook: &nb,
            shown: &shown,
            ai_cell: &ai,
            prompt: "summarise the notebook",
            model: &model(10_000_000),
            variables: None,
        })?;
        let fitted = context::build(&Input {
            notebook: &nb,
            shown: &shown,
            ai_cell: &ai,
            prompt: "summarise the notebook",
            model: &model(32_000),
            variables: None,
        })?;
        times.push(t.elapsed() / 2);
        if round == 0 {
            sizes = (
                big.report.estimated_tokens,
                fitted.report.estimated_tokens,
                fitted.report.cut,
            );
        }
    }
    println!("context of a 200-cell notebook with outputs (2 KB source, 1.8 KB output each)");
    println!(
        "  build time, p50 of 10                  {:>10}",
        ms(percentile(&times, 50.0))
    );
    println!("  tokens (estimated), no budget          {:>10}", sizes.0);
    println!(
        "  tokens (estimated), 32k model budget   {:>10}   cut: {}",
        sizes.1,
        sizes.2.join("; ")
    );
    Ok(())
}

/// The agent's overhead per tool call, on `kernel`.
async fn tool_overhead(kernel: &str, calls: usize) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let fake = FakeLlm::start(Vec::new()).await;
    let server = server_with_ai(&fake, kernel, AiModel::default(), 100);
    let (_, client) = server.notebook_with_owner("bench ai").await?;
    set_approval(&client, "auto", 60).await;
    let one_plus_one = add_cell(&client, "1+1").await;
    // Warm the kernel first.
    let warm = request_run(&client, &one_plus_one).await;
    wait_execution(&client, &warm, "warm-up", |x| x.state.is_finished()).await;
    let mut script: Vec<Turn> = Vec::new();
    for i in 0..calls {
        script.push(tool_calls(
            &[(&format!("c{i}"), "create_cell", r#"{"source": "x = 1"}"#)],
            16,
        ));
    }
    script.push(answer("made"));
    for i in 0..calls {
        let args = format!(r#"{{"cell_id": "{one_plus_one}"}}"#);
        script.push(tool_calls(&[(&format!("e{i}"), "execute_cell", &args)], 16));
    }
    script.push(answer("ran"));
    fake.push(script);
    let create = add_ai_cell(&client, "create cells").await;
    let r = request_run(&client, &create).await;
    wait_execution(&client, &r, "create run", |x| x.state.is_finished()).await;
    let created = fake.gaps();
    let execute = add_ai_cell(&client, "run 1+1").await;
    let r = request_run(&client, &execute).await;
    let done = wait_execution(&client, &r, "execute run", |x| x.state.is_finished()).await;
    anyhow::ensure!(done.state == schema::ExecutionState::Done, "{done:?}");
    let all = fake.gaps();

    // The answers' gaps are not tool calls: drop the one after "made".
    let executed: Vec<Duration> = all
        .into_iter()
        .skip(created.len() + 1)
        .take(calls)
        .collect();
    Ok((created.into_iter().take(calls).collect(), executed))
}

async fn variables_on(kernel: Arc<dyn Kernel>) -> Result<Vec<Duration>> {
    let setup = "import numpy as np, pandas as pd\ndf = pd.DataFrame({'a': np.arange(1_000_000), 'b': np.random.rand(1_000_000), 'c': ['x'] * 1_000_000})";
    let reply = kernel
        .execute(ExecuteRequest::new(setup))
        .await?
        .reply()
        .await?;
    anyhow::ensure!(
        reply.status == kernels::ReplyStatus::Ok,
        "building the frame failed"
    );
    let access = AgentKernel {
        kernel: kernel.clone(),
        masker: Arc::new(runtime_agent::masking::Masker::new(std::iter::empty())),
    };
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let value = cathode_tools::KernelAccess::variables(&access)
            .await
            .map_err(anyhow::Error::msg)?;
        times.push(t.elapsed());
        anyhow::ensure!(value.to_string().contains("1000000"), "no frame in {value}");
    }
    kernel.shutdown().await?;
    Ok(times)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let mut calls = 30;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--calls" => calls = args.next().context("--calls N")?.parse()?,
            other => anyhow::bail!("unknown argument {other:?}; flags: --calls N"),
        }
    }
    println!("cathode AI benchmark (scripted OpenAI-compatible provider on loopback)\n");
    context_part()?;
    println!("\noverhead per tool call: model's last fragment -> the tool's result sent back, {calls} calls");
    println!("{:<44} {:>12} {:>12}", "", "p50", "p99");
    for kernel in ["wasm-python", "python3"] {
        let (create, execute) = tool_overhead(kernel, calls).await?;
        println!(
            "{:<44} {:>12} {:>12}",
            format!("create_cell ({kernel})"),
            ms(percentile(&create, 50.0)),
            ms(percentile(&create, 99.0))
        );
        println!(
            "{:<44} {:>12} {:>12}",
            format!("execute_cell of 1+1 ({kernel})"),
            ms(percentile(&execute, 50.0)),
            ms(percentile(&execute, 99.0))
        );
    }
    println!(
        "{:<44} {:>12}",
        "Anode's execute_cell floor (500 ms polling)", "500.00 ms"
    );
    println!("\nvariable summary on a kernel holding a 1,000,000-row data frame (5 runs)");
    let spec = KernelSpecFinder::new(&[venv()]).find("python3")?;
    let ipy: Arc<dyn Kernel> =
        Arc::new(JupyterKernel::start(spec, JupyterOptions::default()).await?);
    let times = variables_on(ipy).await?;
    println!(
        "{:<44} {:>12} {:>12}",
        "python3: p50, max",
        ms(percentile(&times, 50.0)),
        ms(times.iter().max().copied().unwrap_or_default())
    );
    let wasm: Arc<dyn Kernel> = Arc::new(WasmKernel::start(WasmOptions::from_env()).await?);
    let times = variables_on(wasm).await?;
    println!(
        "{:<44} {:>12} {:>12}",
        "wasm-python: p50, max",
        ms(percentile(&times, 50.0)),
        ms(times.iter().max().copied().unwrap_or_default())
    );
    Ok(())
}
