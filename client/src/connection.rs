//! Opening one WebSocket to the server and saying hello.

use crate::error::{ClientError, Result};
use crate::ClientConfig;
use futures_util::{SinkExt, StreamExt};
use schema::wire::{Frame, Hello, Welcome, PROTOCOL_VERSION};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connect, send hello, and wait for welcome (or the server's refusal).
pub(crate) async fn open(config: &ClientConfig) -> Result<(Socket, Welcome)> {
    let url = config.ws_url();
    let connect_err = |reason: String| ClientError::Connect {
        url: url.clone(),
        reason,
    };
    // Nagle's algorithm would hold back our small sync frames waiting for
    // ACKs; every socket in cathode sets TCP_NODELAY.
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url.as_str(), None, true)
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let hello = Frame::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        notebook_id: config.notebook_id.clone(),
        token: config.token.clone(),
    });
    socket
        .send(Message::Binary(hello.encode().into()))
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Binary(bytes))) => match Frame::decode(&bytes) {
                Ok(Frame::Welcome(w)) => return Ok((socket, w)),
                Ok(Frame::Error(e)) => {
                    return Err(ClientError::Refused {
                        code: e.code,
                        message: e.message,
                    })
                }
                Ok(_) => return Err(connect_err("expected welcome".into())),
                Err(e) => return Err(connect_err(e.to_string())),
            },
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(_)) => return Err(connect_err("unexpected message before welcome".into())),
            Some(Err(e)) => return Err(connect_err(e.to_string())),
            None => return Err(connect_err("closed before welcome".into())),
        }
    }
}
