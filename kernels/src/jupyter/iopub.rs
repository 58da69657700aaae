//! iopub: a drain task that owns the SUB socket, and the router.
//!
//! A kernel's PUB socket never waits for us: once its queue for us is full
//! (1,000 messages by default) it silently drops. So the drain takes every
//! message off the socket as soon as it arrives and holds it in a backlog
//! bounded by bytes ([`BACKLOG_BYTES`]), whatever the readers downstream are
//! doing. Only a backlog that full can lose output again, and that is logged.
//!
//! The router forwards each output to the execution that caused it (by parent
//! `msg_id`), awaiting the execution's bounded channel, so a slow reader
//! stops only the router; the actor stays free to interrupt, answer input or
//! notice death.

use std::collections::HashMap;
use std::sync::Arc;

use jupyter_protocol::{ExecutionState, JupyterMessageContent};
use tokio::sync::{broadcast, mpsc, OwnedSemaphorePermit, Semaphore};
use zeromq::{SocketRecv, SubSocket, ZmqMessage};

use super::convert::iopub_event;
use super::wire::Codec;
use super::{Beginning, Incoming};
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

/// How many bytes of kernel output may wait between the socket and the
/// router (about 100,000 one-line messages, or one 128 MiB image).
pub const BACKLOG_BYTES: usize = 128 << 20;
/// What one queued message costs besides its frames (headers, allocation).
const MESSAGE_OVERHEAD: usize = 512;

/// Messages taken off the socket, each holding its share of the budget.
pub type Backlog = mpsc::UnboundedReceiver<(ZmqMessage, OwnedSemaphorePermit)>;

/// Take messages off `socket` as fast as they come, until the socket fails
/// or the router is gone.
pub async fn drain(
    mut socket: SubSocket,
    backlog: mpsc::UnboundedSender<(ZmqMessage, OwnedSemaphorePermit)>,
) {
    let budget = Arc::new(Semaphore::new(BACKLOG_BYTES));
    let mut warned = false;
    loop {
        let msg = match socket.recv().await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("iopub receive failed: {e}");
                return;
            }
        };
        let cost = msg.iter().map(|f| f.len()).sum::<usize>() + MESSAGE_OVERHEAD;
        let cost = u32::try_from(cost.min(BACKLOG_BYTES)).unwrap_or(u32::MAX);
        let permit = match budget.clone().try_acquire_many_owned(cost) {
            Ok(p) => p,
            Err(_) => {
                if !std::mem::replace(&mut warned, true) {
                    tracing::warn!(
                        "iopub backlog full ({BACKLOG_BYTES} bytes): output is read slower than \
                         the kernel writes it, and the kernel may drop some"
                    );
                }
                match budget.clone().acquire_many_owned(cost).await {
                    Ok(p) => p,
                    Err(_) => return,
                }
            }
        };
        if backlog.send((msg, permit)).is_err() {
            return;
        }
    }
}

pub async fn run(
    mut backlog: Backlog,
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
            msg = backlog.recv() => msg,
        };
        // The socket is gone: the session is ending.
        let Some((msg, _budget)) = msg else {
            return;
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
        let began = match &msg.content {
            JupyterMessageContent::Status(s) if s.execution_state == ExecutionState::Busy => {
                Some(Beginning::Busy)
            }
            JupyterMessageContent::ExecuteInput(_) => Some(Beginning::Input),
            _ => None,
        };
        if let (Some(stage), Some(p)) = (began, parent.as_ref()) {
            if routes.contains_key(p) {
                let _ = incoming.send(Incoming::Began(generation, p.clone(), stage));
            }
        }
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
