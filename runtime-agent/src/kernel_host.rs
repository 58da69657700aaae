//! Starting the kernel the configuration names.

use crate::error::{AgentError, Result};
use kernels::jupyter::{JupyterKernel, JupyterOptions, KernelSpecFinder};
use kernels::wasm::{WasmKernel, WasmOptions};
use kernels::Kernel;
use std::path::PathBuf;
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

/// Start kernel `name` with `env` (the notebook's secrets) added to its
/// environment.
pub async fn start(name: &str, env: Vec<(String, String)>) -> Result<Arc<dyn Kernel>> {
    if name == WASM_PYTHON {
        let mut options = WasmOptions::from_env();
        options.env = env;
        return Ok(Arc::new(WasmKernel::start(options).await?));
    }
    let finder = KernelSpecFinder::new(&prefixes());
    let spec = match finder.find(name) {
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
    let options = JupyterOptions {
        env,
        ..JupyterOptions::default()
    };
    Ok(Arc::new(JupyterKernel::start(spec, options).await?))
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

/// Start and stop one WASM kernel: compiles and caches the module if needed.
pub async fn prepare_wasm() -> Result<()> {
    let kernel = WasmKernel::start(WasmOptions::from_env()).await?;
    kernel.shutdown().await?;
    Ok(())
}
