//! Connection files and the private directory that holds them.
//!
//! Each kernel session gets its own directory holding the connection file and
//! (with the IPC transport) the five Unix sockets. Dropping the
//! [`ConnectionDir`] removes it all, so no socket or key file outlives the
//! kernel even if the kernel itself leaves its IPC files behind.

use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::Serialize;

use crate::error::Result;

/// The five channels of a Jupyter kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Shell,
    IoPub,
    Stdin,
    Control,
    Heartbeat,
}

/// Transport for the kernel's sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Unix domain sockets: no port races, no TCP stack. The default on Unix.
    Ipc,
    /// TCP on 127.0.0.1 with ports picked by binding to port 0 first.
    Tcp,
}

/// What goes into `kernel-*.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionInfo {
    pub transport: String,
    pub ip: String,
    pub shell_port: u16,
    pub iopub_port: u16,
    pub stdin_port: u16,
    pub control_port: u16,
    pub hb_port: u16,
    pub key: String,
    pub signature_scheme: String,
    pub kernel_name: String,
}

impl ConnectionInfo {
    /// The ZeroMQ endpoint of one channel.
    pub fn endpoint(&self, channel: Channel) -> String {
        let port = match channel {
            Channel::Shell => self.shell_port,
            Channel::IoPub => self.iopub_port,
            Channel::Stdin => self.stdin_port,
            Channel::Control => self.control_port,
            Channel::Heartbeat => self.hb_port,
        };
        if self.transport == "ipc" {
            format!("ipc://{}-{}", self.ip, port)
        } else {
            format!("tcp://{}:{}", self.ip, port)
        }
    }
}

/// A private directory holding one kernel session's connection file and sockets.
pub struct ConnectionDir {
    dir: PathBuf,
    pub info: ConnectionInfo,
    pub file: PathBuf,
}

impl ConnectionDir {
    /// Create the directory (mode 0700) and write the connection file.
    pub fn create(kernel_name: &str, transport: Transport) -> Result<ConnectionDir> {
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let dir = crate::private_dir::create(&base, "cathode-kernel")?;
        let mut key_bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut key_bytes);
        let key = hex::encode(key_bytes);
        let info = match transport {
            Transport::Ipc => ConnectionInfo {
                transport: "ipc".into(),
                ip: dir.join("k").to_string_lossy().into_owned(),
                shell_port: 1,
                iopub_port: 2,
                stdin_port: 3,
                control_port: 4,
                hb_port: 5,
                key,
                signature_scheme: "hmac-sha256".into(),
                kernel_name: kernel_name.into(),
            },
            Transport::Tcp => {
                let ports = free_tcp_ports(5)?;
                ConnectionInfo {
                    transport: "tcp".into(),
                    ip: "127.0.0.1".into(),
                    shell_port: ports[0],
                    iopub_port: ports[1],
                    stdin_port: ports[2],
                    control_port: ports[3],
                    hb_port: ports[4],
                    key,
                    signature_scheme: "hmac-sha256".into(),
                    kernel_name: kernel_name.into(),
                }
            }
        };
        let file = dir.join("kernel.json");
        let this = ConnectionDir {
            dir,
            info,
            file: file.clone(),
        };
        std::fs::write(&file, serde_json::to_vec_pretty(&this.info)?)?;
        Ok(this)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ConnectionDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("could not remove {}: {e}", self.dir.display());
            }
        }
    }
}

/// Ask the OS for `n` distinct free ports. There is still a window between
/// closing our listener and the kernel binding, which is why IPC is preferred.
fn free_tcp_ports(n: usize) -> Result<Vec<u16>> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_is_removed_on_drop() {
        let c = ConnectionDir::create("t", Transport::Ipc).expect("create");
        let dir = c.path().to_path_buf();
        assert!(c.file.is_file());
        assert!(c.info.endpoint(Channel::Shell).starts_with("ipc://"));
        drop(c);
        assert!(!dir.exists());
    }

    #[test]
    fn tcp_ports_are_distinct() {
        let c = ConnectionDir::create("t", Transport::Tcp).expect("create");
        let i = &c.info;
        let mut ports = vec![
            i.shell_port,
            i.iopub_port,
            i.stdin_port,
            i.control_port,
            i.hb_port,
        ];
        ports.sort();
        ports.dedup();
        assert_eq!(ports.len(), 5);
        assert_eq!(
            c.info.endpoint(Channel::Heartbeat),
            format!("tcp://127.0.0.1:{}", i.hb_port)
        );
    }
}
