//! Every open TCP connection, counted per address and in all, with when it
//! last moved a byte: so that the server refuses what it cannot serve with
//! a clear answer, and makes room by closing the connections that have done
//! least lately, instead of running out of file descriptors and going
//! silent (`/health` included).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::Notify;

/// What one connection is doing, shared by its IO, its service and the
/// tracker.
pub struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
    /// Requests being handled right now.
    pub busy: AtomicU32,
    /// Upgraded to a WebSocket: its own idle rules apply, never evicted.
    pub upgraded: AtomicBool,
    /// Asked to close (evicted).
    kill: Notify,
    killed: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            busy: AtomicU32::new(0),
            upgraded: AtomicBool::new(false),
            kill: Notify::new(),
            killed: AtomicBool::new(false),
        }
    }

    pub fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the connection last moved a byte.
    pub fn idle_for(&self) -> std::time::Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        std::time::Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }

    fn evictable(&self) -> bool {
        self.busy.load(Ordering::Relaxed) == 0 && !self.upgraded.load(Ordering::Relaxed)
    }

    fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill.notify_waiters();
        self.kill.notify_one();
    }

    /// Resolves when the tracker evicts this connection.
    pub async fn killed(&self) {
        loop {
            let notified = self.kill.notified();
            if self.killed.load(Ordering::Relaxed) {
                return;
            }
            notified.await;
        }
    }
}

#[derive(Default)]
struct State {
    conns: HashMap<u64, (IpAddr, Arc<Activity>)>,
    per_ip: HashMap<IpAddr, usize>,
    next_id: u64,
}

pub struct Tracker {
    state: Mutex<State>,
    max_total: usize,
    max_per_ip: usize,
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    PerAddress,
    Total,
}

/// Held by an admitted connection's IO: dropping it (the socket closing)
/// frees the connection's place.
pub struct Admission {
    tracker: Arc<Tracker>,
    id: u64,
    pub activity: Arc<Activity>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut s = self.tracker.state();
        if let Some((ip, _)) = s.conns.remove(&self.id) {
            if let Some(n) = s.per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    s.per_ip.remove(&ip);
                }
            }
        }
    }
}

impl Tracker {
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::default(),
            max_total: max_total.max(1),
            max_per_ip: max_per_ip.max(1),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn open(&self) -> usize {
        self.state().conns.len()
    }

    /// Admit a connection from `ip`, evicting the least recently active
    /// idle connection if the server is full.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, Refusal> {
        let mut s = self.state();
        if s.per_ip.get(&ip).copied().unwrap_or(0) >= self.max_per_ip {
            return Err(Refusal::PerAddress);
        }
        if s.conns.len() >= self.max_total && !Self::evict_one(&s) {
            return Err(Refusal::Total);
        }
        let id = s.next_id;
        s.next_id += 1;
        let activity = Arc::new(Activity::new());
        activity.touch();
        s.conns.insert(id, (ip, activity.clone()));
        *s.per_ip.entry(ip).or_default() += 1;
        Ok(Admission {
            tracker: self.clone(),
            id,
            activity,
        })
    }

    /// Ask the idlest evictable connection to close; its place frees when
    /// it has. The new connection is admitted meanwhile (briefly one over).
    fn evict_one(s: &State) -> bool {
        let idlest = s
            .conns
            .values()
            .filter(|(_, a)| a.evictable() && !a.killed.load(Ordering::Relaxed))
            .max_by_key(|(_, a)| a.idle_for());
        match idlest {
            Some((_, a)) => {
                a.kill();
                true
            }
            None => false,
        }
    }

    /// Make room when the process ran out of file descriptors.
    pub fn evict_for_descriptors(&self) -> bool {
        let s = self.state();
        Self::evict_one(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_and_total_limits_with_eviction_of_the_idlest() {
        let t = Tracker::new(3, 2);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let first = t.admit(a).unwrap();
        let _second = t.admit(a).unwrap();
        assert_eq!(t.admit(a).err(), Some(Refusal::PerAddress));
        let busy = t.admit(b).unwrap();
        busy.activity.busy.store(1, Ordering::Relaxed);
        // Full: the idlest idle connection is asked to close.
        std::thread::sleep(std::time::Duration::from_millis(5));
        first.activity.touch();
        let _c = t.admit("127.0.0.4".parse().unwrap()).unwrap();
        assert!(!first.activity.killed.load(Ordering::Relaxed));
        assert!(_second.activity.killed.load(Ordering::Relaxed));
        drop(first);
        assert_eq!(t.open(), 3);
    }
}
