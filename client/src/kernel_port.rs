//! Kernel questions (completion, inspection) through the server: asking
//! as a person's peer, and receiving and answering as the runtime agent
//! (`schema::kernel_query`). Ephemeral: nothing here touches a replica.

use crate::error::{ClientError, Result};
use crate::replica::{Command, NotebookClient};
use schema::wire::Frame;
use schema::{KernelAnswer, KernelQuery, KernelReply, KernelRequest};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Requests an agent has not taken yet; past this the client answers
/// "busy" itself rather than queue.
const INCOMING_CAPACITY: usize = 64;

/// A question the server handed this (runtime) peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingKernelRequest {
    pub id: u64,
    /// The asking peer, for the reply.
    pub from: String,
    pub query: KernelQuery,
}

/// Shared between the client handle and its connection task. The locks
/// guard plain maps and are never held across an await.
pub(crate) struct KernelPort {
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<KernelAnswer>>>,
    incoming_tx: mpsc::Sender<IncomingKernelRequest>,
    incoming_rx: Mutex<Option<mpsc::Receiver<IncomingKernelRequest>>>,
}

impl KernelPort {
    pub(crate) fn new() -> Self {
        let (tx, rx) = mpsc::channel(INCOMING_CAPACITY);
        Self {
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            incoming_tx: tx,
            incoming_rx: Mutex::new(Some(rx)),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<KernelAnswer>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connection task: a reply arrived for one of our questions.
    pub(crate) fn replied(&self, reply: KernelReply) {
        if let Some(waiter) = self.pending().remove(&reply.id) {
            let _ = waiter.send(reply.answer);
        }
    }

    /// Connection task: the server handed us a question. `Some(frame)` is
    /// an answer to send at once (the agent has too many waiting).
    pub(crate) fn asked(&self, request: KernelRequest) -> Option<Frame> {
        let from = request.from?;
        let incoming = IncomingKernelRequest {
            id: request.id,
            from: from.clone(),
            query: request.query,
        };
        match self.incoming_tx.try_send(incoming) {
            Ok(()) => None,
            Err(_) => Some(Frame::KernelReply(KernelReply {
                id: request.id,
                to: Some(from),
                answer: KernelAnswer::Busy,
            })),
        }
    }
}

impl NotebookClient {
    /// Ask the notebook's kernel (through the server and its runtime
    /// agent). An answer that does not come within `timeout` is an error;
    /// "busy" and "unavailable" are answers.
    pub async fn ask_kernel(&self, query: KernelQuery, timeout: Duration) -> Result<KernelAnswer> {
        let id = self.kernel.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.kernel.pending().insert(id, tx);
        let frame = Frame::KernelRequest(KernelRequest {
            id,
            from: None,
            query,
        });
        let sent = self.commands.send(Command::Send(frame));
        let outcome = match sent {
            Err(_) => Err(ClientError::Stopped),
            Ok(()) => match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(_)) => Err(ClientError::Stopped),
                Err(_) => Err(ClientError::Timeout("the kernel's answer")),
            },
        };
        self.kernel.pending().remove(&id);
        outcome
    }

    /// The questions the server hands this peer (a runtime agent's); the
    /// receiver is given once.
    pub fn kernel_requests(&self) -> Option<mpsc::Receiver<IncomingKernelRequest>> {
        self.kernel
            .incoming_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Answer a question from [`NotebookClient::kernel_requests`].
    pub fn answer_kernel(
        &self,
        request: &IncomingKernelRequest,
        answer: KernelAnswer,
    ) -> Result<()> {
        let frame = Frame::KernelReply(KernelReply {
            id: request.id,
            to: Some(request.from.clone()),
            answer,
        });
        self.commands
            .send(Command::Send(frame))
            .map_err(|_| ClientError::Stopped)
    }
}
