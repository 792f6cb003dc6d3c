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
//! the same key. The cached keys sit in a binary max-heap ordered by next use,
//! so the victim is always at the root. A naive OPT scans the whole cache on
//! every miss, O(c) per miss; here every access is O(log c):
//!
//! - a hit moves the key's next use later, so its entry only ever rises: one
//!   sift-up from where it is (each key remembers its heap slot);
//! - a miss with a full cache overwrites the root (the victim) with the new
//!   key and sifts it down: one pass, not a pop and a push.
//!
//! The heap holds exactly the cached keys, so its size is bounded by
//! min(capacity, distinct keys).

use super::Policy;

/// The next-use position of a key that is never requested again.
const NEVER: u32 = u32::MAX;

/// `slot` value of a key that is not cached.
const NOT_CACHED: u32 = u32::MAX;

/// Belady's OPT with demand fill, O(log c) per access for c cached keys.
///
/// Memory: 4 bytes per request (the precomputed next uses) and 4 bytes per
/// distinct key, plus a heap of min(capacity, distinct keys) entries.
#[derive(Debug, Clone)]
pub struct Belady {
    /// Maximum number of cached keys.
    capacity: u64,
    /// `next_use[i]`: position of the next request for the key requested at
    /// position i, or [`NEVER`].
    next_use: Vec<u32>,
    /// Position in the trace of the next request `access` will serve.
    position: usize,
    /// The cached keys as a binary max-heap of `(next use << 32) | key`: the
    /// entry at index 0 is the key used farthest in the future, and the
    /// children of index i are at 2i + 1 and 2i + 2.
    heap: Vec<u64>,
    /// `slot[key]`: index of `key`'s entry in `heap`, or [`NOT_CACHED`].
    slot: Vec<u32>,
}

/// A heap entry: ordering entries as integers orders them by next use.
fn entry(next: u32, key: u32) -> u64 {
    (u64::from(next) << 32) | u64::from(key)
}

/// The key of a heap entry.
fn key_of(entry: u64) -> u32 {
    entry as u32
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
            heap: Vec::new(),
            slot: vec![NOT_CACHED; key_count],
        }
    }

    /// Put `entry` at heap index `at` and record where its key now is.
    fn place(&mut self, at: usize, entry: u64) {
        self.heap[at] = entry;
        // Heap indices are below the number of distinct keys, a u32.
        self.slot[key_of(entry) as usize] = at as u32;
    }

    /// Move the entry at `at` up while it is larger than its parent.
    fn sift_up(&mut self, mut at: usize) {
        let moving = self.heap[at];
        while at > 0 {
            let parent = (at - 1) / 2;
            if self.heap[parent] >= moving {
                break;
            }
            self.place(at, self.heap[parent]);
            at = parent;
        }
        self.place(at, moving);
    }

    /// Move the entry at `at` down while a child is larger.
    fn sift_down(&mut self, mut at: usize) {
        let moving = self.heap[at];
        let len = self.heap.len();
        loop {
            let left = 2 * at + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let larger = if right < len && self.heap[right] > self.heap[left] {
                right
            } else {
                left
            };
            if self.heap[larger] <= moving {
                break;
            }
            self.place(at, self.heap[larger]);
            at = larger;
        }
        self.place(at, moving);
    }
}

// ANCHOR: next_uses
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
// ANCHOR_END: next_uses

// ANCHOR: access
impl Policy for Belady {
    fn access(&mut self, key: u32) -> bool {
        let next = self.next_use.get(self.position).copied().unwrap_or(NEVER);
        self.position += 1;

        let at = self.slot[key as usize];
        if at != NOT_CACHED {
            // Hit: the key's next use moves later, so its entry can only
            // rise in the max-heap.
            self.heap[at as usize] = entry(next, key);
            self.sift_up(at as usize);
            return true;
        }

        if self.capacity == 0 {
            return false;
        }
        if self.heap.len() as u64 >= self.capacity {
            // Full: the root is the cached key used farthest in the future.
            // Demand fill: the missed key replaces it even if its own next
            // use is farther still.
            self.slot[key_of(self.heap[0]) as usize] = NOT_CACHED;
            self.place(0, entry(next, key));
            self.sift_down(0);
        } else {
            self.heap.push(entry(next, key));
            self.sift_up(self.heap.len() - 1);
        }
        false
    }
}
// ANCHOR_END: access

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

    /// Check the heap property and that every cached key knows its slot.
    fn assert_consistent(opt: &Belady) {
        for (at, &item) in opt.heap.iter().enumerate() {
            assert_eq!(opt.slot[key_of(item) as usize], at as u32);
            if at > 0 {
                assert!(opt.heap[(at - 1) / 2] >= item, "heap order at {at}");
            }
        }
        let cached = opt.slot.iter().filter(|&&at| at != NOT_CACHED).count();
        assert_eq!(cached, opt.heap.len());
    }

    #[test]
    fn heap_stays_consistent_and_bounded() {
        // A pseudo-random trace over 50 keys, replayed with room for 8.
        let keys: Vec<u32> = (0..2_000u32).map(|i| (i * 37 + i / 7) % 50).collect();
        let mut opt = Belady::new(8, &keys, 50);
        for &key in &keys {
            opt.access(key);
            assert_consistent(&opt);
            assert!(opt.heap.len() <= 8);
        }
    }
}
