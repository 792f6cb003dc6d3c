//! Memory grows with the number of distinct keys, never with the cache size.
//!
//! Each run is started under a 32 MiB limit on its address space (`ulimit -v`),
//! far below what any structure sized by a cache size of 1,000,000,000 would
//! need (a single byte per slot would be 1 GB), yet ample for a trace of
//! 200,000 requests over 20,000 keys.

use std::fs;
use std::path::Path;
use std::process::Command;

#[test]
fn a_billion_slot_cache_fits_in_the_memory_of_a_small_one() {
    let trace = Path::new(env!("CARGO_TARGET_TMPDIR")).join("memory-trace.txt");
    let text: String = (0..200_000u64)
        .map(|i| format!("R {}\n", (i * 7919) % 20_000))
        .collect();
    fs::write(&trace, text).expect("write trace");

    for policy in ["fifo", "lru", "lfu", "arc", "belady"] {
        for size in ["10", "1000000000", "18446744073709551615"] {
            let output = Command::new("sh")
                .arg("-c")
                .arg(r#"ulimit -v 32768 && exec "$0" "$@""#)
                .arg(env!("CARGO_BIN_EXE_cache-audit"))
                .args([trace.as_os_str(), policy.as_ref(), size.as_ref()])
                .output()
                .expect("sh runs");
            assert!(
                output.status.success(),
                "{policy} at size {size} under 32 MiB: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let expected_hits = if size == "10" {
                ""
            } else {
                "Hits:       180000\n"
            };
            assert!(
                String::from_utf8_lossy(&output.stdout).contains(expected_hits),
                "{policy} at size {size}"
            );
        }
    }
}
