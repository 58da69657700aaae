//! A path into a notebook's folder, as a client names it in the URL.
//!
//! Checked by its text before any filesystem call, so that each way of
//! leaving the folder gets its own clear refusal; the filesystem layer
//! (`fs.rs`) then resolves it beneath the folder anyway, so a path this
//! lets through still cannot escape through a symbolic link.

use crate::error::ServerError;

/// Longest path accepted, in bytes (Jupyter servers allow about as much;
/// PATH_MAX is 4096, and nobody types this).
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest single name, in bytes (NAME_MAX on Linux and macOS).
pub const MAX_NAME_BYTES: usize = 255;
/// Upload scratch files start with this; hidden, so never listed or served.
pub const UPLOAD_PREFIX: &str = ".~cathode-upload-";

/// A checked relative path: at least one name, none of them `.`, `..`,
/// hidden, empty, or holding a separator or control character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelPath {
    names: Vec<String>,
}

fn refuse(message: impl Into<String>) -> ServerError {
    ServerError::InvalidPath(message.into())
}

impl RelPath {
    /// Check `decoded` (the URL's path after `/files/`, percent-decoded).
    /// `raw` is the same part still encoded: an encoded `/` would
    /// otherwise pass as a separator the client meant as part of a name.
    /// A trailing `/` is allowed and reported (it names a folder).
    pub fn parse(raw: &str, decoded: &str) -> Result<(Self, bool), ServerError> {
        let lower = raw.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%5c") {
            return Err(refuse(
                "an encoded '/' or '\\' (%2F, %5C) is refused: separate folders with a plain '/'",
            ));
        }
        if decoded.len() > MAX_PATH_BYTES {
            return Err(refuse(format!(
                "the path is {} bytes; at most {MAX_PATH_BYTES} are allowed",
                decoded.len()
            )));
        }
        if decoded.starts_with('/') {
            return Err(refuse(
                "absolute paths are refused: a path is relative to the notebook's folder",
            ));
        }
        if decoded.contains('\\') {
            return Err(refuse(
                "'\\' is refused in a path: separate folders with '/'",
            ));
        }
        if let Some(c) = decoded.chars().find(|c| c.is_control()) {
            return Err(refuse(format!(
                "control characters (here U+{:04X}) are refused in a path",
                c as u32
            )));
        }
        let (body, is_dir) = match decoded.strip_suffix('/') {
            Some(body) => (body, true),
            None => (decoded, false),
        };
        if body.is_empty() {
            return Err(refuse("the path is empty"));
        }
        let mut names = Vec::new();
        for name in body.split('/') {
            check_name(name)?;
            names.push(name.to_owned());
        }
        Ok((Self { names }, is_dir))
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The path as the filesystem layer takes it (relative, `/`-separated).
    pub fn as_path(&self) -> std::path::PathBuf {
        self.names.iter().collect()
    }

    /// The last name.
    pub fn name(&self) -> &str {
        self.names.last().map(String::as_str).unwrap_or_default()
    }

    /// The folder holding it (`None`: the notebook's folder itself).
    pub fn parent(&self) -> Option<Self> {
        (self.names.len() > 1).then(|| Self {
            names: self.names[..self.names.len() - 1].to_vec(),
        })
    }

    /// `self/name`, for a name read from a directory listing.
    pub fn join(&self, name: &str) -> Self {
        let mut names = self.names.clone();
        names.push(name.to_owned());
        Self { names }
    }

    /// A path of one name read from the folder itself (a listing).
    pub fn single(name: &str) -> Self {
        Self {
            names: vec![name.to_owned()],
        }
    }

    pub fn display(&self) -> String {
        self.names.join("/")
    }
}

fn check_name(name: &str) -> Result<(), ServerError> {
    match name {
        "" => Err(refuse("empty names ('//') are refused in a path")),
        ".." => Err(refuse(
            "'..' is refused: a path stays inside the notebook's folder",
        )),
        "." => Err(refuse("'.' is refused in a path: name the file itself")),
        _ if name.starts_with('.') => Err(refuse(format!(
            "hidden names (starting with '.', here {name:?}) are not served, as in Jupyter"
        ))),
        _ if name.len() > MAX_NAME_BYTES => Err(refuse(format!(
            "a name is at most {MAX_NAME_BYTES} bytes; one here is {}",
            name.len()
        ))),
        _ => Ok(()),
    }
}

/// Whether a name found in a folder is listed: hidden ones (and upload
/// scratch files, which are hidden) are not, as Jupyter hides them.
pub fn listed(name: &str) -> bool {
    !name.starts_with('.') && name.len() <= MAX_NAME_BYTES && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: &str) -> (Vec<String>, bool) {
        let (p, dir) = RelPath::parse(path, path).unwrap_or_else(|e| panic!("{path}: {e}"));
        (p.names().to_vec(), dir)
    }

    fn refused(raw: &str, decoded: &str) -> String {
        match RelPath::parse(raw, decoded) {
            Err(ServerError::InvalidPath(m)) => m,
            other => panic!("{raw:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn plain_paths_pass() {
        assert_eq!(ok("data.csv"), (vec!["data.csv".to_owned()], false));
        assert_eq!(
            ok("raw/2024/jan.csv"),
            (vec!["raw".into(), "2024".into(), "jan.csv".into()], false)
        );
        assert_eq!(ok("raw/"), (vec!["raw".to_owned()], true));
        assert_eq!(ok("données é 東京.txt").0.len(), 1);
        assert_eq!(ok("100%.csv").0, vec!["100%.csv".to_owned()]);
        assert_eq!(ok("a..b").0, vec!["a..b".to_owned()]);
    }

    #[test]
    fn traversal_is_refused_by_name() {
        assert!(refused("..", "..").contains("'..'"));
        assert!(refused("../etc/passwd", "../etc/passwd").contains("'..'"));
        assert!(refused("a/../../b", "a/../../b").contains("'..'"));
        assert!(refused("a/..", "a/..").contains("'..'"));
        // Percent-encoded dots decode to the same '..', refused the same way.
        assert!(refused("%2e%2e/secret", "../secret").contains("'..'"));
        assert!(refused("%2E%2E", "..").contains("'..'"));
        assert!(refused("./a", "./a").contains("'.'"));
    }

    #[test]
    fn absolute_and_encoded_separators_are_refused() {
        assert!(refused("/etc/passwd", "/etc/passwd").contains("absolute"));
        assert!(refused("%2fetc%2fpasswd", "/etc/passwd").contains("%2F"));
        assert!(refused("..%2F..%2Fetc", "../../etc").contains("%2F"));
        assert!(refused("a%5c..%5cb", "a\\..\\b").contains("%5C"));
        assert!(refused("a\\b", "a\\b").contains("'\\'"));
    }

    #[test]
    fn control_characters_and_empty_names_are_refused() {
        assert!(refused("a%00b", "a\0b").contains("U+0000"));
        assert!(refused("a%0a", "a\n").contains("U+000A"));
        assert!(refused("x%7f", "x\u{7f}").contains("U+007F"));
        assert!(refused("x%c2%85", "x\u{85}").contains("U+0085"));
        assert!(refused("a//b", "a//b").contains("empty"));
        assert!(refused("", "").contains("empty"));
        assert!(refused("/", "/").contains("absolute"));
    }

    #[test]
    fn hidden_names_are_refused() {
        assert!(refused(".env", ".env").contains("hidden"));
        assert!(refused("a/.git/config", "a/.git/config").contains("hidden"));
        let scratch = format!("{UPLOAD_PREFIX}123");
        assert!(refused(&scratch, &scratch).contains("hidden"));
        assert!(!listed(".bashrc"));
        assert!(!listed(&scratch));
        assert!(listed("data.csv"));
    }

    #[test]
    fn lengths_are_bounded_in_bytes() {
        let name = "é".repeat(128); // 256 bytes, 128 characters
        assert!(refused(&name, &name).contains("255 bytes"));
        let fits = "a".repeat(MAX_NAME_BYTES);
        assert_eq!(ok(&fits).0.len(), 1);
        let long = vec!["a".repeat(200); 6].join("/"); // 1205 bytes
        assert!(refused(&long, &long).contains("1024"));
    }

    #[test]
    fn parent_and_join() {
        let (p, _) = RelPath::parse("a/b/c.csv", "a/b/c.csv").unwrap();
        assert_eq!(p.name(), "c.csv");
        let parent = p.parent().unwrap();
        assert_eq!(parent.display(), "a/b");
        assert_eq!(parent.join("d").display(), "a/b/d");
        assert_eq!(RelPath::single("x").parent(), None);
        assert_eq!(p.as_path(), std::path::PathBuf::from("a/b/c.csv"));
    }
}
