//! ARC, the Adaptive Replacement Cache, exactly as in Fig. 4 of N. Megiddo and
//! D. S. Modha, "ARC: A Self-Tuning, Low Overhead Replacement Cache", USENIX
//! FAST 2003. (Not `std::sync::Arc`: the name is the paper's.)
//!
//! ARC keeps four LRU lists, head = most recent:
//!
//! - T1: cached keys seen once recently; T2: cached keys seen at least twice.
//! - B1, B2: *ghost lists*, keys recently evicted from T1 and T2. Only the ids
//!   are remembered, the keys are not cached: a request for one is a miss.
//!
//! A ghost hit tells ARC which side it should have kept bigger: a hit in B1
//! (recency would have helped) raises the target size `p` of T1, a hit in B2
//! (frequency would have helped) lowers it. REPLACE then evicts from T1 while
//! T1 is above target, otherwise from T2. The paper's bounds hold after every
//! access, with capacity c: |T1| + |T2| ≤ c, |T1| + |B1| ≤ c, and
//! |T1| + |T2| + |B1| + |B2| ≤ 2c.
//!
//! The paper leaves the arithmetic of `p` open. Here `p` is an integer and the
//! adaptation step rounds down: after a B1 hit, p ← min(c, p + max(1,
//! ⌊|B2| / |B1|⌋)); after a B2 hit, p ← max(0, p − max(1, ⌊|B1| / |B2|⌋)).
//! The sizes are taken before the hit key leaves its ghost list.

use super::Policy;
use super::list::{Links, List};

/// Which of ARC's lists a key is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Not in any list: never seen, or forgotten.
    Nowhere,
    T1,
    T2,
    B1,
    B2,
}

/// The lengths of ARC's four lists, for tests and teaching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArcLists {
    /// Cached keys seen once recently.
    pub t1: usize,
    /// Cached keys seen at least twice recently.
    pub t2: usize,
    /// Ghosts of keys evicted from T1.
    pub b1: usize,
    /// Ghosts of keys evicted from T2.
    pub b2: usize,
}

/// ARC replacement in O(1) per access.
///
/// Memory: 9 bytes per distinct key; the four lists share one link array,
/// since a key is in at most one of them.
#[derive(Debug, Clone)]
pub struct Arc {
    /// c, the number of keys the cache holds.
    capacity: u64,
    /// Target size of T1, in keys, `0..=capacity`.
    p: u64,
    /// Link storage shared by the four lists.
    links: Links,
    t1: List,
    t2: List,
    b1: List,
    b2: List,
    /// `place[key]`: the list `key` is in.
    place: Vec<Place>,
}

impl Arc {
    /// An empty ARC cache of `capacity` keys, for key ids `0..key_count`.
    /// The target `p` starts at 0, as in the paper.
    pub fn new(capacity: u64, key_count: usize) -> Arc {
        Arc {
            capacity,
            p: 0,
            links: Links::new(key_count),
            t1: List::new(),
            t2: List::new(),
            b1: List::new(),
            b2: List::new(),
            place: vec![Place::Nowhere; key_count],
        }
    }

    /// The current target size of T1, in keys.
    pub fn p(&self) -> u64 {
        self.p
    }

    /// The current lengths of T1, T2, B1 and B2.
    pub fn lists(&self) -> ArcLists {
        ArcLists {
            t1: self.t1.len(),
            t2: self.t2.len(),
            b1: self.b1.len(),
            b2: self.b2.len(),
        }
    }

    // ANCHOR: replace
    /// The paper's REPLACE(x, p): evict the LRU key of T1 into B1 if T1 is
    /// over its target (or at it, when the request is a B2 ghost hit),
    /// otherwise the LRU key of T2 into B2.
    fn replace(&mut self, request_in_b2: bool) {
        let t1 = self.t1.len() as u64;
        if t1 >= 1 && ((request_in_b2 && t1 == self.p) || t1 > self.p) {
            if let Some(victim) = self.t1.pop_back(&mut self.links) {
                self.b1.push_front(&mut self.links, victim);
                self.place[victim as usize] = Place::B1;
            }
        } else if let Some(victim) = self.t2.pop_back(&mut self.links) {
            // T2 is not empty here: REPLACE runs only when |T1| + |T2| = c.
            self.b2.push_front(&mut self.links, victim);
            self.place[victim as usize] = Place::B2;
        }
    }
    // ANCHOR_END: replace

    /// Take the LRU key out of `list` and out of ARC altogether (no ghost).
    fn discard_lru(list: &mut List, links: &mut Links, place: &mut [Place]) {
        if let Some(ghost) = list.pop_back(links) {
            place[ghost as usize] = Place::Nowhere;
        }
    }
}

// ANCHOR: access
impl Policy for Arc {
    fn access(&mut self, key: u32) -> bool {
        let c = self.capacity;
        match self.place[key as usize] {
            // Case I: a hit in T1 or T2. The key has now been seen twice.
            Place::T1 => {
                self.t1.unlink(&mut self.links, key);
                self.t2.push_front(&mut self.links, key);
                self.place[key as usize] = Place::T2;
                true
            }
            Place::T2 => {
                self.t2.move_to_front(&mut self.links, key);
                true
            }
            // Case II: a ghost hit in B1. Recency would have paid: grow T1.
            Place::B1 => {
                // |B1| ≥ 1 because it holds `key`, so the division is safe.
                let (b1, b2) = (self.b1.len() as u64, self.b2.len() as u64);
                let delta = if b1 >= b2 { 1 } else { b2 / b1 };
                self.p = c.min(self.p.saturating_add(delta));
                self.b1.unlink(&mut self.links, key);
                self.replace(false);
                self.t2.push_front(&mut self.links, key);
                self.place[key as usize] = Place::T2;
                false
            }
            // Case III: a ghost hit in B2. Frequency would have paid: shrink T1.
            Place::B2 => {
                let (b1, b2) = (self.b1.len() as u64, self.b2.len() as u64);
                let delta = if b2 >= b1 { 1 } else { b1 / b2 };
                self.p = self.p.saturating_sub(delta);
                self.b2.unlink(&mut self.links, key);
                self.replace(true);
                self.t2.push_front(&mut self.links, key);
                self.place[key as usize] = Place::T2;
                false
            }
            // Case IV: a key in no list. Make room, then insert it into T1.
            Place::Nowhere => {
                if c == 0 {
                    return false;
                }
                let l1 = (self.t1.len() + self.b1.len()) as u64;
                let l2 = (self.t2.len() + self.b2.len()) as u64;
                if l1 >= c {
                    // Case IV(a): L1 = T1 ∪ B1 is full.
                    if (self.t1.len() as u64) < c {
                        Self::discard_lru(&mut self.b1, &mut self.links, &mut self.place);
                        self.replace(false);
                    } else {
                        // B1 is empty and T1 is the whole cache: evict T1's
                        // LRU key without keeping a ghost.
                        Self::discard_lru(&mut self.t1, &mut self.links, &mut self.place);
                    }
                } else if l1 + l2 >= c {
                    // Case IV(b): the cache is full; the ghosts fill the rest.
                    if l1 + l2 >= c.saturating_mul(2) {
                        Self::discard_lru(&mut self.b2, &mut self.links, &mut self.place);
                    }
                    self.replace(false);
                }
                self.t1.push_front(&mut self.links, key);
                self.place[key as usize] = Place::T1;
                false
            }
        }
    }
}
// ANCHOR_END: access
