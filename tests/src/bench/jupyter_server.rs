//! The peer of `bench-agent`: stock `jupyter server` from the project's
//! venv, driven the way JupyterLab drives it: `POST /api/kernels`, then
//! Jupyter messages as JSON over the kernel's WebSocket
//! (`/api/kernels/{id}/channels`, the default JSON protocol).

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `jupyter server` process on a loopback port, stopped with SIGTERM when
/// dropped.
pub struct JupyterServer {
    child: Option<tokio::process::Child>,
    port: u16,
    token: String,
    dir: tempfile::TempDir,
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl JupyterServer {
    pub async fn start(venv: &Path) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let token = format!("{:032x}", rand::random::<u128>());
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let binary = venv.join("bin/jupyter");
        let child = tokio::process::Command::new(&binary)
            .arg("server")
            .arg("--no-browser")
            .arg(format!("--port={port}"))
            .arg("--ServerApp.port_retries=0")
            // Containers often run as root; stock jupyter refuses without this.
            .arg("--allow-root")
            .arg("--ServerApp.ip=127.0.0.1")
            .arg(format!("--IdentityProvider.token={token}"))
            .arg(format!("--ServerApp.root_dir={}", dir.path().display()))
            // Keep the user's own Jupyter configuration out of the run.
            .env("JUPYTER_CONFIG_DIR", dir.path().join("config"))
            .env("JUPYTER_RUNTIME_DIR", dir.path().join("runtime"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {} server", binary.display()))?;
        let mut server = Self {
            child: Some(child),
            port,
            token,
            dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Start-up only (not measured): ask /api/status until it answers.
    async fn wait_ready(&mut self) -> Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("jupyter server exited ({status}):\n{}", self.log_tail());
                }
            }
            let answer = client
                .get(format!("http://127.0.0.1:{}/api/status", self.port))
                .header("Authorization", format!("token {}", self.token))
                .send()
                .await;
            if matches!(&answer, Ok(r) if r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("jupyter server not ready after 90 s:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `POST /api/kernels`; returns the kernel id.
    pub async fn start_kernel(&self, name: &str) -> Result<String> {
        let response = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/api/kernels", self.port))
            .header("Authorization", format!("token {}", self.token))
            .json(&json!({ "name": name }))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST /api/kernels: {status} {body}");
        }
        body["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no kernel id in {body}"))
    }

    pub async fn connect(&self, kernel_id: &str) -> Result<KernelSocket> {
        let session = format!("{:032x}", rand::random::<u128>());
        let url = format!(
            "ws://127.0.0.1:{}/api/kernels/{kernel_id}/channels?session_id={session}&token={}",
            self.port, self.token
        );
        // TCP_NODELAY, as browsers and cathode's own client set it.
        let (socket, _) = tokio_tungstenite::connect_async_with_config(url.as_str(), None, true)
            .await
            .context("connecting to the kernel WebSocket")?;
        Ok(KernelSocket { socket, session })
    }

    pub async fn shutdown_kernel(&self, kernel_id: &str) {
        let _ = reqwest::Client::new()
            .delete(format!(
                "http://127.0.0.1:{}/api/kernels/{kernel_id}",
                self.port
            ))
            .header("Authorization", format!("token {}", self.token))
            .send()
            .await;
    }

    /// SIGTERM (jupyter server then shuts its kernels down), SIGKILL after 10 s.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
}

/// What one execution over the WebSocket took.
pub struct WsRun {
    /// Until the execute_result for our msg_id arrived.
    pub result: Option<Duration>,
    /// Until both the execute_reply and the idle status for it arrived.
    pub done: Duration,
    /// iopub messages for our msg_id (stream, result, status, ...).
    pub messages: usize,
    pub result_text: Option<String>,
}

pub struct KernelSocket {
    socket: Socket,
    session: String,
}

impl KernelSocket {
    /// Send an execute_request on the shell channel and read until it is done.
    pub async fn execute(&mut self, code: &str, timeout: Duration) -> Result<WsRun> {
        let msg_id = format!("{:032x}", rand::random::<u128>());
        let message = json!({
            "header": {
                "msg_id": msg_id,
                "msg_type": "execute_request",
                "username": "bench",
                "session": self.session,
                "version": "5.3",
            },
            "parent_header": {},
            "metadata": {},
            "content": {
                "code": code,
                "silent": false,
                "store_history": true,
                "user_expressions": {},
                "allow_stdin": false,
                "stop_on_error": true,
            },
            "channel": "shell",
            "buffers": [],
        });
        let start = Instant::now();
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await?;
        let mut run = WsRun {
            result: None,
            done: Duration::ZERO,
            messages: 0,
            result_text: None,
        };
        let (mut replied, mut idle) = (false, false);
        let deadline = tokio::time::Instant::now() + timeout;
        while !(replied && idle) {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .context("jupyter_server: no reply in time")?
                .context("jupyter_server closed the socket")??;
            let text = match frame {
                Message::Text(text) => text,
                Message::Close(_) => bail!("jupyter_server closed the socket"),
                _ => continue,
            };
            let Ok(msg) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            if msg["parent_header"]["msg_id"].as_str() != Some(msg_id.as_str()) {
                continue;
            }
            match (msg["channel"].as_str(), msg["msg_type"].as_str()) {
                (Some("shell"), Some("execute_reply")) => {
                    replied = true;
                    let status = msg["content"]["status"].as_str().unwrap_or("?");
                    if status != "ok" {
                        bail!("jupyter_server: {code:?} ended with status {status}");
                    }
                }
                (Some("iopub"), Some(kind)) => {
                    run.messages += 1;
                    if kind == "execute_result" && run.result.is_none() {
                        run.result = Some(start.elapsed());
                        run.result_text = msg["content"]["data"]["text/plain"]
                            .as_str()
                            .map(str::to_owned);
                    }
                    if kind == "status" && msg["content"]["execution_state"] == "idle" {
                        idle = true;
                    }
                }
                _ => {}
            }
        }
        run.done = start.elapsed();
        Ok(run)
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
