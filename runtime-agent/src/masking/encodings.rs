//! The forms a secret takes on its way out of a kernel. Each form of each
//! secret becomes one pattern for the masker. Encoders reach for these
//! without the author meaning to leak anything: a `repr()` in a traceback,
//! `json.dumps` in a log line, a URL built with `quote`, an HTML table, an
//! `Authorization: Basic` header printed while debugging.

use base64::Engine;

/// Every form of `value` that masking catches; lines of a multi-line value
/// are added with their own forms.
pub fn forms(value: &str) -> Vec<String> {
    let mut out = textual_forms(value);
    out.extend(byte_forms(value.as_bytes()));
    if value.contains('\n') {
        for line in value.lines().map(|l| l.trim_end_matches('\r')) {
            if visible_chars(line) >= crate::masking::MIN_PATTERN_CHARS {
                out.extend(textual_forms(line));
                out.extend(byte_forms(line.as_bytes()));
            }
        }
    }
    out.sort();
    out.dedup();
    out.retain(|p| visible_chars(p) >= crate::masking::MIN_PATTERN_CHARS);
    out
}

fn textual_forms(s: &str) -> Vec<String> {
    let quoted = percent_encoded(s, b"", false);
    let lowercase_hex = lowercase_percent_hex(&quoted);
    vec![
        s.to_owned(),
        json_escaped(s, false),
        json_escaped(s, true),
        python_repr_inner(s, false),
        python_repr_inner(s, true),
        quoted,
        lowercase_hex,
        percent_encoded(s, b"/", false),
        percent_encoded(s, b"", true),
        html_escaped(s, Quotes::None),
        html_escaped(s, Quotes::Double),
        html_escaped(s, Quotes::Hex),
        html_escaped(s, Quotes::Decimal),
    ]
}

fn byte_forms(bytes: &[u8]) -> Vec<String> {
    let mut out = vec![hex::encode(bytes), hex::encode_upper(bytes)];
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for offset in 0..3 {
            out.push(base64_core(engine, bytes, offset));
        }
    }
    out
}

/// The base64 characters that depend only on `bytes` when they sit at
/// `offset` (mod 3) inside a larger encoded payload: the characters
/// shared with the neighbouring bytes differ from payload to payload.
fn base64_core(engine: &base64::engine::GeneralPurpose, bytes: &[u8], offset: usize) -> String {
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(bytes);
    let encoded = engine.encode(&padded);
    let first = (offset * 8).div_ceil(6);
    let last = ((offset + bytes.len()) * 8) / 6;
    encoded
        .get(first..last.min(encoded.len()))
        .unwrap_or_default()
        .to_owned()
}

/// JSON string contents: `serde_json` style, or Python's `json.dumps`
/// default (`ensure_ascii`), which escapes everything beyond ASCII.
fn json_escaped(s: &str, ensure_ascii: bool) -> String {
    let quoted = serde_json::Value::String(s.to_owned()).to_string();
    let inner = &quoted[1..quoted.len() - 1];
    if !ensure_ascii {
        return inner.to_owned();
    }
    let mut out = String::with_capacity(inner.len());
    for c in inner.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// What Python's `repr()` puts between the quotes, which is what a
/// traceback shows for `KeyError`, `ValueError(repr(x))` and the like.
fn python_repr_inner(s: &str, escape_single_quote: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\'' if escape_single_quote => out.push_str("\\'"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Percent-encoding as `urllib.parse.quote(s, safe)` (uppercase hex) or,
/// with `plus_for_space`, as `quote_plus`.
fn percent_encoded(s: &str, safe: &[u8], plus_for_space: bool) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' if plus_for_space => out.push('+'),
            b if safe.contains(&b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `%2F` as `%2f`: some encoders (hand-written ones, older JavaScript
/// paths) emit lowercase hex digits.
fn lowercase_percent_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut after_percent = 0;
    for c in encoded.chars() {
        if c == '%' {
            after_percent = 2;
            out.push(c);
        } else if after_percent > 0 {
            after_percent -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Quotes {
    /// `&`, `<`, `>` only (`html.escape(s, quote=False)`).
    None,
    /// Also `"` as `&quot;`.
    Double,
    /// Also `'` as `&#x27;` (`html.escape(s)`).
    Hex,
    /// Also `'` as `&#39;` (most template engines).
    Decimal,
}

fn html_escaped(s: &str, quotes: Quotes) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match (c, quotes) {
            ('&', _) => out.push_str("&amp;"),
            ('<', _) => out.push_str("&lt;"),
            ('>', _) => out.push_str("&gt;"),
            ('"', Quotes::Double | Quotes::Hex | Quotes::Decimal) => out.push_str("&quot;"),
            ('\'', Quotes::Hex) => out.push_str("&#x27;"),
            ('\'', Quotes::Decimal) => out.push_str("&#39;"),
            (c, _) => out.push(c),
        }
    }
    out
}

/// Characters other than whitespace: a form that is mostly blanks would
/// mask the blanks of ordinary output.
fn visible_chars(s: &str) -> usize {
    s.chars().filter(|c| !c.is_whitespace()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_cores_are_found_inside_larger_payloads() {
        let secret = b"sk-test-0123456789";
        for offset in 0..3 {
            let mut payload = b"xyz"[..offset].to_vec();
            payload.extend_from_slice(secret);
            payload.extend_from_slice(b"tail");
            let encoded = base64::engine::general_purpose::STANDARD.encode(&payload);
            let core = base64_core(
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                secret,
                offset,
            );
            assert!(core.len() >= 20, "{core}");
            assert!(
                encoded.contains(&core),
                "offset {offset}: {core} not in {encoded}"
            );
        }
    }

    #[test]
    fn forms_match_what_python_prints() {
        let f = forms("a/b c&d'é\"x");
        for expected in [
            "a%2Fb%20c%26d%27%C3%A9%22x",
            "a/b%20c%26d%27%C3%A9%22x",
            "a%2Fb+c%26d%27%C3%A9%22x",
            "a/b c&amp;d&#x27;é&quot;x",
            "a/b c&d'\\u00e9\\\"x",
            "a/b c&d\\'é\"x",
        ] {
            assert!(
                f.contains(&expected.to_owned()),
                "missing {expected}: {f:?}"
            );
        }
    }

    #[test]
    fn each_long_line_of_a_multiline_secret_is_a_pattern() {
        let f = forms("-----BEGIN KEY-----\nMIIEvQIBADANBgkq\nab\n");
        assert!(f.contains(&"MIIEvQIBADANBgkq".to_owned()));
        assert!(f.contains(&"-----BEGIN KEY-----".to_owned()));
        assert!(!f.contains(&"ab".to_owned()));
    }
}
