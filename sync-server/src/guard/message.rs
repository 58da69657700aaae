//! The envelope of an Automerge sync message, read here before Automerge
//! sees it: what it says the peer has (`have` bloom filters, whose
//! parameters Automerge trusts), the counts, and the change chunks.

use super::chunks::check_chunk;
use super::reader::{write_uleb, Reader};
use super::{Budget, Limits, Refusal};
use std::borrow::Cow;

const V1: u8 = 0x42;
const V2: u8 = 0x43;

/// A sync message that passed every check, ready for Automerge.
#[derive(Debug)]
pub struct CheckedMessage<'a> {
    /// The message to decode: the input itself, or the input with its
    /// compressed changes inflated.
    pub bytes: Cow<'a, [u8]>,
    /// Whether it carries any change chunk.
    pub has_changes: bool,
}

pub fn check_sync_message<'a>(
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<CheckedMessage<'a>, Refusal> {
    let mut r = Reader::new(bytes);
    let version = r.byte("sync message")?;
    if version != V1 && version != V2 {
        return Err(Refusal::malformed(format!(
            "not an Automerge sync message (type byte 0x{version:02x})"
        )));
    }
    r.hashes("heads")?;
    r.hashes("need")?;
    let haves = r.uleb("have")?;
    // Automerge sends at most one, and checks only the first one's hashes
    // against the document before trusting them.
    if haves > limits.max_haves {
        return Err(Refusal::malformed(format!(
            "{haves} `have` entries; at most {} are accepted",
            limits.max_haves
        )));
    }
    for _ in 0..haves {
        r.hashes("have.last_sync")?;
        let bloom = r.prefixed("have.bloom")?;
        check_bloom(bloom, limits)?;
    }
    let prefix_end = r.position();
    let chunks = r.uleb("changes")?;
    if chunks > r.remaining() as u64 {
        return Err(Refusal::malformed(format!(
            "{chunks} changes announced in {} bytes",
            r.remaining()
        )));
    }
    let mut budget = Budget::new(limits, bytes.len() as u64);
    let mut checked = Vec::with_capacity(chunks as usize);
    let mut rewritten = false;
    for _ in 0..chunks {
        let chunk = r.prefixed("change")?;
        let out = check_chunk(chunk, &mut budget)?;
        rewritten |= matches!(out, Cow::Owned(_));
        checked.push(out);
    }
    // Flags: one length-prefixed byte string, or nothing.
    let flags_start = r.position();
    if !r.is_empty() {
        r.prefixed("flags")?;
        if !r.is_empty() {
            return Err(Refusal::malformed("trailing bytes after the sync message"));
        }
    }
    let has_changes = chunks > 0;
    if !rewritten {
        return Ok(CheckedMessage {
            bytes: Cow::Borrowed(bytes),
            has_changes,
        });
    }
    let mut out = Vec::with_capacity(bytes.len() + budget.inflated() as usize);
    out.extend_from_slice(&bytes[..prefix_end]);
    write_uleb(&mut out, checked.len() as u64);
    for chunk in &checked {
        write_uleb(&mut out, chunk.len() as u64);
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&bytes[flags_start..]);
    Ok(CheckedMessage {
        bytes: Cow::Owned(out),
        has_changes,
    })
}

/// A bloom filter's parameters decide how much memory and time Automerge
/// spends on it (`num_probes` is a `Vec::with_capacity`, a zero bit count a
/// division by zero): keep them near what Automerge itself writes (10 bits
/// per entry, 7 probes).
fn check_bloom(bytes: &[u8], limits: &Limits) -> Result<(), Refusal> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut r = Reader::new(bytes);
    let u32_field = |r: &mut Reader<'_>, what: &str| -> Result<u64, Refusal> {
        let v = r.uleb(what)?;
        if v > u64::from(u32::MAX) {
            return Err(Refusal::malformed(format!("{what} out of range")));
        }
        Ok(v)
    };
    let entries = u32_field(&mut r, "bloom entries")?;
    let bits_per_entry = u32_field(&mut r, "bloom bits per entry")?;
    let probes = u32_field(&mut r, "bloom probes")?;
    if entries == 0 {
        return Ok(());
    }
    if !(1..=limits.max_bloom_bits_per_entry).contains(&bits_per_entry) {
        return Err(Refusal::malformed(format!(
            "bloom filter with {bits_per_entry} bits per entry (1 to {} accepted)",
            limits.max_bloom_bits_per_entry
        )));
    }
    if !(1..=limits.max_bloom_probes).contains(&probes) {
        return Err(Refusal::malformed(format!(
            "bloom filter with {probes} probes (1 to {} accepted)",
            limits.max_bloom_probes
        )));
    }
    let bits = (entries * bits_per_entry).div_ceil(8);
    r.take(bits, "bloom bits")?;
    Ok(())
}
