//! Running cache-audit for a request and answering with its report.
//!
//! One simulation is one child process ([`crate::child`]) and three steps:
//!
//! ```text
//! start: spawn cache-audit <trace> <policy> <size> ─► 500 / 503 if it cannot start
//!   │
//! drive: poll(2) on stdout, stderr and a pidfd ─► exited, or killed at the deadline
//!   │      (a worker blocks in Backend::run; an event loop steps many children)
//!   │
//! finish: status and report ─► 200 / 500 / 503 / 504
//! ```
//!
//! Response bodies say what failed in the server's terms ("the simulator
//! could not be started", "the trace could not be read"); paths, OS errors
//! and what the child printed go to the log, never to the client.

use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::child::{Child, Children, End, Outcome, SpawnError};
use crate::json;
use crate::log;
use crate::response::{Response, Status};
use crate::sim::SimParams;
use crate::sim::report::{parse_report, report_response};

/// cache-audit's exit status when the trace cannot be read or is malformed
/// (DESIGN "cache-audit"). Its other failure, writing its CSV, cannot happen
/// here: the server never passes `--out`.
const TRACE_UNREADABLE: i32 = 1;

/// Characters of child output quoted in the server's log for a failed
/// simulation.
pub const EXCERPT_CHARS: usize = 200;

/// How the server runs cache-audit, and which children are running.
#[derive(Debug)]
pub struct Backend {
    /// The cache-audit executable.
    pub program: PathBuf,
    /// The directory holding `<trace>.txt` for every name in [`crate::sim::TRACES`].
    pub traces_dir: PathBuf,
    /// How long one simulation may run before it is killed (`--backend-timeout`).
    pub timeout: Duration,
    /// The children spawned and not yet reaped, for [`Backend::kill_all`].
    children: Arc<Children>,
}

impl Backend {
    /// A backend that runs `program` on traces from `traces_dir`, each run
    /// limited to `timeout`. Paths are validated by the command line (see
    /// `cli`), not here.
    pub fn new(program: PathBuf, traces_dir: PathBuf, timeout: Duration) -> Backend {
        Backend {
            program,
            traces_dir,
            timeout,
            children: Arc::new(Children::new()),
        }
    }

    // ANCHOR: run
    /// Runs one simulation and answers it, blocking the calling thread until
    /// the child is done: [`Backend::start`], [`Child::wait`], then
    /// [`Backend::finish`].
    pub fn run(&self, params: &SimParams) -> Response {
        match self.start(params) {
            Ok(mut child) => {
                let outcome = child.wait();
                self.finish(params, outcome)
            }
            Err(refused) => refused,
        }
    }
    // ANCHOR_END: run

    // ANCHOR: start
    /// Spawns cache-audit for `params`, with the trace's path, the policy
    /// and the cache size as separate arguments, and `--backend-timeout`
    /// from now as its deadline.
    ///
    /// # Errors
    /// The response to send instead: `503` with `Retry-After: 1` when
    /// processes or descriptors run out, or after [`Backend::kill_all`];
    /// `500` when the program cannot be started (the cause is logged).
    pub fn start(&self, params: &SimParams) -> Result<Child, Response> {
        let trace = self.traces_dir.join(format!("{}.txt", params.trace));
        let size = params.cache_size.to_string();
        let args = [
            trace.as_os_str(),
            OsStr::new(params.policy),
            OsStr::new(&size),
        ];
        let deadline = Instant::now() + self.timeout;
        Child::spawn(&self.program, &args, deadline, &self.children).map_err(|error| {
            match error {
                // A passing condition of this server, not a broken backend:
                // the client may retry.
                SpawnError::Exhausted(error) => {
                    log::error(&format!("cannot start {}: {error}", self.program.display()));
                    json::error(
                        Status::ServiceUnavailable,
                        "the simulator cannot be started right now: the server is out of \
                         processes or descriptors",
                    )
                    .with_header("Retry-After", "1")
                }
                // Past the drain deadline: a new child would outlive the server.
                SpawnError::Stopped => shutting_down(),
                SpawnError::Failed(error) => {
                    log::error(&format!("cannot start {}: {error}", self.program.display()));
                    json::error(
                        Status::InternalServerError,
                        "the simulator could not be started",
                    )
                }
            }
        })
    }
    // ANCHOR_END: start

    // ANCHOR: finish
    /// Answers a simulation from what its child left: `200` with the report
    /// as JSON; `500` if it exited non-zero, died by a signal or printed no
    /// valid report; `504` if it ran past the timeout and was killed; `503`
    /// if the server's shutdown killed it (see [`Backend::kill_all`]).
    pub fn finish(&self, params: &SimParams, outcome: Outcome) -> Response {
        let status = match outcome.end {
            End::TimedOut => {
                return json::error(
                    Status::GatewayTimeout,
                    &format!(
                        "the simulator ran longer than {:?} and was killed",
                        self.timeout
                    ),
                );
            }
            End::Exited(status) => status,
        };
        if status.signal().is_some() && self.children.stopped() {
            return shutting_down();
        }
        if !status.success() {
            log::error(&format!(
                "{} for trace {} {}: {}",
                self.program.display(),
                params.trace,
                how_it_ended(status),
                excerpt(&outcome.stderr)
            ));
            let message = match status.code() {
                Some(TRACE_UNREADABLE) => "the trace could not be read".to_owned(),
                _ => format!("the simulator {}", how_it_ended(status)),
            };
            return json::error(Status::InternalServerError, &message);
        }
        match parse_report(&String::from_utf8_lossy(&outcome.stdout), params) {
            Ok(report) => report_response(params, &report),
            Err(problem) => {
                log::error(&format!(
                    "{} printed no valid report ({problem}): {}",
                    self.program.display(),
                    excerpt(&outcome.stdout)
                ));
                // What the child printed stays in the log: it may quote
                // anything, paths included.
                json::error(
                    Status::InternalServerError,
                    "the simulator printed no valid report",
                )
            }
        }
    }
    // ANCHOR_END: finish

    /// Kills the process group of every running child (SIGKILL), and
    /// refuses new simulations with `503`. Used when the shutdown drain runs
    /// out of time; whoever drives those children then answers `503` and
    /// reaps them as usual.
    pub fn kill_all(&self) {
        self.children.kill_all();
    }
}

/// "exited with status 3", "was killed by signal 9".
fn how_it_ended(status: std::process::ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "ended abnormally".to_owned(),
    }
}

/// The answer to a simulation refused or stopped because the server is
/// shutting down.
fn shutting_down() -> Response {
    json::error(
        Status::ServiceUnavailable,
        "the server is shutting down and stopped this simulation",
    )
}

/// The first [`EXCERPT_CHARS`] characters of `bytes` (invalid UTF-8
/// replaced), with `…` when cut. Escaping is left to serde_json.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return "(no output)".to_owned();
    }
    let mut cut: String = text.chars().take(EXCERPT_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_bounded() {
        assert_eq!(excerpt(b""), "(no output)");
        let long = "x".repeat(1000);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), EXCERPT_CHARS + 1);
    }
}
