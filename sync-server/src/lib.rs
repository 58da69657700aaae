//! cathode's sync server: rooms per notebook speaking the Automerge sync
//! protocol over WebSocket, an append-only event log with group commit,
//! tokens and roles checked on every message, blobs and a small REST API.

pub mod ai_config;
pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod connection;
pub mod error;
pub mod event_log;
pub mod guard;
pub mod history;
pub mod http;
pub mod limits;
pub mod mcp;
pub mod notebook_file;
pub mod room;
pub mod rooms;
pub mod runtimes;
pub mod secrets;
pub mod store;
pub mod timing;
pub mod web;
pub mod workdir;

pub use app::Server;
pub use config::Config;
pub use error::{Result, ServerError};
