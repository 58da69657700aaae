//! Notebook kernels behind one async trait.
//!
//! - [`jupyter::JupyterKernel`]: any installed Jupyter kernel, spoken to over
//!   ZeroMQ (IPC transport on Unix).
//! - [`wasm::WasmKernel`]: CPython compiled to WASI, hosted in-process with
//!   wasmtime; no host files, no network.
//!
//! Both emit the same [`KernelEvent`]s so the runtime agent has one code path.

pub mod error;
pub mod event;
pub mod jupyter;
pub mod kernel;
mod private_dir;
pub mod wasm;

pub use error::{KernelError, Result};
pub use event::*;
pub use kernel::{Execution, Kernel};
