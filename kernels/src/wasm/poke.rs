//! Raising KeyboardInterrupt inside a pure-Python loop, from the host.
//!
//! The guest has no signals, so CPython never checks for Ctrl-C by itself.
//! But CPython's interrupt machinery is just memory: `_thread.interrupt_main()`
//! sets `Handlers[SIGINT].tripped`, `is_tripped` and a bit in the main
//! thread's `eval_breaker`, and the eval loop raises KeyboardInterrupt at its
//! next check (every backward jump and call). At start-up the guest calls
//! `interrupt_main()` between two snapshots of its memory taken in one C-level
//! call chain (so the eval loop cannot consume the flags in between); the
//! words that changed from 0 to non-zero and back again after delivery are
//! those flags. The epoch callback then writes the same values to interrupt
//! a loop while keeping the interpreter's state. Where discovery fails we
//! fall back to the door (output, sleep, input all check for interrupts) and,
//! after a grace period, a hard stop.

/// Word addresses and the values to store in them to raise SIGINT.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Poke {
    pub words: Vec<(usize, u32)>,
}

impl Poke {
    /// OR the recorded values into guest memory.
    pub fn apply(&self, mem: &mut [u8]) {
        for &(addr, value) in &self.words {
            if let Some(w) = mem.get_mut(addr..addr + 4) {
                let old = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                w.copy_from_slice(&(old | value).to_le_bytes());
            }
        }
    }

    /// Whether any recorded bit is still set (the interrupt is not yet handled).
    pub fn pending(&self, mem: &[u8]) -> bool {
        self.words.iter().any(|&(addr, value)| {
            mem.get(addr..addr + 4)
                .is_some_and(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) & value != 0)
        })
    }

    /// From three snapshots: before the interrupt was raised (`a`), while
    /// it was pending (`b`) and after it was delivered (`c`), the aligned
    /// words that were zero-bits in `a` and `c` and gained bits in `b`.
    pub fn discover(a: &[u8], b: &[u8], c: &[u8]) -> Option<Poke> {
        let n = a.len().min(b.len()).min(c.len()) / 4 * 4;
        let mut words = Vec::new();
        let mut i = 0;
        while i < n {
            // Fast skip of identical 64-byte blocks.
            if i + 64 <= n && a[i..i + 64] == b[i..i + 64] {
                i += 64;
                continue;
            }
            let wa = u32::from_le_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]]);
            let wb = u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            let wc = u32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
            if wb != wa {
                tracing::trace!("discover {i}: a={wa:#x} b={wb:#x} c={wc:#x}");
            }
            let gained = wb & !wa;
            // A flag: bits that appear while pending and are gone after delivery,
            // in a word that is otherwise unchanged.
            if gained != 0
                && gained.count_ones() == 1
                && wc & gained == 0
                && (wb & !gained) == (wa & !gained)
                && wc == wa
            {
                words.push((i, gained));
            }
            i += 4;
        }
        // is_tripped, Handlers[SIGINT].tripped and the eval breaker bit. More
        // candidates means noise we cannot tell apart; refuse rather than
        // scribble on random memory.
        if (2..=4).contains(&words.len()) {
            Some(Poke { words })
        } else {
            tracing::info!(
                "interrupt flag discovery found {} candidates; using the door only",
                words.len()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_flags_that_rise_and_fall() {
        let mut a = vec![0u8; 4096];
        a[100] = 7; // unrelated value that changes
        let mut b = a.clone();
        let mut c = a.clone();
        b[100] = 8;
        c[100] = 9;
        b[200] = 1; // flag 1
        b[1024] = 2; // eval breaker bit
        let p = Poke::discover(&a, &b, &c).expect("found");
        assert_eq!(p.words, vec![(200, 1), (1024, 2)]);
        let mut mem = a.clone();
        p.apply(&mut mem);
        assert_eq!(mem[200], 1);
        assert_eq!(mem[1024], 2);
    }

    #[test]
    fn refuses_noise() {
        let a = vec![0u8; 4096];
        let mut b = a.clone();
        for i in 0..20 {
            b[i * 64] = 1;
        }
        assert!(Poke::discover(&a, &b, &a).is_none());
    }
}
