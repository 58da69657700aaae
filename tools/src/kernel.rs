//! The kernel tools' door: only the runtime agent holds the kernel, so the
//! tools ask through this trait (the agent implements it; a peer without
//! a kernel answers that the tool is not available there).

use schema::OutputManifest;
use std::time::Duration;

/// What scratch code produced.
#[derive(Clone, Debug, Default)]
pub struct ScratchOutput {
    pub outputs: Vec<OutputManifest>,
    /// It raised (the error is among the outputs).
    pub failed: bool,
    /// It ran past its time limit and was interrupted.
    pub timed_out: bool,
}

#[async_trait::async_trait]
pub trait KernelAccess: Send + Sync {
    /// A summary of the kernel's variables (JSON), gathered silently.
    async fn variables(&self) -> Result<serde_json::Value, String>;
    /// One variable in detail.
    async fn inspect(&self, name: &str) -> Result<serde_json::Value, String>;
    /// Run code without a cell; its outputs come back.
    async fn scratch(&self, code: &str, timeout: Duration) -> Result<ScratchOutput, String>;
}
