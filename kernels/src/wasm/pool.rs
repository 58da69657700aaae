//! A pool of warm WASM kernels.
//!
//! Starting a kernel from the cached module costs tens of milliseconds (mostly
//! instantiation and installing the harness), so a pool keeps a few started
//! in the background and hands them out at once.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{WasmKernel, WasmOptions};
use crate::error::Result;

pub struct WasmPool {
    ready: mpsc::Receiver<Result<WasmKernel>>,
    filler: JoinHandle<()>,
}

impl WasmPool {
    /// Keep `size` kernels (at least one) started ahead of demand.
    pub fn new(options: WasmOptions, size: usize) -> WasmPool {
        let (tx, ready) = mpsc::channel(size.max(1));
        let filler = tokio::spawn(async move {
            loop {
                let k = WasmKernel::start(options.clone()).await;
                let failed = k.is_err();
                if tx.send(k).await.is_err() || failed {
                    return;
                }
            }
        });
        WasmPool { ready, filler }
    }

    /// A started kernel: immediate when one is warm.
    pub async fn take(&mut self) -> Result<WasmKernel> {
        match self.ready.recv().await {
            Some(k) => k,
            None => Err(crate::error::KernelError::Wasm(
                "the pool stopped after a kernel failed to start".into(),
            )),
        }
    }
}

impl Drop for WasmPool {
    fn drop(&mut self) {
        self.filler.abort();
    }
}
