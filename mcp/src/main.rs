//! `cathode-mcp`: cathode's notebook tools over MCP on stdio, for a local
//! agent (Claude Code, say): `cathode-mcp --server-url URL --token-file F`.
//! It acts with that token's user and role.

use anyhow::Context;
use clap::Parser;
use rmcp::ServiceExt;

#[derive(Parser)]
#[command(
    version,
    about = "cathode's notebook tools over the Model Context Protocol (stdio)"
)]
struct Args {
    #[arg(
        long,
        env = "CATHODE_SERVER_URL",
        default_value = "http://127.0.0.1:8787"
    )]
    server_url: String,
    #[arg(long, env = "CATHODE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[arg(long, env = "CATHODE_TOKEN_FILE")]
    token_file: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // stdout is the protocol: logs go to stderr.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CATHODE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let token = match (args.token, args.token_file) {
        (Some(t), _) => t,
        (None, Some(path)) => std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_owned(),
        (None, None) => {
            anyhow::bail!("a token is required: --token, CATHODE_TOKEN or --token-file")
        }
    };
    let server = cathode_mcp::CathodeMcp::new(&args.server_url, Some(token))
        .serve(rmcp::transport::stdio())
        .await
        .context("starting the MCP session")?;
    server.waiting().await.context("the MCP session")?;
    Ok(())
}
