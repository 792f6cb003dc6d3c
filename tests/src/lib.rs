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
//! Tests never sleep to synchronise: they wait for the readiness line, a socket event, a child
//! exit, or poll an observable condition with [`wait_until`], always with a bound.

pub mod cases;
pub mod client;
pub mod proc;
pub mod report;
pub mod scripts;
pub mod server;
pub mod target;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub use target::Target;

/// How often [`wait_until`] re-checks its condition.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Polls `condition` every 10 ms until it holds or `bound` has passed; returns whether it held.
///
/// Some things a test must wait for have no event to block on: the server's thread count in
/// `/proc`, the number of sockets it holds, a child process disappearing. Polling them is the
/// honest way to wait, *as long as* the wait ends the moment the condition holds (so a fast
/// server is not slowed down) and has a hard bound (so a broken server makes the case fail with
/// a message instead of hanging the suite). A fixed `sleep` has neither property: too short and
/// the test is flaky, too long and every run pays for it.
pub fn wait_until(bound: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// The workspace root: the parent of this crate's directory (`tests/`).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// The bundled traces, `<workspace>/cache-audit/traces/synthetic`, passed as `--traces-dir`.
pub fn default_traces_dir() -> PathBuf {
    workspace_root()
        .join("cache-audit")
        .join("traces")
        .join("synthetic")
}

/// Builds the `cache-audit` binary that `cargo test -p stage05-…` did not build (cargo builds
/// only the package under test), in the same profile as the stage binary beside it. A failure
/// is reported by the cases that need the binary.
fn build_cache_audit(path: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    command.args(["build", "-p", "cache-audit", "--bin", "cache-audit"]);
    if path.parent().is_some_and(|dir| dir.ends_with("release")) {
        command.arg("--release");
    }
    eprintln!("building cache-audit for stages 05-07: {command:?}");
    if let Err(error) = command.status() {
        eprintln!("could not run cargo: {error}");
    }
}

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
    let cache_audit = match binary.parent() {
        Some(dir) => dir.join("cache-audit"),
        None => PathBuf::from("cache-audit"),
    };
    if stage >= 5 && !cache_audit.is_file() {
        build_cache_audit(&cache_audit);
    }
    let target = Arc::new(Target::new(
        stage,
        vec![binary.into_os_string()],
        cache_audit,
        default_traces_dir(),
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
