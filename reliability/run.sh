#!/usr/bin/env bash
# The whole reliability suite, in one command:
#
#   reliability/run.sh           everything: 100 000 property cases, two 10-minute
#                                fuzz campaigns, slowhttptest against every stage,
#                                every fault on every stage, 60 s of load and a
#                                SIGTERM under load; writes the book's tables to
#                                book/src/measurements/reliability.md
#   reliability/run.sh --short   what CI runs (about two minutes): 10 000 property
#                                cases, 20 s of each fuzz target, the built-in
#                                slowloris against the last stage (07), its faults,
#                                10 s of load and the SIGTERM
#
# Needs: cargo; for the full run also cargo-fuzz (`cargo install cargo-fuzz`)
# and slowhttptest (`apt-get install slowhttptest`). The fuzzers build on
# stable Rust with `--sanitizer none` (no nightly, no RUSTC_BOOTSTRAP).
# The long parts run under `nice -n 19`, so a benchmark on the same machine
# keeps its cores.
set -euo pipefail
cd "$(dirname "$0")/.."

short=false
case "${1:-}" in
--short) short=true ;;
-h | --help)
    echo "usage: reliability/run.sh [--short]   (see reliability/README.md)"
    exit 0
    ;;
"") ;;
*)
    echo "usage: reliability/run.sh [--short]" >&2
    exit 2
    ;;
esac

if $short; then
    cases=10000
    fuzz_seconds=20
    runner_args=(--short)
else
    cases=100000
    fuzz_seconds=600
    runner_args=(--out book/src/measurements/reliability.md)
fi
# Where cargo builds (CARGO_TARGET_DIR if set), and where the logs go.
target_dir=${CARGO_TARGET_DIR:-target}
logs=$target_dir/reliability
mkdir -p "$logs"

step() { printf '\n==> %s\n' "$*"; }

step "differential test against httparse and property tests ($cases cases each)"
PROPTEST_CASES=$cases cargo test --release -p common --test differential --test query \
    -- --nocapture 2>&1 | tee "$logs/properties.log"
# The census line: how often each relation between the two parsers occurred.
census=$(grep -o 'census of .*' "$logs/properties.log" || echo "census: not printed")
{
    echo "### Differential and property tests"
    echo
    echo "$cases generated cases per property, all passed. Relations between httparse and NetServe in the"
    echo "seeded census (BothAcceptAgree: both accept and agree on every part; OnlyNetServeRejects:"
    echo "NetServe is stricter; BothIncomplete: neither has seen the end of the head):"
    echo
    echo "    $census"
    echo
} >"$logs/properties.md"

step "fuzzing: head and query, $fuzz_seconds s each"
fuzz_summary="$logs/fuzz.md"
{
    echo "### Fuzzing"
    echo
    echo "| target | time (s) | executions | corpus (inputs, minimised) | result |"
    echo "|---|---:|---:|---:|---|"
} >"$fuzz_summary"
if cargo fuzz --version >/dev/null 2>&1; then
    for target in head query; do
        mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
        log="$logs/fuzz-$target.log"
        # -timeout: an input running 5 s is a hang. Memory: each target counts
        # what it holds per input (fuzz/fuzz_targets/peak.rs) and fails past
        # its bound; -rss_limit_mb backs that up for the whole process.
        failed=false
        if nice -n 19 cargo fuzz run --sanitizer none "$target" \
            "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
            -max_total_time="$fuzz_seconds" -timeout=5 -rss_limit_mb=256 \
            -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
            result="no crash, no hang, memory within bound"
        else
            result="**FAILED** (see $log and fuzz/artifacts/$target)"
            failed=true
        fi
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
        # Keep only the inputs that add coverage: the corpus that is counted.
        nice -n 19 cargo fuzz cmin --sanitizer none "$target" "fuzz/corpus/$target" >"$logs/cmin-$target.log" 2>&1
        corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
        echo "| $target | $fuzz_seconds | $runs | $corpus | $result |" >>"$fuzz_summary"
        tail -n 3 "$log"
        if $failed; then
            cat "$fuzz_summary"
            exit 1
        fi
    done
else
    if ! $short; then
        echo "error: cargo-fuzz is missing: cargo install cargo-fuzz" >&2
        exit 1
    fi
    echo "cargo-fuzz is not installed: fuzzing skipped (cargo install cargo-fuzz)"
    echo "| (skipped: cargo-fuzz not installed) | | | | |" >>"$fuzz_summary"
fi
cat "$fuzz_summary"

step "servers: slow clients, faults, load and shutdown"
cargo build --release --workspace --bins
nice -n 19 "$target_dir/release/reliability" "${runner_args[@]}" --log-dir "$logs"

if ! $short; then
    {
        echo
        cat "$logs/properties.md" "$fuzz_summary"
    } >>book/src/measurements/reliability.md
    echo "wrote book/src/measurements/reliability.md"
fi
