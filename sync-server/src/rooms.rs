//! The registry of open rooms. It only maps a notebook id to its room's
//! channel; the lock is never held across an await, and all notebook state
//! lives in the room tasks themselves.

use crate::event_log::EventLog;
use crate::room::{Room, RoomCommand};
use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Commands a room may have queued before it pushes back on connections.
const ROOM_QUEUE: usize = 4096;

pub struct Rooms {
    rooms: Mutex<HashMap<String, mpsc::Sender<RoomCommand>>>,
    store: Arc<dyn Store>,
    log: EventLog,
}

impl Rooms {
    pub fn new(store: Arc<dyn Store>, log: EventLog) -> Arc<Self> {
        Arc::new(Self {
            rooms: Mutex::new(HashMap::new()),
            store,
            log,
        })
    }

    /// The room's command channel, opening the room if it isn't. A room that
    /// stopped (failure or shutdown) has a closed channel and is reopened.
    pub fn room(self: &Arc<Self>, notebook_id: &str) -> mpsc::Sender<RoomCommand> {
        let mut rooms = match self.rooms.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(tx) = rooms.get(notebook_id) {
            if !tx.is_closed() {
                return tx.clone();
            }
        }
        let (tx, rx) = mpsc::channel(ROOM_QUEUE);
        rooms.insert(notebook_id.to_owned(), tx.clone());
        drop(rooms);
        let store = self.store.clone();
        let log = self.log.clone();
        let id = notebook_id.to_owned();
        tokio::spawn(async move {
            match Room::load(&id, store, log).await {
                Ok(room) => room.run(rx).await,
                // Dropping `rx` fails every queued join; the next one retries the load.
                Err(e) => tracing::error!(notebook_id = %id, error = %e, "could not load notebook"),
            }
        });
        tx
    }

    /// Ask every room to finish its batch, snapshot and stop.
    pub async fn shut_down(&self) {
        let rooms: Vec<_> = match self.rooms.lock() {
            Ok(mut guard) => guard.drain().collect(),
            Err(poisoned) => poisoned.into_inner().drain().collect(),
        };
        for (notebook_id, tx) in rooms {
            let (done, wait) = oneshot::channel();
            if tx.send(RoomCommand::Shutdown { done }).await.is_ok() {
                let _ = wait.await;
            }
            tracing::debug!(%notebook_id, "room closed");
        }
    }
}
