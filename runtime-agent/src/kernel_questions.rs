//! Answering completion and inspection questions from people's pages
//! (`schema::kernel_query`), beside the execution queue, never in it.
//!
//! A person typing must not wait behind a ten-second cell: while a cell
//! runs the answer is "busy" at once (a Jupyter kernel's shell channel and
//! the WASM interpreter both handle one request at a time, so asking would
//! queue behind the cell). When idle, the kernel answers within a short
//! limit, or the answer is "busy" too. Answers pass the secret masker:
//! inspecting a variable shows its value.

use crate::masking::Masker;
use cathode_client::{IncomingKernelRequest, NotebookClient};
use kernels::Kernel;
use schema::{KernelAnswer, KernelQuery};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

/// How long an idle kernel may take to answer.
const ANSWER_LIMIT: Duration = Duration::from_secs(2);
/// Longest code accepted in a question.
const MAX_CODE_BYTES: usize = 256 * 1024;

/// Serve the questions the server hands this agent until the client stops.
/// `busy` is true while a cell (or anything else) holds the kernel.
pub async fn serve(
    client: Arc<NotebookClient>,
    mut requests: mpsc::Receiver<IncomingKernelRequest>,
    kernel: Arc<dyn Kernel>,
    masker: Arc<Masker>,
    busy: watch::Receiver<bool>,
) {
    while let Some(request) = requests.recv().await {
        let span = tracing::debug_span!("kernel_question", id = request.id, from = %request.from);
        let is_busy = *busy.borrow();
        let answer = answer(&request.query, kernel.as_ref(), &masker, is_busy)
            .instrument(span)
            .await;
        if client.answer_kernel(&request, answer).is_err() {
            return;
        }
    }
}

async fn answer(
    query: &KernelQuery,
    kernel: &dyn Kernel,
    masker: &Masker,
    busy: bool,
) -> KernelAnswer {
    let code = match query {
        KernelQuery::Complete { code, .. } | KernelQuery::Inspect { code, .. } => code,
    };
    if code.len() > MAX_CODE_BYTES {
        return KernelAnswer::Unavailable {
            reason: format!("the code is over {} KiB", MAX_CODE_BYTES / 1024),
        };
    }
    if busy {
        return KernelAnswer::Busy;
    }
    let asked = async {
        match query {
            KernelQuery::Complete { code, cursor_pos } => {
                kernel.complete(code, *cursor_pos).await.map(|c| {
                    let kinds = completion_kinds(&c.metadata, c.matches.len());
                    KernelAnswer::Complete {
                        matches: c
                            .matches
                            .iter()
                            .map(|m| masker.mask(m).into_owned())
                            .collect(),
                        cursor_start: c.cursor_start,
                        cursor_end: c.cursor_end,
                        kinds,
                    }
                })
            }
            KernelQuery::Inspect {
                code,
                cursor_pos,
                detail_level,
            } => kernel
                .inspect(code, *cursor_pos, *detail_level)
                .await
                .map(|i| {
                    let mut data = serde_json::Value::Object(i.data);
                    masker.mask_json(&mut data);
                    KernelAnswer::Inspect {
                        found: i.found,
                        data: match data {
                            serde_json::Value::Object(map) => map,
                            _ => Default::default(),
                        },
                    }
                }),
        }
    };
    match tokio::time::timeout(ANSWER_LIMIT, asked).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => KernelAnswer::Unavailable {
            reason: masker.mask(&e.to_string()).into_owned(),
        },
        Err(_) => KernelAnswer::Busy,
    }
}

/// IPython's experimental per-match types, when given for every match.
fn completion_kinds(
    metadata: &serde_json::Map<String, serde_json::Value>,
    n: usize,
) -> Vec<String> {
    let Some(list) = metadata
        .get("_jupyter_types_experimental")
        .and_then(|v| v.as_array())
    else {
        return Vec::new();
    };
    let kinds: Vec<String> = list
        .iter()
        .map(|m| {
            m.get("type")
                .and_then(|t| t.as_str())
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    if kinds.len() == n {
        kinds
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_only_when_given_for_every_match() {
        let meta = serde_json::json!({"_jupyter_types_experimental": [
            {"text": "os", "type": "module"}, {"text": "open", "type": "function"}
        ]});
        let meta = meta.as_object().unwrap();
        assert_eq!(completion_kinds(meta, 2), vec!["module", "function"]);
        assert!(completion_kinds(meta, 3).is_empty());
        assert!(completion_kinds(&Default::default(), 2).is_empty());
    }
}
