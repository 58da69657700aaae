//! A real `sync-server` process for tests and benchmarks.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory holding the workspace's binaries: `CATHODE_BIN_DIR`, or
/// the profile directory this test or benchmark binary was built into.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CATHODE_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

pub struct TestServer {
    child: Option<Child>,
    pub data_dir: tempfile::TempDir,
    pub addr: String,
    pub owner_token: String,
    extra_args: Vec<String>,
    options: ServerOptions,
}

/// How a test server's process is started, beyond its flags.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Its open-file limit (soft and hard), as an operator's ulimit would set.
    pub max_open_files: Option<u64>,
    /// Write its stderr to `server.log` in the data directory (to be read
    /// with [`TestServer::log`]) instead of the test's own stderr.
    pub capture_log: bool,
    /// Its `CATHODE_LOG` filter (default: the test's own, or `warn`).
    pub log_filter: Option<String>,
    /// Let the server start a notebook's agent when a cell is run with
    /// none connected. Off by default: most tests start their own agent,
    /// and one the server started would displace it.
    pub auto_runtime: bool,
    /// Run on this database (a PostgreSQL URL, `postgres.rs`) instead of
    /// the embedded SQLite file in the data directory.
    pub database_url: Option<String>,
}

impl ServerOptions {
    /// Its log at `info` kept in a file, for tests that read what it said.
    pub fn logged() -> Self {
        Self {
            capture_log: true,
            log_filter: Some("info".into()),
            ..Self::default()
        }
    }
}

impl TestServer {
    pub fn start() -> Result<Self> {
        Self::start_with(&[])
    }

    /// Start a fresh server (new database) with extra command-line flags.
    pub fn start_with(extra: &[&str]) -> Result<Self> {
        Self::start_with_options(extra, ServerOptions::default())
    }

    pub fn start_with_options(extra: &[&str], options: ServerOptions) -> Result<Self> {
        let data_dir = tempfile::tempdir()?;
        let mut server = Self {
            child: None,
            data_dir,
            addr: String::new(),
            owner_token: String::new(),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            options,
        };
        server.spawn(None)?;
        Ok(server)
    }

    fn spawn(&mut self, port: Option<u16>) -> Result<()> {
        let binary = bin_dir().join("sync-server");
        if !binary.exists() {
            bail!(
                "{} not found: build the workspace binaries first (cargo build --bins)",
                binary.display()
            );
        }
        let bind = format!("127.0.0.1:{}", port.unwrap_or(0));
        let stderr = if self.options.capture_log {
            Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.log_path())?,
            )
        } else {
            Stdio::inherit()
        };
        let mut command = Command::new(&binary);
        if !self.options.auto_runtime {
            command.arg("--no-auto-runtime");
        }
        match &self.options.database_url {
            Some(url) => command.arg("--database-url").arg(url),
            None => command.env_remove("DATABASE_URL"),
        };
        if let Some(n) = self.options.max_open_files {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; nothing else runs
            // between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, n, n)
                        .map_err(std::io::Error::from)
                });
            }
        }
        let mut child = command
            .arg("--bind")
            .arg(&bind)
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(&self.extra_args)
            .env(
                "CATHODE_LOG",
                self.options.log_filter.clone().unwrap_or_else(|| {
                    std::env::var("CATHODE_LOG").unwrap_or_else(|_| "warn".into())
                }),
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("spawning {}", binary.display()))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut addr = None;
        while addr.is_none() {
            if Instant::now() > deadline {
                bail!("server did not report its address");
            }
            let line = lines
                .next()
                .ok_or_else(|| anyhow!("server exited before listening"))??;
            if let Some(rest) = line.split("?token=").nth(1) {
                self.owner_token = rest.trim().to_owned();
            }
            if let Some(rest) = line.strip_prefix("cathode sync-server: listening on ") {
                addr = Some(rest.trim().to_owned());
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        self.addr = addr.unwrap_or_default();
        self.child = Some(child);
        Ok(())
    }

    /// Arguments for the next `restart` (the first start's are replaced).
    pub fn set_extra_args(&mut self, extra: &[&str]) {
        self.extra_args = extra.iter().map(|s| s.to_string()).collect();
    }

    pub fn port(&self) -> u16 {
        self.addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.path().join("cathode.sqlite")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir.path().join("server.log")
    }

    /// What the server wrote to stderr, with `capture_log`.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The server process's resident memory now and at its peak, in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = self
            .pid()
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Whether the server answers `/health` within `timeout`.
    pub async fn healthy(&self, timeout: Duration) -> bool {
        let request = reqwest::Client::new()
            .get(format!("{}/health", self.http_url()))
            .timeout(timeout)
            .send();
        matches!(request.await, Ok(r) if r.status().is_success())
    }

    /// SIGKILL: no flushing, no goodbyes.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        child.wait().ok().and_then(|s| s.code())
    }

    /// Send SIGTERM and return at once.
    pub fn signal_term(&self) {
        if let Some(child) = &self.child {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
    }

    /// Wait up to `timeout` for the process to exit; its exit code, or
    /// `None` if it is still running (it is then killed).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        let mut child = self.child.take()?;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.code(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
        }
    }

    /// Start again on the same port and database.
    pub fn restart(&mut self) -> Result<()> {
        let port = self.port();
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn(Some(port)) {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let client = reqwest::Client::new();
        let mut req = client
            .request(method, format!("{}{path}", self.http_url()))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, value))
    }

    pub async fn create_notebook(&self, token: &str, name: &str) -> Result<String> {
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                "/api/notebooks",
                token,
                Some(json!({"name": name})),
            )
            .await?;
        if status != 201 {
            bail!("create notebook: {status} {body}");
        }
        Ok(body["id"].as_str().unwrap_or_default().to_owned())
    }

    /// A new user with a role on a notebook; returns the user's token.
    pub async fn user_with_role(&self, notebook: &str, name: &str, role: &str) -> Result<String> {
        let (status, user) = self
            .api(
                reqwest::Method::POST,
                "/api/users",
                &self.owner_token,
                Some(json!({"name": name})),
            )
            .await?;
        if status != 201 {
            bail!("create user: {status} {user}");
        }
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                &format!("/api/notebooks/{notebook}/grants"),
                &self.owner_token,
                Some(json!({"user_id": user["user_id"], "role": role})),
            )
            .await?;
        if status != 204 {
            bail!("grant: {status} {body}");
        }
        Ok(user["token"].as_str().unwrap_or_default().to_owned())
    }

    pub async fn runtime_token(&self, notebook: &str) -> Result<String> {
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                &format!("/api/notebooks/{notebook}/runtime-tokens"),
                &self.owner_token,
                None,
            )
            .await?;
        if status != 201 {
            bail!("runtime token: {status} {body}");
        }
        Ok(body["token"].as_str().unwrap_or_default().to_owned())
    }

    /// A blob's bytes, read with the owner's token.
    pub async fn blob(&self, sha256: &str) -> Result<Vec<u8>> {
        let resp = reqwest::Client::new()
            .get(format!("{}/blobs/{sha256}", self.http_url()))
            .bearer_auth(&self.owner_token)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("blob {sha256}: {}", resp.status());
        }
        Ok(resp.bytes().await?.to_vec())
    }

    /// Set a notebook secret as its owner.
    pub async fn set_secret(&self, notebook: &str, name: &str, value: &str) -> Result<()> {
        let (status, body) = self
            .api(
                reqwest::Method::PUT,
                &format!("/api/notebooks/{notebook}/secrets/{name}"),
                &self.owner_token,
                Some(json!({ "value": value })),
            )
            .await?;
        if status != 204 {
            bail!("set secret {name}: {status} {body}");
        }
        Ok(())
    }

    /// A new notebook owned by the owner, and the owner connected to it.
    pub async fn notebook_with_owner(
        &self,
        name: &str,
    ) -> Result<(String, cathode_client::NotebookClient)> {
        let notebook = self.create_notebook(&self.owner_token, name).await?;
        let client = cathode_client::NotebookClient::connect(
            self.client_config(&self.owner_token, &notebook),
        )
        .await?;
        Ok((notebook, client))
    }

    pub fn client_config(&self, token: &str, notebook: &str) -> cathode_client::ClientConfig {
        cathode_client::ClientConfig::new(&self.ws_url(), token, notebook)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fresh server, a notebook, a runtime token for it and its owner
/// connected: the start of most agent tests.
pub async fn served_notebook(
    name: &str,
) -> Result<(TestServer, String, String, cathode_client::NotebookClient)> {
    let server = TestServer::start()?;
    let (notebook, owner) = server.notebook_with_owner(name).await?;
    let runtime = server.runtime_token(&notebook).await?;
    Ok((server, notebook, runtime, owner))
}
