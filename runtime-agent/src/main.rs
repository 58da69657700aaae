use anyhow::Context;
use clap::Parser;
use runtime_agent::{Config, Exit};
use std::path::PathBuf;
use std::time::Duration;

/// Runs one notebook's cells: `NOTEBOOK_ID=x runtime-agent`.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The notebook to serve.
    #[arg(
        long,
        env = "NOTEBOOK_ID",
        required_unless_present_any = ["prepare_wasm", "list_kernels"]
    )]
    notebook_id: Option<String>,
    /// Compile and cache the WASM Python module (about 90 s, once per
    /// machine and artifact), then exit. Set-up runs this so that no agent
    /// start pays for it.
    #[arg(long)]
    prepare_wasm: bool,
    /// Print the kernels this agent can start as JSON
    /// (`{"kernels":[{"name","display_name","language"}]}`), then exit.
    #[arg(long)]
    list_kernels: bool,
    /// The sync server.
    #[arg(
        long,
        env = "CATHODE_SERVER_URL",
        default_value = "http://127.0.0.1:8787"
    )]
    server_url: String,
    /// A runtime token for the notebook.
    #[arg(long, env = "CATHODE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file holding the runtime token (read once; keeps it out of `ps`).
    #[arg(long, env = "CATHODE_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// `wasm-python` or the name of an installed Jupyter kernelspec.
    #[arg(long, env = "CATHODE_KERNEL", default_value = "wasm-python")]
    kernel: String,
    /// Lease lifetime without renewal, in milliseconds.
    #[arg(long, env = "CATHODE_LEASE_TTL_MS", default_value_t = 15_000)]
    lease_ttl_ms: u64,
    /// Output flush interval while a cell runs, in milliseconds.
    #[arg(long, env = "CATHODE_FLUSH_MS", default_value_t = 16)]
    flush_ms: u64,
    /// The kernel's working directory (the server passes the notebook's
    /// folder): a Jupyter kernel starts there, wasm-python sees it
    /// read-write at the same path and starts there.
    #[arg(long, env = "CATHODE_WORKDIR")]
    workdir: Option<PathBuf>,
    /// IPython's history database for an ipykernel (`:memory:` for a
    /// headless run, so parallel runs never lock each other's file).
    #[arg(long, env = "CATHODE_IPYTHON_HIST_FILE")]
    ipython_hist_file: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CATHODE_LOG")
                // A kernel that exits (restart, shutdown, death, which the
                // agent reports itself) makes the ZeroMQ crate warn that it
                // cannot reconnect to it: noise here.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new("info,zeromq::reconnect=error")
                }),
        )
        // Log lines pass the secret masker once the agent has the secrets.
        .with_writer(runtime_agent::masking::log_writer::MaskedStderr)
        .init();
    let args = Args::parse();
    if args.list_kernels {
        let kernels = runtime_agent::kernel_host::available();
        println!("{}", serde_json::json!({ "kernels": kernels }));
        return Ok(());
    }
    if args.prepare_wasm {
        let started = std::time::Instant::now();
        eprintln!("runtime-agent: preparing the WASM Python kernel (compiles once, about 90 s on a fresh machine)");
        runtime_agent::kernel_host::prepare_wasm().await?;
        eprintln!(
            "runtime-agent: WASM Python kernel ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let notebook_id = args.notebook_id.context("NOTEBOOK_ID is required")?;
    let token = match (args.token, args.token_file) {
        (Some(t), _) => t,
        (None, Some(path)) => std::fs::read_to_string(&path)
            .with_context(|| format!("reading the token file {}", path.display()))?
            .trim()
            .to_owned(),
        (None, None) => {
            anyhow::bail!("a runtime token is required: --token, CATHODE_TOKEN or --token-file")
        }
    };
    let config = Config {
        server_url: args.server_url,
        token,
        notebook_id,
        kernel: args.kernel,
        lease_ttl: Duration::from_millis(args.lease_ttl_ms.max(300)),
        flush_interval: Duration::from_millis(args.flush_ms.max(1)),
        agent_name: format!("runtime-agent@{}", std::process::id()),
        // Absolute, not canonical: the kernel sees the path as given.
        workdir: args
            .workdir
            .map(|dir| {
                std::path::absolute(&dir).with_context(|| format!("--workdir {}", dir.display()))
            })
            .transpose()?,
        ipython_hist_file: args.ipython_hist_file,
    };
    match runtime_agent::run(config, shutdown_signal()).await? {
        Exit::Displaced => {
            eprintln!("runtime-agent: a newer agent took over this notebook; exiting")
        }
        Exit::Stopped => eprintln!("runtime-agent: stopped"),
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
