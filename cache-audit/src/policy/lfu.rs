//! LFU: evict the least frequently used key; among equally frequent keys, the
//! least recently used one. A key's count is forgotten when it is evicted, so
//! a key that comes back starts again at 1.
//!
//! The structure is the O(1) scheme of K. Shah, A. Mitra and D. Matani, "An
//! O(1) algorithm for implementing the LFU cache eviction scheme", 2010: a
//! list of *frequency buckets* in increasing frequency, each bucket holding the
//! keys with that count. Here each bucket keeps its keys in recency order (the
//! paper's buckets are unordered sets), which is what breaks ties by least
//! recent use: a key enters a bucket exactly when it is accessed, so the tail
//! of the lowest bucket is the least recently used of the least frequent keys.
//!
//! Every operation touches a bucket and at most its neighbour, never a search:
//! a hit moves the key from bucket `f` to bucket `f + 1` (creating it next to
//! `f` if absent), and a miss evicts the tail of the lowest bucket.

use super::Policy;
use super::list::{Links, List, NIL};

/// All cached keys that have the same access count.
#[derive(Debug, Clone)]
struct Bucket {
    /// Accesses since the key was last inserted (1 on insertion).
    frequency: u64,
    /// The keys, head = most recently used.
    keys: List,
    /// The bucket with the next lower frequency, or [`NIL`].
    lower: u32,
    /// The bucket with the next higher frequency, or [`NIL`].
    higher: u32,
}

/// LFU replacement in O(1) per access.
///
/// Memory: 12 bytes per distinct key, plus at most one bucket per cached key
/// (buckets exist only for frequencies some cached key has).
#[derive(Debug, Clone)]
pub struct Lfu {
    /// Maximum number of cached keys.
    capacity: u64,
    /// Number of cached keys.
    cached: u64,
    /// Link storage for the bucket lists.
    links: Links,
    /// `bucket_of[key]`: index in `buckets` of the bucket holding `key`, or
    /// [`NIL`] if `key` is not cached.
    bucket_of: Vec<u32>,
    /// Bucket storage; slots listed in `free_buckets` are unused.
    buckets: Vec<Bucket>,
    /// Unused slots of `buckets`, reused before the vector grows.
    free_buckets: Vec<u32>,
    /// The bucket with the lowest frequency (where victims come from), or
    /// [`NIL`] when the cache is empty.
    lowest: u32,
}

impl Lfu {
    /// An empty LFU cache of `capacity` keys, for key ids `0..key_count`.
    pub fn new(capacity: u64, key_count: usize) -> Lfu {
        Lfu {
            capacity,
            cached: 0,
            links: Links::new(key_count),
            bucket_of: vec![NIL; key_count],
            buckets: Vec::new(),
            free_buckets: Vec::new(),
            lowest: NIL,
        }
    }

    /// Create an empty bucket for `frequency` between the buckets `lower` and
    /// `higher` (either may be [`NIL`]) and return its index.
    fn insert_bucket(&mut self, frequency: u64, lower: u32, higher: u32) -> u32 {
        let bucket = Bucket {
            frequency,
            keys: List::new(),
            lower,
            higher,
        };
        let index = match self.free_buckets.pop() {
            Some(index) => {
                self.buckets[index as usize] = bucket;
                index
            }
            None => {
                self.buckets.push(bucket);
                // At most one bucket per cached key (plus one during a hit),
                // and key ids fit in u32, so the index does too.
                (self.buckets.len() - 1) as u32
            }
        };
        if lower == NIL {
            self.lowest = index;
        } else {
            self.buckets[lower as usize].higher = index;
        }
        if higher != NIL {
            self.buckets[higher as usize].lower = index;
        }
        index
    }

    /// Unlink bucket `index` from the frequency list if it holds no key.
    fn remove_bucket_if_empty(&mut self, index: u32) {
        let Bucket {
            ref keys,
            lower,
            higher,
            ..
        } = self.buckets[index as usize];
        if !keys.is_empty() {
            return;
        }
        if lower == NIL {
            self.lowest = higher;
        } else {
            self.buckets[lower as usize].higher = higher;
        }
        if higher != NIL {
            self.buckets[higher as usize].lower = lower;
        }
        self.free_buckets.push(index);
    }

    /// Evict the least recently used key of the lowest-frequency bucket.
    fn evict(&mut self) {
        let lowest = self.lowest;
        if lowest == NIL {
            return;
        }
        if let Some(victim) = self.buckets[lowest as usize].keys.pop_back(&mut self.links) {
            self.bucket_of[victim as usize] = NIL;
            self.cached -= 1;
        }
        self.remove_bucket_if_empty(lowest);
    }
}

// ANCHOR: access
impl Policy for Lfu {
    fn access(&mut self, key: u32) -> bool {
        let current = self.bucket_of[key as usize];
        if current != NIL {
            // Hit: move the key from its bucket (frequency f) to bucket f + 1.
            let frequency = self.buckets[current as usize].frequency + 1;
            let higher = self.buckets[current as usize].higher;
            let target = if higher != NIL && self.buckets[higher as usize].frequency == frequency {
                higher
            } else {
                self.insert_bucket(frequency, current, higher)
            };
            self.buckets[current as usize]
                .keys
                .unlink(&mut self.links, key);
            self.buckets[target as usize]
                .keys
                .push_front(&mut self.links, key);
            self.bucket_of[key as usize] = target;
            self.remove_bucket_if_empty(current);
            return true;
        }

        if self.capacity == 0 {
            return false;
        }
        if self.cached >= self.capacity {
            self.evict();
        }
        // Miss: the key starts (again) at frequency 1, in the lowest bucket.
        let lowest = self.lowest;
        let target = if lowest != NIL && self.buckets[lowest as usize].frequency == 1 {
            lowest
        } else {
            self.insert_bucket(1, NIL, lowest)
        };
        self.buckets[target as usize]
            .keys
            .push_front(&mut self.links, key);
        self.bucket_of[key as usize] = target;
        self.cached += 1;
        false
    }
}
// ANCHOR_END: access
