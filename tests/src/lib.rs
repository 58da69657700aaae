//! Helpers for whole-system tests: a real `sync-server` process on a
//! loopback port with its own SQLite file, and small REST and raw-protocol
//! clients.

pub mod agent;
pub mod raw;
pub mod server;

pub use agent::TestAgent;
pub use server::TestServer;
