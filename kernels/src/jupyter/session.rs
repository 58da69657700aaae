//! One kernel process and its five sockets, from launch to readiness.

use std::time::{Duration, Instant};

use jupyter_protocol::{Header, JupyterMessage, JupyterMessageContent, KernelInfoRequest};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use zeromq::util::PeerIdentity;
use zeromq::{
    DealerSendHalf, DealerSocket, ReqSocket, Socket, SocketOptions, SocketRecv, SocketSend,
    SubSocket,
};

use super::connection::{Channel, ConnectionDir, Transport};
use super::iopub::{self, IopubCmd};
use super::kernelspec::KernelSpec;
use super::process::{self, ProcessGuard};
use super::wire::Codec;
use super::Incoming;
use crate::error::{KernelError, Result};
use crate::event::{KernelEvent, KernelInfo};

/// A kernel that stops answering heartbeats is noticed within a second:
/// a ping goes out every [`HEARTBEAT_INTERVAL`] and must be answered within
/// [`HEARTBEAT_DEADLINE`] (jupyter_client's `time_to_dead` is one second too).
/// ipykernel answers from a C thread in microseconds, busy or not.
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(250);
const HEARTBEAT_DEADLINE: Duration = Duration::from_millis(750);
/// A deadline that fired this much late means our own process was not
/// running (a paused or starved host), which says nothing about the kernel.
const HEARTBEAT_STALL: Duration = Duration::from_millis(250);

/// A running kernel process with connected sockets.
///
/// Dropping it aborts its tasks, kills the process group and removes the
/// connection directory (in that order, by field order).
pub struct Session {
    tasks: Vec<JoinHandle<()>>,
    pub generation: u64,
    pub codec: Codec,
    pub shell: DealerSendHalf,
    pub control: DealerSendHalf,
    pub stdin: DealerSendHalf,
    pub iopub: mpsc::UnboundedSender<IopubCmd>,
    pub guard: ProcessGuard,
    pub info: KernelInfo,
    _conn: ConnectionDir,
}

impl Drop for Session {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Session {
    /// Launch `spec` and wait until it is ready: kernel_info answered on shell
    /// and iopub known to be connected (its `iopub_welcome` or any message),
    /// so no early output is lost.
    pub async fn start(
        spec: &KernelSpec,
        transport: Transport,
        generation: u64,
        incoming_tx: &mpsc::UnboundedSender<Incoming>,
        incoming: &mut mpsc::UnboundedReceiver<Incoming>,
        broadcast: &broadcast::Sender<KernelEvent>,
        timeout: Duration,
    ) -> Result<Session> {
        let deadline = Instant::now() + timeout;
        let conn = ConnectionDir::create(&spec.name, transport)?;
        let (mut child, guard) = process::launch(spec, &conn.file)?;
        let codec = Codec::new(&conn.info.key, uuid::Uuid::new_v4().to_string());
        let mut tasks = Vec::new();

        // Connect before handing the child to its watcher, so that a kernel
        // that dies during start-up is reported as a launch failure.
        let mut iopub_sock = SubSocket::new();
        iopub_sock.subscribe("").await?;
        let endpoint = conn.info.endpoint(Channel::IoPub);
        connect_retry(&mut iopub_sock, &endpoint, &mut child, deadline).await?;
        // ipykernel sends input_request to the identity that sent the
        // execute_request on shell, through its stdin ROUTER: shell and stdin
        // must share one identity or input requests go nowhere.
        let identity = codec.session().as_bytes().to_vec();
        let with_identity = || -> Result<SocketOptions> {
            let mut o = SocketOptions::default();
            let id = PeerIdentity::try_from(identity.clone())
                .map_err(|e| KernelError::Transport(format!("identity: {e}")))?;
            o.peer_identity(id);
            Ok(o)
        };
        let mut shell = DealerSocket::with_options(with_identity()?);
        connect_retry(
            &mut shell,
            &conn.info.endpoint(Channel::Shell),
            &mut child,
            deadline,
        )
        .await?;
        let mut control = DealerSocket::new();
        connect_retry(
            &mut control,
            &conn.info.endpoint(Channel::Control),
            &mut child,
            deadline,
        )
        .await?;
        let mut stdin = DealerSocket::with_options(with_identity()?);
        connect_retry(
            &mut stdin,
            &conn.info.endpoint(Channel::Stdin),
            &mut child,
            deadline,
        )
        .await?;

        let tx = incoming_tx.clone();
        tasks.push(tokio::spawn(async move {
            let status = process::exit_status(child.wait().await);
            let _ = tx.send(Incoming::Exited(generation, status));
        }));

        let (iopub_tx, iopub_rx) = mpsc::unbounded_channel();
        let (backlog_tx, backlog_rx) = mpsc::unbounded_channel();
        tasks.push(tokio::spawn(iopub::drain(iopub_sock, backlog_tx)));
        tasks.push(tokio::spawn(iopub::run(
            backlog_rx,
            codec.clone(),
            generation,
            iopub_rx,
            incoming_tx.clone(),
            broadcast.clone(),
        )));
        let (shell_tx, shell_rx) = shell.split();
        let (control_tx, control_rx) = control.split();
        let (stdin_tx, stdin_rx) = stdin.split();
        for (rx, kind) in [(shell_rx, 0u8), (control_rx, 1), (stdin_rx, 2)] {
            tasks.push(tokio::spawn(read_loop(
                rx,
                codec.clone(),
                generation,
                kind,
                incoming_tx.clone(),
            )));
        }
        tasks.push(tokio::spawn(heartbeat(
            conn.info.endpoint(Channel::Heartbeat),
            generation,
            incoming_tx.clone(),
        )));

        let mut session = Session {
            tasks,
            generation,
            codec,
            shell: shell_tx,
            control: control_tx,
            stdin: stdin_tx,
            iopub: iopub_tx,
            guard,
            info: KernelInfo {
                implementation: String::new(),
                language: spec.language.clone(),
                language_version: String::new(),
                banner: String::new(),
            },
            _conn: conn,
        };
        session.handshake(incoming, deadline, timeout).await?;
        Ok(session)
    }

    async fn handshake(
        &mut self,
        incoming: &mut mpsc::UnboundedReceiver<Incoming>,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<()> {
        let mut iopub_ok = false;
        let mut info_ok = false;
        let mut pending: Option<String> = None;
        let mut next_probe = Instant::now();
        loop {
            if iopub_ok && info_ok {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(KernelError::StartTimeout(timeout));
            }
            // Ask again until iopub proves connected: a kernel_info request's
            // busy/idle status travels on iopub, so it doubles as a probe.
            if now >= next_probe && (!info_ok || !iopub_ok) {
                let content = JupyterMessageContent::KernelInfoRequest(KernelInfoRequest {});
                let header = self.send_shell(&content, None).await?;
                pending = Some(header.msg_id);
                next_probe = now + Duration::from_millis(500);
            }
            let wait = next_probe
                .min(deadline)
                .saturating_duration_since(Instant::now());
            let msg = match tokio::time::timeout(wait, incoming.recv()).await {
                Err(_) => continue,
                Ok(None) => return Err(KernelError::ShutDown),
                Ok(Some(m)) => m,
            };
            match msg {
                Incoming::IopubSeen(g) if g == self.generation => iopub_ok = true,
                Incoming::Exited(g, status) if g == self.generation => {
                    return Err(KernelError::Died(status.reason))
                }
                Incoming::Shell(g, m) if g == self.generation => {
                    if m.header.msg_type != "kernel_info_reply" {
                        continue;
                    }
                    let ours = m.parent_header.as_ref().map(|h| &h.msg_id) == pending.as_ref();
                    if ours || !info_ok {
                        // Read it leniently: kernels omit fields the spec requires.
                        let v = serde_json::to_value(&m.content).unwrap_or_default();
                        let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
                        self.info = KernelInfo {
                            implementation: s(&v["implementation"]),
                            language: match s(&v["language_info"]["name"]) {
                                l if l.is_empty() => self.info.language.clone(),
                                l => l,
                            },
                            language_version: s(&v["language_info"]["version"]),
                            banner: s(&v["banner"]),
                        };
                        info_ok = true;
                    }
                }
                _ => {}
            }
        }
    }

    pub async fn send_shell(
        &mut self,
        content: &JupyterMessageContent,
        parent: Option<&Header>,
    ) -> Result<Header> {
        let (msg, header) = self.codec.encode(content, parent)?;
        self.shell.send(msg).await?;
        Ok(header)
    }

    pub async fn send_control(&mut self, content: &JupyterMessageContent) -> Result<Header> {
        let (msg, header) = self.codec.encode(content, None)?;
        self.control.send(msg).await?;
        Ok(header)
    }

    pub async fn send_stdin(
        &mut self,
        content: &JupyterMessageContent,
        parent: &Header,
    ) -> Result<Header> {
        let (msg, header) = self.codec.encode(content, Some(parent))?;
        self.stdin.send(msg).await?;
        Ok(header)
    }
}

/// Connect, retrying while the kernel has not bound its sockets yet (and on
/// the occasional ECONNRESET under load), unless the kernel has exited.
async fn connect_retry<S: Socket>(
    socket: &mut S,
    endpoint: &str,
    child: &mut tokio::process::Child,
    deadline: Instant,
) -> Result<()> {
    loop {
        let attempt = tokio::time::timeout(Duration::from_secs(2), socket.connect(endpoint)).await;
        match attempt {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => tracing::trace!("connect {endpoint}: {e}; retrying"),
            Err(_) => tracing::trace!("connect {endpoint} timed out; retrying"),
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(KernelError::Died(process::exit_status(Ok(status)).reason));
        }
        if Instant::now() >= deadline {
            return Err(KernelError::Transport(format!(
                "could not connect to {endpoint} before the start deadline"
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn read_loop<R: SocketRecv>(
    mut rx: R,
    codec: Codec,
    generation: u64,
    kind: u8,
    incoming: mpsc::UnboundedSender<Incoming>,
) {
    loop {
        let msg = match rx.recv().await {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("socket receive ended: {e}");
                return;
            }
        };
        let msg: JupyterMessage = match codec.decode(msg) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("skipping message: {e}");
                continue;
            }
        };
        let item = match kind {
            0 => Incoming::Shell(generation, msg),
            1 => Incoming::Control(generation, msg),
            _ => Incoming::Stdin(generation, msg),
        };
        if incoming.send(item).is_err() {
            return;
        }
    }
}

/// Ping the heartbeat channel; report when it stops answering. The sockets
/// alone never notice a hung or dead kernel (reads hang, sends succeed).
async fn heartbeat(endpoint: String, generation: u64, incoming: mpsc::UnboundedSender<Incoming>) {
    let mut socket: Option<ReqSocket> = None;
    loop {
        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
        let sent = tokio::time::Instant::now();
        let answered = tokio::time::timeout(HEARTBEAT_DEADLINE, async {
            if socket.is_none() {
                let mut s = ReqSocket::new();
                s.connect(&endpoint).await?;
                socket = Some(s);
            }
            let Some(s) = socket.as_mut() else {
                return Err(zeromq::ZmqError::NoMessage);
            };
            s.send("ping".into()).await?;
            s.recv().await
        })
        .await;
        match answered {
            Ok(Ok(_)) => continue,
            // A refused connection usually means the process just exited;
            // give the exit watcher, which reports the real status, its turn.
            Ok(Err(_)) => tokio::time::sleep_until(sent + HEARTBEAT_DEADLINE).await,
            Err(_) => {}
        }
        // A REQ socket that missed its reply is stuck; start over.
        socket = None;
        if sent.elapsed() > HEARTBEAT_DEADLINE + HEARTBEAT_STALL {
            tracing::debug!("heartbeat deadline fired late; not counting it against the kernel");
            continue;
        }
        let _ = incoming.send(Incoming::HeartbeatLost(generation));
        return;
    }
}
