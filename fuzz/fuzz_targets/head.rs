//! Fuzz target: the request-head reader (`common::head`).
//!
//! The first input byte seeds how the rest is split into reads, the way a
//! socket delivers bytes in pieces; the rest is what the client sent. Checks:
//!
//! - no panic, whatever the bytes (libFuzzer reports a crash);
//! - no hang (run with `-timeout=5`: an input taking longer is a failure);
//! - memory bounded by the limits (run with `-malloc_limit_mb=16`: the reader
//!   allocates one 8 KiB buffer, so a larger allocation is a failure);
//! - the verdict does not depend on how the bytes were split;
//! - a head found is at most `max_head_bytes` long, and `parse_head` on
//!   exactly those bytes gives the same request.

#![no_main]

use common::head::{self, Head, Limits, Rejection};
use libfuzzer_sys::fuzz_target;

/// Read sizes from `seed`: a small xorshift generator, 1 to 64 bytes each.
fn read_sizes(seed: u8, count: usize) -> Vec<usize> {
    let mut state = u32::from(seed) | 0x9e37_7900;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 64) as usize + 1
        })
        .collect()
}

/// The parts of a verdict that must not depend on the split: the request
/// and the head's length, or the rejection. (`body_pending` legitimately
/// depends on what else was in the buffer when the head ended.)
fn comparable(
    verdict: Result<Option<Head>, Rejection>,
) -> Result<Option<(common::request::Request, usize)>, Rejection> {
    verdict.map(|head| head.map(|head| (head.request, head.length)))
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, bytes)) = data.split_first() else {
        return;
    };
    let limits = Limits::default();

    let whole = head::read_head_from_chunks(bytes, [], &limits);
    let split = head::read_head_from_chunks(bytes, read_sizes(seed, bytes.len()), &limits);

    if let Ok(Some(found)) = &whole {
        assert!(found.length <= limits.max_head_bytes);
        assert!(found.length <= bytes.len());
        let again = head::parse_head(&bytes[..found.length], &limits);
        assert_eq!(again.as_ref().ok(), Some(&found.request));
    }
    assert_eq!(comparable(whole), comparable(split));

    // The pure parser on the raw bytes, complete head or not: no panic.
    let _ = head::parse_head(bytes, &limits);
});
