//! Fractional-index positions for cells.
//!
//! Cells live in a map keyed by id and are ordered by a `position` string. A
//! move is then a last-writer-wins write of one field: two people moving the
//! same cell at once can never duplicate it or lose it, which is what goes
//! wrong with list-based notebook CRDTs. Positions are strings over an
//! ASCII-ordered base-62 alphabet, compared bytewise, never ending in the
//! lowest digit so that a key always exists between any two.

use rand::Rng;

const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE: u8 = 62;

fn digit_value(c: u8) -> Option<u8> {
    DIGITS.iter().position(|d| *d == c).map(|p| p as u8)
}

/// Whether `key` is a well-formed position (non-empty, valid digits, no trailing zero digit).
pub fn is_valid(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| digit_value(b).is_some()) && !key.ends_with('0')
}

/// A key strictly between `before` and `after` (either may be absent: the start or
/// end of the notebook). A few random digits are appended when they fit, so
/// that two people inserting at the same spot at the same moment almost never
/// produce equal keys (equal keys are still ordered, by cell id).
///
/// Falls back to an unbounded side when the bounds are not ordered (two cells
/// that already share a position), which keeps insertion total.
pub fn key_between(before: Option<&str>, after: Option<&str>) -> String {
    let lo: Vec<u8> = before.map(to_digits).unwrap_or_default();
    let hi: Option<Vec<u8>> = after.map(to_digits);
    let hi = match hi {
        Some(h) if h.is_empty() || h <= lo => None,
        other => other,
    };
    let mid = midpoint(&lo, hi.as_deref());
    let mut rng = rand::rng();
    let mut jittered = mid.clone();
    for _ in 0..3 {
        jittered.push(rng.random_range(1..BASE));
    }
    let chosen = match &hi {
        Some(h) if jittered >= *h => mid,
        _ => jittered,
    };
    from_digits(&chosen)
}

/// `n` keys in increasing order, all of one length: an imported notebook's
/// cells, placed in one go. Calling [`key_between`] after each cell would
/// make the keys grow with the count; these grow with its logarithm, and
/// start and end in the middle of the alphabet so that cells inserted
/// before the first or after the last later still get short keys.
pub fn evenly_spaced(n: usize) -> Vec<String> {
    let mut width = 1;
    while (BASE as usize).pow(width) <= n {
        width += 1;
    }
    (0..n)
        .map(|i| {
            let mut digits = vec![b'V'];
            let mut rest = i;
            let mut body = vec![DIGITS[0]; width as usize];
            for slot in body.iter_mut().rev() {
                *slot = DIGITS[rest % BASE as usize];
                rest /= BASE as usize;
            }
            digits.extend(body);
            digits.push(b'V');
            String::from_utf8_lossy(&digits).into_owned()
        })
        .collect()
}

fn to_digits(key: &str) -> Vec<u8> {
    let mut digits: Vec<u8> = key.bytes().filter_map(digit_value).collect();
    while digits.last() == Some(&0) {
        digits.pop();
    }
    digits
}

fn from_digits(digits: &[u8]) -> String {
    digits.iter().map(|d| DIGITS[*d as usize] as char).collect()
}

/// The midpoint of two digit strings read as base-62 fractions `0.lo` and `0.hi`
/// (`hi` absent means 1). Requires `lo < hi` and no trailing zeros.
fn midpoint(lo: &[u8], hi: Option<&[u8]>) -> Vec<u8> {
    if let Some(hi) = hi {
        let common = hi
            .iter()
            .enumerate()
            .take_while(|(i, d)| lo.get(*i).copied().unwrap_or(0) == **d)
            .count();
        if common > 0 {
            let mut out = hi[..common].to_vec();
            let lo_rest = if lo.len() > common {
                &lo[common..]
            } else {
                &[][..]
            };
            out.extend(midpoint(lo_rest, Some(&hi[common..])));
            return out;
        }
    }
    let lo_first = lo.first().copied().unwrap_or(0);
    let hi_first = hi.and_then(|h| h.first().copied()).unwrap_or(BASE);
    if hi_first - lo_first > 1 {
        return vec![(lo_first + hi_first) / 2];
    }
    match hi {
        Some(h) if h.len() > 1 => vec![h[0]],
        _ => {
            let mut out = vec![lo_first];
            let rest = if lo.len() > 1 { &lo[1..] } else { &[][..] };
            out.extend(midpoint(rest, None));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_order_between_bounds() {
        let a = key_between(None, None);
        let b = key_between(Some(&a), None);
        let c = key_between(Some(&a), Some(&b));
        let z = key_between(None, Some(&a));
        assert!(z < a && a < c && c < b, "{z} {a} {c} {b}");
        for k in [&a, &b, &c, &z] {
            assert!(is_valid(k), "{k}");
        }
    }

    #[test]
    fn repeated_insertion_at_the_front_and_between_stays_ordered() {
        let mut keys = vec![key_between(None, None)];
        for i in 0..500 {
            let k = if i % 2 == 0 {
                key_between(None, Some(&keys[0]))
            } else {
                key_between(Some(&keys[0]), Some(&keys[1]))
            };
            keys.push(k);
            keys.sort();
        }
        let mut dedup = keys.clone();
        dedup.dedup();
        assert_eq!(dedup.len(), keys.len());
    }

    #[test]
    fn evenly_spaced_keys_are_ordered_valid_and_short() {
        for n in [0, 1, 61, 62, 63, 5000] {
            let keys = evenly_spaced(n);
            assert_eq!(keys.len(), n);
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "n = {n}");
            assert!(keys.iter().all(|k| is_valid(k) && k.len() <= 5), "n = {n}");
        }
        let keys = evenly_spaced(3);
        let before = key_between(None, Some(&keys[0]));
        let after = key_between(Some(&keys[2]), None);
        assert!(before < keys[0] && keys[2] < after);
    }

    #[test]
    fn tied_bounds_still_give_a_key_after_the_lower_one() {
        let k = key_between(Some("V"), Some("V"));
        assert!(k.as_str() > "V");
    }

    proptest! {
        #[test]
        fn between_any_two_valid_keys(a in "[1-9A-Za-z]{1,6}", b in "[1-9A-Za-z]{1,6}") {
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            prop_assume!(lo != hi);
            let k = key_between(Some(&lo), Some(&hi));
            prop_assert!(lo < k && k < hi, "{} < {} < {}", lo, k, hi);
            prop_assert!(is_valid(&k));
        }
    }
}
