#!/usr/bin/env python3
"""Time libCacheSim on a plain-text trace of object ids (one id per line).

Used by cache-audit's benchmark (`cargo bench -p cache-audit`), which writes the
same Zipf trace both in cache-audit's `R <key>` format and as plain ids, and runs
this script to measure libCacheSim side by side. Needs `pip install libcachesim`.

usage: python3 run_libcachesim.py IDS_FILE REPEATS SIZE [SIZE ...]

Prints one CSV line per policy and cache size:

    policy,cache_size,seconds,hits,requests

`seconds` is the best (shortest) of REPEATS runs of opening the trace reader plus
`process_trace` (reading, parsing and simulating the whole trace), excluding
the interpreter's start-up and the import. `hits` is derived from the miss
ratio that `process_trace` returns.
"""

import sys
import time

import libcachesim as lcs

POLICIES = [("fifo", lcs.FIFO), ("lru", lcs.LRU), ("lfu", lcs.LFU), ("arc", lcs.ARC)]


def run_once(path, policy, size):
    """Seconds for one whole simulation, and its request miss ratio."""
    start = time.perf_counter()
    reader = lcs.TraceReader(trace=path, trace_type=lcs.TraceType.PLAIN_TXT_TRACE)
    cache = policy(cache_size=size)
    miss_ratio, _byte_miss_ratio = cache.process_trace(reader)
    return time.perf_counter() - start, miss_ratio


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__.split("\n\n")[2])
    path, repeats, sizes = sys.argv[1], int(sys.argv[2]), [int(s) for s in sys.argv[3:]]
    with open(path, "rb") as ids:
        requests = sum(1 for _ in ids)
    for size in sizes:
        for name, policy in POLICIES:
            runs = [run_once(path, policy, size) for _ in range(repeats)]
            seconds = min(t for t, _ in runs)
            hits = round((1.0 - runs[0][1]) * requests)
            print(f"{name},{size},{seconds:.4f},{hits},{requests}", flush=True)


if __name__ == "__main__":
    main()
