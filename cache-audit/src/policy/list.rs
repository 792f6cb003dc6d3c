//! Doubly-linked lists of key ids, threaded through one array indexed by key.
//!
//! A replacement policy keeps its keys in recency order (LRU, ARC's four lists,
//! each LFU frequency bucket). The usual textbook structure is a hash map from
//! key to a heap-allocated list node. Because the trace loader interns every
//! key to a dense id `0..key_count`, we can do without both: the node of key
//! `k` is simply `nodes[k]`, and a "pointer" is another key id. Every operation
//! is O(1) with no hashing and no allocation after construction.
//!
//! A key is in at most one list at a time, so several lists of one policy
//! share a single [`Links`] array; each [`List`] only stores its two ends.
//! The lists do not check membership: a policy must only `unlink` a key from
//! the list it knows the key is in (each policy records that per key).

/// The "null pointer" of these lists: no key has this id, because the trace
/// loader refuses traces with `u32::MAX` or more requests.
pub(crate) const NIL: u32 = u32::MAX;

/// The two neighbours of one key in whatever list it is in.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// The key towards the head (more recent), or [`NIL`] at the head.
    prev: u32,
    /// The key towards the tail (less recent), or [`NIL`] at the tail.
    next: u32,
}

/// Link storage for every key of a trace: one [`Node`] per key id.
///
/// Memory is 8 bytes per distinct key, whatever the cache size.
#[derive(Debug, Clone)]
pub(crate) struct Links {
    nodes: Vec<Node>,
}

impl Links {
    /// Links for keys `0..key_count`, none of them in a list yet.
    pub(crate) fn new(key_count: usize) -> Links {
        Links {
            nodes: vec![
                Node {
                    prev: NIL,
                    next: NIL
                };
                key_count
            ],
        }
    }
}

/// One list: head = most recently inserted, tail = least recently inserted.
#[derive(Debug, Clone)]
pub(crate) struct List {
    head: u32,
    tail: u32,
    len: usize,
}

impl List {
    /// An empty list.
    pub(crate) const fn new() -> List {
        List {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    /// Number of keys in the list.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True if the list holds no key.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Insert `key` at the head. `key` must not be in any list.
    pub(crate) fn push_front(&mut self, links: &mut Links, key: u32) {
        links.nodes[key as usize] = Node {
            prev: NIL,
            next: self.head,
        };
        if self.head == NIL {
            self.tail = key;
        } else {
            links.nodes[self.head as usize].prev = key;
        }
        self.head = key;
        self.len += 1;
    }

    /// Take `key` out of this list. `key` must be in this list.
    pub(crate) fn unlink(&mut self, links: &mut Links, key: u32) {
        let Node { prev, next } = links.nodes[key as usize];
        if prev == NIL {
            self.head = next;
        } else {
            links.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            links.nodes[next as usize].prev = prev;
        }
        self.len -= 1;
    }

    /// Move `key`, which must be in this list, to the head.
    pub(crate) fn move_to_front(&mut self, links: &mut Links, key: u32) {
        if self.head != key {
            self.unlink(links, key);
            self.push_front(links, key);
        }
    }

    /// Remove and return the key at the tail, or `None` if the list is empty.
    pub(crate) fn pop_back(&mut self, links: &mut Links) -> Option<u32> {
        if self.tail == NIL {
            return None;
        }
        let key = self.tail;
        self.unlink(links, key);
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walk the list head to tail, checking the back links on the way.
    fn contents(list: &List, links: &Links) -> Vec<u32> {
        let mut keys = Vec::new();
        let mut prev = NIL;
        let mut at = list.head;
        while at != NIL {
            assert_eq!(links.nodes[at as usize].prev, prev);
            keys.push(at);
            prev = at;
            at = links.nodes[at as usize].next;
        }
        assert_eq!(list.tail, prev);
        assert_eq!(list.len(), keys.len());
        keys
    }

    #[test]
    fn push_unlink_move_pop() {
        let mut links = Links::new(5);
        let mut list = List::new();
        assert!(list.is_empty());
        for key in 0..5 {
            list.push_front(&mut links, key);
        }
        assert_eq!(contents(&list, &links), [4, 3, 2, 1, 0]);
        list.unlink(&mut links, 2); // middle
        list.unlink(&mut links, 4); // head
        list.unlink(&mut links, 0); // tail
        assert_eq!(contents(&list, &links), [3, 1]);
        list.move_to_front(&mut links, 1);
        assert_eq!(contents(&list, &links), [1, 3]);
        list.move_to_front(&mut links, 1); // already at the head
        assert_eq!(contents(&list, &links), [1, 3]);
        assert_eq!(list.pop_back(&mut links), Some(3));
        assert_eq!(list.pop_back(&mut links), Some(1));
        assert_eq!(list.pop_back(&mut links), None);
        assert!(list.is_empty());
    }

    #[test]
    fn two_lists_share_one_links_array() {
        let mut links = Links::new(4);
        let mut a = List::new();
        let mut b = List::new();
        a.push_front(&mut links, 0);
        b.push_front(&mut links, 1);
        a.push_front(&mut links, 2);
        b.push_front(&mut links, 3);
        a.unlink(&mut links, 0);
        b.push_front(&mut links, 0);
        assert_eq!(contents(&a, &links), [2]);
        assert_eq!(contents(&b, &links), [0, 3, 1]);
    }
}
