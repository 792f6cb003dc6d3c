//! cache-audit: a trace-driven cache simulator.
//!
//! It replays a trace of key requests against one replacement policy with a
//! cache of a given number of keys, and counts hits and misses. NetServe's
//! `/run-cache-sim` runs the `cache-audit` binary as a child process and parses
//! its standard output, whose layout ([`report::Report::stdout_text`]) is the
//! original C++ CacheAudit's, byte for byte.
//!
//! The pieces, in the order a run uses them:
//!
//! - [`parse_cache_size`] and [`PolicyKind`]'s `FromStr` validate the
//!   arguments (before the trace is touched);
//! - [`trace::load`] reads the trace and interns its keys to dense ids;
//! - [`simulate`] replays it through a [`Policy`] (one file per policy under
//!   [`policy`]);
//! - [`report`] formats the result for stdout and for `--out FILE.csv`.
//!
//! [`synthetic`] generates the bundled traces under `traces/synthetic/`.

pub mod policy;
pub mod report;
pub mod synthetic;
pub mod trace;

use std::fmt;

pub use policy::{Policy, PolicyKind, UnknownPolicy};
pub use trace::Trace;

/// The counts of one simulation run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Requests served: `hits + misses`.
    pub requests: u64,
    /// Requests whose key was cached.
    pub hits: u64,
    /// Requests whose key was not cached.
    pub misses: u64,
}

impl Outcome {
    /// Hits as a fraction of requests, in `0.0..=1.0`; 0 for an empty trace
    /// (never NaN).
    pub fn hit_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.hits as f64 / self.requests as f64
        }
    }
}

/// Replay `trace` through `policy` built for a cache of `capacity` keys.
pub fn simulate(policy: PolicyKind, capacity: u64, trace: &Trace) -> Outcome {
    replay(policy.build(capacity, trace).as_mut(), &trace.keys)
}

// ANCHOR: replay
/// Feed `keys` to `policy` in order and count hits and misses.
pub fn replay(policy: &mut dyn Policy, keys: &[u32]) -> Outcome {
    let mut hits = 0u64;
    for &key in keys {
        if policy.access(key) {
            hits += 1;
        }
    }
    let requests = keys.len() as u64;
    Outcome {
        requests,
        hits,
        misses: requests - hits,
    }
}
// ANCHOR_END: replay

/// A CACHE_SIZE argument that is not a whole number ≥ 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCacheSize(pub String);

impl fmt::Display for InvalidCacheSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid CACHE_SIZE {:?}: expected a whole number from 1 to {}",
            self.0,
            u64::MAX
        )
    }
}

impl std::error::Error for InvalidCacheSize {}

/// Parse CACHE_SIZE, the number of keys the cache holds.
///
/// Only ASCII decimal digits are accepted, and the value must be in
/// `1..=u64::MAX`. Leading zeros are allowed, however many: they do not change
/// the value (`0005` is 5), and the text is not stored, only the number. The
/// original read this with `strtoull`-like parsing, which took `-1` as
/// 18446744073709551615, `5abc` as 5 and `1e3` as 1; each of those is an error
/// here, as are `+5`, ` 5`, the empty string and `0`.
///
/// # Errors
/// [`InvalidCacheSize`] holding the text as given.
pub fn parse_cache_size(text: &str) -> Result<u64, InvalidCacheSize> {
    let invalid = || InvalidCacheSize(text.to_string());
    // `u64::from_str` alone would also accept a leading `+`.
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid());
    }
    match text.parse::<u64>() {
        Ok(size) if size >= 1 => Ok(size),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_size_accepts_whole_numbers_from_one() {
        assert_eq!(parse_cache_size("1"), Ok(1));
        assert_eq!(parse_cache_size("0032"), Ok(32));
        assert_eq!(parse_cache_size("1000000000"), Ok(1_000_000_000));
        assert_eq!(parse_cache_size("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn cache_size_ignores_any_number_of_leading_zeros() {
        let zeros = "0".repeat(1000);
        assert_eq!(parse_cache_size(&format!("{zeros}5")), Ok(5));
        assert_eq!(
            parse_cache_size(&format!("{zeros}18446744073709551615")),
            Ok(u64::MAX)
        );
        // Still zero, and still too large.
        for text in [zeros.clone(), format!("{zeros}18446744073709551616")] {
            assert_eq!(parse_cache_size(&text), Err(InvalidCacheSize(text.clone())));
        }
    }

    #[test]
    fn cache_size_rejects_what_the_original_misread() {
        for text in [
            "",
            "0",
            "000",
            "-1",
            "+5",
            "5abc",
            "1e3",
            "1.5",
            " 5",
            "5 ",
            "0x10",
            "18446744073709551616",
            "١٢",
        ] {
            assert_eq!(
                parse_cache_size(text),
                Err(InvalidCacheSize(text.into())),
                "{text:?}"
            );
        }
    }

    #[test]
    fn empty_trace_has_a_zero_hit_ratio() {
        let outcome = simulate(PolicyKind::Lru, 4, &Trace::default());
        assert_eq!(
            outcome,
            Outcome {
                requests: 0,
                hits: 0,
                misses: 0
            }
        );
        assert_eq!(outcome.hit_ratio(), 0.0);
    }
}
