//! NetServe's reliability suite: what the server survives.
//!
//! The conformance suite (`tests/`) checks that each stage *behaves*; this
//! suite checks that it *survives*: clients that dribble their request or
//! read the answer a byte at a time, a backend that dies, hangs or floods,
//! clients that reset, a process out of file descriptors, a minute of load
//! and a SIGTERM in the middle of it. Every part reuses the conformance
//! suite's pieces: [`conformance::server::Server`] to start a stage binary on
//! port 0 and wait for its readiness line, [`conformance::client`] to speak
//! raw HTTP, [`conformance::proc`] to read threads, memory and children from
//! `/proc`, and [`conformance::scripts`] for misbehaving fake backends.
//!
//! | module | what it does |
//! |---|---|
//! | [`stages`] | where the stage binaries are, how to start one |
//! | [`observe`] | sampling a server from `/proc`, and a normal client's view |
//! | [`slow`] | slowloris and slow-read attacks (slowhttptest, or a built-in slowloris) |
//! | [`faults`] | backend and client faults, descriptor exhaustion |
//! | [`load`] | mixed load, then SIGTERM under load |
//! | [`report`] | the Markdown tables the book includes |
//!
//! The parser-level parts (the differential test against `httparse`, the
//! property tests) are `tests/*.rs` of this package; the fuzz targets are in
//! `fuzz/` at the workspace root.

pub mod faults;
pub mod load;
pub mod observe;
pub mod report;
pub mod slow;
pub mod stages;

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
    checks
        .iter()
        .filter(|check| !check.passed)
        .map(|check| format!("{}: got {}", check.what, check.observed))
        .collect::<Vec<_>>()
        .join("; ")
}
