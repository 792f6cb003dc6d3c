//! Property tests on random traces: facts every correct simulator satisfies,
//! and agreement with deliberately simple models of the policies.
//!
//! The models below keep the cache in a `Vec` and search it linearly: O(c)
//! per access, obviously slow, and short enough to check against the
//! definitions by eye. The fast implementations must agree with them on every
//! request.

use cache_audit::policy::{Arc, Policy};
use cache_audit::{PolicyKind, Trace, simulate};
use proptest::prelude::*;

/// LRU model: `cache[0]` is the least recently used key.
fn model_lru(capacity: usize, keys: &[u32]) -> Vec<bool> {
    let mut cache: Vec<u32> = Vec::new();
    keys.iter()
        .map(|&key| {
            let hit = if let Some(at) = cache.iter().position(|&k| k == key) {
                cache.remove(at);
                true
            } else {
                if cache.len() == capacity {
                    cache.remove(0);
                }
                false
            };
            cache.push(key);
            hit
        })
        .collect()
}

/// FIFO model: `cache[0]` is the oldest insertion.
fn model_fifo(capacity: usize, keys: &[u32]) -> Vec<bool> {
    let mut cache: Vec<u32> = Vec::new();
    keys.iter()
        .map(|&key| {
            if cache.contains(&key) {
                return true;
            }
            if cache.len() == capacity {
                cache.remove(0);
            }
            cache.push(key);
            false
        })
        .collect()
}

/// LFU model: entries `(key, count, time of last use)`; the victim has the
/// smallest count, then the oldest last use. An evicted key's count is gone.
fn model_lfu(capacity: usize, keys: &[u32]) -> Vec<bool> {
    let mut cache: Vec<(u32, u64, usize)> = Vec::new();
    keys.iter()
        .enumerate()
        .map(|(now, &key)| {
            if let Some(entry) = cache.iter_mut().find(|entry| entry.0 == key) {
                entry.1 += 1;
                entry.2 = now;
                return true;
            }
            if cache.len() == capacity {
                let victim = (0..cache.len())
                    .min_by_key(|&i| (cache[i].1, cache[i].2))
                    .expect("a full cache is not empty");
                cache.remove(victim);
            }
            cache.push((key, 1, now));
            false
        })
        .collect()
}

/// OPT model: on a miss with a full cache, scan the rest of the trace for
/// each cached key's next use and evict the farthest (never = infinitely
/// far). Demand fill: the missed key is always inserted.
fn model_opt(capacity: usize, keys: &[u32]) -> Vec<bool> {
    let mut cache: Vec<u32> = Vec::new();
    keys.iter()
        .enumerate()
        .map(|(now, &key)| {
            if cache.contains(&key) {
                return true;
            }
            if cache.len() == capacity {
                let next_use = |cached: u32| {
                    keys[now + 1..]
                        .iter()
                        .position(|&k| k == cached)
                        .unwrap_or(usize::MAX)
                };
                let victim = (0..cache.len())
                    .max_by_key(|&i| next_use(cache[i]))
                    .expect("a full cache is not empty");
                cache.remove(victim);
            }
            cache.push(key);
            false
        })
        .collect()
}

/// ARC model, transcribed line by line from Fig. 4 of Megiddo & Modha 2003
/// with `Vec` lists (index 0 = LRU end), integer p, step rounded down.
fn model_arc(c: usize, keys: &[u32]) -> Vec<bool> {
    let (mut t1, mut t2, mut b1, mut b2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut p = 0usize;
    let remove = |list: &mut Vec<u32>, key: u32| {
        let at = list.iter().position(|&k| k == key).expect("key in list");
        list.remove(at);
    };
    let replace = |in_b2: bool,
                   p: usize,
                   t1: &mut Vec<u32>,
                   t2: &mut Vec<u32>,
                   b1: &mut Vec<u32>,
                   b2: &mut Vec<u32>| {
        if !t1.is_empty() && ((in_b2 && t1.len() == p) || t1.len() > p) {
            b1.push(t1.remove(0));
        } else {
            b2.push(t2.remove(0));
        }
    };
    let mut hits = Vec::new();
    for &x in keys {
        if t1.contains(&x) || t2.contains(&x) {
            // Case I
            if t1.contains(&x) {
                remove(&mut t1, x);
            } else {
                remove(&mut t2, x);
            }
            t2.push(x);
            hits.push(true);
            continue;
        }
        if b1.contains(&x) {
            // Case II
            let delta = if b1.len() >= b2.len() {
                1
            } else {
                b2.len() / b1.len()
            };
            p = c.min(p + delta);
            replace(false, p, &mut t1, &mut t2, &mut b1, &mut b2);
            remove(&mut b1, x);
            t2.push(x);
        } else if b2.contains(&x) {
            // Case III
            let delta = if b2.len() >= b1.len() {
                1
            } else {
                b1.len() / b2.len()
            };
            p = p.saturating_sub(delta);
            replace(true, p, &mut t1, &mut t2, &mut b1, &mut b2);
            remove(&mut b2, x);
            t2.push(x);
        } else {
            // Case IV
            let l1 = t1.len() + b1.len();
            let l2 = t2.len() + b2.len();
            if l1 == c {
                if t1.len() < c {
                    b1.remove(0);
                    replace(false, p, &mut t1, &mut t2, &mut b1, &mut b2);
                } else {
                    t1.remove(0);
                }
            } else if l1 + l2 >= c {
                if l1 + l2 == 2 * c {
                    b2.remove(0);
                }
                replace(false, p, &mut t1, &mut t2, &mut b1, &mut b2);
            }
            t1.push(x);
        }
        hits.push(false);
    }
    hits
}

/// Hit or miss for every request, from the fast implementation.
fn fast(policy: PolicyKind, capacity: usize, trace: &Trace) -> Vec<bool> {
    let mut cache = policy.build(capacity as u64, trace);
    trace.keys.iter().map(|&key| cache.access(key)).collect()
}

/// A random trace: up to 300 requests over up to 40 distinct keys (few keys
/// and many repeats, so that hits, evictions and ghost hits all happen).
fn traces() -> impl Strategy<Value = Trace> {
    (1u64..40)
        .prop_flat_map(|keys| prop::collection::vec(0..keys, 0..300).prop_map(Trace::from_keys))
}

fn hits(policy: PolicyKind, capacity: u64, trace: &Trace) -> u64 {
    simulate(policy, capacity, trace).hits
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn fast_policies_agree_with_the_models(trace in traces(), capacity in 1usize..45) {
        prop_assert_eq!(fast(PolicyKind::Fifo, capacity, &trace), model_fifo(capacity, &trace.keys));
        prop_assert_eq!(fast(PolicyKind::Lru, capacity, &trace), model_lru(capacity, &trace.keys));
        prop_assert_eq!(fast(PolicyKind::Lfu, capacity, &trace), model_lfu(capacity, &trace.keys));
        prop_assert_eq!(fast(PolicyKind::Belady, capacity, &trace), model_opt(capacity, &trace.keys));
        prop_assert_eq!(fast(PolicyKind::Arc, capacity, &trace), model_arc(capacity, &trace.keys));
    }

    #[test]
    fn opt_hits_at_least_as_often_as_every_policy(trace in traces(), capacity in 1u64..45) {
        let opt = hits(PolicyKind::Belady, capacity, &trace);
        for policy in PolicyKind::ALL {
            prop_assert!(opt >= hits(policy, capacity, &trace), "{policy} beat OPT");
        }
    }

    #[test]
    fn lru_and_opt_hits_never_drop_as_the_cache_grows(trace in traces()) {
        for policy in [PolicyKind::Lru, PolicyKind::Belady] {
            let mut previous = 0;
            for capacity in 1..=trace.distinct_keys as u64 + 1 {
                let now = hits(policy, capacity, &trace);
                prop_assert!(now >= previous, "{policy}: {previous} hits at size {}, {now} at {capacity}", capacity - 1);
                previous = now;
            }
        }
    }

    #[test]
    fn a_cache_holding_every_key_only_misses_first_uses(trace in traces(), extra in 0u64..3) {
        let capacity = trace.distinct_keys as u64 + extra;
        for policy in PolicyKind::ALL {
            let outcome = simulate(policy, capacity.max(1), &trace);
            prop_assert_eq!(outcome.hits, trace.requests() - trace.distinct_keys as u64, "{}", policy);
            prop_assert_eq!(outcome.hits + outcome.misses, trace.requests());
        }
    }

    #[test]
    fn a_huge_cache_behaves_like_one_holding_every_key(trace in traces()) {
        let exact = trace.distinct_keys as u64;
        for policy in PolicyKind::ALL {
            prop_assert_eq!(
                simulate(policy, u64::MAX, &trace),
                simulate(policy, exact.max(1), &trace)
            );
        }
    }

    #[test]
    fn arc_keeps_the_papers_bounds(trace in traces(), capacity in 1u64..45) {
        let mut arc = Arc::new(capacity, trace.distinct_keys);
        for &key in &trace.keys {
            arc.access(key);
            let l = arc.lists();
            let c = capacity as usize;
            prop_assert!(l.t1 + l.t2 <= c);
            prop_assert!(l.t1 + l.b1 <= c);
            prop_assert!(l.t1 + l.t2 + l.b1 + l.b2 <= 2 * c);
            prop_assert!(arc.p() <= capacity);
        }
    }
}
