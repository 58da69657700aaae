//! One wasm instance of CPython: instantiating it and running turns.
//!
//! Lives on the kernel's dedicated thread. Everything the guest says comes
//! through `host.call` (see harness.py for the opcodes) and becomes a
//! [`KernelEvent`] sent to the running execution.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Engine, Instance, Linker, Memory, Module, Store, StoreLimitsBuilder, TypedFunc};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use super::artifacts::{MPL_DATA_GUEST, STDLIB_GUEST_DIR};
use super::control::Control;
use super::host::{self, HardStop, HostState, StopReason};
use crate::error::{KernelError, Result};

pub(crate) const HARNESS: &str = include_str!("harness.py");
const BOOT: &str = "import _host as _h, sys as _s, types as _t\n\
_m = _t.ModuleType('__cathode__'); _m.__file__ = '<cathode-harness>'; _s.modules['__cathode__'] = _m\n\
exec(compile(_h.call(b'G').decode(), '<cathode-harness>', 'exec'), _m.__dict__)\n\
del _h, _s, _t, _m\n";
const TURN: &str = "__import__('__cathode__')._turn()\n";

/// Limits applied to every execution.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory cap; past it allocations fail and Python raises MemoryError.
    pub memory_bytes: usize,
    /// Stream bytes per execution; past it the cell ends with an error.
    pub output_bytes: usize,
    /// Wall-clock cap per execution, if any.
    pub time: Option<Duration>,
}

/// How a turn ended.
#[derive(Debug)]
pub enum TurnOutcome {
    Returned(i32),
    Exited(i32),
    Stopped(StopReason),
    Trapped(String),
}

/// Everything needed to make guests: built once per kernel.
pub struct Setup {
    pub engine: Engine,
    pub module: Module,
    pub linker: Arc<Linker<HostState>>,
    pub lib_dir: PathBuf,
    pub mpl_dir: PathBuf,
    pub limits: Limits,
    pub env: Vec<(String, String)>,
    /// Preopened read-write at the same path and made the guest's cwd.
    pub working_dir: Option<PathBuf>,
    /// Where the outcome of interrupt-flag discovery is remembered for this
    /// module and harness (see poke.rs): discovery costs a fresh process
    /// about 150 ms, most of a kernel's start.
    pub interrupt_cache: PathBuf,
}

/// A live CPython instance.
pub struct Guest {
    pub store: Store<HostState>,
    turn: TypedFunc<(i32, i32), i32>,
    alloc: TypedFunc<i32, i32>,
    pub memory: Memory,
    scratch: PathBuf,
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// The guest sees the working directory at its host path, so that a path
/// the kernel prints or writes into a file means the same on both sides.
/// It must not shadow the guest's own mounts.
fn guest_path(host: &std::path::Path) -> Result<String> {
    let path = host
        .to_str()
        .filter(|p| host.is_absolute() && !p.contains('\0'))
        .ok_or_else(|| {
            KernelError::Wasm(format!(
                "the working directory {} must be an absolute UTF-8 path",
                host.display()
            ))
        })?;
    let path = path.trim_end_matches('/');
    let shadows = |mount: &str| path == mount || mount.starts_with(&format!("{path}/"));
    if path.is_empty() || shadows("/tmp") || shadows(STDLIB_GUEST_DIR) {
        return Err(KernelError::Wasm(format!(
            "the working directory {path:?} would hide the guest's /tmp or its Python library"
        )));
    }
    Ok(path.to_owned())
}

fn wasm_err(e: impl std::fmt::Display) -> KernelError {
    KernelError::Wasm(e.to_string())
}

impl Guest {
    /// Instantiate the module and install the harness.
    pub fn new(setup: &Setup, control: Arc<Control>) -> Result<Guest> {
        let scratch = crate::private_dir::create(&std::env::temp_dir(), "cathode-wasm")?;
        let mut wasi = WasiCtxBuilder::new();
        wasi.args(&["python"])
            .env("TMPDIR", "/tmp")
            .env("HOME", "/tmp")
            .env("PYTHONTZPATH", "")
            .envs(&setup.env)
            .preopened_dir(&setup.lib_dir, STDLIB_GUEST_DIR, FsPerms::ReadOnly)
            .map_err(wasm_err)?
            .preopened_dir(&setup.mpl_dir, MPL_DATA_GUEST, FsPerms::ReadOnly)
            .map_err(wasm_err)?
            .preopened_dir(&scratch, "/tmp", FsPerms::ReadWrite)
            .map_err(wasm_err)?;
        let working_dir = setup.working_dir.as_deref().map(guest_path).transpose()?;
        if let (Some(host), Some(guest)) = (&setup.working_dir, &working_dir) {
            wasi.env("PWD", guest)
                .preopened_dir(host, guest, FsPerms::ReadWrite)
                .map_err(|e| {
                    KernelError::Wasm(format!("cannot open the working directory {guest}: {e}"))
                })?;
        }
        let state = HostState::new(
            wasi.build_p1(),
            StoreLimitsBuilder::new()
                .memory_size(setup.limits.memory_bytes)
                .build(),
            setup.limits.output_bytes,
            control,
        );
        let mut store = Store::new(&setup.engine, state);
        store.limiter(|s| s.store_limits());
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(host::on_epoch);
        let instance: Instance = setup
            .linker
            .instantiate(&mut store, &setup.module)
            .map_err(wasm_err)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| KernelError::Wasm("module exports no memory".into()))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, "host_alloc")
            .map_err(wasm_err)?;
        let turn = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "turn")
            .map_err(wasm_err)?;
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
            init.call(&mut store, ()).map_err(wasm_err)?;
        }
        store.data_mut().attach(memory, alloc.clone());
        let mut guest = Guest {
            store,
            turn,
            alloc,
            memory,
            scratch,
        };
        guest.store.data_mut().set_request_bytes(HARNESS.as_bytes());
        match guest.run(BOOT) {
            TurnOutcome::Returned(0) => {}
            other => {
                return Err(KernelError::Wasm(format!(
                    "harness failed to start: {other:?}"
                )))
            }
        }
        if let Some(dir) = working_dir {
            // wasi-libc starts every program in "/" and keeps the cwd
            // itself, resolving relative paths against the preopens; only a
            // chdir inside the guest moves it.
            let literal = serde_json::to_string(&dir).map_err(wasm_err)?;
            match guest.run(&format!("__import__('os').chdir({literal})\n")) {
                TurnOutcome::Returned(0) => {}
                other => {
                    return Err(KernelError::Wasm(format!(
                        "cannot enter the working directory {dir}: {other:?}"
                    )))
                }
            }
        }
        Ok(guest)
    }

    /// Forget interrupts sent before `since` (default: now), withdrawing
    /// flags CPython has not taken, so that a late interrupt cannot hit the
    /// next cell while one sent for this cell still counts.
    pub fn reset_interrupts(&mut self, since: Option<u64>) {
        let (mem, state) = self.memory.data_and_store_mut(&mut self.store);
        state.forget_interrupts(mem, since);
    }

    /// Run the standard turn (`__cathode__._turn()`).
    pub fn turn(&mut self) -> TurnOutcome {
        self.run(TURN)
    }

    /// Run `code` as one turn of the interpreter.
    pub fn run(&mut self, code: &str) -> TurnOutcome {
        let bytes = code.as_bytes();
        let outcome = (|| -> wasmtime::Result<i32> {
            let p = self.alloc.call(&mut self.store, bytes.len() as i32)? as u32 as usize;
            let data = self.memory.data_mut(&mut self.store);
            let Some(dst) = data.get_mut(p..p + bytes.len()) else {
                wasmtime::bail!("host_alloc returned an out-of-bounds pointer");
            };
            dst.copy_from_slice(bytes);
            self.turn
                .call(&mut self.store, (p as i32, bytes.len() as i32))
        })();
        match outcome {
            Ok(status) => TurnOutcome::Returned(status),
            Err(e) => {
                if let Some(exit) = e.downcast_ref::<I32Exit>() {
                    TurnOutcome::Exited(exit.0)
                } else if let Some(stop) = e.downcast_ref::<HardStop>() {
                    TurnOutcome::Stopped(stop.0.clone())
                } else {
                    TurnOutcome::Trapped(format!("{e:#}"))
                }
            }
        }
    }
}
