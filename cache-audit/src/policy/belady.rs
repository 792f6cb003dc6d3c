//! Belady's OPT (also called MIN): on a miss with a full cache, evict the key
//! whose next use lies farthest in the future; a key never used again counts
//! as infinitely far. With demand fill (every miss is inserted, as here) no
//! policy has fewer misses on the same trace, so OPT is the yardstick the
//! others are measured against. It needs the future, so it is a simulator-only
//! policy.
//!
//! Sources: L. A. Belady, "A study of replacement algorithms for a
//! virtual-storage computer", IBM Systems Journal 5(2), 1966; R. L. Mattson,
//! J. Gecsei, D. R. Slutz and I. L. Traiger, "Evaluation techniques for
//! storage hierarchies", IBM Systems Journal 9(2), 1970 (OPT as a stack
//! algorithm).
//!
//! The future is precomputed in one backward pass over the trace: for every
//! request position i, `next_use[i]` is the position of the next request for
//! the same key. The cached keys sit in a max-heap ordered by next use, so the
//! victim is the heap's top, O(log n) per access. A naive OPT scans the whole
//! cache on every miss, O(c) per miss.
//!
//! The heap is updated lazily: a hit pushes the key's new next use and leaves
//! the old entry in place. The old entry is then stale, and it is easy to
//! recognise: its next use is the position just served, so it is in the past.
//! On a miss every cached key's entry lies in the future (a cached key whose
//! next use were now would be a hit), so the top of the heap is never stale.
//! Stale entries are purged in one O(n) sweep whenever they outnumber the live
//! ones, which keeps memory within 2 × the cached keys and costs O(1)
//! amortised per access.

use std::collections::BinaryHeap;

use super::Policy;

/// The next-use position of a key that is never requested again.
const NEVER: u32 = u32::MAX;

/// Belady's OPT with demand fill, O(log n) per access.
///
/// Memory: 4 bytes per request (the precomputed next uses) and one flag per
/// distinct key, plus a heap of at most 2 × min(capacity, distinct keys)
/// entries.
#[derive(Debug, Clone)]
pub struct Belady {
    /// Maximum number of cached keys.
    capacity: u64,
    /// `next_use[i]`: position of the next request for the key requested at
    /// position i, or [`NEVER`].
    next_use: Vec<u32>,
    /// Position in the trace of the next request `access` will serve.
    position: usize,
    /// `cached[key]` is true while `key` is cached.
    cached: Vec<bool>,
    /// Number of cached keys.
    cached_count: u64,
    /// One entry per cached key, `(next use << 32) | key`, so the largest
    /// entry is the key used farthest in the future; plus stale entries.
    heap: BinaryHeap<u64>,
}

impl Belady {
    /// An empty OPT cache of `capacity` keys that will replay `keys` (ids in
    /// `0..key_count`). `access` must then be called with `keys[0]`,
    /// `keys[1]`, ... in order: the policy knows the future only for that
    /// trace. `keys` must be shorter than `u32::MAX`, which the trace loader
    /// guarantees.
    pub fn new(capacity: u64, keys: &[u32], key_count: usize) -> Belady {
        Belady {
            capacity,
            next_use: next_uses(keys, key_count),
            position: 0,
            cached: vec![false; key_count],
            cached_count: 0,
            heap: BinaryHeap::new(),
        }
    }

    /// Remember that cached `key` is next requested at position `next`.
    fn push(&mut self, key: u32, next: u32) {
        self.heap.push((u64::from(next) << 32) | u64::from(key));
    }

    /// Drop the stale heap entries: those whose next use is not after
    /// `served`, the position just served.
    fn purge_stale(&mut self, served: usize) {
        self.heap.retain(|entry| (entry >> 32) as usize > served);
    }
}

/// For each position i of `keys`, the position of the next request for
/// `keys[i]`, or [`NEVER`]. One backward pass remembering, for every key, the
/// position where it was last seen (that is, next seen going forward).
fn next_uses(keys: &[u32], key_count: usize) -> Vec<u32> {
    let mut seen_at = vec![NEVER; key_count];
    let mut next_use = vec![NEVER; keys.len()];
    for (position, &key) in keys.iter().enumerate().rev() {
        next_use[position] = seen_at[key as usize];
        // The loader caps traces below u32::MAX requests, so this fits.
        seen_at[key as usize] = position as u32;
    }
    next_use
}

impl Policy for Belady {
    fn access(&mut self, key: u32) -> bool {
        let served = self.position;
        let next = self.next_use.get(served).copied().unwrap_or(NEVER);
        self.position += 1;

        if self.cached[key as usize] {
            self.push(key, next);
            // Stale entries are exactly the hits since the last purge.
            if self.heap.len() as u64 > 2 * self.cached_count + 16 {
                self.purge_stale(served);
            }
            return true;
        }

        if self.capacity == 0 {
            return false;
        }
        if self.cached_count >= self.capacity {
            // Evict the cached key used farthest in the future. The loop only
            // guards the invariant explained in the module comment: the first
            // entry popped is live.
            while let Some(entry) = self.heap.pop() {
                let victim = (entry & u64::from(u32::MAX)) as u32;
                if (entry >> 32) as usize > served && self.cached[victim as usize] {
                    self.cached[victim as usize] = false;
                    self.cached_count -= 1;
                    break;
                }
            }
        }
        // Demand fill: insert the missed key even if its own next use is the
        // farthest of all.
        self.cached[key as usize] = true;
        self.cached_count += 1;
        self.push(key, next);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_uses_point_forward() {
        // keys:      a  b  a  c  b  a
        // positions: 0  1  2  3  4  5
        assert_eq!(
            next_uses(&[0, 1, 0, 2, 1, 0], 3),
            [2, 4, 5, NEVER, NEVER, NEVER]
        );
    }

    #[test]
    fn stale_entries_stay_bounded() {
        // One key hit a million times: the heap must not keep every entry.
        let keys = vec![0; 1_000_000];
        let mut opt = Belady::new(4, &keys, 1);
        for &key in &keys {
            opt.access(key);
        }
        assert!(opt.heap.len() <= 2 + 16);
    }
}
