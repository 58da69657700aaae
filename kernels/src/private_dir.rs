//! Private working directories that a killed process cannot clean up.
//!
//! A kernel's connection directory (connection file, IPC sockets) and a WASM
//! guest's scratch `/tmp` are removed on drop, but nothing runs when the host
//! is SIGKILLed. Their names therefore carry the creating process's id, and
//! creating a new one removes those whose process is gone, so a crashed
//! agent leaves nothing behind for long.

use std::path::{Path, PathBuf};

/// Create `<base>/<prefix>-<pid>-<random>` (mode 0700 on Unix), first
/// removing directories of the same prefix left by dead processes.
pub fn create(base: &Path, prefix: &str) -> std::io::Result<PathBuf> {
    sweep_once(base, prefix);
    let id = uuid::Uuid::new_v4().simple().to_string();
    // Short: a Unix socket path is limited to about 107 bytes.
    let dir = base.join(format!("{prefix}-{}-{}", std::process::id(), &id[..8]));
    std::fs::create_dir_all(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// Dead processes' directories only appear when a process dies, so once per
/// process is enough: a kernel pool creating guests does not list the
/// temporary directory each time.
fn sweep_once(base: &Path, prefix: &str) {
    static SWEPT: std::sync::Mutex<Vec<(PathBuf, String)>> = std::sync::Mutex::new(Vec::new());
    let key = (base.to_path_buf(), prefix.to_owned());
    {
        let mut swept = SWEPT.lock().unwrap_or_else(|p| p.into_inner());
        if swept.contains(&key) {
            return;
        }
        swept.push(key);
    }
    sweep(base, prefix);
}

fn sweep(base: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| owner_pid(n, prefix)) else {
            continue;
        };
        if pid == std::process::id() || alive(pid) {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => tracing::debug!(
                "removed {} left by dead process {pid}",
                entry.path().display()
            ),
            Err(e) => tracing::debug!("could not remove {}: {e}", entry.path().display()),
        }
    }
}

/// The process id in `<prefix>-<pid>-<random>`.
fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let (pid, random) = rest.split_once('-')?;
    if random.is_empty() || random.contains('-') {
        return None;
    }
    pid.parse().ok()
}

#[cfg(unix)]
fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return true;
    };
    // Signal 0 checks existence; EPERM means it exists but is not ours.
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

#[cfg(not(unix))]
fn alive(_pid: u32) -> bool {
    // No cheap portable check: never remove another process's directory.
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_owner() {
        assert_eq!(
            owner_pid("cathode-kernel-42-abcd1234", "cathode-kernel"),
            Some(42)
        );
        assert_eq!(
            owner_pid("cathode-kernel-x-abcd1234", "cathode-kernel"),
            None
        );
        assert_eq!(
            owner_pid("cathode-wasm-42-abcd1234", "cathode-kernel"),
            None
        );
        assert_eq!(owner_pid("cathode-kernel-42-", "cathode-kernel"), None);
    }

    #[cfg(unix)]
    #[test]
    fn directories_of_dead_processes_are_swept_and_live_ones_kept() {
        let base = std::env::temp_dir().join(format!("private-dir-test-{}", std::process::id()));
        std::fs::create_dir_all(&base).expect("base");
        // A process that has exited (and been reaped) and one that lives.
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead = child.id();
        child.wait().expect("wait");
        let stale = base.join(format!("t-{dead}-00000000"));
        let live = base.join("t-1-00000000"); // pid 1 is always alive
        std::fs::create_dir_all(stale.join("inner")).expect("stale");
        std::fs::create_dir_all(&live).expect("live");
        let mine = create(&base, "t").expect("create");
        assert!(!stale.exists(), "stale directory kept");
        assert!(live.exists(), "a live process's directory was removed");
        assert!(mine.exists());
        std::fs::remove_dir_all(&base).expect("cleanup");
    }
}
