//! Properties of the query decoder (`common::query::parse`) and of the
//! `/run-cache-sim` parameter check built on it (`common::sim`), both behind the
//! `routing` feature.
#![cfg(feature = "routing")]

use common::{query, sim};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Cases per property: `PROPTEST_CASES`, or 10 000.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(10_000)
}

/// Encodes `text` as application/x-www-form-urlencoded: space as `+`,
/// letters and digits as themselves, every other byte as `%XX`.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b' ' => "+".to_string(),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => char::from(byte).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

proptest! {
    #![proptest_config(Config { cases: cases(), ..Config::default() })]

    /// Any text: no panic, and decoding never makes it longer.
    #[test]
    fn any_text_decodes_or_is_refused(text in "\\PC{0,64}|[a-z%+=&0-9A-F]{0,64}") {
        if let Ok(pairs) = query::parse(&text) {
            let decoded: usize = pairs.iter().map(|(name, value)| name.len() + value.len()).sum();
            prop_assert!(decoded <= text.len());
        }
        let _ = sim::parse_params(Some(&text));
    }

    /// Encoding pairs and decoding them gives the same pairs back.
    #[test]
    fn encoded_pairs_round_trip(pairs in prop::collection::vec(("\\PC{1,12}", "\\PC{0,12}"), 0..6)) {
        let query = pairs
            .iter()
            .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        prop_assert_eq!(query::parse(&query).ok(), Some(pairs));
    }
}
