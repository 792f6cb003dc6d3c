//! Fuzz target: the query decoder (`common::query::parse`) and the
//! `/run-cache-sim` parameter validation built on it (`common::sim`).
//!
//! Checks: no panic, no hang (`-timeout=5`), and decoding never grows the
//! text: every decoded name and value together is at most as long as the
//! query (an escape `%XX` is three bytes for one, `+` one for one).

#![no_main]

use common::{query, sim};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A query reaches the decoder as a `&str` (the request target is ASCII).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pairs) = query::parse(text) {
        let decoded: usize = pairs
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum();
        assert!(decoded <= text.len());
    }
    let _ = sim::parse_params(Some(text));
});
