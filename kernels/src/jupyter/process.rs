//! Launching a kernel process and watching it.
//!
//! The kernel runs in its own process group, so an interrupt (SIGINT) and a
//! kill reach any children it started too, and a terminal's Ctrl-C aimed at
//! us does not hit it. `JPY_PARENT_PID` makes ipykernel-based kernels poll
//! for our death and exit with us; on Linux we also ask for SIGKILL when the
//! launching thread dies (`PR_SET_PDEATHSIG`). A [`ProcessGuard`] kills the
//! group when dropped, which covers panics and task aborts.

use std::process::Stdio;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::kernelspec::KernelSpec;
use crate::error::{KernelError, Result};
use crate::event::ExitStatus;

/// Kills a kernel's whole process group when dropped.
pub struct ProcessGuard {
    pgid: i32,
    armed: bool,
}

impl ProcessGuard {
    /// Send `sig` to the kernel's process group.
    pub fn signal(&self, sig: Signal) -> Result<()> {
        killpg(Pid::from_raw(self.pgid), sig)
            .map_err(|e| KernelError::Io(std::io::Error::from_raw_os_error(e as i32)))
    }

    /// The group is known to be gone; dropping need not kill it.
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
        }
    }
}

/// Start `spec` with `connection_file`; returns the child and its group guard.
pub fn launch(
    spec: &KernelSpec,
    connection_file: &std::path::Path,
) -> Result<(Child, ProcessGuard)> {
    let argv = spec.command(connection_file);
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| KernelError::InvalidKernelSpec {
            path: spec.resource_dir.clone(),
            reason: "argv is empty".into(),
        })?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(&spec.env)
        .env("JPY_PARENT_PID", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    if let Some(dir) = &spec.working_dir {
        // PWD too: a shell kernel trusts it over getcwd when it names the
        // same directory, and would otherwise show wherever we were started.
        cmd.current_dir(dir).env("PWD", dir);
    }
    #[cfg(target_os = "linux")]
    unsafe {
        // SAFETY: only async-signal-safe calls between fork and exec.
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| KernelError::Launch {
        name: spec.name.clone(),
        source,
    })?;
    let pid = child
        .id()
        .ok_or_else(|| KernelError::Died("kernel exited before it could be watched".into()))?;
    let name = spec.name.clone();
    if let Some(out) = child.stdout.take() {
        let name = name.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(kernel = %name, "stdout: {line}");
            }
        });
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(kernel = %name, "stderr: {line}");
            }
        });
    }
    Ok((
        child,
        ProcessGuard {
            pgid: pid as i32,
            armed: true,
        },
    ))
}

/// Describe how a child exited.
pub fn exit_status(status: std::io::Result<std::process::ExitStatus>) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => {
            let code = s.code();
            let signal = s.signal();
            let reason = match (code, signal) {
                (Some(c), _) => format!("kernel process exited with status {c}"),
                (None, Some(sig)) => format!("kernel process was killed by signal {sig}"),
                _ => "kernel process exited".to_string(),
            };
            ExitStatus {
                code,
                signal,
                reason,
            }
        }
        Err(e) => ExitStatus {
            code: None,
            signal: None,
            reason: format!("could not wait for kernel process: {e}"),
        },
    }
}
