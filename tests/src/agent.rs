//! A real `runtime-agent` process for tests.

use crate::server::{bin_dir, TestServer};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct TestAgent {
    child: Option<Child>,
}

/// How a test or benchmark starts its agent.
pub struct AgentOptions {
    /// Write the agent's log (stderr) to this file at this `CATHODE_LOG`
    /// filter, so a test can read what the agent logged.
    pub log: Option<(PathBuf, String)>,
    /// Short in tests, so takeovers are quick; benchmarks keep the agent's
    /// default so renewals do not land among the measurements.
    pub lease_ttl_ms: u64,
}

impl Default for AgentOptions {
    fn default() -> Self {
        Self {
            log: None,
            lease_ttl_ms: 3000,
        }
    }
}

impl TestAgent {
    pub fn start(server: &TestServer, notebook: &str, token: &str, kernel: &str) -> Result<Self> {
        Self::start_with(server, notebook, token, kernel, &AgentOptions::default())
    }

    pub fn start_with(
        server: &TestServer,
        notebook: &str,
        token: &str,
        kernel: &str,
        options: &AgentOptions,
    ) -> Result<Self> {
        let binary = bin_dir().join("runtime-agent");
        if !binary.exists() {
            bail!(
                "{} not found: build the workspace binaries first (cargo build --bins)",
                binary.display()
            );
        }
        let (stderr, filter) = match &options.log {
            Some((path, filter)) => (
                Stdio::from(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                ),
                filter.clone(),
            ),
            None => (
                Stdio::inherit(),
                std::env::var("CATHODE_LOG").unwrap_or_else(|_| "warn".into()),
            ),
        };
        let child = Command::new(&binary)
            .env("NOTEBOOK_ID", notebook)
            .env("CATHODE_SERVER_URL", server.http_url())
            .env("CATHODE_TOKEN", token)
            .env("CATHODE_KERNEL", kernel)
            .env("CATHODE_LEASE_TTL_MS", options.lease_ttl_ms.to_string())
            .env("CATHODE_LOG", filter)
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("spawning {}", binary.display()))?;
        Ok(Self { child: Some(child) })
    }

    /// SIGTERM (the agent shuts its kernel down), then SIGKILL if it has not
    /// exited within 10 s.
    pub fn stop(&mut self) {
        let Some(child) = self.child.as_ref() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if self.wait_exit(Duration::from_secs(10)).is_none() {
            self.kill();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Wait for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Some(status);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.kill();
    }
}
