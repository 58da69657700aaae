//! AI cells: an LLM that sees what actually ran in this notebook and edits
//! it with tools, as one more collaborator. `settings` (the providers the
//! server gives this agent), `llm` (the chat-completions client), `context`
//! and `conversation` (what the model is told), `kernel_access` (the kernel
//! tools), `transcript` and `mime` (what the AI cell shows), `presence` (the AI
//! in the list of who is here, with its cursor), `run` (the loop).

pub mod approval;
pub mod context;
pub mod conversation;
pub mod kernel_access;
pub mod llm;
pub mod mime;
pub mod presence;
pub mod run;
pub mod settings;
pub mod transcript;
