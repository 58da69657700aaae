//! `.ipynb` files (nbformat 4.5) and a notebook's two documents: the
//! conversion, kept apart from the HTTP handlers (`api/ipynb.rs`) so it can
//! be tested and fuzzed without a server. Each file has one job: `upgrade`
//! turns nbformat 2 and 3 into 4, `validate` checks the schema's rules and
//! names the cell and field of each problem, `outputs` maps one output to
//! and from the runtime document's manifests (with the blob store's rules),
//! `import` reads a whole file into what the documents get, and `export`
//! writes the documents back as a file.

pub mod export;
pub mod import;
pub mod outputs;
pub mod upgrade;
pub mod validate;

/// The cell metadata key under which an export records what nbformat has
/// no place for (an AI or SQL cell's own type, an AI cell's outputs), so
/// that a re-import restores it.
pub const CATHODE_KEY: &str = "cathode";
