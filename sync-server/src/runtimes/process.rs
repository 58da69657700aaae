//! One runtime-agent child process: started in its own process group,
//! told to die with the server, its log tail kept for the status report.

use crate::config::AgentLimits;
use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// Lines of an agent's log kept for `GET …/runtime`. The agent masks its
/// own log lines, so what is kept here holds no secret value.
const LOG_LINES: usize = 40;

/// The last lines an agent wrote to stderr.
#[derive(Clone, Default)]
pub struct LogTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    /// Set, and waiters woken, once stderr is closed and read to its end.
    closed: Arc<(AtomicBool, Notify)>,
}

impl LogTail {
    fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == LOG_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    pub fn lines(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().cloned().collect()
    }

    fn close(&self) {
        self.closed.0.store(true, Ordering::SeqCst);
        self.closed.1.notify_waiters();
    }

    /// Wait, at most `max`, until the agent's last lines are read: an exit
    /// is noticed before its final words are, and those say why it died. A
    /// kernel the agent started may keep the pipe open after the agent
    /// itself is gone, hence the limit.
    pub async fn drained(&self, max: Duration) {
        let wait = async {
            loop {
                // Created before the check, so a close in between still wakes it.
                let notified = self.closed.1.notified();
                if self.closed.0.load(Ordering::SeqCst) {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(max, wait).await;
    }
}

pub struct AgentLaunch<'a> {
    pub binary: &'a Path,
    pub notebook_id: &'a str,
    pub server_url: &'a str,
    pub token: &'a str,
    pub kernel: &'a str,
    pub limits: &'a AgentLimits,
    /// The kernel's working directory: the notebook's folder, unless an
    /// administrator chose another.
    pub workdir: &'a Path,
    /// A headless run (`cathode-run`): IPython keeps its history in memory,
    /// as nbclient starts kernels, so parallel runs never wait on each
    /// other's history database.
    pub headless: bool,
}

/// Start the agent. The token travels in the environment, never in argv
/// (which every local user can read in `ps`).
pub fn spawn(launch: &AgentLaunch<'_>) -> std::io::Result<(Child, LogTail)> {
    let mut command = Command::new(launch.binary);
    command
        .env("NOTEBOOK_ID", launch.notebook_id)
        .env("CATHODE_SERVER_URL", launch.server_url)
        .env("CATHODE_TOKEN", launch.token)
        .env("CATHODE_KERNEL", launch.kernel)
        .env("CATHODE_WORKDIR", launch.workdir)
        .env_remove("CATHODE_IPYTHON_HIST_FILE")
        .env_remove("CATHODE_TOKEN_FILE")
        // A backtrace would push the agent's one-line reason out of the
        // log tail the status report shows.
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if launch.headless {
        command.env("CATHODE_IPYTHON_HIST_FILE", ":memory:");
    }
    #[cfg(target_os = "linux")]
    // SAFETY: between fork and exec only async-signal-safe calls are made
    // (setrlimit, setpgid, prctl, getppid).
    unsafe {
        let parent = libc::getpid();
        let limits = launch.limits.clone();
        command.pre_exec(move || {
            set_limit(libc::RLIMIT_DATA, limits.memory_bytes)?;
            set_limit(libc::RLIMIT_CPU, limits.cpu_seconds)?;
            set_limit(libc::RLIMIT_NOFILE, limits.open_files)?;
            // Its own group, so that stopping it reaches the kernel it starts.
            libc::setpgid(0, 0);
            // A server killed with SIGKILL leaves no agent behind.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The server may have died between fork and prctl.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    let tail = LogTail::default();
    if let Some(stderr) = child.stderr.take() {
        let tail = tail.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tail.push(line);
            }
            tail.close();
        });
    }
    Ok((child, tail))
}

/// Lower one resource limit (soft and hard: the agent may not raise it).
#[cfg(target_os = "linux")]
fn set_limit(resource: libc::__rlimit_resource_t, value: Option<u64>) -> std::io::Result<()> {
    let Some(value) = value else {
        return Ok(());
    };
    let limit = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: setrlimit(2) with a valid struct; async-signal-safe.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Signal the agent's whole process group (it and its kernel): SIGTERM
/// asks it to stop (it marks its session dead and releases the lease),
/// SIGKILL ends one that would not.
pub fn signal_group(pid: u32, signal: i32) {
    #[cfg(unix)]
    // SAFETY: a plain kill(2) on the group we created for this child.
    unsafe {
        libc::kill(-(pid as libc::pid_t), signal);
    }
}
