#!/usr/bin/env python3
"""Time libCacheSim on a plain-text trace of object ids (one id per line).

Used by cache-audit's benchmark (`cargo bench -p cache-audit`), which writes the
same Zipf trace both in cache-audit's `R <key>` format and as plain ids, starts
this script once, and asks it for one run at a time, interleaved with its own
runs, so that both sides see the same machine. Needs `pip install libcachesim`.

usage: python3 run_libcachesim.py IDS_FILE

Reads requests `POLICY CACHE_SIZE` (policy: fifo, lru, lfu or arc), one per
line on stdin, and answers each with one CSV line on stdout:

    policy,cache_size,seconds,hits,requests

`seconds` is the wall-clock time of opening the trace reader plus
`process_trace` (reading, parsing and simulating the whole trace), excluding
the interpreter's start-up and the import. `hits` is derived from the miss
ratio that `process_trace` returns. It prints `ready` once the module is
imported.
"""

import sys
import time

import libcachesim as lcs

POLICIES = {"fifo": lcs.FIFO, "lru": lcs.LRU, "lfu": lcs.LFU, "arc": lcs.ARC}


def run_once(path, policy, size):
    """Seconds for one whole simulation, and its request miss ratio."""
    start = time.perf_counter()
    reader = lcs.TraceReader(trace=path, trace_type=lcs.TraceType.PLAIN_TXT_TRACE)
    cache = policy(cache_size=size)
    miss_ratio, _byte_miss_ratio = cache.process_trace(reader)
    return time.perf_counter() - start, miss_ratio


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[2])
    path = sys.argv[1]
    with open(path, "rb") as ids:
        requests = sum(1 for _ in ids)
    print("ready", flush=True)
    for line in sys.stdin:
        name, size = line.split()
        seconds, miss_ratio = run_once(path, POLICIES[name], int(size))
        hits = round((1.0 - miss_ratio) * requests)
        print(f"{name},{size},{seconds:.4f},{hits},{requests}", flush=True)


if __name__ == "__main__":
    main()
