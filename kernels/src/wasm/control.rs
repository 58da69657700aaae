//! What the async side tells a running guest: interrupt, input answers, hard
//! stop.
//!
//! The guest thread is inside wasm while a cell runs, so these cannot be
//! channel messages it polls between commands; they are a small state behind
//! a mutex and condvar that the guest's host calls (sleep, input) wait on and
//! the epoch callback checks every tick. Only plain threads touch it; the
//! async side never holds the lock across an await.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::event::InputAnswer;

#[derive(Default)]
pub struct ControlState {
    /// Bumped by every interrupt request; the guest remembers the last it saw.
    pub interrupt_seq: u64,
    /// Set by restart/shutdown: stop the guest at the next tick, whatever it does.
    pub hard_stop: bool,
    /// Whether the guest is waiting in `input()`.
    pub input_wanted: bool,
    pub input: Option<InputAnswer>,
}

#[derive(Default)]
pub struct Control {
    state: Mutex<ControlState>,
    cv: Condvar,
}

impl Control {
    pub fn lock(&self) -> MutexGuard<'_, ControlState> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain flags; the flags are still meaningful.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn interrupt(&self) {
        self.lock().interrupt_seq += 1;
        self.cv.notify_all();
    }

    pub fn hard_stop(&self, on: bool) {
        self.lock().hard_stop = on;
        self.cv.notify_all();
    }

    /// Give the guest an input answer; false if it is not waiting for one.
    pub fn answer(&self, answer: InputAnswer) -> bool {
        let mut s = self.lock();
        if !s.input_wanted {
            return false;
        }
        s.input = Some(answer);
        s.input_wanted = false;
        drop(s);
        self.cv.notify_all();
        true
    }

    /// Wait until `done` says so, or `deadline` passes; returns the state lock.
    pub fn wait_until(
        &self,
        deadline: Option<Instant>,
        mut done: impl FnMut(&mut ControlState) -> bool,
    ) -> MutexGuard<'_, ControlState> {
        let mut s = self.lock();
        loop {
            if done(&mut s) {
                return s;
            }
            let wait = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return s;
                    }
                    d - now
                }
                // Re-check periodically even without a deadline.
                None => Duration::from_millis(200),
            };
            s = match self.cv.wait_timeout(s, wait) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}
