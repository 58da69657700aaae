//! The actor that owns a Jupyter kernel session: all mutable state lives in
//! this one task, and everything else talks to it through channels.

use std::collections::HashMap;
use std::time::Duration;

use jupyter_protocol::{
    ExecuteRequest as JExecuteRequest, Header, InputReply, InterruptRequest, JupyterMessage,
    JupyterMessageContent, ReplyStatus as JReplyStatus, ShutdownRequest,
};
use nix::sys::signal::Signal;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::connection::Transport;
use super::iopub::IopubCmd;
use super::kernelspec::{InterruptMode, KernelSpec};
use super::session::Session;
use super::{Beginning, Cmd, Incoming, JupyterOptions};
use crate::error::{KernelError, Result};
use crate::event::{
    ExecuteReply, ExecuteRequest, ExitStatus, InputAnswer, KernelEvent, KernelInfo, KernelState,
    ReplyStatus,
};
use crate::kernel::{Execution, ExecutionSink};

/// How long a kernel gets to exit after a shutdown request before SIGKILL.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// How long an execution that went idle may wait for its execute_reply.
/// ipykernel sends the reply before idle (on another socket), except when
/// a SIGINT lands in its own code around the handler: it then logs
/// "KeyboardInterrupt caught in kernel", goes idle and never replies.
const REPLY_GRACE: Duration = Duration::from_secs(2);

/// One execution in flight: done when both its reply and its idle arrived.
struct Running {
    sink: ExecutionSink,
    reply: Option<ExecuteReply>,
    idle: bool,
    /// Silent executions publish no `execute_input`: busy is their start.
    silent: bool,
    /// Whether an interrupt sent now reaches the code (see [`Beginning`]).
    started: bool,
    /// Whether an interrupt was sent while it ran.
    interrupted: bool,
}

pub(crate) struct Actor {
    spec: KernelSpec,
    transport: Transport,
    start_timeout: Duration,
    events: broadcast::Sender<KernelEvent>,
    cmds: mpsc::UnboundedSender<Cmd>,
    generation: u64,
    session: Option<Session>,
    /// Why the kernel is not running, once it died.
    dead: Option<ExitStatus>,
    heartbeat_lost: bool,
    running: HashMap<String, Running>,
    requests: HashMap<String, oneshot::Sender<Result<JupyterMessage>>>,
    /// The execution id and header of the input_request being waited on.
    pending_input: Option<(String, Header)>,
    /// An interrupt asked for before the kernel took up the execution it
    /// was for: ipykernel ignores SIGINT between requests, so it is sent
    /// when the execution starts.
    interrupt_held: bool,
    incoming_tx: mpsc::UnboundedSender<Incoming>,
    incoming: mpsc::UnboundedReceiver<Incoming>,
}

impl Actor {
    pub fn new(
        spec: KernelSpec,
        options: JupyterOptions,
        events: broadcast::Sender<KernelEvent>,
        cmds: mpsc::UnboundedSender<Cmd>,
    ) -> Actor {
        let (incoming_tx, incoming) = mpsc::unbounded_channel();
        Actor {
            spec,
            transport: options.transport,
            start_timeout: options.start_timeout,
            events,
            cmds,
            generation: 0,
            session: None,
            dead: None,
            heartbeat_lost: false,
            running: HashMap::new(),
            requests: HashMap::new(),
            pending_input: None,
            interrupt_held: false,
            incoming_tx,
            incoming,
        }
    }

    async fn start_session(&mut self) -> Result<KernelInfo> {
        self.generation += 1;
        let session = Session::start(
            &self.spec,
            self.transport,
            self.generation,
            &self.incoming_tx,
            &mut self.incoming,
            &self.events,
            self.start_timeout,
        )
        .await?;
        let info = session.info.clone();
        self.session = Some(session);
        self.dead = None;
        self.heartbeat_lost = false;
        let _ = self.events.send(KernelEvent::Status {
            state: KernelState::Idle,
        });
        Ok(info)
    }

    pub async fn run(
        mut self,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
        ready: oneshot::Sender<Result<watch::Receiver<KernelInfo>>>,
    ) {
        let info_tx = match self.start_session().await {
            Ok(info) => {
                let (tx, rx) = watch::channel(info);
                let _ = ready.send(Ok(rx));
                tx
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        loop {
            tokio::select! {
                cmd = cmds.recv() => {
                    let Some(cmd) = cmd else { break };
                    match cmd {
                        Cmd::Shutdown(reply) => {
                            self.stop(false).await;
                            let _ = reply.send(Ok(()));
                            break;
                        }
                        Cmd::Restart(reply) => {
                            let r = self.restart().await;
                            if let Ok(info) = &r {
                                let _ = info_tx.send(info.clone());
                            }
                            let _ = reply.send(r.map(|_| ()));
                        }
                        other => self.command(other).await,
                    }
                }
                Some(msg) = self.incoming.recv() => self.incoming(msg).await,
            }
        }
        // Dropping the session kills the process group and removes its files.
        self.fail_all("kernel shut down");
        self.session = None;
    }

    async fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Execute(req, reply) => {
                let _ = reply.send(self.execute(req).await);
            }
            Cmd::Request(content, reply) => {
                let result = match self.live() {
                    Err(e) => Err(e),
                    Ok(s) => s.send_shell(&content, None).await,
                };
                match result {
                    Ok(header) => {
                        self.requests.insert(header.msg_id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Cmd::Input(exec_id, answer, reply) => {
                let r = self.answer_input(exec_id, answer).await;
                if let Some(reply) = reply {
                    let _ = reply.send(r);
                }
            }
            Cmd::Interrupt(reply) => {
                let _ = reply.send(self.interrupt().await);
            }
            Cmd::Restart(_) | Cmd::Shutdown(_) => {}
        }
    }

    fn live(&mut self) -> Result<&mut Session> {
        if let Some(status) = &self.dead {
            return Err(KernelError::Died(status.reason.clone()));
        }
        self.session.as_mut().ok_or(KernelError::ShutDown)
    }

    async fn execute(&mut self, req: ExecuteRequest) -> Result<Execution> {
        let silent = req.silent;
        let content = JupyterMessageContent::ExecuteRequest(JExecuteRequest {
            code: req.code,
            silent: req.silent,
            store_history: req.store_history,
            user_expressions: None,
            allow_stdin: req.allow_stdin,
            stop_on_error: req.stop_on_error,
        });
        let cmds = self.cmds.clone();
        let session = self.live()?;
        let (msg, header) = session.codec.encode(&content, None)?;
        let id = header.msg_id.clone();
        let input_id = id.clone();
        let (execution, sink) = Execution::channel(
            id.clone(),
            Box::new(move |answer| {
                cmds.send(Cmd::Input(Some(input_id.clone()), answer, None))
                    .map_err(|_| KernelError::ShutDown)
            }),
        );
        // Register the route before the kernel can possibly answer.
        session
            .iopub
            .send(IopubCmd::Register(id.clone(), sink.events.clone()))
            .map_err(|_| KernelError::Died("iopub router stopped".into()))?;
        use zeromq::SocketSend;
        session.shell.send(msg).await?;
        self.running.insert(
            id,
            Running {
                sink,
                reply: None,
                idle: false,
                silent,
                started: false,
                interrupted: false,
            },
        );
        Ok(execution)
    }

    async fn answer_input(&mut self, exec_id: Option<String>, answer: InputAnswer) -> Result<()> {
        let matches = match (&self.pending_input, &exec_id) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some((pending, _)), Some(id)) => pending == id,
        };
        if !matches {
            return Err(KernelError::NoInputPending);
        }
        let Some((_, header)) = self.pending_input.take() else {
            return Err(KernelError::NoInputPending);
        };
        // ipykernel raises EOFError for "\x04" (Ctrl-D): the portable way to decline.
        let value = match answer {
            InputAnswer::Value(v) => v,
            InputAnswer::Decline => "\u{4}".to_string(),
        };
        let content = JupyterMessageContent::InputReply(InputReply {
            value,
            status: JReplyStatus::Ok,
            error: None,
        });
        self.live()?.send_stdin(&content, &header).await?;
        Ok(())
    }

    async fn interrupt(&mut self) -> Result<()> {
        // Whatever input was being waited on is abandoned by the interrupt.
        self.pending_input = None;
        self.live()?;
        if !self.running.is_empty() && !self.running.values().any(|r| r.started) {
            // Sent now, it would reach a kernel between requests and be
            // ignored, and the cell would run on.
            self.interrupt_held = true;
            return Ok(());
        }
        self.send_interrupt().await
    }

    async fn send_interrupt(&mut self) -> Result<()> {
        for run in self.running.values_mut().filter(|r| r.started) {
            run.interrupted = true;
        }
        let mode = self.spec.interrupt_mode;
        let session = self.live()?;
        match mode {
            InterruptMode::Signal => session.guard.signal(Signal::SIGINT),
            InterruptMode::Message => {
                let content = JupyterMessageContent::InterruptRequest(InterruptRequest {});
                session.send_control(&content).await.map(|_| ())
            }
        }
    }

    /// Ask the kernel to exit, wait a little, then kill it.
    async fn stop(&mut self, restart: bool) {
        let Some(mut session) = self.session.take() else {
            return;
        };
        let generation = session.generation;
        if self.dead.is_none() {
            let content = JupyterMessageContent::ShutdownRequest(ShutdownRequest { restart });
            if session.send_control(&content).await.is_ok() {
                let wait = async {
                    while let Some(m) = self.incoming.recv().await {
                        if matches!(m, Incoming::Exited(g, _) if g == generation) {
                            return;
                        }
                    }
                };
                if tokio::time::timeout(SHUTDOWN_GRACE, wait).await.is_err() {
                    tracing::debug!("kernel did not exit after shutdown_request; killing it");
                }
            }
        }
        let _ = session.guard.signal(Signal::SIGKILL);
        session.guard.disarm();
        drop(session);
    }

    async fn restart(&mut self) -> Result<KernelInfo> {
        let _ = self.events.send(KernelEvent::Status {
            state: KernelState::Restarting,
        });
        self.stop(true).await;
        self.fail_all("kernel restarted; its state was lost");
        self.pending_input = None;
        self.interrupt_held = false;
        self.start_session().await
    }

    /// End every running execution and pending request with `reason`.
    fn fail_all(&mut self, reason: &str) {
        self.fail_running(reason, None);
        for (_, tx) in self.requests.drain() {
            let _ = tx.send(Err(KernelError::Died(reason.to_string())));
        }
    }

    fn fail_running(&mut self, reason: &str, died: Option<&ExitStatus>) {
        let running: Vec<_> = self.running.drain().collect();
        for (id, mut run) in running {
            let mut events = Vec::new();
            if let Some(status) = died {
                events.push(KernelEvent::Died {
                    status: status.clone(),
                });
            }
            events.push(KernelEvent::Error {
                ename: "KernelDied".into(),
                evalue: reason.to_string(),
                traceback: vec![format!(
                    "The kernel stopped while running this cell: {reason}"
                )],
            });
            self.deliver_last(&id, events, run.sink.events.clone());
            run.sink.finish(Err(KernelError::Died(reason.to_string())));
        }
    }

    async fn incoming(&mut self, msg: Incoming) {
        match msg {
            Incoming::Shell(g, m) | Incoming::Control(g, m) if g == self.generation => {
                self.reply(m)
            }
            Incoming::Stdin(g, m) if g == self.generation => self.input_request(m).await,
            Incoming::Idle(g, id) if g == self.generation => {
                if let Some(run) = self.running.get_mut(&id) {
                    run.idle = true;
                }
                self.maybe_finish(&id);
                if self.running.contains_key(&id) {
                    let tx = self.incoming_tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(REPLY_GRACE).await;
                        let _ = tx.send(Incoming::ReplyOverdue(g, id));
                    });
                }
            }
            Incoming::ReplyOverdue(g, id) if g == self.generation => self.reply_overdue(&id),
            Incoming::Began(g, id, stage) if g == self.generation => {
                let Some(run) = self.running.get_mut(&id) else {
                    return;
                };
                run.started |= stage == Beginning::Input || run.silent;
                if run.started && std::mem::take(&mut self.interrupt_held) {
                    if let Err(e) = self.send_interrupt().await {
                        tracing::warn!("could not deliver a held interrupt: {e}");
                    }
                }
            }
            Incoming::Exited(g, status) if g == self.generation => self.died(status),
            Incoming::HeartbeatLost(g) if g == self.generation && self.dead.is_none() => {
                tracing::warn!(
                    "kernel {} stopped answering heartbeats; killing it",
                    self.spec.name
                );
                self.heartbeat_lost = true;
                if let Some(s) = &self.session {
                    let _ = s.guard.signal(Signal::SIGKILL);
                }
            }
            _ => {}
        }
    }

    fn died(&mut self, mut status: ExitStatus) {
        if self.heartbeat_lost {
            status.reason = format!(
                "kernel stopped answering heartbeats and was killed ({})",
                status.reason
            );
        }
        tracing::info!("kernel {} died: {}", self.spec.name, status.reason);
        let reason = status.reason.clone();
        let _ = self.events.send(KernelEvent::Died {
            status: status.clone(),
        });
        let _ = self.events.send(KernelEvent::Status {
            state: KernelState::Dead,
        });
        self.fail_running(&reason, Some(&status));
        for (_, tx) in self.requests.drain() {
            let _ = tx.send(Err(KernelError::Died(reason.clone())));
        }
        self.pending_input = None;
        self.interrupt_held = false;
        self.dead = Some(status);
    }

    fn reply(&mut self, m: JupyterMessage) {
        let Some(parent) = m.parent_header.as_ref().map(|h| h.msg_id.clone()) else {
            return;
        };
        if m.header.msg_type == "execute_reply" {
            if let Some(run) = self.running.get_mut(&parent) {
                run.reply = Some(execute_reply(&m.content));
                self.maybe_finish(&parent);
            }
            return;
        }
        if let Some(tx) = self.requests.remove(&parent) {
            let _ = tx.send(Ok(m));
        }
    }

    /// Give an ending execution its last `events`, after whatever output
    /// the router still holds for it.
    fn deliver_last(
        &self,
        id: &str,
        events: Vec<KernelEvent>,
        fallback: mpsc::Sender<KernelEvent>,
    ) {
        let routed = self.session.as_ref().map(|s| {
            s.iopub.send(IopubCmd::Fail {
                id: id.to_string(),
                events: events.clone(),
                fallback: fallback.clone(),
            })
        });
        if !matches!(routed, Some(Ok(()))) {
            // No router any more: deliver directly, off the actor's task.
            tokio::spawn(async move {
                for e in events {
                    let _ = fallback.send(e).await;
                }
            });
        }
    }

    /// End an execution that went idle and never got its reply, so that
    /// its cell does not stay running forever.
    fn reply_overdue(&mut self, id: &str) {
        if !matches!(self.running.get(id), Some(r) if r.idle && r.reply.is_none()) {
            return;
        }
        let Some(mut run) = self.running.remove(id) else {
            return;
        };
        if self.running.is_empty() {
            self.interrupt_held = false;
        }
        let (ename, evalue) = if run.interrupted {
            (
                "KeyboardInterrupt",
                "interrupted before the kernel replied".to_string(),
            )
        } else {
            (
                "KernelError",
                "the kernel went idle without replying to this request".to_string(),
            )
        };
        tracing::warn!(execution = id, "{ename}: {evalue}");
        let events = vec![KernelEvent::Error {
            ename: ename.into(),
            evalue: evalue.clone(),
            traceback: vec![format!("{ename}: {evalue}")],
        }];
        self.deliver_last(id, events, run.sink.events.clone());
        run.sink.finish(Ok(ExecuteReply {
            status: ReplyStatus::Error,
            execution_count: None,
            payloads: Vec::new(),
            ename: Some(ename.into()),
            evalue: Some(evalue),
        }));
    }

    fn maybe_finish(&mut self, id: &str) {
        let done = matches!(self.running.get(id), Some(r) if r.idle && r.reply.is_some());
        if !done {
            return;
        }
        if let Some(mut run) = self.running.remove(id) {
            if self.running.is_empty() {
                // Nothing left for a held interrupt to stop.
                self.interrupt_held = false;
            }
            if self.pending_input.as_ref().is_some_and(|(p, _)| p == id) {
                self.pending_input = None;
            }
            if let Some(reply) = run.reply.take() {
                run.sink.finish(Ok(reply));
            }
        }
    }

    async fn input_request(&mut self, m: JupyterMessage) {
        let JupyterMessageContent::InputRequest(req) = &m.content else {
            return;
        };
        let parent = m
            .parent_header
            .as_ref()
            .map(|h| h.msg_id.clone())
            .unwrap_or_default();
        self.pending_input = Some((parent.clone(), m.header.clone()));
        let tx = self
            .running
            .get(&parent)
            .map(|r| r.sink.events.clone())
            .filter(|tx| !tx.is_closed());
        match tx {
            Some(tx) => {
                let event = KernelEvent::InputRequest {
                    prompt: req.prompt.clone(),
                    password: req.password,
                };
                tokio::spawn(async move {
                    let _ = tx.send(event).await;
                });
            }
            None => {
                // Nobody can answer: decline at once rather than hang the cell.
                let _ = self.answer_input(None, InputAnswer::Decline).await;
            }
        }
    }
}

/// An execute_reply read leniently: bash_kernel says `"abort"` where the
/// spec says `"aborted"`, and other kernels omit fields.
fn execute_reply(content: &JupyterMessageContent) -> ExecuteReply {
    let v = serde_json::to_value(content).unwrap_or_default();
    let status = match v["status"].as_str() {
        Some("ok") => ReplyStatus::Ok,
        Some("abort") | Some("aborted") => ReplyStatus::Aborted,
        _ => ReplyStatus::Error,
    };
    let text = |k: &str| v[k].as_str().map(str::to_string);
    ExecuteReply {
        status,
        execution_count: v["execution_count"].as_u64(),
        payloads: v["payload"].as_array().cloned().unwrap_or_default(),
        ename: if status == ReplyStatus::Error {
            text("ename")
        } else {
            None
        },
        evalue: if status == ReplyStatus::Error {
            text("evalue")
        } else {
            None
        },
    }
}
