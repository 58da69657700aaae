//! The runtime agent: one process per notebook. It joins the notebook as a
//! peer with a runtime token, holds the lease, runs the cells people ask to
//! run on its kernel, and writes the outputs back into the runtime document.

pub mod agent;
pub mod ai;
pub mod blobs;
pub mod config;
pub mod controls;
pub mod error;
pub mod executor;
pub mod headless;
pub mod kernel_host;
pub mod kernel_questions;
pub mod lease;
pub mod masking;
pub mod outputs;
pub mod scheduler;
pub mod sealed_input;
pub mod secrets;
pub mod terminal;
pub mod timing;

pub use agent::{run, Exit};
pub use config::Config;
pub use error::{AgentError, Result};
