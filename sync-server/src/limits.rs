//! Process-level settings the server makes for itself at start.

/// Raise the soft limit on open files to the hard limit and return the
/// limit in force: the connection limit is then sized under it, so the
/// server refuses connections before it runs out of descriptors.
pub fn raise_descriptor_limit() -> u64 {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct
        // passed to them.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return 1024;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
        {
            limit.rlim_cur as u64
        }
    }
    #[cfg(not(unix))]
    {
        1024
    }
}

/// Make the embedded database and its companions readable by their owner
/// only. SQLite gives the `-wal` and `-shm` files the database's own mode,
/// so creating the database 0600 (and tightening an older one) covers them.
pub fn private_database_files(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let mut names = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            names.push(name.into());
        }
        for name in names {
            if name.exists() {
                std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    Ok(())
}
