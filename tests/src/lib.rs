//! The NetServe conformance suite.
//!
//! A black-box test suite: every case starts a server *process* on port 0, talks raw HTTP/1.1
//! bytes to it over TCP and judges the bytes that come back (parsed by `httparse`, a real
//! parser used as an oracle). It never calls server code, so it grades any implementation:
//! each stage of this repository, a student's server, or the original C++ NetServe.
//!
//! Every case is tagged with the first stage that must pass it (see [`cases::ALL`]). Two entry
//! points run the same list:
//!
//! - [`test_main`], called by each stage's integration test (`cargo test -p 01-iterative`), makes
//!   every case a named libtest trial (`s01::health_ok`); cases the stage does not claim yet are
//!   listed as ignored under the name of the stage that brings them.
//! - the `conformance` binary grades any server command by stage and prints one line per case.
//!
//! Starting servers, the raw client, `/proc` and the fake backends come from the `harness`
//! crate, which the benchmark and the reliability suite share; this crate holds what is its
//! own: the cases, the [`Target`] they run against, and the reports.
//!
//! Tests never sleep to synchronise: they wait for the readiness line, a socket event, a child
//! exit, or poll an observable condition with [`harness::wait_until`], always with a bound.

pub mod cases;
pub mod report;
pub mod target;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

pub use target::Target;

/// Runs the suite against one stage binary as libtest trials; the entry point of each stage's
/// `tests/conformance.rs` (a `harness = false` integration test).
///
/// `stage` is the stage number (1..=[`cases::MAX_STAGE`]) the binary claims, `binary` its path (from
/// `env!("CARGO_BIN_EXE_…")`). Stages 5 to 7 are given `--cache-audit <binary's dir>/cache-audit`
/// and `--traces-dir <workspace>/cache-audit/traces/synthetic`. Command-line arguments are the
/// usual libtest ones (`--list`, `--ignored`, a name filter, `--test-threads`…).
pub fn test_main(stage: u8, binary: &str) -> ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let binary = PathBuf::from(binary);
    let bin_dir = binary.parent().map(PathBuf::from).unwrap_or_default();
    if stage >= 5 {
        harness::stages::build_cache_audit(&bin_dir);
    }
    let target = Arc::new(Target::new(
        stage,
        vec![binary.into_os_string()],
        bin_dir.join(harness::stages::CACHE_AUDIT),
        harness::default_traces_dir(),
    ));

    let mut trials = Vec::new();
    for case in cases::ALL {
        let listed_as = match case.applies_to(stage) {
            cases::Applies::Yes => false,
            cases::Applies::NotYet => true,
            cases::Applies::Never => continue,
        };
        let target = Arc::clone(&target);
        let trial = libtest_mimic::Trial::test(case.full_name(), move || {
            cases::run_case(case, &target).map_err(libtest_mimic::Failed::from)
        });
        trials.push(trial.with_ignored_flag(listed_as));
    }
    libtest_mimic::run(&args, trials).exit_code()
}
