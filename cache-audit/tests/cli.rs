//! The `cache-audit` binary, tested from the outside: golden results, the
//! exact stdout layout, exit statuses and error lines, `--out`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cache-audit");
const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Run the binary from the crate directory with `args`.
fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(CRATE_DIR)
        .output()
        .expect("the cache-audit binary runs")
}

/// A fresh, empty scratch directory for one test.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{test}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Write `text` to a file in a scratch directory and return its path.
fn trace_file(test: &str, text: &str) -> String {
    let path = scratch_dir(test).join("trace.txt");
    fs::write(&path, text).expect("write trace");
    path.display().to_string()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// The value after `label` on stdout, e.g. `field(out, "Hits:")`.
fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} line in {out}"))
        .trim()
}

/// Assert a failed run: this exit status, nothing on stdout, exactly one line
/// on stderr that starts `cache-audit: ` and contains every `fragment`.
fn assert_fails(output: &Output, status: i32, fragments: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(status), "stderr: {err}");
    assert_eq!(stdout(output), "", "nothing on stdout on failure");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.starts_with("cache-audit: "), "{err}");
    for fragment in fragments {
        assert!(err.contains(fragment), "{err:?} lacks {fragment:?}");
    }
}

#[test]
fn every_golden_row_is_reproduced() {
    let golden = fs::read_to_string(Path::new(CRATE_DIR).join("tests/data/cacheaudit-golden.csv"))
        .expect("golden CSV");
    let mut lines = golden.lines();
    assert_eq!(
        lines.next(),
        Some("policy,trace,cache_size,requests,hits,misses")
    );
    let mut rows = 0;
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let [policy, trace, size, requests, hits, misses] = fields[..] else {
            panic!("bad golden row {line}");
        };
        let path = format!("traces/synthetic/{trace}.txt");
        let output = run(&[&path, policy, size]);
        assert!(output.status.success(), "{line}: {}", stderr(&output));
        let out = stdout(&output);
        let got = (
            field(&out, "Requests:"),
            field(&out, "Hits:"),
            field(&out, "Misses:"),
        );
        assert_eq!(got, (requests, hits, misses), "golden row {line}");
        rows += 1;
    }
    assert_eq!(rows, 160, "5 policies x 4 traces x 8 sizes");
}

/// The stdout of a run, with the timing-dependent `Runtime:` value checked
/// for shape and replaced by `N`.
fn stdout_without_runtime(output: &Output) -> String {
    let out = stdout(output);
    let runtime = field(&out, "Runtime:");
    let ms = runtime.strip_suffix(" ms").expect("Runtime ends in ' ms'");
    assert!(
        !ms.is_empty() && ms.bytes().all(|b| b.is_ascii_digit()),
        "{runtime:?}"
    );
    out.replace(&format!("Runtime:    {ms} ms\n"), "Runtime:    N ms\n")
}

#[test]
fn stdout_layout_is_the_originals_byte_for_byte() {
    let output = run(&["traces/synthetic/hot_cold.txt", "arc", "10"]);
    assert!(output.status.success());
    assert_eq!(
        stdout_without_runtime(&output),
        "\
Trace:       traces/synthetic/hot_cold.txt
Requests:    825
Unique keys: 605
Policy:      arc
Cache size:  10

--- Results ---
Hit Rate:   26.67%
Hits:       220
Misses:     605
Runtime:    N ms
"
    );
    assert_eq!(stderr(&output), "");
}

#[test]
fn loop_lru_32_is_570_hits() {
    let output = run(&["traces/synthetic/loop.txt", "lru", "32"]);
    let out = stdout_without_runtime(&output);
    assert!(out.contains("\nHit Rate:   95.00%\nHits:       570\nMisses:     30\n"));
}

#[test]
fn policy_name_is_case_insensitive_and_echoed_in_lower_case() {
    let output = run(&["traces/synthetic/loop.txt", "LrU", "32"]);
    assert!(output.status.success());
    assert_eq!(field(&stdout(&output), "Policy:"), "lru");
}

#[test]
fn a_huge_cache_size_is_fine() {
    for size in ["1000000000", "18446744073709551615"] {
        let output = run(&["traces/synthetic/hot_cold.txt", "belady", size]);
        assert!(output.status.success());
        let out = stdout(&output);
        assert_eq!(field(&out, "Cache size:"), size);
        assert_eq!(field(&out, "Hits:"), "220");
    }
}

#[test]
fn bad_cache_sizes_exit_2() {
    for size in [
        "-1",
        "0",
        "5abc",
        "1e3",
        "+5",
        "",
        " 5",
        "1.0",
        "18446744073709551616",
        "018446744073709551616",
        "100000000000000000000",
    ] {
        let output = run(&["traces/synthetic/loop.txt", "lru", size]);
        assert_fails(
            &output,
            2,
            &[&format!("invalid CACHE_SIZE {size:?}"), "whole number"],
        );
    }
}

#[test]
fn leading_zeros_in_cache_size_are_ignored() {
    // 1001 digits: the value is what counts, not the length of the text.
    let size = format!("{}5", "0".repeat(1000));
    let output = run(&["traces/synthetic/loop.txt", "lru", &size]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(field(&stdout(&output), "Cache size:"), "5");
    // All zeros is still zero.
    let zeros = "0".repeat(1001);
    let output = run(&["traces/synthetic/loop.txt", "lru", &zeros]);
    assert_fails(&output, 2, &["invalid CACHE_SIZE", "whole number"]);
}

#[test]
fn unknown_policy_exits_2_listing_the_valid_ones() {
    let output = run(&["traces/synthetic/loop.txt", "mru", "5"]);
    assert_fails(
        &output,
        2,
        &["unknown POLICY \"mru\"", "fifo, lru, lfu, arc, belady"],
    );
}

#[test]
fn arguments_are_checked_before_the_trace_is_read() {
    // The trace does not exist: a usage error must still win (exit 2).
    assert_fails(&run(&["no/such/trace.txt", "mru", "5"]), 2, &["POLICY"]);
    assert_fails(
        &run(&["no/such/trace.txt", "lru", "-1"]),
        2,
        &["CACHE_SIZE"],
    );
}

#[test]
fn missing_or_extra_arguments_exit_2_on_one_line() {
    assert_fails(&run(&[]), 2, &["<TRACE_FILE>", "usage: cache-audit"]);
    assert_fails(
        &run(&["traces/synthetic/loop.txt", "lru"]),
        2,
        &["<CACHE_SIZE>"],
    );
    assert_fails(
        &run(&["traces/synthetic/loop.txt", "lru", "5", "6"]),
        2,
        &["'6'"],
    );
    assert_fails(
        &run(&["traces/synthetic/loop.txt", "lru", "5", "--bogus"]),
        2,
        &["'--bogus'"],
    );
}

#[test]
fn help_exits_0() {
    let output = run(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("<TRACE_FILE> <POLICY> <CACHE_SIZE>"));
}

#[test]
fn missing_or_unreadable_trace_exits_1() {
    assert_fails(
        &run(&["no/such/trace.txt", "lru", "5"]),
        1,
        &["cannot load trace \"no/such/trace.txt\": No such file"],
    );
    let dir = scratch_dir("unreadable");
    assert_fails(
        &run(&[&dir.display().to_string(), "lru", "5"]),
        1,
        &["cannot load trace"],
    );
}

#[test]
fn a_newline_in_a_path_stays_escaped_in_the_one_error_line() {
    // Missing, malformed, and an unwritable --out: each error quotes the path
    // with the newline escaped as `\n`.
    assert_fails(
        &run(&["no/such\ntrace.txt", "lru", "5"]),
        1,
        &[r#"cannot load trace "no/such\ntrace.txt": "#],
    );
    let dir = scratch_dir("newline");
    let trace = dir.join("bad\ntrace.txt");
    fs::write(&trace, "R 1\nX 2\n").expect("write trace");
    let trace = trace.display().to_string();
    assert_fails(
        &run(&[&trace, "lru", "5"]),
        1,
        &[r#"bad\ntrace.txt": line 2: expected"#],
    );
    let csv = dir.join("no\nsuch/r.csv").display().to_string();
    assert_fails(
        &run(&["traces/synthetic/loop.txt", "lru", "5", "--out", &csv]),
        1,
        &[r#"cannot write ""#, r#"no\nsuch/r.csv": "#],
    );
}

#[test]
fn malformed_line_exits_1_naming_its_line() {
    let path = trace_file("malformed", "# header\nR 1\n\nR 2 3\nR 4\n");
    assert_fails(&run(&[&path, "lru", "5"]), 1, &["line 4:", "\"R 2 3\""]);
}

#[test]
fn comments_crlf_and_writes_are_accepted() {
    let path = trace_file("crlf", "# c\r\nR a\r\n\r\nW a\r\n  # c2\nR b\n");
    let output = run(&[&path, "lru", "5"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert_eq!(field(&out, "Requests:"), "3");
    assert_eq!(field(&out, "Unique keys:"), "2");
    assert_eq!(field(&out, "Hits:"), "1");
}

#[test]
fn empty_trace_prints_zero_not_nan() {
    let path = trace_file("empty", "# nothing here\n");
    for policy in ["fifo", "lru", "lfu", "arc", "belady"] {
        let output = run(&[&path, policy, "5"]);
        assert!(output.status.success());
        let out = stdout(&output);
        assert_eq!(field(&out, "Requests:"), "0");
        assert!(out.contains("\nHit Rate:   0.00%\n"), "{out}");
    }
}

#[test]
fn out_appends_with_one_header() {
    let csv = scratch_dir("out").join("results.csv");
    let csv_arg = csv.display().to_string();
    for (policy, size) in [("lru", "32"), ("arc", "10")] {
        let trace = if policy == "lru" {
            "traces/synthetic/loop.txt"
        } else {
            "traces/synthetic/hot_cold.txt"
        };
        let output = run(&[trace, policy, size, "--out", &csv_arg]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let text = fs::read_to_string(&csv).expect("CSV written");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[0],
        "policy,trace,cache_size,hit_rate,hits,misses,runtime_ms"
    );
    // The runtime is the last field; check everything before it exactly.
    assert!(
        lines[1].starts_with("lru,loop,32,0.950000,570,30,"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("arc,hot_cold,10,0.266667,220,605,"),
        "{text}"
    );
}

#[test]
fn out_to_an_existing_file_adds_no_header() {
    let csv = scratch_dir("out-existing").join("results.csv");
    fs::write(&csv, "earlier,row\n").expect("seed CSV");
    let output = run(&[
        "traces/synthetic/scan.txt",
        "fifo",
        "2",
        "--out",
        &csv.display().to_string(),
    ]);
    assert!(output.status.success());
    let text = fs::read_to_string(&csv).expect("CSV");
    assert!(
        text.starts_with("earlier,row\nfifo,scan,2,0.000000,0,1000,"),
        "{text}"
    );
}

#[test]
fn an_unwritable_csv_exits_1() {
    let dir = scratch_dir("out-unwritable");
    let output = run(&[
        "traces/synthetic/loop.txt",
        "lru",
        "32",
        "--out",
        &dir.join("no/such/dir/results.csv").display().to_string(),
    ]);
    assert_fails(&output, 1, &["cannot write"]);
    // A directory is not a writable CSV either.
    let output = run(&[
        "traces/synthetic/loop.txt",
        "lru",
        "32",
        "--out",
        &dir.display().to_string(),
    ]);
    assert_fails(&output, 1, &["cannot write"]);
}
