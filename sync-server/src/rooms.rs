//! The registry of open rooms: one room per notebook, always.
//!
//! It only maps a notebook id to its room's channel; the lock is never held
//! across an await, and all notebook state lives in the room tasks. An entry
//! is removed only by its own room task, after the room has stopped, so a
//! connection arriving while a room is busy, failing or shutting down never
//! opens a second room for the same notebook (two rooms would each take
//! changes the other never sees, and race on the log's sequence numbers).
//! Once shutdown begins no room opens at all.

use crate::event_log::EventLog;
use crate::guard::Limits;
use crate::room::{ReportSink, Room, RoomCommand};
use crate::store::Store;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;

/// Commands a room may have queued before it pushes back on connections.
const ROOM_QUEUE: usize = 4096;

/// How long [`Rooms::ask`] waits for a stopping room to give way.
const ASK_RETRY_FOR: Duration = Duration::from_secs(5);

/// What [`Rooms::ask`] got.
pub enum Asked<T> {
    /// The room's answer, and the room that gave it.
    Answered(RoomHandle, T),
    /// The server is shutting down: no room opens any more.
    ShuttingDown,
    /// No room answered in time (the notebook could not be loaded).
    Unavailable,
}

/// How connections reach a room.
#[derive(Clone)]
pub struct RoomHandle {
    pub commands: mpsc::Sender<RoomCommand>,
    /// Kibibytes of inbound frames the room may hold unread.
    pub inbound: Arc<Semaphore>,
}

struct Entry {
    handle: RoomHandle,
    generation: u64,
}

pub struct Rooms {
    rooms: Mutex<HashMap<String, Entry>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    shutdown: watch::Sender<bool>,
    generation: AtomicU64,
    store: Arc<dyn Store>,
    log: EventLog,
    limits: Arc<Limits>,
    inbound_kib: usize,
    unload_after: Duration,
    reports: Option<ReportSink>,
}

impl Rooms {
    pub fn new(
        store: Arc<dyn Store>,
        log: EventLog,
        limits: Arc<Limits>,
        inbound_bytes: usize,
        unload_after: Duration,
        reports: Option<ReportSink>,
    ) -> Arc<Self> {
        Arc::new(Self {
            rooms: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            shutdown: watch::channel(false).0,
            generation: AtomicU64::new(0),
            store,
            log,
            limits,
            inbound_kib: inbound_bytes.div_ceil(1024).max(1),
            unload_after,
            reports,
        })
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// The notebook's room, opening it if none is open; `None` once the
    /// server is shutting down. A room that is stopping still answers here
    /// until its task has ended: its channel then refuses commands, and the
    /// caller asks again.
    pub fn room(self: &Arc<Self>, notebook_id: &str) -> Option<RoomHandle> {
        if self.is_shutting_down() {
            return None;
        }
        let mut rooms = self.map();
        if let Some(entry) = rooms.get(notebook_id) {
            return Some(entry.handle.clone());
        }
        let (tx, rx) = mpsc::channel(ROOM_QUEUE);
        let handle = RoomHandle {
            commands: tx,
            inbound: Arc::new(Semaphore::new(self.inbound_kib)),
        };
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        rooms.insert(
            notebook_id.to_owned(),
            Entry {
                handle: handle.clone(),
                generation,
            },
        );
        drop(rooms);
        tracing::info!(notebook_id, "room opened");
        let this = self.clone();
        let id = notebook_id.to_owned();
        let shutdown = self.shutdown.subscribe();
        let task = tokio::spawn(async move {
            match Room::load(
                &id,
                this.store.clone(),
                this.log.clone(),
                this.limits.clone(),
                this.reports.clone(),
            )
            .await
            {
                Ok(room) => room.run(rx, shutdown, this.unload_after).await,
                // Dropping `rx` fails every queued join; the next one retries the load.
                Err(e) => {
                    drop(rx);
                    tracing::error!(notebook_id = %id, error = %e, "could not load notebook")
                }
            }
            this.remove(&id, generation);
            release_freed_memory();
            tracing::info!(notebook_id = %id, "room closed");
        });
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
        Some(handle)
    }

    fn remove(&self, notebook_id: &str, generation: u64) {
        let mut rooms = self.map();
        if rooms
            .get(notebook_id)
            .is_some_and(|e| e.generation == generation)
        {
            rooms.remove(notebook_id);
        }
    }

    /// How many rooms are open.
    pub fn open_rooms(&self) -> usize {
        self.map().len()
    }

    /// Check the rights of a notebook's connections again (its grants
    /// changed), or only of those using one token.
    pub async fn revalidate(&self, notebook_id: &str, token_hash: Option<&str>) {
        let handle = self.map().get(notebook_id).map(|e| e.handle.clone());
        if let Some(handle) = handle {
            let _ = handle
                .commands
                .send(RoomCommand::Revalidate {
                    token_hash: token_hash.map(str::to_owned),
                })
                .await;
        }
    }

    /// Wait until everything the notebook's room (if open) has received is
    /// in the log, so a reader of the store sees what its peers see.
    pub async fn flushed(&self, notebook_id: &str) {
        let handle = self.map().get(notebook_id).map(|e| e.handle.clone());
        if let Some(handle) = handle {
            let (reply, done) = tokio::sync::oneshot::channel();
            if handle
                .commands
                .send(RoomCommand::Flushed { reply })
                .await
                .is_ok()
            {
                let _ = done.await;
            }
        }
    }

    /// Send the command `make` builds around a reply channel to the
    /// notebook's room, opening it if none is open, and wait for the
    /// answer. A room that is stopping drops commands it has not answered,
    /// so this tries again (every 50 ms, for at most [`ASK_RETRY_FOR`])
    /// until a new room answers.
    pub async fn ask<T>(
        self: &Arc<Self>,
        notebook_id: &str,
        make: impl Fn(oneshot::Sender<T>) -> RoomCommand,
    ) -> Asked<T> {
        let deadline = tokio::time::Instant::now() + ASK_RETRY_FOR;
        loop {
            let Some(room) = self.room(notebook_id) else {
                return Asked::ShuttingDown;
            };
            let (reply, answer) = oneshot::channel();
            if room.commands.send(make(reply)).await.is_ok() {
                if let Ok(answer) = answer.await {
                    return Asked::Answered(room, answer);
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Asked::Unavailable;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A token was revoked: every room drops the connections using it.
    pub async fn revoke(&self, token_hash: &str) {
        let handles: Vec<RoomHandle> = self.map().values().map(|e| e.handle.clone()).collect();
        for handle in handles {
            let _ = handle
                .commands
                .send(RoomCommand::Revalidate {
                    token_hash: Some(token_hash.to_owned()),
                })
                .await;
        }
    }

    /// Stop every room: each finishes the batch in hand (never one queued
    /// behind it), snapshots and tells its peers. Rooms still busy after
    /// `deadline` are abandoned: what they had not committed was not
    /// acknowledged, and its authors send it again.
    pub async fn shut_down(&self, deadline: Duration) {
        self.shutdown.send_replace(true);
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        let all = futures_util::future::join_all(tasks);
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!(
                open = self.open_rooms(),
                "rooms still busy at the shutdown deadline; abandoning them"
            );
        }
    }
}

/// Hand the memory a closed room freed back to the system. glibc keeps
/// freed heap in its arenas, so without this a server that once held many
/// large notebooks stays at its peak however many rooms unload.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
