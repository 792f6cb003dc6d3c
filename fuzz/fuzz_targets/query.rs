//! Fuzz target: the query decoder (`common::query::parse`) and the
//! `/run-cache-sim` parameter validation built on it (`common::sim`).
//!
//! Checks: no panic, no hang (`-timeout=5`), decoding never grows the text
//! (every decoded name and value together is at most as long as the query:
//! an escape `%XX` is three bytes for one, `+` one for one), and the bytes the
//! target holds at once stay within a small multiple of the query's length
//! (counted by its allocator, `peak.rs`).

#![no_main]

use common::{query, sim};
use libfuzzer_sys::fuzz_target;

mod peak;

#[global_allocator]
static ALLOCATOR: peak::Counting = peak::Counting;

/// Bytes the target may hold at once, per byte of query, plus a constant for
/// the empty query: the pairs' strings, the vector of pairs (48 bytes a pair,
/// and `a&b&…` has a pair every two bytes, with room to grow), and the error
/// message of a refused parameter. Linear in the query, which the head limit
/// bounds (a request target is at most 4 KiB).
const BYTES_PER_QUERY_BYTE: usize = 128;
const BYTES_FIXED: usize = 16 * 1024;

fuzz_target!(|data: &[u8]| {
    // A query reaches the decoder as a `&str` (the request target is ASCII).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let baseline = peak::live();
    peak::reset_peak();
    if let Ok(pairs) = query::parse(text) {
        let decoded: usize = pairs
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum();
        assert!(decoded <= text.len());
    }
    let _ = sim::parse_params(Some(text));

    let held = peak::peak_since(baseline);
    let bound = BYTES_FIXED + BYTES_PER_QUERY_BYTE * text.len();
    assert!(
        held <= bound,
        "held {held} bytes at once for a {}-byte query (bound {bound})",
        text.len()
    );
});
