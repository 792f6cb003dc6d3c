//! FIFO: evict the key that entered the cache first.
//!
//! A hit changes nothing; only misses move the queue. FIFO is the policy of
//! Belady's anomaly: on some traces it misses *more* with more frames, which a
//! stack algorithm such as LRU or OPT never does.
//!
//! Sources: L. A. Belady, "A study of replacement algorithms for a
//! virtual-storage computer", IBM Systems Journal 5(2), 1966 (FIFO among the
//! policies studied); L. A. Belady, R. A. Nelson and G. S. Shedler, "An anomaly
//! in space-time characteristics of certain programs running in a paging
//! machine", Communications of the ACM 12(6), 1969.

use std::collections::VecDeque;

use super::Policy;

/// FIFO replacement. Memory: one flag per distinct key, plus a queue that
/// holds at most min(capacity, distinct keys) ids.
#[derive(Debug, Clone)]
pub struct Fifo {
    /// Maximum number of cached keys.
    capacity: u64,
    /// Cached keys in insertion order: front = oldest, the next victim.
    queue: VecDeque<u32>,
    /// `cached[key]` is true while `key` is in `queue`.
    cached: Vec<bool>,
}

impl Fifo {
    /// An empty FIFO cache of `capacity` keys, for key ids `0..key_count`.
    pub fn new(capacity: u64, key_count: usize) -> Fifo {
        Fifo {
            capacity,
            // Grows as keys arrive: never allocate by capacity, which may be huge.
            queue: VecDeque::new(),
            cached: vec![false; key_count],
        }
    }
}

// ANCHOR: access
impl Policy for Fifo {
    fn access(&mut self, key: u32) -> bool {
        if self.cached[key as usize] {
            return true;
        }
        if self.capacity == 0 {
            return false;
        }
        if self.queue.len() as u64 >= self.capacity {
            if let Some(victim) = self.queue.pop_front() {
                self.cached[victim as usize] = false;
            }
        }
        self.queue.push_back(key);
        self.cached[key as usize] = true;
        false
    }
}
// ANCHOR_END: access
