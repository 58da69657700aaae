//! The process-wide wasmtime engine, the compiled-module cache and the epoch
//! ticker.
//!
//! Compiling python-snapshot.wasm takes about 90 s and 2.4 GB here, so the
//! compiled module is serialized to disk under a key derived from the
//! artifact's SHA-256 and the engine's compatibility hash (wasmtime version,
//! target and every setting that changes code). Loading it back takes
//! milliseconds. One engine serves every kernel in the process, so the module
//! is also shared in memory.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use wasmtime::{Config, Engine, Module};

use super::artifacts::Artifacts;
use crate::error::{KernelError, Result};

/// How often the epoch advances: the granularity of interrupts, output
/// flushing and time limits.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// CPython here needs deep recursion (the snapshot was made with this).
const WASM_STACK: usize = 8 << 20;
/// Must exceed the wasm stack (wasmtime checks it).
const ASYNC_STACK: usize = 16 << 20;

fn wasm_err(e: impl std::fmt::Display) -> KernelError {
    KernelError::Wasm(e.to_string())
}

/// The shared engine; its epoch ticker starts with it.
pub fn engine() -> Result<Engine> {
    static ENGINE: OnceLock<std::result::Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut cfg = Config::new();
            cfg.wasm_exceptions(true)
                .epoch_interruption(true)
                .max_wasm_stack(WASM_STACK)
                .async_stack_size(ASYNC_STACK)
                .parallel_compilation(true);
            let engine = Engine::new(&cfg).map_err(|e| e.to_string())?;
            let weak = engine.weak();
            // A plain thread: ticking must go on even when every tokio worker is busy.
            let spawned = std::thread::Builder::new()
                .name("cathode-wasm-epoch".into())
                .spawn(move || loop {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(e) => e.increment_epoch(),
                        None => return,
                    }
                });
            spawned.map_err(|e| e.to_string())?;
            Ok(engine)
        })
        .clone()
        .map_err(KernelError::Wasm)
}

/// Cache file name for `artifact_sha256` compiled by `engine`.
pub fn cache_key(engine: &Engine, artifact_sha256: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!(
        "{}-wasmtime48-{:016x}.cwasm",
        &artifact_sha256[..32.min(artifact_sha256.len())],
        h.finish()
    )
}

/// The compiled snapshot module: from memory, else from the disk cache, else
/// compiled (once, with a log line saying how long it takes) and cached.
pub fn module(engine: &Engine, artifacts: &Artifacts, cache_dir: &Path) -> Result<Module> {
    static MODULES: OnceLock<Mutex<HashMap<String, Module>>> = OnceLock::new();
    let modules = MODULES.get_or_init(|| Mutex::new(HashMap::new()));
    let key = cache_key(engine, &artifacts.snapshot_sha256);
    // Held while compiling on purpose: a second kernel must wait for the first
    // compile rather than start its own 2.4 GB one. Only ever taken on
    // blocking threads.
    let mut map = modules
        .lock()
        .map_err(|_| KernelError::Wasm("module cache lock poisoned".into()))?;
    if let Some(m) = map.get(&key) {
        return Ok(m.clone());
    }
    let dir = cache_dir.join("modules");
    let path = dir.join(&key);
    let module = match load(engine, &path) {
        Some(m) => m,
        None => compile(engine, artifacts, &dir, &path)?,
    };
    map.insert(key, module.clone());
    Ok(module)
}

fn load(engine: &Engine, path: &PathBuf) -> Option<Module> {
    if !path.is_file() {
        return None;
    }
    let started = Instant::now();
    // SAFETY: the file is one we wrote with `Module::serialize` for an engine
    // with the same compatibility hash (it is in the name); wasmtime checks
    // the header and refuses mismatches. The cache dir is the user's own.
    match unsafe { Module::deserialize_file(engine, path) } {
        Ok(m) => {
            tracing::debug!(
                "loaded compiled module {} in {:?}",
                path.display(),
                started.elapsed()
            );
            Some(m)
        }
        Err(e) => {
            tracing::warn!("ignoring unusable module cache {}: {e}", path.display());
            None
        }
    }
}

fn compile(engine: &Engine, artifacts: &Artifacts, dir: &Path, path: &Path) -> Result<Module> {
    Artifacts::verify(&artifacts.snapshot, &artifacts.snapshot_sha256)?;
    tracing::warn!(
        "compiling {} for this machine; this happens once and takes about 90 s and 2.4 GB \
         (cached afterwards in {})",
        artifacts.snapshot.display(),
        dir.display()
    );
    let started = Instant::now();
    let module = Module::from_file(engine, &artifacts.snapshot).map_err(wasm_err)?;
    tracing::warn!("compiled the wasm module in {:?}", started.elapsed());
    std::fs::create_dir_all(dir)?;
    let bytes = module.serialize().map_err(wasm_err)?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(module)
}
