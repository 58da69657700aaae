//! The iopub router: one task per kernel session that owns the SUB socket.
//!
//! It forwards each output to the execution that caused it (by parent
//! `msg_id`), awaiting the execution's bounded channel. Back-pressure from a
//! slow reader therefore stops only this task, and the kernel's socket buffer
//! absorbs the rest; the actor stays free to interrupt, answer input or notice
//! death.

use std::collections::HashMap;

use jupyter_protocol::{ExecutionState, JupyterMessageContent};
use tokio::sync::{broadcast, mpsc};
use zeromq::{SocketRecv, SubSocket};

use super::convert::iopub_event;
use super::wire::Codec;
use super::Incoming;
use crate::event::KernelEvent;

pub enum IopubCmd {
    /// Route outputs whose parent is `id` to `tx`.
    Register(String, mpsc::Sender<KernelEvent>),
    /// End execution `id` with `events` (after whatever output came first).
    /// `fallback` is used when the execution already went idle here.
    Fail {
        id: String,
        events: Vec<KernelEvent>,
        fallback: mpsc::Sender<KernelEvent>,
    },
}

pub async fn run(
    mut socket: SubSocket,
    codec: Codec,
    generation: u64,
    mut cmds: mpsc::UnboundedReceiver<IopubCmd>,
    incoming: mpsc::UnboundedSender<Incoming>,
    broadcast: broadcast::Sender<KernelEvent>,
) {
    let mut routes: HashMap<String, mpsc::Sender<KernelEvent>> = HashMap::new();
    let mut seen = false;
    loop {
        let msg = tokio::select! {
            biased;
            cmd = cmds.recv() => {
                match cmd {
                    None => return,
                    Some(IopubCmd::Register(id, tx)) => { routes.insert(id, tx); }
                    Some(IopubCmd::Fail { id, events, fallback }) => {
                        let tx = routes.remove(&id).unwrap_or(fallback);
                        for e in events {
                            if tx.send(e).await.is_err() { break; }
                        }
                    }
                }
                continue;
            }
            msg = socket.recv() => msg,
        };
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("iopub receive failed: {e}");
                return;
            }
        };
        let msg = match codec.decode(msg) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("skipping iopub message: {e}");
                continue;
            }
        };
        if !seen {
            seen = true;
            let _ = incoming.send(Incoming::IopubSeen(generation));
        }
        let parent = msg.parent_header.as_ref().map(|h| h.msg_id.clone());
        let idle = matches!(
            &msg.content,
            JupyterMessageContent::Status(s) if s.execution_state == ExecutionState::Idle
        );
        let Some(event) = iopub_event(&msg.content) else {
            tracing::trace!("ignoring iopub {}", msg.header.msg_type);
            continue;
        };
        if matches!(event, KernelEvent::Status { .. }) {
            let _ = broadcast.send(event.clone());
        }
        match parent.as_ref().and_then(|p| routes.get(p)) {
            Some(tx) => {
                // A closed receiver just means the caller stopped listening.
                let _ = tx.send(event).await;
            }
            None => {
                if !matches!(event, KernelEvent::Status { .. }) {
                    let _ = broadcast.send(event);
                }
            }
        }
        if idle {
            if let Some(p) = parent {
                if routes.remove(&p).is_some() {
                    let _ = incoming.send(Incoming::Idle(generation, p));
                }
            }
        }
    }
}
