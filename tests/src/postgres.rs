//! A real PostgreSQL for the tests that run the server on it (the team
//! setup): a throwaway cluster in a temporary folder, started with
//! Debian's server binaries on a free loopback port and stopped on drop.
//! The server refuses to run as root, so as root the cluster belongs to
//! the `postgres` user.

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PostgresCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

/// The newest installed server's `bin` folder (`/usr/lib/postgresql/N/bin`).
fn server_bin() -> Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context(
            "PostgreSQL's server is not installed (scripts/setup.sh installs it for the tests)",
        )?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| anyhow!("no initdb under /usr/lib/postgresql"))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn as_owner(bin: &Path, program: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

fn run(mut command: Command, what: &str) -> Result<()> {
    let out = command.output().with_context(|| what.to_owned())?;
    if !out.status.success() {
        bail!("{what}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

impl PostgresCluster {
    pub fn start() -> Result<Self> {
        let bin = server_bin()?;
        let dir = tempfile::Builder::new().prefix("cathode-pg-").tempdir()?;
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres").arg(dir.path());
                    c
                },
                "chown the cluster folder",
            )?;
        }
        let data = dir.path().join("data");
        let mut init = as_owner(&bin, "initdb");
        init.arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "cathode", "--no-sync"]);
        run(init, "initdb")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.path().display()
        );
        let mut start = as_owner(&bin, "pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(options)
            .arg("-l")
            .arg(dir.path().join("log"))
            .args(["-w", "start"]);
        run(start, "pg_ctl start")?;
        Ok(Self { dir, bin, port })
    }

    /// A new, empty database in this cluster, as a connection URL.
    pub fn database(&self, name: &str) -> Result<String> {
        let mut create = Command::new(self.bin.join("createdb"));
        create
            .args(["-h", "127.0.0.1", "-U", "cathode", "-p"])
            .arg(self.port.to_string())
            .arg(name);
        run(create, "createdb")?;
        Ok(format!("postgres://cathode@127.0.0.1:{}/{name}", self.port))
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        let mut stop = as_owner(&self.bin, "pg_ctl");
        stop.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
    }
}
