//! How many rows Automerge would materialise from a set of columns.
//!
//! Automerge's columns are run-length encoded: a run of a billion identical
//! values costs a few bytes on the wire and a billion operations once
//! loaded. This walks the runs, never the values they stand for, so counting
//! costs time proportional to the bytes, and a count over budget stops the
//! walk at once.

use super::reader::Reader;
use super::{Budget, Refusal};

/// Column types of the storage format (the low three bits of a spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColumnType {
    Group,
    Actor,
    Integer,
    Delta,
    Boolean,
    String,
    ValueMetadata,
    Value,
}

impl ColumnType {
    fn from_spec(spec: u32) -> Self {
        match spec & 0b111 {
            0 => Self::Group,
            1 => Self::Actor,
            2 => Self::Integer,
            3 => Self::Delta,
            4 => Self::Boolean,
            5 => Self::String,
            6 => Self::ValueMetadata,
            _ => Self::Value,
        }
    }
}

/// One column's specification and where its data lies.
#[derive(Clone, Debug)]
pub(crate) struct ColumnMeta {
    pub spec: u32,
    pub len: u64,
}

impl ColumnMeta {
    pub fn id(&self) -> u32 {
        self.spec >> 4
    }
    pub fn deflated(&self) -> bool {
        self.spec & 0b1000 != 0
    }
    pub fn column_type(&self) -> ColumnType {
        ColumnType::from_spec(self.spec)
    }
}

/// Read a column list: a count, then (spec, length) pairs.
pub(crate) fn read_columns(r: &mut Reader<'_>, what: &str) -> Result<Vec<ColumnMeta>, Refusal> {
    let count = r.uleb(what)?;
    // Each pair takes at least two bytes.
    if count.saturating_mul(2) > r.remaining() as u64 {
        return Err(Refusal::malformed(format!(
            "{what}: {count} columns announced"
        )));
    }
    let mut columns = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let spec = r.uleb(what)?;
        let spec = u32::try_from(spec)
            .map_err(|_| Refusal::malformed(format!("{what}: column spec out of range")))?;
        let len = r.uleb(what)?;
        columns.push(ColumnMeta { spec, len });
    }
    Ok(columns)
}

/// The sum of the columns' lengths, refused if it overflows.
pub(crate) fn total_len(columns: &[ColumnMeta], what: &str) -> Result<u64, Refusal> {
    columns.iter().try_fold(0u64, |acc, c| {
        acc.checked_add(c.len)
            .ok_or_else(|| Refusal::malformed(format!("{what}: column lengths overflow")))
    })
}

/// Rows of a set of columns (each given with its inflated data): the rows
/// of the ungrouped columns and, for each group, of its grouped columns.
/// Both are charged to the budget.
pub(crate) fn charge_rows(
    columns: &[(ColumnMeta, &[u8])],
    budget: &mut Budget,
    what: &str,
) -> Result<u64, Refusal> {
    let mut rows = 0u64;
    let mut group: Option<(u32, u64)> = None;
    let mut grouped_total = 0u64;
    for (meta, data) in columns {
        let t = meta.column_type();
        let n = count_rows(t, data, budget, what)?;
        let in_group = matches!(group, Some((id, _)) if id == meta.id()) && t != ColumnType::Group;
        if t == ColumnType::Group {
            if let Some((_, g)) = group.take() {
                grouped_total = grouped_total.saturating_add(g);
            }
            group = Some((meta.id(), 0));
            rows = rows.max(n);
        } else if in_group {
            if let Some((_, g)) = group.as_mut() {
                *g = (*g).max(n);
            }
        } else {
            if let Some((_, g)) = group.take() {
                grouped_total = grouped_total.saturating_add(g);
            }
            rows = rows.max(n);
        }
    }
    if let Some((_, g)) = group {
        grouped_total = grouped_total.saturating_add(g);
    }
    budget.charge_rows(rows.saturating_add(grouped_total), what)?;
    Ok(rows)
}

fn count_rows(t: ColumnType, data: &[u8], budget: &mut Budget, what: &str) -> Result<u64, Refusal> {
    let mut r = Reader::new(data);
    let mut rows = 0u64;
    let limit = budget.rows_left();
    let add = |rows: &mut u64, n: u64| -> Result<(), Refusal> {
        *rows = rows.saturating_add(n);
        if *rows > limit {
            return Err(Refusal::too_large(format!(
                "{what}: a column expands to more rows than the message may carry"
            )));
        }
        Ok(())
    };
    match t {
        // Raw values: their count comes from the metadata column.
        ColumnType::Value => {}
        ColumnType::Boolean => {
            while !r.is_empty() {
                let n = r.uleb(what)?;
                add(&mut rows, n)?;
            }
        }
        _ => {
            while !r.is_empty() {
                let n = r.sleb(what)?;
                if n > 0 {
                    let bytes = skip_value(t, &mut r, what)?;
                    budget.charge_string_bytes((n as u64).saturating_mul(bytes), what)?;
                    add(&mut rows, n as u64)?;
                } else if n < 0 {
                    let count = n.unsigned_abs();
                    // Each literal takes at least one byte.
                    if count > r.remaining() as u64 {
                        return Err(Refusal::malformed(format!(
                            "{what}: a literal run is longer than its column"
                        )));
                    }
                    for _ in 0..count {
                        let bytes = skip_value(t, &mut r, what)?;
                        budget.charge_string_bytes(bytes, what)?;
                    }
                    add(&mut rows, count)?;
                } else {
                    let nulls = r.uleb(what)?;
                    add(&mut rows, nulls)?;
                }
            }
        }
    }
    Ok(rows)
}

/// Step over one value of a run-length encoded column; returns the bytes a
/// string value would occupy once expanded (0 for numbers).
fn skip_value(t: ColumnType, r: &mut Reader<'_>, what: &str) -> Result<u64, Refusal> {
    match t {
        ColumnType::Delta => r.sleb(what).map(|_| 0),
        ColumnType::String => r.prefixed(what).map(|s| s.len() as u64),
        _ => r.uleb(what).map(|_| 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::Limits;

    fn budget() -> Budget {
        Budget::new(&Limits::default(), 100)
    }

    #[test]
    fn runs_are_counted_without_expanding_them() {
        // A run of 2^40 identical integers in six bytes: counted, refused.
        let data = [0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x01];
        let mut b = budget();
        let meta = ColumnMeta {
            spec: (4 << 4) | 2,
            len: data.len() as u64,
        };
        assert!(charge_rows(&[(meta, &data[..])], &mut b, "ops").is_err());

        // Three literals and a run of two nulls: five rows.
        let data = [0x7d, 1, 2, 3, 0x00, 0x02];
        let mut b = budget();
        let meta = ColumnMeta {
            spec: (4 << 4) | 2,
            len: data.len() as u64,
        };
        assert_eq!(charge_rows(&[(meta, &data[..])], &mut b, "ops").unwrap(), 5);
    }

    #[test]
    fn a_repeated_long_string_is_charged_as_expanded() {
        // A run of 2^30 copies of a 100-byte string.
        let mut data = vec![0x80, 0x80, 0x80, 0x80, 0x04, 100];
        data.extend([b'x'; 100]);
        let mut b = budget();
        let meta = ColumnMeta {
            spec: (10 << 4) | 5,
            len: data.len() as u64,
        };
        assert!(charge_rows(&[(meta, &data[..])], &mut b, "ops").is_err());
    }

    #[test]
    fn grouped_columns_are_charged_too() {
        // One op whose pred group claims 2^40 predecessors, and a pred
        // counter column with that many rows in a run.
        let group = [0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20];
        let preds = [0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x01];
        let mut b = budget();
        let cols = [
            (
                ColumnMeta {
                    spec: 7 << 4,
                    len: 7,
                },
                &group[..],
            ),
            (
                ColumnMeta {
                    spec: (7 << 4) | 3,
                    len: 7,
                },
                &preds[..],
            ),
        ];
        assert!(charge_rows(&cols, &mut b, "ops").is_err());
    }
}
