//! Any Jupyter kernel, spoken to over ZeroMQ.
//!
//! [`JupyterKernel`] is a handle to an actor task that owns the kernel
//! process and its sockets (see `actor.rs`). The iopub socket has its own
//! router task (`iopub.rs`) so that a slow consumer of outputs never stops
//! interrupts or death detection.

mod actor;
pub mod connection;
mod convert;
mod iopub;
pub mod kernelspec;
mod process;
mod session;
pub mod wire;

use std::time::Duration;

use async_trait::async_trait;
use jupyter_protocol::{
    CompleteRequest, InspectRequest, IsCompleteReplyStatus, IsCompleteRequest, JupyterMessage,
    JupyterMessageContent,
};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use connection::Transport;
pub use kernelspec::{InterruptMode, KernelSpec, KernelSpecFinder};

use crate::error::{KernelError, Result};
use crate::event::{
    Completion, ExecuteRequest, ExitStatus, InputAnswer, Inspection, IsComplete, KernelEvent,
    KernelInfo,
};
use crate::kernel::{Execution, Kernel};

/// How long `complete`, `inspect` and `is_complete` wait for their reply.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Options for starting a Jupyter kernel.
#[derive(Debug, Clone)]
pub struct JupyterOptions {
    pub transport: Transport,
    /// How long to wait for the kernel to become ready.
    pub start_timeout: Duration,
    /// Variables added to the kernelspec's environment (a notebook's
    /// secrets, for instance); kept across restarts.
    pub env: Vec<(String, String)>,
    /// The kernel's working directory (a notebook's folder), kept across
    /// restarts; `None`: ours.
    pub working_dir: Option<std::path::PathBuf>,
}

impl Default for JupyterOptions {
    fn default() -> Self {
        JupyterOptions {
            transport: if cfg!(unix) {
                Transport::Ipc
            } else {
                Transport::Tcp
            },
            start_timeout: Duration::from_secs(60),
            env: Vec::new(),
            working_dir: None,
        }
    }
}

/// Commands from the handle to the actor.
pub(crate) enum Cmd {
    Execute(ExecuteRequest, oneshot::Sender<Result<Execution>>),
    Request(
        JupyterMessageContent,
        oneshot::Sender<Result<JupyterMessage>>,
    ),
    Input(
        Option<String>,
        InputAnswer,
        Option<oneshot::Sender<Result<()>>>,
    ),
    Interrupt(oneshot::Sender<Result<()>>),
    Restart(oneshot::Sender<Result<()>>),
    Shutdown(oneshot::Sender<Result<()>>),
}

/// What the session's tasks report to the actor, tagged with the session's
/// generation so reports from a replaced process are ignored.
pub(crate) enum Incoming {
    Shell(u64, JupyterMessage),
    Control(u64, JupyterMessage),
    Stdin(u64, JupyterMessage),
    IopubSeen(u64),
    /// iopub went idle for this parent msg_id.
    Idle(u64, String),
    /// The kernel began handling this parent msg_id.
    Began(u64, String, Beginning),
    /// This execution went idle a while ago (the actor's `REPLY_GRACE`) and has no reply.
    ReplyOverdue(u64, String),
    Exited(u64, ExitStatus),
    HeartbeatLost(u64),
}

/// What iopub said when a kernel took up an execute_request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beginning {
    /// `status: busy`: the request left the queue; ipykernel installs its
    /// SIGINT handler a moment later.
    Busy,
    /// `execute_input`: published after the handler is installed, so an
    /// interrupt from now on reaches the code.
    Input,
}

/// A running Jupyter kernel.
pub struct JupyterKernel {
    cmds: mpsc::UnboundedSender<Cmd>,
    events: broadcast::Sender<KernelEvent>,
    info: watch::Receiver<KernelInfo>,
    spec: KernelSpec,
}

impl JupyterKernel {
    /// Launch `spec` and wait until it is ready for requests.
    pub async fn start(mut spec: KernelSpec, options: JupyterOptions) -> Result<JupyterKernel> {
        spec.env.extend(options.env.iter().cloned());
        if options.working_dir.is_some() {
            spec.working_dir = options.working_dir.clone();
        }
        let (events, _) = broadcast::channel(256);
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let actor = actor::Actor::new(spec.clone(), options, events.clone(), cmds.clone());
        tokio::spawn(actor.run(cmd_rx, ready_tx));
        let info = match ready_rx.await {
            Ok(Ok(info)) => info,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(KernelError::Died(
                    "kernel actor stopped during start".into(),
                ))
            }
        };
        Ok(JupyterKernel {
            cmds,
            events,
            info,
            spec,
        })
    }

    /// Find the kernelspec `name` (see [`KernelSpecFinder`]) and start it.
    pub async fn start_named(
        name: &str,
        prefixes: &[std::path::PathBuf],
        options: JupyterOptions,
    ) -> Result<JupyterKernel> {
        let spec = KernelSpecFinder::new(prefixes).find(name)?;
        Self::start(spec, options).await
    }

    pub fn spec(&self) -> &KernelSpec {
        &self.spec
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Cmd) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(make(tx))
            .map_err(|_| KernelError::ShutDown)?;
        rx.await.map_err(|_| KernelError::ShutDown)?
    }

    async fn request(&self, content: JupyterMessageContent) -> Result<JupyterMessage> {
        let fut = self.call(|tx| Cmd::Request(content, tx));
        tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| KernelError::Timeout(REQUEST_TIMEOUT))?
    }
}

fn unexpected(msg: &JupyterMessage) -> KernelError {
    KernelError::Protocol(format!("unexpected reply {}", msg.header.msg_type))
}

#[async_trait]
impl Kernel for JupyterKernel {
    fn info(&self) -> KernelInfo {
        self.info.borrow().clone()
    }

    fn subscribe(&self) -> broadcast::Receiver<KernelEvent> {
        self.events.subscribe()
    }

    async fn execute(&self, request: ExecuteRequest) -> Result<Execution> {
        self.call(|tx| Cmd::Execute(request, tx)).await
    }

    async fn answer_input(&self, answer: InputAnswer) -> Result<()> {
        self.call(|tx| Cmd::Input(None, answer, Some(tx))).await
    }

    async fn interrupt(&self) -> Result<()> {
        self.call(Cmd::Interrupt).await
    }

    async fn restart(&self) -> Result<()> {
        self.call(Cmd::Restart).await
    }

    async fn shutdown(&self) -> Result<()> {
        match self.call(Cmd::Shutdown).await {
            Err(KernelError::ShutDown) => Ok(()),
            other => other,
        }
    }

    async fn complete(&self, code: &str, cursor_pos: usize) -> Result<Completion> {
        let reply = self
            .request(JupyterMessageContent::CompleteRequest(CompleteRequest {
                code: code.to_string(),
                cursor_pos,
            }))
            .await?;
        match reply.content {
            JupyterMessageContent::CompleteReply(r) => Ok(Completion {
                matches: r.matches,
                cursor_start: r.cursor_start,
                cursor_end: r.cursor_end,
                metadata: r.metadata,
            }),
            _ => Err(unexpected(&reply)),
        }
    }

    async fn inspect(&self, code: &str, cursor_pos: usize, detail_level: u8) -> Result<Inspection> {
        let reply = self
            .request(JupyterMessageContent::InspectRequest(InspectRequest {
                code: code.to_string(),
                cursor_pos,
                detail_level: Some(detail_level as usize),
            }))
            .await?;
        match reply.content {
            JupyterMessageContent::InspectReply(r) => Ok(Inspection {
                found: r.found,
                data: convert::bundle(&r.data),
                metadata: r.metadata,
            }),
            _ => Err(unexpected(&reply)),
        }
    }

    async fn is_complete(&self, code: &str) -> Result<IsComplete> {
        let reply = self
            .request(JupyterMessageContent::IsCompleteRequest(
                IsCompleteRequest {
                    code: code.to_string(),
                },
            ))
            .await?;
        match reply.content {
            JupyterMessageContent::IsCompleteReply(r) => Ok(match r.status {
                IsCompleteReplyStatus::Complete => IsComplete::Complete,
                IsCompleteReplyStatus::Incomplete => IsComplete::Incomplete { indent: r.indent },
                IsCompleteReplyStatus::Invalid => IsComplete::Invalid,
                IsCompleteReplyStatus::Unknown => IsComplete::Unknown,
            }),
            _ => Err(unexpected(&reply)),
        }
    }
}
