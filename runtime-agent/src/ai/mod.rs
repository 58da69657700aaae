//! AI cells: an LLM that sees what actually ran in this notebook and edits
//! it with tools, as one more collaborator.

pub mod llm;
