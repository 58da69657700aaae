//! The `Kernel` trait and the per-execution handle.
//!
//! Every implementation is an actor: the public object only holds channel
//! senders, so all methods take `&self`, a kernel can be shared in an `Arc`,
//! and `interrupt()` can be called while another task reads an execution's
//! events.

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::error::{KernelError, Result};
use crate::event::{
    Completion, ExecuteReply, ExecuteRequest, InputAnswer, Inspection, IsComplete, KernelEvent,
    KernelInfo,
};

/// Events buffered per execution before the kernel side waits for the reader.
/// Bounded so that a cell printing gigabytes cannot grow our memory without
/// limit: the kernel's own socket buffers absorb the rest.
pub const EXECUTION_EVENT_BUFFER: usize = 1024;

/// One notebook kernel: Jupyter over ZeroMQ or in-process WASM Python.
#[async_trait]
pub trait Kernel: Send + Sync {
    /// Facts about the kernel (language, implementation).
    fn info(&self) -> KernelInfo;

    /// Kernel-wide events not tied to one execution: status changes and death.
    /// Every subscriber sees every event sent after it subscribed.
    fn subscribe(&self) -> broadcast::Receiver<KernelEvent>;

    /// Queue `request` and return a handle streaming its events and reply.
    async fn execute(&self, request: ExecuteRequest) -> Result<Execution>;

    /// Answer (or decline) the input request the kernel is waiting on.
    async fn answer_input(&self, answer: InputAnswer) -> Result<()>;

    /// Interrupt the running execution (KeyboardInterrupt in Python).
    async fn interrupt(&self) -> Result<()>;

    /// Stop the kernel and start a fresh one with the same spec: all state is lost.
    async fn restart(&self) -> Result<()>;

    /// Stop the kernel for good and release its resources.
    async fn shutdown(&self) -> Result<()>;

    /// Completion candidates at `cursor_pos` (in Unicode code points).
    async fn complete(&self, code: &str, cursor_pos: usize) -> Result<Completion>;

    /// Documentation for the name at `cursor_pos`.
    async fn inspect(&self, code: &str, cursor_pos: usize, detail_level: u8) -> Result<Inspection>;

    /// Whether `code` is a complete statement (for console-style input).
    async fn is_complete(&self, code: &str) -> Result<IsComplete>;
}

/// The caller's side of one execution: its events in order, then its reply.
///
/// The event stream ends (`next_event` returns `None`) once the kernel has
/// gone idle after this request, or died. Dropping the handle while the
/// kernel waits for input declines that input, so a cell never hangs on an
/// abandoned `input()`.
pub struct Execution {
    id: String,
    events: mpsc::Receiver<KernelEvent>,
    reply: Option<oneshot::Receiver<Result<ExecuteReply>>>,
    input: InputFn,
    done: bool,
}

/// How an execution hands an input answer to its kernel.
pub(crate) type InputFn = Box<dyn Fn(InputAnswer) -> Result<()> + Send + Sync>;

impl Drop for Execution {
    fn drop(&mut self) {
        if !self.done {
            // Nobody will answer any more: decline, so the kernel does not wait.
            let _ = (self.input)(InputAnswer::Decline);
        }
    }
}

impl Execution {
    /// Build a handle and the kernel-side ends of its channels.
    pub(crate) fn channel(id: String, input: InputFn) -> (Execution, ExecutionSink) {
        let (events_tx, events) = mpsc::channel(EXECUTION_EVENT_BUFFER);
        let (reply_tx, reply) = oneshot::channel();
        (
            Execution {
                id,
                events,
                reply: Some(reply),
                input,
                done: false,
            },
            ExecutionSink {
                events: events_tx,
                reply: Some(reply_tx),
            },
        )
    }

    /// The request's message id (Jupyter `msg_id`, or a UUID for WASM).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The next event, or `None` once the execution is over.
    pub async fn next_event(&mut self) -> Option<KernelEvent> {
        self.events.recv().await
    }

    /// Answer the pending input request of this execution.
    pub fn answer_input(&self, answer: InputAnswer) -> Result<()> {
        (self.input)(answer)
    }

    async fn take_reply(&mut self) -> Result<ExecuteReply> {
        self.done = true;
        match self.reply.take() {
            Some(rx) => match rx.await {
                Ok(r) => r,
                Err(_) => Err(KernelError::Died("execution abandoned by kernel".into())),
            },
            None => Err(KernelError::Protocol("reply already taken".into())),
        }
    }

    /// Wait for the final reply, dropping events not yet read and declining
    /// any input request among them.
    pub async fn reply(mut self) -> Result<ExecuteReply> {
        // Keep draining so the kernel side is never blocked on a full buffer.
        while let Some(e) = self.events.recv().await {
            if matches!(e, KernelEvent::InputRequest { .. }) {
                let _ = (self.input)(InputAnswer::Decline);
            }
        }
        self.take_reply().await
    }

    /// Read every event and the reply, declining any input request. Meant for
    /// tests and tools; a UI should consume `next_event` as events arrive.
    pub async fn collect(mut self) -> (Vec<KernelEvent>, Result<ExecuteReply>) {
        let mut events = Vec::new();
        while let Some(e) = self.events.recv().await {
            if matches!(e, KernelEvent::InputRequest { .. }) {
                let _ = (self.input)(InputAnswer::Decline);
            }
            events.push(e);
        }
        let reply = self.take_reply().await;
        (events, reply)
    }
}

/// The kernel's side of one execution.
pub(crate) struct ExecutionSink {
    pub events: mpsc::Sender<KernelEvent>,
    pub reply: Option<oneshot::Sender<Result<ExecuteReply>>>,
}

impl ExecutionSink {
    /// Send the reply once; later calls are ignored.
    pub fn finish(&mut self, reply: Result<ExecuteReply>) {
        if let Some(tx) = self.reply.take() {
            let _ = tx.send(reply);
        }
    }
}
