//! The HTTP server under the router, with the limits axum's own `serve`
//! does not have: a connection limit in all and per address (a refusal is
//! a plain `503` written at once, not a hang), the idlest connection closed
//! to make room, a deadline for request headers, and a connection that
//! moves no byte for `idle_timeout` closed, a stalled request body
//! included. WebSockets (upgraded connections) count toward the limits for
//! as long as they are open, and keep to their own ping-based idle rule.

mod tracker;

pub use tracker::{Activity, Tracker};

use crate::config::ServerLimits;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// Which connection a request arrived on (in the request's extensions), so
/// that a WebSocket handler can mark its connection as upgraded.
#[derive(Clone)]
pub struct ConnectionActivity(pub Arc<Activity>);

/// A TCP stream that records when it last moved a byte, and frees its
/// place in the tracker when dropped.
struct TrackedStream {
    inner: TcpStream,
    admission: tracker::Admission,
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.admission.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.admission.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Accept connections until `stop` resolves, then stop accepting at once
/// and give requests in flight until `drain` to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    stop: impl Future<Output = ()>,
) -> Arc<Tracker> {
    let tracker = Tracker::new(limits.max_connections, limits.max_connections_per_ip);
    let limits = Arc::new(limits);
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors (or another transient failure): make
                // room rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tracker.evict_for_descriptors();
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        // Nagle plus delayed ACKs would add tens of milliseconds to each
        // small sync frame.
        let _ = tcp.set_nodelay(true);
        match tracker.admit(addr.ip()) {
            Ok(admission) => {
                tokio::spawn(serve_connection(
                    tcp,
                    admission,
                    router.clone(),
                    limits.clone(),
                ));
            }
            Err(why) => {
                tokio::spawn(refuse(tcp, why));
            }
        }
    }
    drop(listener);
    tracker
}

async fn refuse(mut tcp: TcpStream, why: tracker::Refusal) {
    let message = match why {
        tracker::Refusal::PerAddress => {
            "too many connections from your address; close some and retry"
        }
        tracker::Refusal::Total => "the server is at its connection limit; retry shortly",
    };
    let body = format!(r#"{{"error":"too_many_connections","message":"{message}"}}"#);
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 5\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = tcp.write_all(response.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

async fn serve_connection(
    tcp: TcpStream,
    admission: tracker::Admission,
    router: Router,
    limits: Arc<ServerLimits>,
) {
    let activity = admission.activity.clone();
    let io = TokioIo::new(TrackedStream {
        inner: tcp,
        admission,
    });
    let service_activity = activity.clone();
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            let activity = service_activity.clone();
            request
                .extensions_mut()
                .insert(ConnectionActivity(activity.clone()));
            let router = router.clone();
            async move {
                activity.busy.fetch_add(1, Ordering::Relaxed);
                let response = router.oneshot(request.map(axum::body::Body::new)).await;
                activity.busy.fetch_sub(1, Ordering::Relaxed);
                response
            }
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    let idle_limit = limits.idle_timeout;
    let watchdog = async {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if activity.upgraded.load(Ordering::Relaxed) {
                std::future::pending::<()>().await;
            }
            if activity.idle_for() >= idle_limit {
                return;
            }
        }
    };
    tokio::select! {
        _ = &mut connection => {}
        _ = activity.killed() => {}
        _ = watchdog => {}
    }
}
