//! Memory grows with the number of requests and distinct keys, never with the
//! cache size, the size of the trace file or the length of a line.
//!
//! Each run is started under a limit on its address space (`ulimit -v`): 32 MiB
//! is far below what any structure sized by a cache size of 1,000,000,000
//! would need (a single byte per slot would be 1 GB), yet ample for a trace of
//! 200,000 requests over 20,000 keys; 16 MiB is less than the 20 MiB files
//! below, so a loader that read a whole file, or a whole line, into memory
//! would fail with "out of memory" instead of naming line 1.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Run the `cache-audit` binary with `args` under an address-space limit of
/// `limit_kib` KiB.
fn run_limited(limit_kib: u32, args: &[&OsStr]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(r#"ulimit -v {limit_kib} && exec "$0" "$@""#))
        .arg(env!("CARGO_BIN_EXE_cache-audit"))
        .args(args)
        .output()
        .expect("sh runs")
}

#[test]
fn a_billion_slot_cache_fits_in_the_memory_of_a_small_one() {
    let trace = Path::new(env!("CARGO_TARGET_TMPDIR")).join("memory-trace.txt");
    let text: String = (0..200_000u64)
        .map(|i| format!("R {}\n", (i * 7919) % 20_000))
        .collect();
    fs::write(&trace, text).expect("write trace");

    for policy in ["fifo", "lru", "lfu", "arc", "belady"] {
        for size in ["10", "1000000000", "18446744073709551615"] {
            let output = run_limited(
                32 * 1024,
                &[trace.as_os_str(), policy.as_ref(), size.as_ref()],
            );
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

/// Size of the files of the tests below, in bytes: more than their memory
/// limit.
const BIG_FILE_BYTES: usize = 20 * 1024 * 1024;

/// Memory limit of the tests below, in KiB.
const SMALL_LIMIT_KIB: u32 = 16 * 1024;

/// Write `bytes` to a file named `name` in the test's scratch directory.
fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    fs::write(&path, bytes).expect("write scratch file");
    path
}

/// Run `trace` in little memory and check that it fails quickly, with exit
/// status 1, nothing on stdout, and one line on stderr containing `expected`.
fn assert_fails_in_little_memory(trace: &Path, expected: &str) {
    let start = Instant::now();
    let output = run_limited(
        SMALL_LIMIT_KIB,
        &[trace.as_os_str(), "lru".as_ref(), "2".as_ref()],
    );
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{trace:?}: {stderr}");
    assert!(output.stdout.is_empty(), "{trace:?}");
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr:?}");
    assert!(stderr.starts_with("cache-audit: "), "{stderr}");
    assert!(stderr.contains(expected), "{stderr:?} lacks {expected:?}");
    // Generous, for a loaded machine: the point is that the run stops at
    // line 1 instead of reading on.
    assert!(
        elapsed < Duration::from_secs(10),
        "{trace:?} took {elapsed:?}"
    );
}

#[test]
fn a_line_without_end_fails_at_line_1_in_little_memory() {
    let trace = scratch_file("memory-one-line.txt", &vec![b'R'; BIG_FILE_BYTES]);
    assert_fails_in_little_memory(&trace, "line 1: longer than 65536 bytes");
    let _ = fs::remove_file(&trace);
}

#[test]
fn an_endless_file_fails_at_line_1_in_little_memory() {
    // No newline ever: the loader must not wait for one.
    assert_fails_in_little_memory(Path::new("/dev/zero"), "line 1: longer than 65536 bytes");
}

#[test]
fn binary_garbage_fails_at_line_1_without_reading_on() {
    // An executable given by mistake: a binary header on line 1, then
    // megabytes of lines that are never looked at.
    let mut bytes =
        b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0>\0\x01\0\0\0\x1b[31m\r\n".to_vec();
    bytes.extend(b"R 1\n".repeat(BIG_FILE_BYTES / 4));
    let trace = scratch_file("memory-garbage.txt", &bytes);
    assert_fails_in_little_memory(
        &trace,
        r#"line 1: expected `R <key>` or `W <key>`, found "\u{7f}ELF\u{2}"#,
    );
    let _ = fs::remove_file(&trace);
}
