//! Hand-derived test vectors, one or more per policy. Each expected value was
//! worked out on paper from the policy's definition; the comments show the
//! cache contents step by step so a reader can check them.

use cache_audit::policy::arc::ArcLists;
use cache_audit::policy::{Arc, Policy};
use cache_audit::{PolicyKind, Trace, simulate};

/// Misses of `policy` with `capacity` keys on `keys`.
fn misses(policy: PolicyKind, capacity: u64, keys: &[u64]) -> u64 {
    simulate(policy, capacity, &Trace::from_keys(keys.iter().copied())).misses
}

/// Hit (`true`) or miss for every request of `keys`.
fn hits(policy: PolicyKind, capacity: u64, keys: &[u64]) -> Vec<bool> {
    let trace = Trace::from_keys(keys.iter().copied());
    let mut cache = policy.build(capacity, &trace);
    trace.keys.iter().map(|&key| cache.access(key)).collect()
}

/// `"HM."`-style pattern: H for a hit, M for a miss.
fn pattern(hits: &[bool]) -> String {
    hits.iter()
        .map(|&hit| if hit { 'H' } else { 'M' })
        .collect()
}

#[test]
fn fifo_shows_beladys_anomaly() {
    // Belady, Nelson & Shedler 1969: more frames, more misses.
    let trace = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5];
    assert_eq!(misses(PolicyKind::Fifo, 3, &trace), 9);
    assert_eq!(misses(PolicyKind::Fifo, 4, &trace), 10);
    // LRU and OPT are stack algorithms: no anomaly on the same trace.
    assert_eq!(misses(PolicyKind::Lru, 3, &trace), 10);
    assert_eq!(misses(PolicyKind::Lru, 4, &trace), 8);
    assert_eq!(misses(PolicyKind::Belady, 3, &trace), 7);
    assert_eq!(misses(PolicyKind::Belady, 4, &trace), 6);
}

/// The reference string of Silberschatz, Galvin & Gagne, "Operating System
/// Concepts", §10.4 (page replacement), with 3 frames.
const TEXTBOOK: [u64; 20] = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1];

#[test]
fn textbook_reference_string() {
    assert_eq!(misses(PolicyKind::Fifo, 3, &TEXTBOOK), 15);
    assert_eq!(misses(PolicyKind::Lru, 3, &TEXTBOOK), 12);
    assert_eq!(misses(PolicyKind::Belady, 3, &TEXTBOOK), 9);
}

#[test]
fn fifo_hits_do_not_refresh() {
    // 1 2 | 1 (hit, 1 stays oldest) | 3 evicts 1 | 1 misses.
    assert_eq!(
        pattern(&hits(PolicyKind::Fifo, 2, &[1, 2, 1, 3, 1])),
        "MMHMM"
    );
}

#[test]
fn lru_hits_refresh() {
    // 1 2 | 1 (hit, now 2 is LRU) | 3 evicts 2 | 1 hits | 2 misses.
    assert_eq!(
        pattern(&hits(PolicyKind::Lru, 2, &[1, 2, 1, 3, 1, 2])),
        "MMHMHM"
    );
}

#[test]
fn lfu_evicts_least_frequent_then_least_recent() {
    // capacity 3:
    //  1 1 1      {1:3}
    //  2 3        {1:3, 2:1, 3:1}
    //  2          {1:3, 2:2, 3:1}
    //  4          evicts 3 (lowest count)            {1:3, 2:2, 4:1}
    //  4          {1:3, 2:2, 4:2}
    //  5          2 and 4 tie at 2; 2 was used less recently: evict 2
    //             {1:3, 4:2, 5:1}
    //  2          miss; evicts 5 (count 1)            {1:3, 4:2, 2:1}
    //  4          hit                                 {1:3, 4:3, 2:1}
    let trace = [1, 1, 1, 2, 3, 2, 4, 4, 5, 2, 4];
    assert_eq!(pattern(&hits(PolicyKind::Lfu, 3, &trace)), "MHHMMHMHMMH");
}

#[test]
fn lfu_forgets_counts_on_eviction() {
    // capacity 3:
    //  1 1 1 1      {1:4}
    //  2 2          {1:4, 2:2}
    //  3 3 3 3 3    {1:4, 2:2, 3:5}
    //  4 (x6)       the miss evicts 2 (count 2)     {1:4, 3:5, 4:6}
    //  2            evicts 1 (count 4)              {3:5, 4:6, 2:1}
    //  2            {3:5, 4:6, 2:2}
    //  1            evicts 2; 1 starts again at 1   {3:5, 4:6, 1:1}
    //  5            evicts 1 (count 1)              {3:5, 4:6, 5:1}
    //  3            hit. Had 1 kept its old count it would have 5, tie
    //               with 3, and 3 (less recent) would have been evicted.
    let trace = [
        1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 2, 2, 1, 5, 3,
    ];
    assert_eq!(
        pattern(&hits(PolicyKind::Lfu, 3, &trace)),
        "MHHHMHMHHHHMHHHHHMHMMH"
    );
}

#[test]
fn opt_evicts_the_farthest_next_use() {
    // capacity 2: 1 2 | 3 misses; next uses: 1 at 4, 2 at 3 -> evict 1
    // {2, 3} | 2 hit | 1 misses, evicts 3 (never used again) | 2 hit
    assert_eq!(
        pattern(&hits(PolicyKind::Belady, 2, &[1, 2, 3, 2, 1, 2])),
        "MMMHMH"
    );
}

#[test]
fn opt_demand_fill_inserts_even_the_farthest_key() {
    // capacity 2: 1 2 | 3 misses: next uses 1 at 3, 2 at 4, 3 never. OPT with
    // bypass would skip caching 3 and hit on both 1 and 2; with demand fill
    // it must insert 3, evicting 2 (the farthest of the cached keys).
    assert_eq!(
        pattern(&hits(PolicyKind::Belady, 2, &[1, 2, 3, 1, 2])),
        "MMMHM"
    );
}

/// One step of an ARC test vector: the key requested, whether it hits, and
/// `p` and the list lengths after the request.
struct ArcStep {
    key: char,
    hit: bool,
    p: u64,
    lists: [usize; 4],
}

fn step(key: char, hit: bool, p: u64, lists: [usize; 4]) -> ArcStep {
    ArcStep { key, hit, p, lists }
}

/// Replay `steps` on an ARC cache of `capacity`, keys being letters A..Z.
fn check_arc(capacity: u64, steps: &[ArcStep]) {
    let mut arc = Arc::new(capacity, 26);
    for (i, s) in steps.iter().enumerate() {
        let key = u32::from(s.key) - u32::from('A');
        let [t1, t2, b1, b2] = s.lists;
        assert_eq!(arc.access(key), s.hit, "step {i} ({}): hit", s.key);
        assert_eq!(arc.p(), s.p, "step {i} ({}): p", s.key);
        assert_eq!(
            arc.lists(),
            ArcLists { t1, t2, b1, b2 },
            "step {i} ({}): |T1|, |T2|, |B1|, |B2|",
            s.key
        );
    }
}

#[test]
fn arc_ghost_hits_move_p_up_then_down() {
    // c = 2. Lists are written head (MRU) first.
    check_arc(
        2,
        &[
            step('A', false, 0, [1, 0, 0, 0]), // T1=[A]
            step('A', true, 0, [0, 1, 0, 0]),  // T2=[A]
            step('B', false, 0, [1, 1, 0, 0]), // T1=[B]  (|L1|+|L2| < c: no REPLACE)
            // C: |L1|+|L2| = 2 = c, REPLACE: |T1| = 1 > p = 0, so B -> B1.
            step('C', false, 0, [1, 1, 1, 0]), // T1=[C] T2=[A] B1=[B]
            // B: ghost hit in B1, p += max(1, |B2|/|B1| = 0) = 1. REPLACE:
            // |T1| = 1 is not > p = 1, so T2's LRU A -> B2.
            step('B', false, 1, [1, 1, 0, 1]), // T1=[C] T2=[B] B2=[A]
            // A: ghost hit in B2, p -= max(1, |B1|/|B2| = 0) = 1. REPLACE:
            // |T1| = 1 > p = 0, so C -> B1.
            step('A', false, 0, [0, 2, 1, 0]), // T2=[A,B] B1=[C]
        ],
    );
}

#[test]
fn arc_adaptation_step_and_the_b2_tie_rule() {
    // c = 4. First fill T2 with A..D, then push T2's keys into B2 until
    // |B2| = 3 and |B1| = 1, so that a B1 ghost hit moves p by
    // |B2| / |B1| = 3 at once.
    check_arc(
        4,
        &[
            step('A', false, 0, [1, 0, 0, 0]),
            step('A', true, 0, [0, 1, 0, 0]),
            step('B', false, 0, [1, 1, 0, 0]),
            step('B', true, 0, [0, 2, 0, 0]),
            step('C', false, 0, [1, 2, 0, 0]),
            step('C', true, 0, [0, 3, 0, 0]),
            step('D', false, 0, [1, 3, 0, 0]),
            step('D', true, 0, [0, 4, 0, 0]), // T2=[D,C,B,A]
            // E: cache full, T1 empty: REPLACE evicts T2's LRU A -> B2.
            step('E', false, 0, [1, 3, 0, 1]),
            step('E', true, 0, [0, 4, 0, 1]),  // T2=[E,D,C,B] B2=[A]
            step('F', false, 0, [1, 3, 0, 2]), // B -> B2
            step('F', true, 0, [0, 4, 0, 2]),
            step('G', false, 0, [1, 3, 0, 3]), // C -> B2
            step('G', true, 0, [0, 4, 0, 3]),  // T2=[G,F,E,D] B2=[C,B,A]
            step('H', false, 0, [1, 3, 0, 4]), // D -> B2; total = 2c
            // I: |L1|+|L2| = 2c, so B2's LRU A is forgotten; REPLACE:
            // |T1| = 1 > p = 0, so H -> B1.
            step('I', false, 0, [1, 3, 1, 3]), // T1=[I] B1=[H] B2=[D,C,B]
            // H: ghost hit in B1, p += |B2| / |B1| = 3. REPLACE: |T1| = 1 is
            // not > 3, so T2's LRU E -> B2.
            step('H', false, 3, [1, 3, 0, 4]), // T2=[H,G,F] B2=[E,D,C,B]
            // D: ghost hit in B2, p -= max(1, |B1|/|B2| = 0) = 1 -> 2.
            // REPLACE: |T1| = 1 < p, so T2's LRU F -> B2.
            step('D', false, 2, [1, 3, 0, 4]), // T2=[D,H,G] B2=[F,E,C,B]
            // E: ghost hit in B2, p -> 1. REPLACE with x in B2 and |T1| = p
            // = 1: the paper's tie rule evicts from T1 (I -> B1), not T2.
            step('E', false, 1, [0, 4, 1, 3]), // T2=[E,D,H,G] B1=[I]
            // I: ghost hit in B1, p += max(1, |B2| / |B1| = 3) -> 4 = c.
            // REPLACE: T1 is empty, so T2's LRU G -> B2.
            step('I', false, 4, [0, 4, 0, 4]), // T2=[I,E,D,H] B2=[G,F,C,B]
        ],
    );
}

#[test]
fn arc_rounds_the_adaptation_step_down() {
    // c = 5. Fill T2 with A..E, push A..D into B2 and I, J into B1 until
    // |B1| = 2 and |B2| = 3; then a B1 ghost hit moves p by
    // max(1, floor(3 / 2)) = 1, where a real-valued p would move by 1.5.
    let mut steps = Vec::new();
    for (i, key) in "ABCDE".chars().enumerate() {
        steps.push(step(key, false, 0, [1, i, 0, 0]));
        steps.push(step(key, true, 0, [0, i + 1, 0, 0]));
    }
    // T2=[E,D,C,B,A]. Each new key now finds T1 empty, so REPLACE sends
    // T2's LRU key to B2; the second request moves the new key into T2.
    for (i, key) in "FGH".chars().enumerate() {
        steps.push(step(key, false, 0, [1, 4, 0, i + 1]));
        steps.push(step(key, true, 0, [0, 5, 0, i + 1]));
    }
    steps.extend([
        // T2=[H,G,F,E,D] B2=[C,B,A]. I: T1 empty, D -> B2.
        step('I', false, 0, [1, 4, 0, 4]),
        // J: |T1| = 1 > p = 0, so I -> B1.
        step('J', false, 0, [1, 4, 1, 4]),
        // K: total = 2c, forget B2's LRU A; J -> B1.
        step('K', false, 0, [1, 4, 2, 3]), // B1=[J,I] B2=[D,C,B]
        // I: ghost hit in B1, p = 0 + floor(3 / 2) = 1. REPLACE: |T1| = 1
        // is not > 1, so T2's LRU E -> B2.
        step('I', false, 1, [1, 4, 1, 4]), // T1=[K] T2=[I,H,G,F] B1=[J]
    ]);
    check_arc(5, &steps);
}
