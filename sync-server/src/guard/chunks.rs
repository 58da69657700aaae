//! The change chunks a sync message carries, checked before Automerge
//! parses them: a known chunk type, DEFLATE inflated here under a limit,
//! and the rows every column would expand to counted against the budget.
//!
//! A compressed change comes back rewritten as the same change uncompressed
//! (same checksum, so the same hash): Automerge then has nothing left to
//! inflate, and the room pays for the inflation once.

use super::columns::{charge_rows, read_columns, total_len, ColumnMeta};
use super::reader::{write_uleb, Reader};
use super::{Budget, Refusal};
use std::borrow::Cow;
use std::io::Read;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED_CHANGE: u8 = 2;

/// Check one chunk of a sync message's change list; returns the bytes to
/// hand to Automerge in its place.
pub(crate) fn check_chunk<'a>(
    bytes: &'a [u8],
    budget: &mut Budget,
) -> Result<Cow<'a, [u8]>, Refusal> {
    let mut out: Option<Vec<u8>> = None;
    let mut r = Reader::new(bytes);
    // A V2 message's one chunk may hold several concatenated chunks.
    while !r.is_empty() {
        let start = r.position();
        let magic = r.take(4, "chunk header")?;
        if magic != MAGIC {
            return Err(Refusal::malformed(
                "a change chunk lacks Automerge's magic bytes",
            ));
        }
        let checksum: [u8; 4] = r.take(4, "chunk header")?.try_into().unwrap_or_default();
        let kind = r.byte("chunk header")?;
        let data = r.prefixed("chunk body")?;
        let end = r.position();
        if kind == CHANGE || kind == DOCUMENT {
            check_checksum(kind, data, checksum)?;
        }
        match kind {
            CHANGE => {
                check_change(data, budget)?;
                if let Some(out) = out.as_mut() {
                    out.extend_from_slice(&bytes[start..end]);
                }
            }
            DOCUMENT => {
                check_document(data, budget)?;
                if let Some(out) = out.as_mut() {
                    out.extend_from_slice(&bytes[start..end]);
                }
            }
            COMPRESSED_CHANGE => {
                let inflated = inflate(data, budget, "compressed change")?;
                check_checksum(CHANGE, &inflated, checksum)?;
                check_change(&inflated, budget)?;
                let out = out.get_or_insert_with(|| {
                    let mut v = Vec::with_capacity(bytes.len());
                    v.extend_from_slice(&bytes[..start]);
                    v
                });
                out.extend_from_slice(&MAGIC);
                out.extend_from_slice(&checksum);
                out.push(CHANGE);
                write_uleb(out, inflated.len() as u64);
                out.extend_from_slice(&inflated);
            }
            other => {
                // Bundles (3) and anything newer: no cathode peer sends them.
                return Err(Refusal::malformed(format!(
                    "chunk type {other} is not accepted in a sync message"
                )));
            }
        }
    }
    Ok(match out {
        Some(v) => Cow::Owned(v),
        None => Cow::Borrowed(bytes),
    })
}

/// A chunk of Automerge's storage format (`kind`: 0 document, 1 change,
/// 2 compressed change) around `body`, with its checksum: what the tests
/// build by hand to send what no Automerge peer would.
pub fn encode_chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut header = vec![kind];
    write_uleb(&mut header, body.len() as u64);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&checksum_of(&header, body));
    out.extend_from_slice(&header);
    out.extend_from_slice(body);
    out
}

fn checksum_of(header: &[u8], body: &[u8]) -> [u8; 4] {
    use sha2::{Digest, Sha256};
    let hash = Sha256::new()
        .chain_update(header)
        .chain_update(body)
        .finalize();
    [hash[0], hash[1], hash[2], hash[3]]
}

/// The kind of a chunk the checks let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkKind {
    Change,
    Document,
}

/// The chunks of one entry of a checked message's change list (a V2
/// message concatenates several in one entry). Compressed changes were
/// rewritten by [`check_chunk`], so only changes and documents remain.
pub fn split_chunks(bytes: &[u8]) -> Result<Vec<(ChunkKind, &[u8])>, Refusal> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while !r.is_empty() {
        let start = r.position();
        r.take(8, "chunk header")?;
        let kind = match r.byte("chunk header")? {
            CHANGE => ChunkKind::Change,
            DOCUMENT => ChunkKind::Document,
            other => return Err(Refusal::malformed(format!("unexpected chunk type {other}"))),
        };
        r.prefixed("chunk body")?;
        out.push((kind, &bytes[start..r.position()]));
    }
    Ok(out)
}

/// A change chunk's body: its prefix, then columns that may not be
/// compressed (Automerge refuses those too), counted.
fn check_change(data: &[u8], budget: &mut Budget) -> Result<(), Refusal> {
    let mut r = Reader::new(data);
    r.hashes("change deps")?;
    let author = actor_id(&mut r, "change actor")?;
    if r.uleb("change seq")? == 0 {
        return Err(Refusal::malformed("change: sequence number 0"));
    }
    let start_op = r.uleb("change start op")?;
    if start_op == 0 || start_op > u64::from(u32::MAX) {
        return Err(Refusal::malformed("change: start op out of range"));
    }
    r.sleb("change time")?;
    let message = r.prefixed("change message")?;
    if std::str::from_utf8(message).is_err() {
        return Err(Refusal::malformed("change: message is not UTF-8"));
    }
    let others = r.uleb("change actors")?;
    if others > r.remaining() as u64 {
        return Err(Refusal::malformed("change: more actors than bytes"));
    }
    let mut actors = std::collections::HashSet::from([author]);
    for _ in 0..others {
        if !actors.insert(actor_id(&mut r, "change actors")?) {
            return Err(Refusal::malformed("change: an actor is listed twice"));
        }
    }
    let columns = read_columns(&mut r, "change columns")?;
    if columns.iter().any(ColumnMeta::deflated) {
        return Err(Refusal::malformed("change columns may not be compressed"));
    }
    let len = total_len(&columns, "change columns")?;
    let body = r.take(len, "change column data")?;
    let sliced = slice_columns(&columns, body)?;
    let with_data: Vec<_> = sliced.iter().map(|(m, d)| (m.clone(), &d[..])).collect();
    charge_rows(&with_data, budget, "change")?;
    Ok(())
}

/// A document chunk (a V2 sync message sends a whole document this way):
/// actors, heads, change and op column lists, then their data, any of it
/// possibly compressed.
fn check_document(data: &[u8], budget: &mut Budget) -> Result<(), Refusal> {
    let mut r = Reader::new(data);
    let count = r.uleb("document actors")?;
    if count > r.remaining() as u64 {
        return Err(Refusal::malformed("document: more actors than bytes"));
    }
    let mut actors = std::collections::HashSet::new();
    for _ in 0..count {
        if !actors.insert(actor_id(&mut r, "document actors")?) {
            return Err(Refusal::malformed("document: an actor is listed twice"));
        }
    }
    r.hashes("document heads")?;
    let change_columns = read_columns(&mut r, "document change columns")?;
    let op_columns = read_columns(&mut r, "document op columns")?;
    for (columns, what) in [
        (change_columns, "document changes"),
        (op_columns, "document ops"),
    ] {
        let len = total_len(&columns, what)?;
        let body = r.take(len, what)?;
        let mut inflated = Vec::with_capacity(columns.len());
        for (meta, raw) in slice_columns(&columns, body)? {
            let data: Cow<'_, [u8]> = if meta.deflated() {
                Cow::Owned(inflate(raw, budget, what)?)
            } else {
                Cow::Borrowed(raw)
            };
            inflated.push((meta, data));
        }
        let with_data: Vec<_> = inflated.iter().map(|(m, d)| (m.clone(), &d[..])).collect();
        charge_rows(&with_data, budget, what)?;
    }
    Ok(())
}

/// Longest actor id accepted: Automerge makes 16-byte ones.
const MAX_ACTOR_BYTES: u64 = 64;

fn actor_id<'a>(r: &mut Reader<'a>, what: &str) -> Result<&'a [u8], Refusal> {
    let id = r.prefixed(what)?;
    if id.is_empty() || id.len() as u64 > MAX_ACTOR_BYTES {
        return Err(Refusal::malformed(format!(
            "{what}: an actor id is 1 to {MAX_ACTOR_BYTES} bytes"
        )));
    }
    Ok(id)
}

/// A chunk's checksum is the first four bytes of the SHA-256 of its type,
/// length and (uncompressed) data: every honest chunk has it right.
fn check_checksum(kind: u8, data: &[u8], checksum: [u8; 4]) -> Result<(), Refusal> {
    let mut header = vec![kind];
    write_uleb(&mut header, data.len() as u64);
    if checksum_of(&header, data) != checksum {
        return Err(Refusal::malformed(
            "a chunk's checksum does not match its data",
        ));
    }
    Ok(())
}

fn slice_columns<'a>(
    columns: &[ColumnMeta],
    body: &'a [u8],
) -> Result<Vec<(ColumnMeta, &'a [u8])>, Refusal> {
    let mut r = Reader::new(body);
    columns
        .iter()
        .map(|c| Ok((c.clone(), r.take(c.len, "column data")?)))
        .collect()
}

/// Inflate DEFLATE data, refusing it as soon as the output passes what is
/// left of the message's inflation budget.
fn inflate(data: &[u8], budget: &mut Budget, what: &str) -> Result<Vec<u8>, Refusal> {
    let allowed = budget.inflate_left();
    let mut decoder = flate2::bufread::DeflateDecoder::new(data).take(allowed.saturating_add(1));
    let mut out = Vec::new();
    decoder
        .read_to_end(&mut out)
        .map_err(|_| Refusal::malformed(format!("{what}: invalid DEFLATE data")))?;
    if out.len() as u64 > allowed {
        return Err(Refusal::too_large(format!(
            "{what}: inflates past the limit for a message of this size"
        )));
    }
    budget.charge_inflated(out.len() as u64, what)?;
    Ok(out)
}
