//! `cathode-run`: run a notebook headless, as `jupyter nbconvert --execute`
//! and papermill do, through a cathode server.
//!
//! Runs an existing notebook (`--notebook ID`) or imports an `.ipynb` as a
//! new one (`--import FILE`), injects papermill-style parameters, runs
//! every code cell in order on the notebook's runtime agent (the server's:
//! this process starts no agent itself), prints the outputs, and writes
//! the executed notebook (`--output FILE`). Exits 1 when a cell fails.

use anyhow::{bail, Context};
use cathode_client::{ClientConfig, NotebookClient};
use clap::Parser;
use runtime_agent::headless::{self, parameters::Parameters, RunPlan};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Run a cathode notebook headless, print its outputs and write the executed notebook"
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
    /// Write the executed notebook here (nbformat 4.5), also when a cell fails.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// A parameter, typed as papermill types it (int, float, True/False,
    /// None, else text); injected after the cell tagged `parameters`.
    #[arg(short = 'p', long = "parameter", num_args = 2, value_names = ["NAME", "VALUE"])]
    parameter: Vec<String>,
    /// A parameter kept as text.
    #[arg(short = 'r', long = "raw-parameter", num_args = 2, value_names = ["NAME", "VALUE"])]
    raw_parameter: Vec<String>,
    /// Parameters as a YAML mapping.
    #[arg(short = 'y', long = "parameters-yaml")]
    parameters_yaml: Vec<String>,
    /// Parameters from a YAML file.
    #[arg(short = 'f', long = "parameters-file")]
    parameters_file: Vec<PathBuf>,
    /// The kernel (default: the notebook's kernelspec, else the server's default).
    #[arg(long, env = "CATHODE_KERNEL")]
    kernel: Option<String>,
    /// The kernel's working directory on the server's machine (server
    /// administrators only; by default the notebook's own folder).
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Seconds a cell may run; past it the cell is interrupted and the run ends.
    #[arg(long)]
    timeout: Option<f64>,
    /// Answers to input(), one per line; without it input() fails at once.
    #[arg(long)]
    stdin: Option<PathBuf>,
    /// Start (or restart) the notebook's agent for this run even if one is
    /// running, and stop it after. Without it, a running agent serves the
    /// run, and one is started (and stopped after) only if none runs.
    #[arg(long)]
    start_agent: bool,
    /// Run every cell even after one fails (exit status is still 1).
    #[arg(long)]
    allow_errors: bool,
}

/// The server's REST API, as this run uses it.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| what.to_owned())?;
        let status = response.status();
        if !status.is_success() {
            let body: Value = response.json().await.unwrap_or_default();
            let message = body["message"].as_str().unwrap_or("");
            bail!("{what}: {status}: {message}");
        }
        Ok(response)
    }

    async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> anyhow::Result<Value> {
        Ok(self
            .send(method, path, body, what)
            .await?
            .json()
            .await
            .unwrap_or_default())
    }
}

fn parameters(args: &Args) -> anyhow::Result<Parameters> {
    let mut p = Parameters::default();
    for pair in args.parameter.chunks(2) {
        p.set_typed(&pair[0], &pair[1])?;
    }
    for pair in args.raw_parameter.chunks(2) {
        p.set(&pair[0], Value::String(pair[1].clone()))?;
    }
    for yaml in &args.parameters_yaml {
        p.set_yaml(yaml, "-y")?;
    }
    for file in &args.parameters_file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        p.set_yaml(&text, &file.display().to_string())?;
    }
    Ok(p)
}

/// Poll the runtime's status while the run goes on, and say once it is
/// dead: nothing else would tell a run waiting on a cell.
fn watch_runtime(api: std::sync::Arc<Api>, path: String) -> watch::Receiver<Option<String>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if tx.is_closed() {
                return;
            }
            let Ok(status) = api
                .json(reqwest::Method::GET, &path, None, "runtime status")
                .await
            else {
                continue;
            };
            if matches!(status["state"].as_str(), Some("dead" | "none")) {
                let reason = status["reason"].as_str().unwrap_or("no reason given");
                let log = status["log_tail"]
                    .as_array()
                    .and_then(|l| l.last())
                    .and_then(Value::as_str)
                    .map(|l| format!(" (its log ends: {l})"))
                    .unwrap_or_default();
                let _ = tx.send(Some(format!("{reason}{log}")));
                return;
            }
        }
    });
    rx
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CATHODE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
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
    let parameters = parameters(&args)?;
    let mut plan = RunPlan {
        allow_errors: args.allow_errors,
        timeout: args
            .timeout
            .map(|s| Duration::try_from_secs_f64(s).context("--timeout must be seconds, 0 or more"))
            .transpose()?,
        stdin: args
            .stdin
            .as_ref()
            .map(|path| {
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))
                    .map(|text| text.lines().map(str::to_owned).collect())
            })
            .transpose()?,
    };
    let cwd = args
        .cwd
        .as_ref()
        .map(|dir| std::path::absolute(dir).with_context(|| format!("--cwd {}", dir.display())))
        .transpose()?;
    let base = args.server_url.trim_end_matches('/').to_owned();
    let api = std::sync::Arc::new(Api {
        http: reqwest::Client::new(),
        base: base.clone(),
        token: token.clone(),
    });

    let (notebook, file_kernel) = match (&args.notebook, &args.import) {
        (Some(id), None) => (id.clone(), None),
        (None, Some(path)) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("imported");
            let response = api
                .http
                .post(format!("{base}/api/notebooks/import"))
                .query(&[("name", name)])
                .bearer_auth(&token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes)
                .send()
                .await
                .context("importing the notebook")?;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or_default();
            if !status.is_success() {
                bail!(
                    "{} was not imported: {}",
                    path.display(),
                    body["message"].as_str().unwrap_or(status.as_str())
                );
            }
            for repair in body["repaired"].as_array().into_iter().flatten() {
                eprintln!("cathode-run: repaired {}", repair.as_str().unwrap_or(""));
            }
            let id = body["id"]
                .as_str()
                .context("no notebook id in the reply")?
                .to_owned();
            eprintln!("cathode-run: imported {} as notebook {id}", path.display());
            (id, body["kernel"].as_str().map(str::to_owned))
        }
        _ => bail!("name a notebook with --notebook ID, or a file with --import FILE"),
    };
    let client = NotebookClient::connect(ClientConfig::new(&base, &token, &notebook))
        .await
        .with_context(|| format!("opening notebook {notebook}"))?;
    if !parameters.is_empty() {
        headless::parameters::inject(&client, &parameters).await?;
    }

    // A running agent serves the run unless a fresh one is wanted; one this
    // run starts keeps IPython's history in memory and is stopped after.
    let runtime_path = format!("/api/notebooks/{notebook}/runtime");
    let status = api
        .json(
            reqwest::Method::GET,
            &runtime_path,
            None,
            "reading the runtime's state",
        )
        .await?;
    let running = matches!(status["state"].as_str(), Some("starting" | "idle" | "busy"));
    let start = args.start_agent || !running || cwd.is_some();
    if start {
        let kernel = args.kernel.clone().or(file_kernel);
        api.send(
            reqwest::Method::POST,
            &runtime_path,
            Some(json!({"kernel": kernel, "headless": true, "workdir": cwd})),
            "starting the runtime",
        )
        .await?;
    } else if args.kernel.is_some() {
        eprintln!(
            "cathode-run: the notebook's agent is already running on {}; --kernel is ignored (add --start-agent to restart it)",
            status["kernel"].as_str().unwrap_or("its kernel")
        );
    }
    let dead = watch_runtime(api.clone(), runtime_path.clone());

    let mut stdout = std::io::stdout();
    let outcome = headless::run_all(&client, &mut plan, Some(dead), &mut stdout).await;
    client.wait_acknowledged(Duration::from_secs(30)).await.ok();
    if let Some(path) = &args.output {
        let file = api
            .send(
                reqwest::Method::GET,
                &format!("/api/notebooks/{notebook}/ipynb"),
                None,
                "exporting the executed notebook",
            )
            .await?
            .bytes()
            .await
            .context("reading the executed notebook")?;
        std::fs::write(path, &file).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("cathode-run: wrote {}", path.display());
    }
    if start {
        if let Err(e) = api
            .send(
                reqwest::Method::DELETE,
                &runtime_path,
                None,
                "stopping the runtime",
            )
            .await
        {
            eprintln!("cathode-run: {e}");
        }
    }
    let summary = outcome?;
    eprintln!(
        "cathode-run: ran {} code cells of notebook {notebook} ({} skipped, {} raised as tagged); results are stored on {base}",
        summary.ran, summary.skipped, summary.expected_errors
    );
    if let Some(failed) = summary.failed {
        eprintln!(
            "cathode-run: cell {} (id {}) failed: {}",
            failed.index, failed.cell_id, failed.reason
        );
        std::process::exit(1);
    }
    Ok(())
}
