//! The tools an AI (the agent's AI cells, or an external agent over MCP)
//! acts on a notebook with: one implementation both use.
//!
//! Document tools (`create_cell`, `modify_cell`, `delete_cell`,
//! `move_cell`, `execute_cell`, `read_cell`) are ordinary edits through a
//! [`cathode_client::NotebookClient`], stamped with who made them on whose
//! behalf ([`schema::Attribution`]), so every collaborator sees them live
//! and the history can tell them apart (and undo them). Kernel tools
//! (`list_variables`, `inspect_variable`, `run_scratch`) need the kernel,
//! which only the runtime agent holds: they go through [`KernelAccess`].
//!
//! Arguments are checked against the tools' JSON Schemas' rules here, and
//! a bad argument or an unknown cell id comes back to the model as a tool
//! error, never as a failure of the run.

mod args;
mod definitions;
mod document;
mod kernel;
pub mod summary;

pub use definitions::{definitions, openai_tools, ToolDefinition};
pub use document::{ToolContext, ToolOutcome};
pub use kernel::{KernelAccess, ScratchOutput};

/// Tools that change nothing (what a viewer may use over MCP).
pub fn is_read_only(tool: &str) -> bool {
    matches!(tool, "read_cell" | "list_variables" | "inspect_variable")
}

/// Tools that run code (what approvals hold back in `ask_execute`).
pub fn runs_code(tool: &str) -> bool {
    matches!(tool, "execute_cell" | "run_scratch")
}

/// Run tool `name` with its JSON `arguments` text.
pub async fn call(ctx: &ToolContext<'_>, name: &str, arguments: &str) -> ToolOutcome {
    let args = match args::parse(name, arguments) {
        Ok(args) => args,
        Err(why) => return ToolOutcome::error(why),
    };
    document::run(ctx, args).await
}
