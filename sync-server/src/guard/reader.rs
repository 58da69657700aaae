//! A cursor over untrusted bytes: every read is bounds-checked, and no
//! count read from the input is ever used to reserve memory.

use super::Refusal;

pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn byte(&mut self, what: &str) -> Result<u8, Refusal> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| Refusal::malformed(format!("{what}: truncated")))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], Refusal> {
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.remaining())
            .ok_or_else(|| {
                Refusal::malformed(format!(
                    "{what}: {n} bytes announced, {} left",
                    self.remaining()
                ))
            })?;
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// An unsigned LEB128 of at most 64 bits.
    pub fn uleb(&mut self, what: &str) -> Result<u64, Refusal> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte(what)?;
            let low = u64::from(b & 0x7f);
            if shift == 63 && low > 1 {
                return Err(Refusal::malformed(format!(
                    "{what}: LEB128 overflows 64 bits"
                )));
            }
            value |= low << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Refusal::malformed(format!(
            "{what}: LEB128 longer than 10 bytes"
        )))
    }

    /// A signed LEB128 of at most 64 bits.
    pub fn sleb(&mut self, what: &str) -> Result<i64, Refusal> {
        let mut value: i64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.byte(what)?;
            if shift >= 64 {
                return Err(Refusal::malformed(format!(
                    "{what}: LEB128 longer than 10 bytes"
                )));
            }
            value |= i64::from(b & 0x7f).wrapping_shl(shift);
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                return Ok(value);
            }
        }
    }

    /// A count followed by that many 32-byte hashes; the count cannot exceed
    /// what the input holds.
    pub fn hashes(&mut self, what: &str) -> Result<Vec<[u8; 32]>, Refusal> {
        let count = self.uleb(what)?;
        if count.saturating_mul(32) > self.remaining() as u64 {
            return Err(Refusal::malformed(format!(
                "{what}: {count} hashes announced, room for {}",
                self.remaining() / 32
            )));
        }
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(self.take(32, what)?);
            out.push(hash);
        }
        Ok(out)
    }

    /// A length-prefixed byte string.
    pub fn prefixed(&mut self, what: &str) -> Result<&'a [u8], Refusal> {
        let len = self.uleb(what)?;
        self.take(len, what)
    }
}

/// Append an unsigned LEB128.
pub fn write_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_round_trips_and_refuses_overlong() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            leb(&mut buf, v);
            assert_eq!(Reader::new(&buf).uleb("t").unwrap(), v);
        }
        for v in [0i64, -1, 63, -64, 64, -65, i64::MIN, i64::MAX] {
            let mut buf = Vec::new();
            sleb(&mut buf, v);
            assert_eq!(Reader::new(&buf).sleb("t").unwrap(), v, "{v}");
        }
        assert!(Reader::new(&[0xff; 11]).uleb("t").is_err());
        assert!(Reader::new(&[0xff; 3]).uleb("t").is_err());
        assert!(Reader::new(&[0xff; 11]).sleb("t").is_err());
    }

    #[test]
    fn counts_cannot_exceed_the_input() {
        // 2^32 hashes announced in five bytes.
        let mut r = Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x10]);
        assert!(r.hashes("heads").is_err());
        let mut r = Reader::new(&[0x05, 1, 2]);
        assert!(r.prefixed("bytes").is_err());
    }

    fn leb(buf: &mut Vec<u8>, v: u64) {
        write_uleb(buf, v)
    }

    fn sleb(buf: &mut Vec<u8>, mut v: i64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            let done = (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0);
            if done {
                buf.push(b);
                return;
            }
            buf.push(b | 0x80);
        }
    }
}
