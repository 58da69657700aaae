//! Kernelspec discovery, following jupyter_client's `KernelSpecManager`.
//!
//! Search order (first match for a name wins), as `jupyter --paths` prints:
//! 1. each entry of `$JUPYTER_PATH`,
//! 2. the user data dir (`$JUPYTER_DATA_DIR`, else `~/.local/share/jupyter`),
//! 3. the environment prefixes we were given (a venv's `sys.prefix`, then
//!    `$VIRTUAL_ENV`), as `<prefix>/share/jupyter`,
//! 4. the system dirs `/usr/local/share/jupyter` and `/usr/share/jupyter`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{KernelError, Result};

/// How a kernel wants to be interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptMode {
    /// SIGINT to the kernel's process group (the default).
    Signal,
    /// An `interrupt_request` on the control channel.
    Message,
}

/// One installed kernel: its `kernel.json` plus where it was found.
#[derive(Debug, Clone)]
pub struct KernelSpec {
    /// Directory name, e.g. "python3"; lowercased as Jupyter does.
    pub name: String,
    /// The kernel's resource directory (holds kernel.json, logos).
    pub resource_dir: PathBuf,
    pub argv: Vec<String>,
    pub display_name: String,
    pub language: String,
    pub env: HashMap<String, String>,
    pub interrupt_mode: InterruptMode,
    /// The environment prefix the spec was found under, if any: a bare
    /// `python` in argv then means that environment's interpreter.
    pub prefix: Option<PathBuf>,
    /// Where the kernel process starts. Not part of kernel.json: the
    /// launcher decides, as Jupyter starts a kernel in its notebook's
    /// folder so that relative paths mean files next to the notebook.
    /// `None`: our own working directory.
    pub working_dir: Option<PathBuf>,
}

#[derive(Deserialize)]
struct KernelJson {
    argv: Vec<String>,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    env: HashMap<String, String>,
    #[serde(default)]
    interrupt_mode: Option<String>,
}

impl KernelSpec {
    /// Read `dir/kernel.json`.
    pub fn from_dir(name: &str, dir: &Path, prefix: Option<&Path>) -> Result<KernelSpec> {
        let path = dir.join("kernel.json");
        let invalid = |reason: String| KernelError::InvalidKernelSpec {
            path: path.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| invalid(e.to_string()))?;
        let json: KernelJson = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if json.argv.is_empty() {
            return Err(invalid("argv is empty".into()));
        }
        let interrupt_mode = match json.interrupt_mode.as_deref() {
            None | Some("signal") => InterruptMode::Signal,
            Some("message") => InterruptMode::Message,
            Some(other) => return Err(invalid(format!("unknown interrupt_mode {other:?}"))),
        };
        Ok(KernelSpec {
            name: name.to_lowercase(),
            resource_dir: dir.to_path_buf(),
            argv: json.argv,
            display_name: json.display_name,
            language: json.language,
            env: json.env,
            interrupt_mode,
            prefix: prefix.map(Path::to_path_buf),
            working_dir: None,
        })
    }

    /// The command line for a connection file: `{connection_file}` and
    /// `{resource_dir}` substituted, and a bare `python`/`python3` resolved to
    /// the interpreter of the environment the spec came from (jupyter_client
    /// does the same with its own `sys.executable`).
    pub fn command(&self, connection_file: &Path) -> Vec<String> {
        let mut argv: Vec<String> = self
            .argv
            .iter()
            .map(|a| {
                a.replace("{connection_file}", &connection_file.to_string_lossy())
                    .replace("{resource_dir}", &self.resource_dir.to_string_lossy())
            })
            .collect();
        if let (Some(first), Some(prefix)) = (argv.first_mut(), &self.prefix) {
            if matches!(first.as_str(), "python" | "python3") {
                let candidate = prefix.join("bin").join(first.as_str());
                if candidate.exists() {
                    *first = candidate.to_string_lossy().into_owned();
                }
            }
        }
        argv
    }
}

/// Where to look for kernelspecs.
#[derive(Debug, Clone)]
pub struct KernelSpecFinder {
    /// `(data_dir, prefix it belongs to)`, in search order.
    dirs: Vec<(PathBuf, Option<PathBuf>)>,
}

impl KernelSpecFinder {
    /// The standard search path, plus `prefixes` (environments such as a venv).
    pub fn new(prefixes: &[PathBuf]) -> KernelSpecFinder {
        let mut dirs = Vec::new();
        if let Some(jp) = std::env::var_os("JUPYTER_PATH") {
            for p in std::env::split_paths(&jp) {
                if !p.as_os_str().is_empty() {
                    dirs.push((p, None));
                }
            }
        }
        if let Some(d) = std::env::var_os("JUPYTER_DATA_DIR") {
            dirs.push((PathBuf::from(d), None));
        } else if let Some(home) = dirs::home_dir() {
            dirs.push((home.join(".local/share/jupyter"), None));
        }
        let mut envs: Vec<PathBuf> = prefixes.to_vec();
        if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
            envs.push(PathBuf::from(venv));
        }
        for prefix in envs {
            dirs.push((prefix.join("share/jupyter"), Some(prefix)));
        }
        dirs.push((PathBuf::from("/usr/local/share/jupyter"), None));
        dirs.push((PathBuf::from("/usr/share/jupyter"), None));
        KernelSpecFinder { dirs }
    }

    /// Exactly these data dirs (each `<dir>/kernels/<name>/kernel.json`).
    pub fn with_dirs(dirs: Vec<(PathBuf, Option<PathBuf>)>) -> KernelSpecFinder {
        KernelSpecFinder { dirs }
    }

    /// The data dirs searched, in order.
    pub fn search_path(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|(d, _)| d.clone()).collect()
    }

    /// Every installed kernelspec by name; invalid ones are logged and skipped.
    pub fn list(&self) -> BTreeMap<String, KernelSpec> {
        let mut found = BTreeMap::new();
        for (dir, prefix) in &self.dirs {
            let kernels = dir.join("kernels");
            let Ok(entries) = std::fs::read_dir(&kernels) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if !path.join("kernel.json").is_file() {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().to_lowercase();
                if found.contains_key(&name) {
                    continue;
                }
                match KernelSpec::from_dir(&name, &path, prefix.as_deref()) {
                    Ok(spec) => {
                        found.insert(name, spec);
                    }
                    Err(e) => tracing::warn!("skipping kernelspec: {e}"),
                }
            }
        }
        found
    }

    /// The kernelspec called `name`.
    pub fn find(&self, name: &str) -> Result<KernelSpec> {
        self.list().remove(&name.to_lowercase()).ok_or_else(|| {
            let searched: Vec<String> = self
                .dirs
                .iter()
                .map(|(d, _)| d.display().to_string())
                .collect();
            KernelError::KernelSpecNotFound(name.to_string(), searched.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_spec(root: &Path, name: &str, json: &str) {
        let dir = root.join("kernels").join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("kernel.json"), json).expect("write");
    }

    #[test]
    fn first_dir_wins_and_bad_specs_are_skipped() {
        let base = std::env::temp_dir().join(format!("cathode-ks-{}", uuid::Uuid::new_v4()));
        let a = base.join("a");
        let b = base.join("b");
        write_spec(
            &a,
            "py",
            r#"{"argv":["python","-f","{connection_file}"],"display_name":"A","language":"python","interrupt_mode":"message"}"#,
        );
        write_spec(
            &b,
            "py",
            r#"{"argv":["other"],"display_name":"B","language":"python"}"#,
        );
        write_spec(
            &b,
            "Bash",
            r#"{"argv":["bash-kernel","{connection_file}"],"display_name":"Bash","language":"bash"}"#,
        );
        write_spec(&b, "broken", r#"{"argv":[]}"#);
        let finder = KernelSpecFinder::with_dirs(vec![(a, None), (b.clone(), Some(b))]);
        let all = finder.list();
        assert_eq!(all.len(), 2, "{:?}", all.keys().collect::<Vec<_>>());
        let py = finder.find("py").expect("py");
        assert_eq!(py.display_name, "A");
        assert_eq!(py.interrupt_mode, InterruptMode::Message);
        let cmd = py.command(Path::new("/tmp/c.json"));
        assert_eq!(cmd, vec!["python", "-f", "/tmp/c.json"]);
        let bash = finder.find("bash").expect("bash");
        assert_eq!(bash.interrupt_mode, InterruptMode::Signal);
        assert!(finder.find("nope").is_err());
        let _ = std::fs::remove_dir_all(&base);
    }
}
