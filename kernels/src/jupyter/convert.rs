//! Jupyter message content to [`KernelEvent`].

use jupyter_protocol::{ExecutionState, JupyterMessageContent, Media, Stdio};
use serde_json::Value;

use crate::event::{KernelEvent, KernelState, MimeBundle, StreamName};

/// A `Media` as the plain MIME-type map it is on the wire.
pub fn bundle(media: &Media) -> MimeBundle {
    match serde_json::to_value(media) {
        Ok(Value::Object(map)) => map,
        _ => MimeBundle::new(),
    }
}

pub fn state(s: &ExecutionState) -> KernelState {
    match s {
        ExecutionState::Busy => KernelState::Busy,
        ExecutionState::Idle => KernelState::Idle,
        ExecutionState::Starting => KernelState::Starting,
        ExecutionState::Restarting | ExecutionState::AutoRestarting => KernelState::Restarting,
        ExecutionState::Dead | ExecutionState::Terminating => KernelState::Dead,
        ExecutionState::Unknown | ExecutionState::Other(_) => KernelState::Busy,
    }
}

/// The event an iopub message stands for, if it is one we surface.
pub fn iopub_event(content: &JupyterMessageContent) -> Option<KernelEvent> {
    Some(match content {
        JupyterMessageContent::StreamContent(s) => KernelEvent::Stream {
            name: match s.name {
                Stdio::Stdout => StreamName::Stdout,
                Stdio::Stderr => StreamName::Stderr,
            },
            text: s.text.clone(),
        },
        JupyterMessageContent::DisplayData(d) => KernelEvent::DisplayData {
            data: bundle(&d.data),
            metadata: d.metadata.clone(),
            display_id: d.transient.as_ref().and_then(|t| t.display_id.clone()),
        },
        JupyterMessageContent::UpdateDisplayData(d) => KernelEvent::UpdateDisplayData {
            data: bundle(&d.data),
            metadata: d.metadata.clone(),
            display_id: d.transient.display_id.clone().unwrap_or_default(),
        },
        JupyterMessageContent::ExecuteResult(r) => KernelEvent::ExecuteResult {
            execution_count: Some(r.execution_count.0 as u64),
            data: bundle(&r.data),
            metadata: r.metadata.clone(),
        },
        JupyterMessageContent::ErrorOutput(e) => KernelEvent::Error {
            ename: e.ename.clone(),
            evalue: e.evalue.clone(),
            traceback: e.traceback.clone(),
        },
        JupyterMessageContent::ClearOutput(c) => KernelEvent::ClearOutput { wait: c.wait },
        JupyterMessageContent::Status(s) => KernelEvent::Status {
            state: state(&s.execution_state),
        },
        _ => return None,
    })
}
