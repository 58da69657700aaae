//! How often a crashed agent is started again: at most `limit` times in a
//! sliding `window`, each wait twice the one before (as JupyterHub and
//! systemd do, so a kernel that dies at start does not spin a core).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The longest wait between two restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct RestartBudget {
    limit: u32,
    window: Duration,
    backoff: Duration,
    /// When each restart in the window happened, oldest first.
    recent: VecDeque<Instant>,
}

impl RestartBudget {
    pub fn new(limit: u32, window: Duration, backoff: Duration) -> Self {
        Self {
            limit,
            window,
            backoff,
            recent: VecDeque::new(),
        }
    }

    /// Restarts within the window so far.
    pub fn used(&self, now: Instant) -> u32 {
        self.recent
            .iter()
            .filter(|at| now.duration_since(**at) < self.window)
            .count() as u32
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Take one restart: how long to wait before it, or `None` when the
    /// window's budget is spent.
    pub fn take(&mut self, now: Instant) -> Option<Duration> {
        let window = self.window;
        self.recent.retain(|at| now.duration_since(*at) < window);
        let used = self.recent.len() as u32;
        if used >= self.limit {
            return None;
        }
        self.recent.push_back(now);
        let wait = self.backoff.saturating_mul(1u32 << used.min(16));
        Some(wait.min(MAX_BACKOFF))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_then_refuses_then_recovers_after_the_window() {
        let t0 = Instant::now();
        let mut budget = RestartBudget::new(3, Duration::from_secs(600), Duration::from_secs(1));
        assert_eq!(budget.take(t0), Some(Duration::from_secs(1)));
        assert_eq!(budget.take(t0), Some(Duration::from_secs(2)));
        assert_eq!(budget.take(t0), Some(Duration::from_secs(4)));
        assert_eq!(budget.take(t0), None);
        assert_eq!(budget.used(t0), 3);
        let later = t0 + Duration::from_secs(601);
        assert_eq!(budget.used(later), 0);
        assert_eq!(budget.take(later), Some(Duration::from_secs(1)));
    }

    #[test]
    fn waits_are_capped() {
        let t0 = Instant::now();
        let mut budget = RestartBudget::new(40, Duration::from_secs(600), Duration::from_secs(10));
        let waits: Vec<_> = (0..40).map(|_| budget.take(t0)).collect();
        assert!(waits.iter().all(|w| w.is_some_and(|w| w <= MAX_BACKOFF)));
        assert_eq!(waits[39], Some(MAX_BACKOFF));
    }

    #[test]
    fn a_zero_limit_never_restarts() {
        let mut budget = RestartBudget::new(0, Duration::from_secs(600), Duration::from_secs(1));
        assert_eq!(budget.take(Instant::now()), None);
    }
}
