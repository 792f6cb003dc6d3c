//! LRU: evict the key whose last use is the oldest.
//!
//! LRU is a *stack algorithm*: the cache of size c is always a subset of the
//! cache of size c + 1 on the same trace, so its hits never decrease as the
//! cache grows (the property tests check this).
//!
//! Source: R. L. Mattson, J. Gecsei, D. R. Slutz and I. L. Traiger,
//! "Evaluation techniques for storage hierarchies", IBM Systems Journal 9(2),
//! 1970.

use super::Policy;
use super::list::{Links, List};

/// LRU replacement in O(1) per access: a recency list threaded through an
/// array indexed by key id. Memory: 9 bytes per distinct key.
#[derive(Debug, Clone)]
pub struct Lru {
    /// Maximum number of cached keys.
    capacity: u64,
    /// Link storage for `recency`.
    links: Links,
    /// Cached keys, head = most recently used, tail = the next victim.
    recency: List,
    /// `cached[key]` is true while `key` is in `recency`.
    cached: Vec<bool>,
}

impl Lru {
    /// An empty LRU cache of `capacity` keys, for key ids `0..key_count`.
    pub fn new(capacity: u64, key_count: usize) -> Lru {
        Lru {
            capacity,
            links: Links::new(key_count),
            recency: List::new(),
            cached: vec![false; key_count],
        }
    }
}

// ANCHOR: access
impl Policy for Lru {
    fn access(&mut self, key: u32) -> bool {
        if self.cached[key as usize] {
            self.recency.move_to_front(&mut self.links, key);
            return true;
        }
        if self.capacity == 0 {
            return false;
        }
        if self.recency.len() as u64 >= self.capacity {
            if let Some(victim) = self.recency.pop_back(&mut self.links) {
                self.cached[victim as usize] = false;
            }
        }
        self.recency.push_front(&mut self.links, key);
        self.cached[key as usize] = true;
        false
    }
}
// ANCHOR_END: access
