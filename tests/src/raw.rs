//! A raw protocol peer: speaks frames directly, so tests can send what a
//! well-behaved client never would (a viewer's changes, broken frames).

use anyhow::{anyhow, bail, Result};
use futures_util::{SinkExt, StreamExt};
use schema::wire::{ErrorFrame, Frame, Hello, Welcome, PROTOCOL_VERSION};
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

    pub async fn hello(ws_url: &str, token: &str, notebook: &str) -> Result<(Self, Welcome)> {
        let mut peer = Self::open(ws_url).await?;
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
}
