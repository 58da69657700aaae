//! `cathode-run`: run a notebook headless and print its outputs.
//!
//! Runs an existing notebook (`--notebook ID`) or imports an `.ipynb` file as
//! a new one (`--import FILE`). With `--start-agent` it starts the
//! notebook's runtime agent itself (a runtime token is created for it) and
//! stops it at the end. Exits 1 at the first cell that fails, unless
//! `--allow-errors`.

use anyhow::{bail, Context};
use cathode_client::{ClientConfig, NotebookClient};
use clap::Parser;
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Run a cathode notebook headless and print its outputs"
)]
struct Args {
    #[arg(
        long,
        env = "CATHODE_SERVER_URL",
        default_value = "http://127.0.0.1:8787"
    )]
    server_url: String,
    /// A user token (owner or editor of the notebook).
    #[arg(long, env = "CATHODE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[arg(long, env = "CATHODE_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Run this notebook.
    #[arg(long, conflicts_with = "import")]
    notebook: Option<String>,
    /// Import this .ipynb file as a new notebook and run it.
    #[arg(long)]
    import: Option<PathBuf>,
    /// Start the notebook's runtime agent for the run.
    #[arg(long)]
    start_agent: bool,
    /// Kernel for the agent started with --start-agent.
    #[arg(long, env = "CATHODE_KERNEL", default_value = "wasm-python")]
    kernel: String,
    /// Run every cell even after one fails (exit status is still 1).
    #[arg(long)]
    allow_errors: bool,
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
                    tracing_subscriber::EnvFilter::new("warn,zeromq::reconnect=error")
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => t.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_owned(),
        (None, None) => bail!("a token is required: --token, CATHODE_TOKEN or --token-file"),
    };
    let base = args.server_url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::new();
    let api = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(&token)
    };

    let (notebook, cells) = match (&args.notebook, &args.import) {
        (Some(id), None) => (id.clone(), None),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let cells = runtime_agent::headless::read_ipynb(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("imported")
                .to_owned();
            let resp = api(reqwest::Method::POST, "/api/notebooks")
                .json(&serde_json::json!({ "name": name }))
                .send()
                .await
                .context("creating the notebook")?;
            let status = resp.status();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            if !status.is_success() {
                bail!("creating the notebook: {status}: {}", body["message"]);
            }
            let id = body["id"]
                .as_str()
                .context("no notebook id in the reply")?
                .to_owned();
            (id, Some(cells))
        }
        _ => bail!("name a notebook with --notebook ID, or a file with --import FILE"),
    };
    let client = NotebookClient::connect(ClientConfig::new(&base, &token, &notebook))
        .await
        .with_context(|| format!("opening notebook {notebook}"))?;
    if let Some(cells) = cells {
        runtime_agent::headless::import(&client, cells).await?;
        eprintln!("cathode-run: imported as notebook {notebook}");
    }

    let mut agent = None;
    if args.start_agent {
        let resp = api(
            reqwest::Method::POST,
            &format!("/api/notebooks/{notebook}/runtime-tokens"),
        )
        .send()
        .await
        .context("creating a runtime token")?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!("creating a runtime token: {status}: {}", body["message"]);
        }
        let runtime_token = body["token"]
            .as_str()
            .context("no token in the reply")?
            .to_owned();
        let exe = std::env::current_exe()?.with_file_name("runtime-agent");
        agent = Some(
            Command::new(&exe)
                .env("NOTEBOOK_ID", &notebook)
                .env("CATHODE_SERVER_URL", &base)
                .env("CATHODE_TOKEN", runtime_token)
                .env("CATHODE_KERNEL", &args.kernel)
                .env(
                    "CATHODE_LOG",
                    std::env::var("CATHODE_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdin(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", exe.display()))?,
        );
    }

    let mut stdout = std::io::stdout();
    let outcome = runtime_agent::headless::run_all(&client, args.allow_errors, &mut stdout).await;
    if let Some(mut child) = agent {
        // SIGTERM: the agent marks its session dead and releases the lease.
        let _ = nix_term(child.id());
        let _ = child.wait();
    }
    let summary = outcome?;
    eprintln!("cathode-run: ran {} code cells of notebook {notebook}; results are stored in its runtime document on {base}", summary.ran);
    if let Some(cell) = summary.failed {
        eprintln!("cathode-run: cell {cell} failed");
        std::process::exit(1);
    }
    Ok(())
}

fn nix_term(pid: u32) -> std::io::Result<()> {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other("kill failed"))
    }
}
