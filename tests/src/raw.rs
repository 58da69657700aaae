//! A raw protocol peer: speaks frames directly, so tests can send what a
//! well-behaved client never would (a viewer's changes, broken frames).

use anyhow::{anyhow, bail, Result};
use futures_util::{SinkExt, StreamExt};
use schema::automerge::sync::{self, SyncDoc};
use schema::automerge::{Automerge, ChangeHash, ReadDoc};
use schema::wire::{ErrorFrame, Frame, Hello, Welcome, PROTOCOL_VERSION};
use schema::DocKind;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct RawPeer {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl RawPeer {
    pub async fn open(ws_url: &str) -> Result<Self> {
        let (socket, _) = tokio_tungstenite::connect_async_with_config(ws_url, None, true).await?;
        Ok(Self { socket })
    }

    /// Open from a chosen loopback address (127.0.0.0/8 is all loopback
    /// on Linux), so a test can be several clients with their own limits.
    pub async fn open_from(ws_url: &str, local: std::net::IpAddr) -> Result<Self> {
        Self::open_tuned(ws_url, local, None).await
    }

    /// As [`RawPeer::open_from`], with a receive buffer of `recv_buffer`
    /// bytes: a reader that stops reading then fills up quickly (Linux
    /// would otherwise buffer up to `tcp_rmem`'s maximum, 32 MB here).
    pub async fn open_tuned(
        ws_url: &str,
        local: std::net::IpAddr,
        recv_buffer: Option<u32>,
    ) -> Result<Self> {
        let stream = connect_tuned(ws_url, local, recv_buffer).await?;
        let (socket, _) =
            tokio_tungstenite::client_async(ws_url, MaybeTlsStream::Plain(stream)).await?;
        Ok(Self { socket })
    }

    pub async fn hello(ws_url: &str, token: &str, notebook: &str) -> Result<(Self, Welcome)> {
        let peer = Self::open(ws_url).await?;
        peer.say_hello(token, notebook).await
    }

    /// Send hello and wait for welcome.
    pub async fn say_hello(self, token: &str, notebook: &str) -> Result<(Self, Welcome)> {
        let mut peer = self;
        peer.send_frame(&Frame::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            notebook_id: notebook.into(),
            token: token.into(),
        }))
        .await?;
        match peer.next_frame(Duration::from_secs(10)).await? {
            Some(Frame::Welcome(w)) => Ok((peer, w)),
            other => bail!("expected welcome, got {other:?}"),
        }
    }

    /// Send raw bytes without waiting for the socket to flush them.
    pub async fn feed_bytes(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.socket.feed(Message::Binary(bytes.into())).await?;
        Ok(())
    }

    pub async fn send_frame(&mut self, frame: &Frame) -> Result<()> {
        self.send_bytes(frame.encode()).await
    }

    pub async fn send_bytes(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.socket.send(Message::Binary(bytes.into())).await?;
        Ok(())
    }

    /// The next frame, `None` when the server closed the connection.
    pub async fn next_frame(&mut self, timeout: Duration) -> Result<Option<Frame>> {
        loop {
            let message = tokio::time::timeout(timeout, self.socket.next())
                .await
                .map_err(|_| anyhow!("timed out waiting for a frame"))?;
            match message {
                Some(Ok(Message::Binary(bytes))) => return Ok(Some(Frame::decode(&bytes)?)),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(None),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Read until an error frame arrives (skipping sync traffic).
    pub async fn next_error(&mut self, timeout: Duration) -> Result<Option<ErrorFrame>> {
        loop {
            match self.next_frame(timeout).await? {
                Some(Frame::Error(e)) => return Ok(Some(e)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }

    /// Whether the server has closed the connection (reads until it does).
    pub async fn closed(&mut self, timeout: Duration) -> bool {
        loop {
            match self.next_frame(timeout).await {
                Ok(None) => return true,
                Ok(Some(_)) => continue,
                Err(_) => return false,
            }
        }
    }

    /// Sync a raw replica of one document with the server until it stops
    /// sending (half a second of silence).
    pub async fn pull(
        &mut self,
        kind: DocKind,
        replica: &mut Automerge,
        state: &mut sync::State,
    ) -> Result<()> {
        loop {
            if let Some(m) = replica.generate_sync_message(state) {
                self.send_frame(&Frame::Sync {
                    doc: kind,
                    message: m.encode(),
                })
                .await?;
            }
            match self.next_frame(Duration::from_millis(500)).await {
                Ok(Some(Frame::Sync { doc, message })) if doc == kind => {
                    replica.receive_sync_message(state, sync::Message::decode(&message)?)?;
                }
                Ok(Some(_)) => {}
                Ok(None) => bail!("server closed the connection"),
                Err(_) => return Ok(()),
            }
        }
    }

    /// Send one change of `replica` by hand, as a V1 sync message: a
    /// well-behaved Automerge peer told that the server treats it as
    /// read-only would not send changes at all.
    pub async fn push_change(
        &mut self,
        kind: DocKind,
        replica: &Automerge,
        hash: ChangeHash,
    ) -> Result<()> {
        let change = replica
            .get_change_by_hash(&hash)
            .ok_or_else(|| anyhow!("no change {hash}"))?;
        let m = sync::Message {
            heads: replica.get_heads(),
            need: vec![],
            have: vec![],
            changes: vec![change.raw_bytes().to_vec()].into(),
            flags: None,
            version: sync::MessageVersion::V1,
        };
        self.send_frame(&Frame::Sync {
            doc: kind,
            message: m.encode(),
        })
        .await
    }
}

/// A TCP connection to the host and port of `url` (`ws://` or `http://`)
/// from a chosen local address.
pub async fn connect_from(url: &str, local: std::net::IpAddr) -> Result<TcpStream> {
    connect_tuned(url, local, None).await
}

async fn connect_tuned(
    url: &str,
    local: std::net::IpAddr,
    recv_buffer: Option<u32>,
) -> Result<TcpStream> {
    let rest = url
        .split("://")
        .nth(1)
        .ok_or_else(|| anyhow!("no scheme in {url}"))?;
    let host = rest.split('/').next().unwrap_or(rest);
    let addr: std::net::SocketAddr = host.parse()?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(std::net::SocketAddr::new(local, 0))?;
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    Ok(socket.connect(addr).await?)
}

/// A change any writer of that document may make, made through the typed
/// API on a synced replica: a new cell, or (runtime) a lease claim.
pub fn typed_change(kind: DocKind, replica: Automerge) -> Result<(Automerge, ChangeHash)> {
    let doc = match kind {
        DocKind::Notebook => {
            let mut nb = schema::NotebookDoc::from_automerge(replica)?;
            nb.create_cell(schema::CellType::Code, schema::Placement::End, "x = 1")?;
            nb.into_automerge()
        }
        DocKind::Runtime => {
            let mut rt = schema::RuntimeDoc::from_automerge(replica)?;
            rt.claim_lease(&schema::SessionId::random(), "raw", "python3", 0, 1000)?;
            rt.into_automerge()
        }
    };
    let hash = doc
        .get_last_local_change()
        .map(|c| c.hash())
        .ok_or_else(|| anyhow!("no change made"))?;
    Ok((doc, hash))
}
