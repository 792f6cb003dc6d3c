//! Replacement policies: one [`Policy`] trait, one file per policy.
//!
//! Every policy works on *key ids*: the trace loader interns each distinct key
//! to a dense integer `0..key_count` (see [`crate::trace`]), so a policy can
//! keep its per-key state in plain vectors indexed by id instead of hash maps.
//! That state is sized by the number of distinct keys; the cache size
//! (capacity) is only ever a number to compare with, so a capacity of
//! 1,000,000,000 costs no more memory than a capacity of 10.
//!
//! All policies use *demand fill*: every miss inserts the requested key,
//! evicting one resident key first if the cache is full. A capacity of 0
//! caches nothing, so every access is a miss (the CLI rejects 0 anyway).

mod list;

pub mod arc;
pub mod belady;
pub mod fifo;
pub mod lfu;
pub mod lru;

pub use arc::Arc;
pub use belady::Belady;
pub use fifo::Fifo;
pub use lfu::Lfu;
pub use lru::Lru;

use std::fmt;
use std::str::FromStr;

use crate::trace::Trace;

// ANCHOR: policy_trait
/// A cache replacement policy: it sees one request at a time and decides
/// whether the key was cached (a hit) and what to evict on a miss.
pub trait Policy {
    /// Serve one request for `key` (an id below the `key_count` the policy was
    /// built for). Returns `true` on a hit, `false` on a miss; on a miss the
    /// key is inserted, after evicting one key if the cache is full.
    fn access(&mut self, key: u32) -> bool;
}
// ANCHOR_END: policy_trait

/// The policies the simulator offers, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// First in, first out: evict the key inserted longest ago.
    Fifo,
    /// Least recently used.
    Lru,
    /// Least frequently used, ties broken by least recent use.
    Lfu,
    /// Adaptive Replacement Cache (Megiddo & Modha, FAST 2003).
    Arc,
    /// Belady's OPT: evict the key whose next use is farthest in the future.
    Belady,
}

impl PolicyKind {
    /// Every policy, in the order the usage message lists them.
    pub const ALL: [PolicyKind; 5] = [
        PolicyKind::Fifo,
        PolicyKind::Lru,
        PolicyKind::Lfu,
        PolicyKind::Arc,
        PolicyKind::Belady,
    ];

    /// The lower-case name used on the command line and in the output.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Fifo => "fifo",
            PolicyKind::Lru => "lru",
            PolicyKind::Lfu => "lfu",
            PolicyKind::Arc => "arc",
            PolicyKind::Belady => "belady",
        }
    }

    /// Build this policy for replaying `trace` with room for `capacity` keys.
    ///
    /// Belady's OPT reads the whole trace here to learn the future; the
    /// others only use its number of distinct keys. The returned policy must
    /// be fed `trace.keys` in order, from the first request.
    pub fn build(self, capacity: u64, trace: &Trace) -> Box<dyn Policy> {
        let key_count = trace.distinct_keys;
        match self {
            PolicyKind::Fifo => Box::new(Fifo::new(capacity, key_count)),
            PolicyKind::Lru => Box::new(Lru::new(capacity, key_count)),
            PolicyKind::Lfu => Box::new(Lfu::new(capacity, key_count)),
            PolicyKind::Arc => Box::new(Arc::new(capacity, key_count)),
            PolicyKind::Belady => Box::new(Belady::new(capacity, &trace.keys, key_count)),
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A POLICY argument that names no policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPolicy(pub String);

impl fmt::Display for UnknownPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = PolicyKind::ALL.iter().map(|kind| kind.name()).collect();
        write!(
            f,
            "unknown POLICY {:?}: expected one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownPolicy {}

impl FromStr for PolicyKind {
    type Err = UnknownPolicy;

    /// Parse a policy name, ignoring ASCII case (`LRU` and `lru` are the same).
    fn from_str(text: &str) -> Result<PolicyKind, UnknownPolicy> {
        PolicyKind::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownPolicy(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_ignore_case() {
        for kind in PolicyKind::ALL {
            assert_eq!(kind.name().parse(), Ok(kind));
            assert_eq!(kind.name().to_uppercase().parse(), Ok(kind));
        }
    }

    #[test]
    fn unknown_policy_lists_the_valid_ones() {
        let err = "mru".parse::<PolicyKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown POLICY \"mru\": expected one of fifo, lru, lfu, arc, belady"
        );
    }
}
