//! Each notebook's own folder: the kernel's working directory, and what
//! the files API (`api/files.rs`) reads and writes.
//!
//! `<root>/<notebook id>/`, the root being `--notebook-files-dir` (default
//! `<data dir>/notebooks`). The server creates a folder (0700) the first
//! time an agent starts or a file is uploaded; nothing else here creates
//! anything outside a notebook's folder.

pub mod fs;
pub mod path;

pub use path::RelPath;

use std::io;
use std::path::{Path, PathBuf};

/// The folder of `notebook_id` under `root`. Notebook ids are made by the
/// server, but one is still checked to be a single plain name before it
/// becomes a path.
pub fn folder_of(root: &Path, notebook_id: &str) -> io::Result<PathBuf> {
    let plain = !notebook_id.is_empty()
        && notebook_id.len() <= 128
        && notebook_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plain {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{notebook_id:?} is not a notebook id"),
        ));
    }
    Ok(root.join(notebook_id))
}

/// The notebook's folder, created (with the root, each 0700: it holds the
/// notebook's data, readable by its owner alone) if missing.
pub async fn ensure(root: &Path, notebook_id: &str) -> io::Result<PathBuf> {
    let folder = folder_of(root, notebook_id)?;
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(&folder).await?;
    Ok(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notebook_ids_must_be_plain_names() {
        let root = Path::new("/srv/nb");
        assert_eq!(
            folder_of(root, "nb-01HX_a").unwrap(),
            PathBuf::from("/srv/nb/nb-01HX_a")
        );
        for bad in ["", "..", "a/b", "nb-1/../x", ".", "nb 1", "nb\0"] {
            assert!(folder_of(root, bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn ensure_creates_private_folders() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("files");
        let folder = ensure(&root, "nb-1").await.unwrap();
        assert!(folder.is_dir());
        for dir in [&root, &folder] {
            let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", dir.display());
        }
        // Again: an existing folder is fine and keeps what it holds.
        std::fs::write(folder.join("kept"), b"x").unwrap();
        ensure(&root, "nb-1").await.unwrap();
        assert!(folder.join("kept").is_file());
    }
}
