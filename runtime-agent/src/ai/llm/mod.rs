//! The model side of AI cells: a chat-completions client of our own (see
//! ARCHITECTURE.md for why not a crate), its SSE parsing and the assembly
//! of a streamed answer.

pub mod client;
pub mod sse;
pub mod stream;

pub use client::{ChatRequest, Endpoint, LlmClient, LlmError};
pub use stream::{Delta, Response, ToolCall, Usage};
