//! NetServe's reliability suite: what the server survives.
//!
//! The conformance suite (`tests/`) checks that each stage *behaves*; this suite checks that it
//! *survives*: clients that dribble their request or read the answer a byte at a time, a
//! backend that dies, hangs or floods, clients that reset, a process out of file descriptors,
//! a minute of load and a SIGTERM in the middle of it. Starting servers, the raw client,
//! `/proc`, slow clients and fake backends come from the `harness` crate.
//!
//! | module | what it does |
//! |---|---|
//! | [`slow`] | slowloris and slow-read attacks (slowhttptest, or the harness's slow clients) |
//! | [`faults`] | backend and client faults, descriptor exhaustion |
//! | [`load`] | mixed load, then SIGTERM under load |
//! | [`report`] | the Markdown tables the book includes |
//!
//! The differential and property tests of the request-head parser are common's tests
//! (`common/tests/`); the fuzz targets are in `fuzz/` at the workspace root.

pub mod faults;
pub mod load;
pub mod report;
pub mod slow;

use std::path::Path;
use std::process::Command;

use harness::server::Server;
use harness::stages::{self, CACHE_AUDIT, Stage};

/// One check of a scenario: what was required, and whether it held.
#[derive(Clone, Debug)]
pub struct Check {
    /// What must hold, e.g. `"status 504"`.
    pub what: String,
    /// What was observed, e.g. `"504"`.
    pub observed: String,
    /// Whether the observation meets the requirement.
    pub passed: bool,
}

impl Check {
    /// A check that passed when `passed` is true.
    pub fn new(what: impl Into<String>, observed: impl Into<String>, passed: bool) -> Check {
        Check {
            what: what.into(),
            observed: observed.into(),
            passed,
        }
    }
}

/// Whether every check passed.
pub fn all_passed(checks: &[Check]) -> bool {
    checks.iter().all(|check| check.passed)
}

/// The failed checks, one per line, for a report or an error message.
pub fn failures(checks: &[Check]) -> String {
    let failed: Vec<String> = checks
        .iter()
        .filter(|check| !check.passed)
        .map(|check| format!("{}: got {}", check.what, check.observed))
        .collect();
    failed.join("; ")
}

/// Checks that `stage` (and from stage 05 on, `cache-audit`) is built in `bin_dir`, with a
/// message that says how to build what is missing.
pub fn check_built(stage: Stage, bin_dir: &Path) -> Result<(), String> {
    stages::missing_build(&[stage], stage.runs_simulations(), bin_dir).map_or(Ok(()), Err)
}

/// How to start a stage for a scenario.
#[derive(Clone, Copy, Default)]
pub struct Setup<'a> {
    /// Arguments after `PORT`, e.g. `["--quiet"]`.
    pub args: &'a [&'a str],
    /// The backend in place of `cache-audit` (a fake script), stages 05-07.
    pub backend: Option<&'a Path>,
    /// Shell commands run first (e.g. `ulimit -n 64`): `/bin/sh` runs them, then `exec`s the
    /// server, so the process watched *is* the server.
    pub shell: Option<&'a str>,
}

/// The command that starts `stage` from `bin_dir` on port 0 as `setup` says, with
/// `cache-audit` from `bin_dir` and the bundled traces unless `setup` names a backend.
pub fn command(stage: Stage, bin_dir: &Path, setup: Setup<'_>) -> Command {
    let extra: Vec<_> = setup.args.iter().map(Into::into).collect();
    let default_backend = bin_dir.join(CACHE_AUDIT);
    let backend = setup.backend.unwrap_or(&default_backend);
    let traces = harness::default_traces_dir();
    let args = stages::arguments(stage.number, None, &extra, backend, &traces);
    let mut command = match setup.shell {
        Some(shell) => {
            let mut command = Command::new("/bin/sh");
            command
                .arg("-c")
                .arg(format!("{shell} && exec \"$0\" \"$@\""));
            command.arg(stage.path(bin_dir));
            command
        }
        None => Command::new(stage.path(bin_dir)),
    };
    command.args(args);
    command
}

/// Starts `stage` as [`command`] says and waits for its readiness line.
pub fn start(stage: Stage, bin_dir: &Path, setup: Setup<'_>) -> Result<Server, String> {
    check_built(stage, bin_dir)?;
    Server::start(command(stage, bin_dir, setup))
}
