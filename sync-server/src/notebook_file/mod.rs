//! `.ipynb` files (nbformat 4.5) and a notebook's two documents: the
//! conversion, kept apart from the HTTP handlers so it can be tested and
//! fuzzed without a server. Each file has one job: `upgrade` turns
//! nbformat 2 and 3 into 4, `validate` checks the schema's rules and names
//! the cell and field of each problem, `outputs` maps one output to and
//! from the runtime document's manifests (with the blob store's rules).
//!
//! Not yet here: the import and export of whole notebooks (the
//! `POST /api/notebooks/import` and `GET /api/notebooks/{id}/ipynb`
//! handlers); see ARCHITECTURE.md.

pub mod outputs;
pub mod upgrade;
pub mod validate;
