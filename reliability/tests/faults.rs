//! The fault scenarios of `reliability::faults`, as `cargo test` cases
//! against the stage binaries built next to this test (`target/debug/` under
//! `cargo test --workspace`, which builds every stage binary first). Beyond
//! the conformance suite's `backend_*` and `reset_connections_tolerated`
//! cases, each checks that descriptors come back to their count and that no
//! child is left a zombie.
//!
//! The full table, every fault on every stage, is `reliability faults`.

use std::path::PathBuf;

use harness::stages::{self, LAST, Stage};
use reliability::faults::{self, FaultResult, Flood};

/// Where `cargo test` put the stage binaries; fails with the command that
/// builds them when they are missing (`cargo test -p reliability` alone does
/// not build other packages' binaries).
fn bin_dir() -> PathBuf {
    let dir = stages::default_bin_dir();
    for stage in [stage(1), stage(3), LAST] {
        if let Err(error) = reliability::check_built(stage, &dir) {
            panic!("{error} (or run `cargo build --workspace` before `cargo test -p reliability`)");
        }
    }
    dir
}

fn stage(number: u8) -> Stage {
    Stage::numbered(number).expect("stages 1 to 7 exist")
}

/// Fails with every check that did not hold.
fn expect_passed(outcome: Result<FaultResult, String>) {
    match outcome {
        Ok(result) => assert!(
            result.passed(),
            "stage {}, {}: {}",
            result.stage,
            result.fault,
            reliability::failures(&result.checks)
        ),
        Err(error) => panic!("the scenario could not run: {error}"),
    }
}

/// A log nobody reads (stderr a closed pipe) must not stop a server: stage
/// 01 serves on its main thread, stage 03 on pool workers (which used to die
/// one per request, each from a panic in `eprintln!`).
#[test]
fn log_reader_gone_stage_01() {
    expect_passed(faults::log_reader_gone(stage(1), &bin_dir()));
}

#[test]
fn log_reader_gone_stage_03() {
    expect_passed(faults::log_reader_gone(stage(3), &bin_dir()));
}

#[test]
fn log_reader_gone_stage_07() {
    expect_passed(faults::log_reader_gone(LAST, &bin_dir()));
}

#[test]
fn backend_missing() {
    expect_passed(faults::backend_missing(LAST, &bin_dir()));
}

#[test]
fn backend_killed() {
    expect_passed(faults::backend_killed(LAST, &bin_dir()));
}

#[test]
fn backend_hangs() {
    expect_passed(faults::backend_hangs(LAST, &bin_dir()));
}

#[test]
fn backend_floods_stdout() {
    expect_passed(faults::backend_floods(LAST, &bin_dir(), Flood::Stdout));
}

#[test]
fn backend_floods_stderr() {
    expect_passed(faults::backend_floods(LAST, &bin_dir(), Flood::Stderr));
}

#[test]
fn client_resets_mid_request() {
    expect_passed(faults::reset_mid_request(LAST, &bin_dir()));
}

#[test]
fn client_resets_mid_response() {
    expect_passed(faults::reset_mid_response(LAST, &bin_dir()));
}

#[test]
fn out_of_descriptors() {
    expect_passed(faults::out_of_descriptors(LAST, &bin_dir()));
}
