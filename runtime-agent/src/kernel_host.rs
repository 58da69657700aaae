//! Starting the kernel the configuration names.

use crate::error::{AgentError, Result};
use kernels::jupyter::{JupyterKernel, JupyterOptions, KernelSpecFinder};
use kernels::wasm::{WasmKernel, WasmOptions};
use kernels::Kernel;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const WASM_PYTHON: &str = "wasm-python";

/// Extra places to look for kernelspecs: the project's virtual environment.
fn prefixes() -> Vec<PathBuf> {
    std::env::var_os("CATHODE_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cathode/venv")))
        .into_iter()
        .collect()
}

/// How to start the notebook's kernel.
pub struct KernelLaunch {
    /// `wasm-python` or a kernelspec name.
    pub name: String,
    /// Added to the kernel's environment (the notebook's secrets).
    pub env: Vec<(String, String)>,
    /// The kernel's working directory, if not ours.
    pub workdir: Option<PathBuf>,
    /// Where IPython keeps its history (`:memory:` for a headless run, as
    /// nbclient starts kernels); `None`: IPython's own default.
    pub ipython_hist_file: Option<String>,
}

/// Start the kernel `launch` names.
pub async fn start(launch: KernelLaunch) -> Result<Arc<dyn Kernel>> {
    let KernelLaunch {
        name,
        env,
        workdir,
        ipython_hist_file,
    } = launch;
    let name = name.as_str();
    if let Some(dir) = &workdir {
        check_workdir(dir).await?;
    }
    if name == WASM_PYTHON {
        let mut options = WasmOptions::from_env();
        options.env = env;
        options.working_dir = workdir;
        return Ok(Arc::new(WasmKernel::start(options).await?));
    }
    let finder = KernelSpecFinder::new(&prefixes());
    let mut spec = match finder.find(name) {
        Ok(spec) => spec,
        Err(_) => {
            let mut available: Vec<String> = finder.list().into_keys().collect();
            available.insert(0, WASM_PYTHON.to_owned());
            return Err(AgentError::UnknownKernel {
                name: name.to_owned(),
                available: available.join(", "),
            });
        }
    };
    if let Some(file) = ipython_hist_file {
        // Only IPython kernels read the flag; another kernel would refuse
        // an argument it does not know.
        if spec.argv.iter().any(|a| a.contains("ipykernel")) {
            spec.argv.push(format!("--HistoryManager.hist_file={file}"));
        }
    }
    let options = JupyterOptions {
        env,
        working_dir: workdir,
        ..JupyterOptions::default()
    };
    Ok(Arc::new(JupyterKernel::start(spec, options).await?))
}

/// Refuse a missing or non-directory workdir here, by name: the kernel
/// would otherwise fail to launch with a bare "No such file or directory".
/// The agent never creates it (the server does): it writes nothing there
/// but what the kernel writes.
async fn check_workdir(dir: &Path) -> Result<()> {
    let fail = |why: String| AgentError::Workdir(dir.display().to_string(), why);
    match tokio::fs::metadata(dir).await {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(fail("not a directory".into())),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// One kernel this agent can start, as `--list-kernels` reports it.
#[derive(serde::Serialize)]
pub struct AvailableKernel {
    pub name: String,
    pub display_name: String,
    pub language: String,
}

/// Every kernel `start` accepts: wasm-python first, then each installed
/// kernelspec. The server asks the agent binary rather than searching
/// itself, so that it finds exactly what the agents it starts will find.
pub fn available() -> Vec<AvailableKernel> {
    let mut kernels = vec![AvailableKernel {
        name: WASM_PYTHON.to_owned(),
        display_name: "Python 3 (WebAssembly)".to_owned(),
        language: "python".to_owned(),
    }];
    for (name, spec) in KernelSpecFinder::new(&prefixes()).list() {
        if name == WASM_PYTHON {
            continue;
        }
        kernels.push(AvailableKernel {
            display_name: if spec.display_name.is_empty() {
                name.clone()
            } else {
                spec.display_name
            },
            language: spec.language,
            name,
        });
    }
    kernels
}

/// What `available` says of one kernel, if it is there.
pub fn describe(name: &str) -> Option<AvailableKernel> {
    available().into_iter().find(|k| k.name == name)
}

/// Start and stop one WASM kernel: compiles and caches the module if needed.
pub async fn prepare_wasm() -> Result<()> {
    let kernel = WasmKernel::start(WasmOptions::from_env()).await?;
    kernel.shutdown().await?;
    Ok(())
}
