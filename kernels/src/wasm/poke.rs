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
//! those flags. (CPython installs its SIGINT handler only when the `signal`
//! module is first imported, which is why harness.py imports it: without a
//! handler, a tripped SIGINT is dropped as "ignored due to race condition".) The epoch callback then writes the same values to interrupt
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
        self.update(mem, |old, value| old | value);
    }

    /// Clear the recorded bits again.
    fn clear(&self, mem: &mut [u8]) {
        self.update(mem, |old, value| old & !value);
    }

    fn update(&self, mem: &mut [u8], f: impl Fn(u32, u32) -> u32) {
        for &(addr, value) in &self.words {
            if let Some(w) = mem.get_mut(addr..addr + 4) {
                let old = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                w.copy_from_slice(&f(old, value).to_le_bytes());
            }
        }
    }

    /// Whether every recorded bit is still set: CPython has not begun to
    /// handle the interrupt. Once it has, `Handlers[SIGINT].tripped` is clear
    /// for good, while `is_tripped` and the eval-breaker bit may be set again
    /// until the next check (CPython re-arms them when a handler raises).
    pub fn untaken(&self, mem: &[u8]) -> bool {
        self.words.iter().all(|&(addr, value)| {
            mem.get(addr..addr + 4)
                .is_some_and(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) & value == value)
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

/// One guest's interrupt flags, as the host drives them.
///
/// Raised from the epoch callback while Python code runs. An interrupt must
/// reach the guest exactly once: when the guest enters the door (output,
/// sleep, input) before CPython has taken raised flags, they are withdrawn
/// and the door answers `K` instead; flags still raised when a turn ends are
/// withdrawn so they cannot hit the next cell.
#[derive(Debug, Default)]
pub struct FlagInterrupt {
    poke: Option<Poke>,
    raised: bool,
}

impl FlagInterrupt {
    pub fn set(&mut self, poke: Option<Poke>) {
        self.poke = poke;
        self.raised = false;
    }

    pub fn available(&self) -> bool {
        self.poke.is_some()
    }

    pub fn raise(&mut self, mem: &mut [u8]) {
        if let Some(p) = &self.poke {
            p.apply(mem);
            self.raised = true;
        }
    }

    pub fn is_raised(&self) -> bool {
        self.raised
    }

    /// Whether CPython has taken the raised flags (then they are forgotten).
    pub fn taken(&mut self, mem: &[u8]) -> bool {
        let taken = self.raised && self.poke.as_ref().is_some_and(|p| !p.untaken(mem));
        if taken {
            self.raised = false;
        }
        taken
    }

    /// Take back raised flags CPython has not yet taken. Returns whether
    /// there were such flags, i.e. whether the interrupt is still owed.
    pub fn withdraw(&mut self, mem: &mut [u8]) -> bool {
        if !std::mem::take(&mut self.raised) {
            return false;
        }
        match &self.poke {
            Some(p) if p.untaken(mem) => {
                p.clear(mem);
                true
            }
            _ => false,
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
        assert!(p.untaken(&mem));
    }

    fn flags() -> (FlagInterrupt, Vec<u8>) {
        let mut f = FlagInterrupt::default();
        f.set(Some(Poke {
            words: vec![(8, 1), (64, 2)],
        }));
        (f, vec![0u8; 128])
    }

    #[test]
    fn taken_once_cpython_clears_the_tripped_flag() {
        let (mut f, mut mem) = flags();
        f.raise(&mut mem);
        assert!(!f.taken(&mem), "nothing cleared yet");
        // CPython clears `tripped` and re-arms the breaker bit after raising.
        mem[8] = 0;
        assert!(f.taken(&mem));
        assert!(!f.is_raised());
        assert!(!f.withdraw(&mut mem), "a taken interrupt is not owed again");
        assert_eq!(mem[64], 2, "CPython's own re-armed bit is left alone");
    }

    #[test]
    fn withdraw_restores_memory_and_owes_the_interrupt() {
        let (mut f, mut mem) = flags();
        mem[64] = 0x10; // an unrelated breaker bit survives
        f.raise(&mut mem);
        assert_eq!((mem[8], mem[64]), (1, 0x12));
        assert!(f.withdraw(&mut mem));
        assert_eq!((mem[8], mem[64]), (0, 0x10));
        assert!(!f.withdraw(&mut mem), "withdrawn once");
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
