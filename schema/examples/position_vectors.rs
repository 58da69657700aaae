//! Prints position keys as the Rust side makes them, as JSON, for the web
//! client's port of `position.rs` to be checked against
//! (web-client/test/unit/position.test.ts, run by scripts/test-web.sh).

use schema::position::{evenly_spaced, key_between};

fn main() {
    let bounds: Vec<(Option<&str>, Option<&str>)> = vec![
        (None, None),
        (Some("V"), None),
        (None, Some("V")),
        (Some("V"), Some("W")),
        (Some("V"), Some("V1")),
        (Some("z"), None),
        (Some("zz"), None),
        (None, Some("1")),
        (None, Some("01")),
        (Some("A"), Some("B")),
        (Some("AB"), Some("AC")),
        (Some("V"), Some("V")),
        (Some("W"), Some("V")),
        (Some("Vzzz"), Some("W")),
        (Some("V0001"), Some("V0002")),
        (Some("1"), Some("2")),
        (Some("a5"), Some("a51")),
        (Some("x"), Some("xz")),
        (Some("V1V"), Some("V2V")),
        (Some("9"), Some("A")),
    ];
    let mut cases = Vec::new();
    for (before, after) in bounds {
        // Several draws: the jitter is random, the part before it is not.
        let keys: Vec<String> = (0..8).map(|_| key_between(before, after)).collect();
        cases.push(serde_json::json!({"before": before, "after": after, "keys": keys}));
    }
    let spaced: Vec<serde_json::Value> = [0usize, 1, 2, 61, 62, 63, 200, 4000]
        .iter()
        .map(|n| serde_json::json!({"n": n, "keys": evenly_spaced(*n)}))
        .collect();
    println!(
        "{}",
        serde_json::json!({"key_between": cases, "evenly_spaced": spaced})
    );
}
