//! The AI cell's outputs: the contract the browser (and an exported
//! `.ipynb`) renders, written down in ARCHITECTURE.md. Every one is a
//! `display_data` whose bundle also has `text/plain`, so anything that
//! does not know our MIME types still shows something sensible.
//!
//! - the reply: `text/markdown`, streamed (one display per model turn,
//!   updated in place as the text arrives);
//! - reasoning, where the provider streams it: [`REASONING`] `{"text", "turn"}`;
//! - each tool call: [`TOOL_CALL`] `{"call_id", "tool", "arguments", "status",
//!   "cell_id"?, "turn"}`, updated as its status moves (`awaiting_approval`,
//!   `running`, `done`, `error`, `denied`);
//! - each tool result: [`TOOL_RESULT`] `{"call_id", "tool", "ok", "result",
//!   "cell_id"?, "turn"}`; a scratch run's own outputs follow it as they are;
//! - the run's end: [`STATUS`] `{"state": "done" | "error" | "interrupted" |
//!   "turn_limit" | "unavailable", "message"?, "model", "turns", "usage",
//!   "context"}`.
//!
//! Every output's metadata carries `{"cathode": {"ai": <kind>}}`.

pub const REASONING: &str = "application/vnd.cathode.ai.reasoning+json";
pub const TOOL_CALL: &str = "application/vnd.cathode.ai.tool-call+json";
pub const TOOL_RESULT: &str = "application/vnd.cathode.ai.tool-result+json";
pub const STATUS: &str = "application/vnd.cathode.ai.status+json";
