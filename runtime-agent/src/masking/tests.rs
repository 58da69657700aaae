//! Property tests: whatever the secret, its encoding, the text around it and
//! where the stream splits it, no masked output contains any of its forms.

use super::events::EventMasker;
use super::{encodings, Masker};
use kernels::{KernelEvent, StreamName};
use proptest::prelude::*;
use std::sync::Arc;

fn secret_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        // API-key-like tokens.
        "[A-Za-z0-9_\\-]{8,48}",
        // Passwords with punctuation that every escaping scheme touches.
        "[ -~]{8,32}",
        // Beyond ASCII, and multi-line values such as PEM keys.
        "[a-zé€😀/+=&<>'\"\\\\ ]{8,24}",
        "[A-Za-z0-9+/]{8,20}\n[A-Za-z0-9+/]{8,20}\n[A-Za-z0-9+/=]{0,12}",
    ]
}

fn around_strategy() -> impl Strategy<Value = String> {
    "[ -~\n]{0,40}"
}

fn stream_through(masker: &Arc<Masker>, chunks: &[&str]) -> String {
    let mut events = EventMasker::new(masker.clone());
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend(events.push(KernelEvent::Stream {
            name: StreamName::Stdout,
            text: (*chunk).to_owned(),
        }));
    }
    out.extend(events.finish());
    out.into_iter()
        .map(|e| match e {
            KernelEvent::Stream { text, .. } => text,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn assert_no_form(output: &str, secret: &str) -> Result<(), TestCaseError> {
    for form in encodings::forms(secret) {
        prop_assert!(
            !output.contains(&form),
            "form {form:?} of the secret leaked in {output:?}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_form_survives_a_split_stream(
        secret in secret_strategy(),
        before in around_strategy(),
        after in around_strategy(),
        form_pick in any::<prop::sample::Index>(),
        cut_a in any::<prop::sample::Index>(),
        cut_b in any::<prop::sample::Index>(),
    ) {
        prop_assume!(!"[MASKED:API_KEY]".contains(secret.as_str()));
        let masker = Arc::new(Masker::new([("API_KEY", secret.as_str())]));
        let forms = encodings::forms(&secret);
        let form = form_pick.get(&forms);
        let text = format!("{before}{form}{after}");
        // Two cuts anywhere (on character boundaries): three stream messages.
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        let (mut a, mut b) = (*cut_a.get(&bounds), *cut_b.get(&bounds));
        if a > b { std::mem::swap(&mut a, &mut b); }
        let output = stream_through(&masker, &[&text[..a], &text[a..b], &text[b..]]);
        assert_no_form(&output, &secret)?;
        prop_assert!(output.contains("[MASKED:API_KEY]"));
    }

    #[test]
    fn other_events_are_masked_everywhere(secret in secret_strategy(), form_pick in any::<prop::sample::Index>()) {
        prop_assume!(!"[MASKED:TOKEN]".contains(secret.as_str()));
        let masker = Arc::new(Masker::new([("TOKEN", secret.as_str())]));
        let forms = encodings::forms(&secret);
        let form = form_pick.get(&forms).clone();
        let mut events = EventMasker::new(masker);
        let mut data = serde_json::Map::new();
        data.insert("text/html".into(), serde_json::json!(format!("<td>{form}</td>")));
        data.insert("application/json".into(), serde_json::json!({"nested": [form.clone()]}));
        let out = events.push(KernelEvent::DisplayData { data, metadata: Default::default(), display_id: None });
        let out2 = events.push(KernelEvent::Error {
            ename: "ValueError".into(),
            evalue: form.clone(),
            traceback: vec![format!("line 1\n  raise ValueError('{form}')")],
        });
        let mut strings = Vec::new();
        for e in out.into_iter().chain(out2) {
            match e {
                KernelEvent::DisplayData { data, .. } => {
                    strings.push(data["text/html"].as_str().unwrap_or_default().to_owned());
                    strings.push(data["application/json"]["nested"][0].as_str().unwrap_or_default().to_owned());
                }
                KernelEvent::Error { evalue, traceback, .. } => {
                    strings.push(evalue);
                    strings.extend(traceback);
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert_eq!(strings.len(), 4);
        for s in &strings {
            assert_no_form(s, &secret)?;
        }
        prop_assert!(strings[2].contains("[MASKED:TOKEN]"));
    }

    #[test]
    fn text_without_secrets_passes_unchanged(text in "[ -~\n]{0,200}", cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4)) {
        let masker = Arc::new(Masker::new([("API_KEY", "zq9-ZQ9-zq9-ZQ9")]));
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(text.len() + 1)).collect();
        bounds.sort();
        let mut chunks = Vec::new();
        let mut last = 0;
        for b in bounds { chunks.push(&text[last..b]); last = b; }
        chunks.push(&text[last..]);
        prop_assume!(!text.contains("zq9-ZQ9"));
        prop_assert_eq!(stream_through(&masker, &chunks), text);
    }
}

#[test]
fn markers_name_the_secret_and_encodings_are_caught() {
    let masker = Masker::new([
        ("DB_PASSWORD", "hunter2-but-longer"),
        ("API_KEY", "sk-abc/123 xyz"),
    ]);
    assert_eq!(
        masker.mask("pw=hunter2-but-longer key=sk-abc%2F123%20xyz"),
        "pw=[MASKED:DB_PASSWORD] key=[MASKED:API_KEY]"
    );
    // base64 of "user:hunter2-but-longer", as in an Authorization header.
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "user:hunter2-but-longer",
    );
    assert!(
        masker.mask(&basic).contains("[MASKED:DB_PASSWORD]"),
        "{}",
        masker.mask(&basic)
    );
}

#[test]
fn a_held_prefix_is_released_when_the_stream_ends() {
    let masker = Arc::new(Masker::new([("API_KEY", "secret-value-123")]));
    let mut events = EventMasker::new(masker);
    let first = events.push(KernelEvent::Stream {
        name: StreamName::Stdout,
        text: "progress secret-va".into(),
    });
    assert!(matches!(&first[..], [KernelEvent::Stream { text, .. }] if text == "progress "));
    assert!(
        matches!(events.finish(), Some(KernelEvent::Stream { text, .. }) if text == "secret-va")
    );
}

#[test]
fn an_empty_masker_changes_nothing() {
    let masker = Masker::new(std::iter::empty());
    assert!(masker.is_empty());
    assert_eq!(masker.mask("anything"), "anything");
    assert_eq!(masker.pending_prefix_len("anything"), 0);
}
