//! Group commit for the event log.
//!
//! Rooms hand their accepted changes to one writer task, which answers
//! each request once its rows are durable (a room acknowledges their
//! authors only then: `room/commits.rs`). While one transaction
//! is being committed, further requests queue up; the writer then takes them
//! all in the next transaction. Durability costs one fsync per batch rather
//! than one per change, and a lone change still commits at once.

use crate::error::{Result, ServerError};
use crate::store::{ChangeRow, Store};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most append requests one transaction takes.
const MAX_BATCH_REQUESTS: usize = 512;

enum Request {
    Append {
        rows: Vec<ChangeRow>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Everything queued before this is committed; then the writer stops.
    Close { done: oneshot::Sender<()> },
}

#[derive(Clone)]
pub struct EventLog {
    requests: mpsc::Sender<Request>,
}

impl EventLog {
    /// Start the writer task; it ends when every handle is dropped.
    pub fn start(store: Arc<dyn Store>) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(1024);
        let task = tokio::spawn(write_batches(store, rx));
        (Self { requests: tx }, task)
    }

    /// Queue rows for the log; the answer comes once they are durable.
    /// Requests are committed in the order they are queued, so an answer
    /// also means every earlier request is durable.
    pub async fn submit(
        &self,
        rows: Vec<ChangeRow>,
    ) -> Result<oneshot::Receiver<Result<(), String>>> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Append { rows, reply })
            .await
            .map_err(|_| ServerError::EventLog("writer stopped".into()))?;
        Ok(answer)
    }

    /// Append rows durably; returns once they are committed.
    pub async fn append(&self, rows: Vec<ChangeRow>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.submit(rows)
            .await?
            .await
            .map_err(|_| ServerError::EventLog("writer stopped".into()))?
            .map_err(ServerError::EventLog)
    }

    /// Commit what is queued and stop the writer.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.requests.send(Request::Close { done }).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_batches(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Request>) {
    let mut queued = Vec::new();
    loop {
        queued.clear();
        if rx.recv_many(&mut queued, MAX_BATCH_REQUESTS).await == 0 {
            return;
        }
        let mut rows = Vec::new();
        let mut replies = Vec::new();
        let mut close = None;
        for request in queued.drain(..) {
            match request {
                Request::Append {
                    rows: mut more,
                    reply,
                } => {
                    rows.append(&mut more);
                    replies.push(reply);
                }
                Request::Close { done } => close = Some(done),
            }
        }
        if !rows.is_empty() {
            let outcome = store.append_changes(&rows).await.map_err(|e| e.to_string());
            match &outcome {
                Err(e) => tracing::error!(error = %e, rows = rows.len(), "event log append failed"),
                Ok(()) => tracing::trace!(
                    rows = rows.len(),
                    requests = replies.len(),
                    "committed batch"
                ),
            }
            for reply in replies {
                let _ = reply.send(outcome.clone());
            }
        }
        if let Some(done) = close {
            let _ = done.send(());
            return;
        }
    }
}
