//! Filesystem calls inside one notebook's folder, every path resolved
//! beneath it.
//!
//! Resolution goes through `cap-primitives` (the sandboxing layer of
//! wasmtime's own WASI filesystem, already in our build): each lookup is
//! `openat2(RESOLVE_BENEATH)` where the kernel has it, else a walk one
//! name at a time with `O_NOFOLLOW`, so a symbolic link is followed only
//! while it stays inside the folder, and one that leads out (planted by a
//! kernel, say) fails as an escape instead of being read through. Text
//! checks (`path.rs`) come first for clear messages; this is what holds
//! even if they missed something, or the folder changes between check and
//! use. Everything here blocks: callers run it on tokio's blocking pool.

use super::path::{self, RelPath};
use cap_primitives::fs::{self as cap, DirOptions, FollowSymlinks, MetadataExt, OpenOptions};
use serde::Serialize;
use std::io;
use std::path::Path;

/// How cap-primitives says a path led out of the folder.
const ESCAPE: &str = "a path led outside of the filesystem";

/// Whether `e` is a refused escape from the folder (through a symlink).
pub fn is_escape(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied && e.to_string() == ESCAPE
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    /// A link that leads out of the folder, or nowhere: listed so it can
    /// be seen and deleted, never followed.
    Symlink,
    /// A pipe, socket or device a kernel made: listed, never served.
    Other,
}

#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub name: String,
    pub path: String,
    pub kind: Kind,
    /// Bytes, for a file.
    pub size: Option<u64>,
    pub modified_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Listing {
    pub path: String,
    pub entries: Vec<Entry>,
    /// More entries than the listing holds.
    pub truncated: bool,
}

fn modified_ms(meta: &cap::Metadata) -> Option<i64> {
    let ms = meta.mtime().checked_mul(1000)?;
    ms.checked_add(meta.mtime_nsec() / 1_000_000)
}

fn kind_of(meta: &cap::Metadata) -> Kind {
    if meta.is_dir() {
        Kind::Dir
    } else if meta.is_file() {
        Kind::File
    } else if meta.is_symlink() {
        Kind::Symlink
    } else {
        Kind::Other
    }
}

fn error(kind: io::ErrorKind, message: String) -> io::Error {
    io::Error::new(kind, message)
}

/// One notebook's folder, open. Every call names paths relative to it.
pub struct Folder {
    dir: std::fs::File,
}

impl Folder {
    pub fn open(folder: &Path) -> io::Result<Self> {
        let dir = cap::open_ambient_dir(folder, cap_primitives::ambient_authority())?;
        Ok(Self { dir })
    }

    /// What `rel` is (symlinks inside the folder followed).
    pub fn kind(&self, rel: &RelPath) -> io::Result<Kind> {
        cap::stat(&self.dir, &rel.as_path(), FollowSymlinks::Yes).map(|m| kind_of(&m))
    }

    /// The entries of folder `rel` (`None`: the notebook's folder), by
    /// name, hidden ones left out, at most `max`.
    pub fn list(&self, rel: Option<&RelPath>, max: usize) -> io::Result<Listing> {
        let entries = match rel {
            Some(rel) => cap::read_dir(&self.dir, &rel.as_path())?,
            None => cap::read_base_dir(&self.dir)?,
        };
        let mut listed = Vec::new();
        let mut truncated = false;
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !path::listed(&name) {
                continue;
            }
            if listed.len() == max {
                truncated = true;
                break;
            }
            let child = match rel {
                Some(rel) => rel.join(&name),
                None => RelPath::single(&name),
            };
            let mut meta = entry.metadata()?;
            if meta.is_symlink() {
                // A link is shown as what it leads to, if that is inside.
                if let Ok(target) = cap::stat(&self.dir, &child.as_path(), FollowSymlinks::Yes) {
                    meta = target;
                }
            }
            let kind = kind_of(&meta);
            listed.push(Entry {
                path: child.display(),
                name,
                kind,
                size: (kind == Kind::File).then(|| meta.len()),
                modified_ms: modified_ms(&meta),
            });
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Listing {
            path: rel.map(RelPath::display).unwrap_or_default(),
            entries: listed,
            truncated,
        })
    }

    /// Open a regular file to read. Non-blocking open, then a check on
    /// the open file: a FIFO a kernel made would otherwise hang the read.
    pub fn open_file(&self, rel: &RelPath) -> io::Result<(std::fs::File, u64)> {
        let mut options = OpenOptions::new();
        options.read(true)._cap_fs_ext_nonblock(true);
        let file = cap::open(&self.dir, &rel.as_path(), &options)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(error(
                io::ErrorKind::IsADirectory,
                format!("{} is a folder", rel.display()),
            ));
        }
        if !meta.is_file() {
            return Err(error(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", rel.display()),
            ));
        }
        Ok((file, meta.len()))
    }

    /// Create folder `rel` and the folders above it (as `mkdir -p`).
    pub fn make_dirs(&self, rel: &RelPath) -> io::Result<()> {
        let names = rel.names();
        for depth in 1..=names.len() {
            let prefix: std::path::PathBuf = names[..depth].iter().collect();
            match cap::create_dir(&self.dir, &prefix, &DirOptions::new()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if !cap::stat(&self.dir, &prefix, FollowSymlinks::Yes)?.is_dir() {
                        return Err(error(
                            io::ErrorKind::NotADirectory,
                            format!("{} is a file, not a folder", prefix.display()),
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Start writing `rel`: its folders made, a fresh scratch file beside
    /// it. The upload becomes `rel` only at [`Upload::commit`], by rename,
    /// so readers never see half a file and a failed one leaves nothing.
    pub fn begin_upload(&self, rel: &RelPath) -> io::Result<(Upload, std::fs::File)> {
        if let Some(parent) = rel.parent() {
            self.make_dirs(&parent)?;
        }
        let parent = match rel.parent() {
            Some(parent) => cap::open_dir(&self.dir, &parent.as_path())?,
            None => self.dir.try_clone()?,
        };
        let name = rel.name().to_owned();
        let replaces = match cap::stat(&parent, Path::new(&name), FollowSymlinks::No) {
            Ok(meta) if meta.is_dir() => {
                return Err(error(
                    io::ErrorKind::IsADirectory,
                    format!("{} is a folder; delete it first", rel.display()),
                ))
            }
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        let scratch = format!("{}{}", path::UPLOAD_PREFIX, uuid::Uuid::new_v4().simple());
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let file = cap::open(&parent, Path::new(&scratch), &options)?;
        Ok((
            Upload {
                parent,
                scratch,
                name,
                replaces,
            },
            file,
        ))
    }

    /// Delete a file or link (the link itself), or a folder and all it
    /// holds (as Jupyter's delete does).
    pub fn remove(&self, rel: &RelPath) -> io::Result<()> {
        let at = rel.as_path();
        if cap::stat(&self.dir, &at, FollowSymlinks::No)?.is_dir() {
            cap::remove_dir_all(&self.dir, &at)
        } else {
            cap::remove_file(&self.dir, &at)
        }
    }
}

/// A file being uploaded, not yet in place.
pub struct Upload {
    parent: std::fs::File,
    scratch: String,
    name: String,
    /// Something (a file or a link) was at the name before.
    pub replaces: bool,
}

impl Upload {
    /// Put the written (and synced) file in place, replacing what was
    /// there; a link at the name is replaced, never written through.
    pub fn commit(self) -> io::Result<()> {
        let result = cap::rename(
            &self.parent,
            Path::new(&self.scratch),
            &self.parent,
            Path::new(&self.name),
        );
        if result.is_err() {
            self.abandon();
        }
        result
    }

    /// Remove the scratch file.
    pub fn abandon(&self) {
        if let Err(e) = cap::remove_file(&self.parent, Path::new(&self.scratch)) {
            tracing::warn!(error = %e, "could not remove an abandoned upload");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::symlink;

    fn rel(p: &str) -> RelPath {
        RelPath::parse(p, p).unwrap().0
    }

    fn setup() -> (tempfile::TempDir, Folder) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("nb")).unwrap();
        std::fs::write(tmp.path().join("outside.txt"), b"secret").unwrap();
        let folder = Folder::open(&tmp.path().join("nb")).unwrap();
        (tmp, folder)
    }

    fn upload(folder: &Folder, p: &str, bytes: &[u8]) -> io::Result<bool> {
        let (upload, mut file) = folder.begin_upload(&rel(p))?;
        file.write_all(bytes)?;
        let replaces = upload.replaces;
        upload.commit()?;
        Ok(replaces)
    }

    #[test]
    fn upload_read_list_delete() {
        let (tmp, folder) = setup();
        assert!(!upload(&folder, "raw/2024/data.csv", b"a,b\n1,2\n").unwrap());
        assert!(upload(&folder, "raw/2024/data.csv", b"a,b\n3,4\n").unwrap());
        let on_disk = tmp.path().join("nb/raw/2024/data.csv");
        assert_eq!(std::fs::read(&on_disk).unwrap(), b"a,b\n3,4\n");
        let (_, size) = folder.open_file(&rel("raw/2024/data.csv")).unwrap();
        assert_eq!(size, 8);
        std::fs::write(tmp.path().join("nb/raw/.hidden"), b"x").unwrap();
        let listing = folder.list(Some(&rel("raw")), 100).unwrap();
        assert_eq!(listing.entries.len(), 1, "{listing:?}");
        assert_eq!(listing.entries[0].kind, Kind::Dir);
        assert_eq!(listing.entries[0].path, "raw/2024");
        // No scratch file is left beside the upload.
        let names: Vec<_> = std::fs::read_dir(tmp.path().join("nb/raw/2024"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("data.csv")]);
        folder.remove(&rel("raw")).unwrap();
        assert!(!tmp.path().join("nb/raw").exists());
        assert!(folder.list(None, 100).unwrap().entries.is_empty());
    }

    #[test]
    fn a_folder_is_not_overwritten_and_a_file_is_not_a_folder() {
        let (_tmp, folder) = setup();
        folder.make_dirs(&rel("d")).unwrap();
        let e = upload(&folder, "d", b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::IsADirectory);
        upload(&folder, "f", b"x").unwrap();
        let e = upload(&folder, "f/g", b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotADirectory, "{e}");
    }

    #[test]
    fn symlinks_out_of_the_folder_are_not_followed() {
        let (tmp, folder) = setup();
        let nb = tmp.path().join("nb");
        symlink(tmp.path().join("outside.txt"), nb.join("abs")).unwrap();
        symlink("../outside.txt", nb.join("rel")).unwrap();
        symlink(tmp.path(), nb.join("up")).unwrap();
        for p in ["abs", "rel", "up/outside.txt"] {
            let e = folder.open_file(&rel(p)).unwrap_err();
            assert!(is_escape(&e), "{p}: {e}");
        }
        // Writing through a link to a folder outside is refused too.
        let e = upload(&folder, "up/planted.txt", b"x").unwrap_err();
        assert!(is_escape(&e), "{e}");
        assert!(!tmp.path().join("planted.txt").exists());
        let e = folder.list(Some(&rel("up")), 10).unwrap_err();
        assert!(is_escape(&e), "{e}");
        // Listed as links, never as what they point at.
        let listing = folder.list(None, 10).unwrap();
        assert!(listing.entries.iter().all(|e| e.kind == Kind::Symlink));
        // Uploading over a link replaces the link, not its target.
        upload(&folder, "abs", b"mine").unwrap();
        assert_eq!(
            std::fs::read(tmp.path().join("outside.txt")).unwrap(),
            b"secret"
        );
        assert!(!std::fs::symlink_metadata(nb.join("abs"))
            .unwrap()
            .is_symlink());
        // Deleting a link removes the link only.
        folder.remove(&rel("up")).unwrap();
        assert!(tmp.path().join("outside.txt").exists());
    }

    #[test]
    fn links_inside_the_folder_work() {
        let (tmp, folder) = setup();
        let nb = tmp.path().join("nb");
        upload(&folder, "real/data.csv", b"1\n").unwrap();
        symlink("real", nb.join("alias")).unwrap();
        let (_, size) = folder.open_file(&rel("alias/data.csv")).unwrap();
        assert_eq!(size, 2);
        let listing = folder.list(None, 10).unwrap();
        assert!(
            listing.entries.iter().all(|e| e.kind == Kind::Dir),
            "{listing:?}"
        );
    }

    #[test]
    fn pipes_are_not_opened() {
        let (tmp, folder) = setup();
        let fifo = std::ffi::CString::new(
            tmp.path()
                .join("nb/pipe")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        // SAFETY: mkfifo(3) on a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let e = folder.open_file(&rel("pipe")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        let listing = folder.list(None, 10).unwrap();
        assert_eq!(listing.entries[0].kind, Kind::Other);
    }

    #[test]
    fn listings_are_bounded() {
        let (_tmp, folder) = setup();
        for i in 0..5 {
            upload(&folder, &format!("f{i}"), b"").unwrap();
        }
        let listing = folder.list(None, 3).unwrap();
        assert_eq!(listing.entries.len(), 3);
        assert!(listing.truncated);
    }
}
