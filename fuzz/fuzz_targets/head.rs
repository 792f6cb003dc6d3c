//! Fuzz target: the request-head reader (`common::head`).
//!
//! The first input byte seeds how the rest is split into reads, the way a
//! socket delivers bytes in pieces; the rest is what the client sent. Checks:
//!
//! - no panic, whatever the bytes (libFuzzer reports a crash);
//! - no hang (run with `-timeout=5`: an input taking longer is a failure);
//! - memory bounded by the limits: while the reader runs, the bytes the target
//!   holds at once, counted by its allocator (`peak.rs`), stay under
//!   [`READER_BOUND`] however long the input (run with `-max_len=65536`, eight
//!   times the head limit);
//! - the verdict does not depend on how the bytes were split;
//! - a head found is at most `max_head_bytes` long, and `parse_head` on
//!   exactly those bytes gives the same request.

#![no_main]

use common::head::{self, Head, Limits, Rejection};
use libfuzzer_sys::fuzz_target;

mod peak;

#[global_allocator]
static ALLOCATOR: peak::Counting = peak::Counting;

/// The most bytes the two reader runs and the re-parse may hold at once,
/// whatever the input's length: 16 times the 8 KiB head limit (the reader's
/// buffer, and up to three parsed requests, each with its header fields and
/// its copies of target, path and query).
const READER_BOUND: usize = 16 * 8 * 1024;

/// `parse_head` on raw bytes keeps what it parsed, so its bound grows with
/// its input (the reader only ever gives it a head within the limit): this
/// many bytes per input byte, plus [`PARSE_FIXED`].
const PARSE_PER_BYTE: usize = 16;
const PARSE_FIXED: usize = 16 * 1024;

/// Read sizes from `seed`: a small xorshift generator, 1 to 64 bytes each,
/// produced lazily (an allocated list would count against the memory bound).
fn read_sizes(seed: u8) -> impl Iterator<Item = usize> {
    let mut state = u32::from(seed) | 0x9e37_7900;
    std::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 64) as usize + 1
    })
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
    let baseline = peak::live();
    peak::reset_peak();

    let whole = head::read_head_from_chunks(bytes, [], &limits);
    let split = head::read_head_from_chunks(bytes, read_sizes(seed), &limits);

    if let Ok(Some(found)) = &whole {
        assert!(found.length <= limits.max_head_bytes);
        assert!(found.length <= bytes.len());
        let again = head::parse::parse_head(&bytes[..found.length]);
        assert_eq!(again.as_ref().ok(), Some(&found.request));
    }
    assert_eq!(comparable(whole), comparable(split));

    let held = peak::peak_since(baseline);
    assert!(
        held <= READER_BOUND,
        "the reader held {held} bytes at once for a {}-byte input (bound {READER_BOUND})",
        bytes.len()
    );

    // The pure parser on the raw bytes, complete head or not: no panic.
    peak::reset_peak();
    let _ = head::parse::parse_head(bytes);
    let held = peak::peak_since(baseline);
    let bound = PARSE_FIXED + PARSE_PER_BYTE * bytes.len();
    assert!(
        held <= bound,
        "parse_head held {held} bytes at once for a {}-byte input (bound {bound})",
        bytes.len()
    );
});
