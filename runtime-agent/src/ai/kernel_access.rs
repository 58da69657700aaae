//! The kernel tools for the agent's own AI runs: variables gathered by a
//! silent request (no history, no execution count, no output in any cell),
//! and scratch code whose outputs come back to the model. The same Python
//! runs on both kernels. Everything passes the masker on its way back.

use crate::masking::events::EventMasker;
use crate::masking::Masker;
use crate::outputs::OutputBuffer;
use cathode_tools::{KernelAccess, ScratchOutput};
use kernels::{ExecuteRequest, Kernel, KernelEvent, ReplyStatus};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How long a variable summary may take (a 1-million-row frame's dtypes and
/// first rows take milliseconds; a kernel busy with a cell does not answer).
const SUMMARY_LIMIT: Duration = Duration::from_secs(10);
/// The line the summary code prints its JSON after.
const MARK: &str = "\u{1e}CATHODE_JSON ";

/// Describes values without computing anything large: shapes, dtypes, the
/// first rows, lengths, short reprs. Only libraries already imported are
/// looked at. Leaves nothing behind in the namespace.
const DESCRIBE: &str = r#"
def _cathode_describe(name, value, rows, width):
    import sys
    t = type(value)
    entry = {"name": name, "type": t.__name__ if t.__module__ == "builtins" else t.__module__ + "." + t.__qualname__}
    try:
        pd = sys.modules.get("pandas")
        np = sys.modules.get("numpy")
        if pd is not None and isinstance(value, pd.DataFrame):
            entry["shape"] = list(value.shape)
            entry["dtypes"] = {str(k): str(v) for k, v in list(value.dtypes.items())[:60]}
            entry["head"] = value.head(rows).to_string(max_cols=20, max_colwidth=40)
        elif pd is not None and isinstance(value, pd.Series):
            entry["shape"] = list(value.shape)
            entry["dtype"] = str(value.dtype)
            entry["head"] = value.head(rows).to_string()
        elif np is not None and isinstance(value, np.ndarray):
            entry["shape"] = list(value.shape)
            entry["dtype"] = str(value.dtype)
            entry["preview"] = np.array2string(value.ravel()[:rows * 4], threshold=rows * 4)
        elif isinstance(value, (list, tuple, set, frozenset, dict)):
            entry["len"] = len(value)
            entry["preview"] = repr(value)[:width]
        elif isinstance(value, (str, bytes)):
            entry["len"] = len(value)
            entry["preview"] = repr(value[:width])
        else:
            entry["repr"] = repr(value)[:width]
    except Exception as e:
        entry["error"] = f"{type(e).__name__}: {e}"[:200]
    return entry
"#;

fn summary_code(only: Option<&str>) -> String {
    let select = match only {
        Some(name) => format!(
            "_cathode_ns = globals()\n_cathode_out = [_cathode_describe({n}, _cathode_ns[{n}], 10, 2000)] if {n} in _cathode_ns else {{\"error\": \"no variable named \" + {n}}}\n",
            n = serde_json::to_string(name).unwrap_or_default()
        ),
        None => "_cathode_out = []\nfor _cathode_name, _cathode_value in list(globals().items()):\n    if _cathode_name.startswith('_') or _cathode_name in ('In', 'Out', 'exit', 'quit', 'get_ipython'):\n        continue\n    if type(_cathode_value).__name__ in ('module', 'function', 'builtin_function_or_method', 'type', 'method'):\n        continue\n    _cathode_out.append(_cathode_describe(_cathode_name, _cathode_value, 3, 100))\n    if len(_cathode_out) >= 200:\n        break\n".to_owned(),
    };
    // JSON's string form is a valid Python literal for the marker.
    let mark = serde_json::to_string(MARK).unwrap_or_default();
    format!(
        "{DESCRIBE}\n{select}import json as _cathode_json\nprint({mark} + _cathode_json.dumps(_cathode_out, default=str))\nfor _cathode_n in [n for n in list(globals()) if n.startswith('_cathode_')]:\n    del globals()[_cathode_n]\n"
    )
}

pub struct AgentKernel {
    pub kernel: Arc<dyn Kernel>,
    pub masker: Arc<Masker>,
}

impl AgentKernel {
    async fn summary(&self, only: Option<&str>) -> Result<Value, String> {
        let request = ExecuteRequest {
            code: summary_code(only),
            silent: true,
            store_history: false,
            allow_stdin: false,
            stop_on_error: false,
        };
        let run = async {
            let mut execution = self
                .kernel
                .execute(request)
                .await
                .map_err(|e| e.to_string())?;
            let mut stdout = String::new();
            let mut error = None;
            while let Some(event) = execution.next_event().await {
                match event {
                    KernelEvent::Stream { text, .. } => stdout.push_str(&text),
                    KernelEvent::Error { ename, evalue, .. } => {
                        error = Some(format!("{ename}: {evalue}"))
                    }
                    _ => {}
                }
            }
            let _ = execution.reply().await;
            if let Some(e) = error {
                return Err(format!("the variable summary failed: {e}"));
            }
            let json = stdout
                .lines()
                .find_map(|l| l.strip_prefix(MARK))
                .ok_or("the kernel did not answer the variable summary")?;
            serde_json::from_str::<Value>(json).map_err(|e| e.to_string())
        };
        let mut value = tokio::time::timeout(SUMMARY_LIMIT, run)
            .await
            .map_err(|_| {
                format!(
                    "the kernel did not answer within {} s (a cell may be running)",
                    SUMMARY_LIMIT.as_secs()
                )
            })??;
        self.masker.mask_json(&mut value);
        Ok(value)
    }
}

#[async_trait::async_trait]
impl KernelAccess for AgentKernel {
    async fn variables(&self) -> Result<Value, String> {
        self.summary(None).await
    }

    async fn inspect(&self, name: &str) -> Result<Value, String> {
        self.summary(Some(name)).await
    }

    async fn scratch(&self, code: &str, timeout: Duration) -> Result<ScratchOutput, String> {
        let request = ExecuteRequest {
            code: code.to_owned(),
            silent: false,
            store_history: false,
            allow_stdin: false,
            stop_on_error: false,
        };
        let mut execution = self
            .kernel
            .execute(request)
            .await
            .map_err(|e| e.to_string())?;
        let mut buffer = OutputBuffer::new();
        let mut masking = EventMasker::new(self.masker.clone());
        let mut deadline = tokio::time::Instant::now() + timeout;
        let mut timed_out = false;
        loop {
            let next = tokio::time::timeout_at(deadline, execution.next_event()).await;
            let events = match next {
                Ok(Some(event)) => masking.push(event),
                Ok(None) => {
                    if let Some(event) = masking.finish() {
                        buffer.apply(&event);
                    }
                    break;
                }
                Err(_) if !timed_out => {
                    timed_out = true;
                    let _ = self.kernel.interrupt().await;
                    // A few seconds for the interrupt to land.
                    deadline = tokio::time::Instant::now() + Duration::from_secs(5);
                    continue;
                }
                Err(_) => break,
            };
            for event in events {
                buffer.apply(&event);
            }
        }
        let reply = execution.reply().await.ok();
        Ok(ScratchOutput {
            outputs: buffer.manifests(),
            failed: reply.is_none_or(|r| r.status != ReplyStatus::Ok),
            timed_out,
        })
    }
}
