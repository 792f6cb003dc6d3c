//! Running cache-audit as a child process and turning its report into JSON.
//!
//! One simulation is one child process:
//!
//! ```text
//! spawn ──► stdout reader ──┐
//!       ├─► stderr reader ──┼─► events ──► worker: all three, or the deadline
//!       └─► exit watcher  ──┘                 │ exited, or deadline: kill the group
//!                                             └─► reap ─► parse ─► 200 / 500 / 503 / 504
//! ```
//!
//! - **Spawn** with separate arguments and no shell, stdin closed, in a
//!   process group of its own (so a terminal's Ctrl-C reaches only the server,
//!   which lets running simulations finish), inheriting no socket (Rust opens
//!   every descriptor close-on-exec).
//! - **Capture** stdout and stderr on two threads at once: a child that fills
//!   one pipe while we block reading the other would wait forever. Each keeps
//!   at most [`CAPTURE_LIMIT`] bytes and throws the rest away while still
//!   reading, so a chatty child can neither block nor exhaust our memory.
//! - **Deadline.** The worker waits for three events (both pipes closed, the
//!   child exited) until the backend timeout; past it, it kills the child's
//!   whole process group, so a helper the child started dies too. When the
//!   child exits in time, whatever it left running in its group is killed
//!   as well: a straggler must neither hold our pipes open nor outlive the
//!   request.
//! - **Reap** every child with `wait`, on every path: no zombies.
//! - **Parse** the report and check that it adds up and answers this
//!   request; anything unexpected is a 500 with an excerpt of what the child
//!   printed, never a 200 with invented numbers.

use std::collections::HashSet;
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::json;
use crate::log;
use crate::response::{Response, Status};
use crate::sim::SimParams;

/// Bytes of stdout, and separately of stderr, kept from a child (64 KiB).
/// A real report is about 250 bytes.
pub const CAPTURE_LIMIT: usize = 64 * 1024;

/// Characters of child output quoted in a 500 error.
pub const EXCERPT_CHARS: usize = 200;

/// Stack size of the three helper threads of a child, in bytes. They only
/// read into an 8 KiB buffer or wait; the default 2 MiB would be mapped and
/// unmapped for every simulation.
const HELPER_STACK: usize = 64 * 1024;

/// How long to wait for a killed process group to close its pipes and exit.
/// SIGKILL cannot be caught, so this is only reached if the kernel is stuck.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// How the server runs cache-audit, and which children are running.
#[derive(Debug)]
pub struct Backend {
    /// The cache-audit executable.
    pub program: PathBuf,
    /// The directory holding `<trace>.txt` for every name in [`crate::sim::TRACES`].
    pub traces_dir: PathBuf,
    /// How long one simulation may run before it is killed (`--backend-timeout`).
    pub timeout: Duration,
    /// Process ids (= process group ids) of children that have been spawned
    /// and not yet reaped. A pid stays reserved by the kernel until it is
    /// reaped, so while a pid is in this set, signalling it cannot hit an
    /// unrelated process that reused the number. Entries are removed under
    /// the lock *before* the reaping `wait`.
    running: Mutex<HashSet<u32>>,
    /// Set once by [`Backend::kill_all`]: children that die by a signal from
    /// then on were stopped by the shutdown, not by a fault of their own.
    stopping: AtomicBool,
}

/// What cache-audit reported, in the units it prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// Accesses that found their key in the cache.
    pub hits: u64,
    /// Accesses that did not.
    pub misses: u64,
    /// Simulation time in whole milliseconds.
    pub runtime_ms: u64,
}

/// Everything a finished (or killed) child left behind.
struct Outcome {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    timed_out: bool,
}

/// What the helper threads report to the worker.
enum Event {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Exited,
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
            running: Mutex::new(HashSet::new()),
            stopping: AtomicBool::new(false),
        }
    }

    // ANCHOR: run
    /// Runs one simulation and answers it:
    /// `200` with the report as JSON; `500` if the child could not start,
    /// exited non-zero, died by a signal or printed no valid report; `504` if
    /// it ran past the timeout and was killed; `503` if the server's shutdown
    /// killed it (see [`Backend::kill_all`]).
    pub fn run(&self, params: &SimParams) -> Response {
        if self.stopping.load(Ordering::SeqCst) {
            // Past the drain deadline: a new child would outlive the server.
            return shutting_down();
        }
        let trace = self.traces_dir.join(format!("{}.txt", params.trace));
        let mut command = Command::new(&self.program);
        // ANCHOR: spawn
        command
            .arg(&trace)
            .arg(params.policy)
            .arg(params.cache_size.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: Ctrl-C in the terminal signals the
            // foreground group, which is now the server alone.
            .process_group(0);
        // ANCHOR_END: spawn

        let outcome = match self.spawn_and_supervise(&mut command) {
            Ok(outcome) => outcome,
            // Out of descriptors, processes or memory: a passing condition of
            // this server, not a broken backend, so the client may retry.
            Err(error) if is_resource_exhaustion(&error) => {
                return json::error(
                    Status::ServiceUnavailable,
                    &format!("cannot start cache-audit right now: {error}"),
                )
                .with_header("Retry-After", "1");
            }
            Err(error) => {
                return json::error(
                    Status::InternalServerError,
                    &format!("could not run {}: {error}", self.program.display()),
                );
            }
        };
        if outcome.timed_out {
            return json::error(
                Status::GatewayTimeout,
                &format!(
                    "cache-audit ran longer than {:?} and was killed",
                    self.timeout
                ),
            );
        }
        if outcome.status.signal().is_some() && self.stopping.load(Ordering::SeqCst) {
            return shutting_down();
        }
        if !outcome.status.success() {
            let how = match (outcome.status.code(), outcome.status.signal()) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(signal)) => format!("was killed by signal {signal}"),
                (None, None) => "ended abnormally".to_owned(),
            };
            return json::error(
                Status::InternalServerError,
                &format!("cache-audit {how}: {}", excerpt(&outcome.stderr)),
            );
        }
        match parse_report(&String::from_utf8_lossy(&outcome.stdout), params) {
            Ok(report) => report_response(params, &report),
            Err(missing) => json::error(
                Status::InternalServerError,
                &format!(
                    "cache-audit printed no valid report ({missing}); output: {}",
                    excerpt(&outcome.stdout)
                ),
            ),
        }
    }
    // ANCHOR_END: run

    /// Kills the process group of every running child (SIGKILL). Used when
    /// the shutdown drain runs out of time; the workers waiting on those
    /// children then answer `503` and reap them as usual.
    pub fn kill_all(&self) {
        let running = self.lock_running();
        self.stopping.store(true, Ordering::SeqCst);
        for &pid in running.iter() {
            kill_group(pid);
        }
    }

    // ANCHOR: supervise
    /// Spawns the child and waits for it as described in the module docs.
    fn spawn_and_supervise(&self, command: &mut Command) -> io::Result<Outcome> {
        let started = Instant::now();
        // Registered under the lock so `kill_all` never misses a child.
        let mut child = {
            let mut running = self.lock_running();
            let child = command.spawn()?;
            running.insert(child.id());
            child
        };
        let pid = child.id();

        let (events, received) = mpsc::channel();
        let helpers = start_helpers(&mut child, &events);
        drop(events);
        if let Err(error) = helpers {
            // Without its readers the child could block forever on a full
            // pipe: stop it, and reap it below like any other child.
            self.kill(pid);
            let _ = self.reap(&mut child);
            return Err(error);
        }

        let (mut stdout, mut stderr, mut exited) = (None, None, false);
        let mut timed_out = false;
        while stdout.is_none() || stderr.is_none() || !exited {
            // Before the child exits, wait until its deadline; once it has
            // exited or been killed, only for its pipes to close.
            let wait = if exited || timed_out {
                KILL_GRACE
            } else {
                (started + self.timeout).saturating_duration_since(Instant::now())
            };
            match received.recv_timeout(wait) {
                Ok(Event::Stdout(bytes)) => stdout = Some(bytes),
                Ok(Event::Stderr(bytes)) => stderr = Some(bytes),
                Ok(Event::Exited) => {
                    exited = true;
                    // The simulation is over. Anything it started and left
                    // running in its group is not: stop it, so it can neither
                    // hold our pipes open nor outlive the request.
                    self.kill(pid);
                }
                Err(RecvTimeoutError::Timeout) if !exited && !timed_out => {
                    self.kill(pid);
                    timed_out = true;
                }
                // Pipes still open KILL_GRACE after the end (held by a process
                // that left the group), or a helper thread died: stop waiting
                // and reap with what was captured.
                Err(_) => break,
            }
        }

        let status = self.reap(&mut child)?;
        Ok(Outcome {
            status,
            stdout: stdout.unwrap_or_default(),
            stderr: stderr.unwrap_or_default(),
            timed_out,
        })
    }
    // ANCHOR_END: supervise

    /// Kills the process group of `pid` if that child has not been reaped.
    fn kill(&self, pid: u32) {
        if self.lock_running().contains(&pid) {
            kill_group(pid);
        }
    }

    /// Forgets `child`, then reaps it with `wait`. In this order, `kill_all`
    /// either sees the pid while it is still reserved, or not at all.
    fn reap(&self, child: &mut Child) -> io::Result<ExitStatus> {
        self.lock_running().remove(&child.id());
        child.wait()
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashSet<u32>> {
        // The set stays consistent even if a holder panicked: every
        // operation on it is a single insert, remove or read.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts the two pipe readers and the exit watcher for `child`.
fn start_helpers(child: &mut Child, events: &mpsc::Sender<Event>) -> io::Result<()> {
    let pipes_missing = || io::Error::other("child pipes were not captured");
    let stdout = child.stdout.take().ok_or_else(pipes_missing)?;
    let stderr = child.stderr.take().ok_or_else(pipes_missing)?;

    let sender = events.clone();
    thread::Builder::new()
        .name("child-stdout".to_owned())
        .stack_size(HELPER_STACK)
        .spawn(move || {
            let _ = sender.send(Event::Stdout(read_bounded(stdout)));
        })?;
    let sender = events.clone();
    thread::Builder::new()
        .name("child-stderr".to_owned())
        .stack_size(HELPER_STACK)
        .spawn(move || {
            let _ = sender.send(Event::Stderr(read_bounded(stderr)));
        })?;
    let sender = events.clone();
    let pid = child.id();
    thread::Builder::new()
        .name("child-exit".to_owned())
        .stack_size(HELPER_STACK)
        .spawn(move || {
            if let Err(error) = wait_for_exit_without_reaping(pid) {
                log::error(&format!("waiting for child {pid}: {error}"));
            }
            let _ = sender.send(Event::Exited);
        })?;
    Ok(())
}

// ANCHOR: read_bounded
/// Reads `pipe` to its end, keeping the first [`CAPTURE_LIMIT`] bytes and
/// discarding the rest. Reading on after the limit matters: a child blocked
/// on a full pipe would never exit.
fn read_bounded(mut pipe: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => return kept,
            Ok(read) => {
                let room = CAPTURE_LIMIT - kept.len();
                kept.extend_from_slice(&chunk[..read.min(room)]);
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return kept,
        }
    }
}
// ANCHOR_END: read_bounded

// ANCHOR: wait_without_reaping
/// Blocks until the child `pid` has exited, *without* reaping it
/// (`waitid` with `WNOWAIT`, POSIX.1-2008). The child stays a zombie, which
/// keeps its pid (and process group id) reserved until the worker reaps it
/// with `Child::wait`; so a kill aimed at that pid cannot reach another
/// process. `std` has no way to wait without reaping, hence `libc`.
fn wait_for_exit_without_reaping(pid: u32) -> io::Result<()> {
    let id = libc::id_t::from(pid);
    loop {
        // SAFETY: `info` is a plain C struct that waitid fills in; a zeroed
        // value is a valid initial state. No pointer outlives the call.
        let result = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        if result == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}
// ANCHOR_END: wait_without_reaping

// ANCHOR: kill_group
/// Sends SIGKILL to every process in the group `pgid`. Errors are ignored:
/// the only one possible here is "no such group" (all already exited).
fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers; a negative pid names a process
    // group. `pgid` is a child we spawned with process_group(0) and have not
    // reaped (see `Backend::running`), so the group is ours.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}
// ANCHOR_END: kill_group

/// The labels of cache-audit's report that the server reads.
const REPORT_LABELS: [&str; 7] = [
    "Requests",
    "Policy",
    "Cache size",
    "Hit Rate",
    "Hits",
    "Misses",
    "Runtime",
];

/// Parses cache-audit's report and checks that it is one consistent answer
/// to `params`. Reads `Label: value` lines, tolerant of spacing around label
/// and value. Required: `Hit Rate:` (a percentage), `Hits:` and `Misses:`
/// (whole numbers) and `Runtime:` (whole milliseconds). Checked when present:
/// `Requests:` equals hits + misses, `Policy:` and `Cache size:` are what was
/// asked for. `Hit Rate:` must agree with the counts to its 2 printed
/// decimals, and no label may appear twice: a wrong or doubled report is an
/// error, never a 200 with numbers nobody computed for this request.
///
/// # Errors
/// A short description of the first problem found.
pub fn parse_report(stdout: &str, params: &SimParams) -> Result<Report, String> {
    let mut fields: Vec<(&str, &str)> = Vec::new();
    for line in stdout.lines() {
        let Some((label, value)) = line.split_once(':') else {
            continue;
        };
        let (label, value) = (label.trim(), value.trim());
        if !REPORT_LABELS.contains(&label) {
            continue;
        }
        if fields.iter().any(|(seen, _)| *seen == label) {
            return Err(format!("'{label}:' appears twice"));
        }
        fields.push((label, value));
    }
    let field = |label: &str| {
        fields
            .iter()
            .find(|(seen, _)| *seen == label)
            .map(|(_, value)| *value)
    };
    let number = |label: &str, unit: &str| -> Result<Option<u64>, String> {
        let Some(value) = field(label) else {
            return Ok(None);
        };
        let digits = value.strip_suffix(unit).unwrap_or(value).trim_end();
        match digits.parse() {
            Ok(number) => Ok(Some(number)),
            Err(_) => Err(format!("'{label}:' is not a whole number: '{value}'")),
        }
    };
    let required = |label: &str, unit: &str| -> Result<u64, String> {
        number(label, unit)?.ok_or_else(|| format!("no '{label}:' line"))
    };

    let report = Report {
        hits: required("Hits", "")?,
        misses: required("Misses", "")?,
        runtime_ms: required("Runtime", "ms")?,
    };
    let requests = report
        .hits
        .checked_add(report.misses)
        .ok_or("'Hits:' + 'Misses:' overflows")?;

    let hit_rate = field("Hit Rate").ok_or("no 'Hit Rate:' line")?;
    let percent = hit_rate
        .strip_suffix('%')
        .and_then(|number| number.trim_end().parse::<f64>().ok())
        .filter(|percent| percent.is_finite())
        .ok_or_else(|| format!("'Hit Rate:' is not a percentage: '{hit_rate}'"))?;
    let expected = if requests == 0 {
        0.0
    } else {
        100.0 * report.hits as f64 / requests as f64
    };
    // Printed with 2 decimals: at most half a unit of the last digit off.
    if (percent - expected).abs() > 0.005 + 1e-9 {
        return Err(format!(
            "'Hit Rate: {hit_rate}' disagrees with {} hits of {requests}",
            report.hits
        ));
    }

    if let Some(printed) = number("Requests", "")? {
        if printed != requests {
            return Err(format!(
                "'Requests: {printed}' is not hits + misses = {requests}"
            ));
        }
    }
    if let Some(policy) = field("Policy") {
        if !policy.eq_ignore_ascii_case(params.policy) {
            return Err(format!(
                "it simulated policy '{policy}', not '{}'",
                params.policy
            ));
        }
    }
    if let Some(size) = number("Cache size", "")? {
        if size != params.cache_size {
            return Err(format!(
                "it simulated cache size {size}, not {}",
                params.cache_size
            ));
        }
    }
    Ok(report)
}

/// The success body, with the original NetServe's keys in its order.
/// `hit_rate` is hits / (hits + misses) rounded to 4 decimals (0 for an
/// empty trace), recomputed from the counts rather than taken from the
/// rounded percentage cache-audit prints.
pub fn report_response(params: &SimParams, report: &Report) -> Response {
    let accesses = report.hits as f64 + report.misses as f64;
    let hit_rate = if accesses == 0.0 {
        0.0
    } else {
        (report.hits as f64 / accesses * 10_000.0).round() / 10_000.0
    };
    json::response(
        Status::Ok,
        &json!({
            "status": "ok",
            "policy": params.policy,
            "cache_size": params.cache_size,
            "trace": params.trace,
            "hit_rate": hit_rate,
            "hits": report.hits,
            "misses": report.misses,
            "runtime_ms": report.runtime_ms,
        }),
    )
}

/// The answer to a simulation refused or stopped because the server is
/// shutting down.
fn shutting_down() -> Response {
    json::error(
        Status::ServiceUnavailable,
        "the server is shutting down and stopped this simulation",
    )
}

/// Whether `error` means the process is short of descriptors, processes or
/// memory (`EMFILE`, `ENFILE`, `EAGAIN`, `ENOMEM`), rather than the backend
/// being broken.
fn is_resource_exhaustion(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::EAGAIN | libc::ENOMEM)
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

    const ARC_10: SimParams = SimParams {
        policy: "arc",
        cache_size: 10,
        trace: "hot_cold",
    };

    const REPORT: &str = "Trace:       cache-audit/traces/synthetic/hot_cold.txt
Requests:    825
Unique keys: 605
Policy:      arc
Cache size:  10

--- Results ---
Hit Rate:   26.67%
Hits:       220
Misses:     605
Runtime:    0 ms
";

    #[test]
    fn parses_the_report() {
        let expected = Report {
            hits: 220,
            misses: 605,
            runtime_ms: 0,
        };
        assert_eq!(parse_report(REPORT, &ARC_10), Ok(expected));
        let squeezed = "Hit Rate:26.67 %\r\nHits:220\r\nMisses:   605\r\n  Runtime :0ms\r\n";
        assert_eq!(parse_report(squeezed, &ARC_10), Ok(expected));
        let shouting = REPORT.replace("Policy:      arc", "Policy: ARC");
        assert_eq!(parse_report(&shouting, &ARC_10), Ok(expected));
    }

    #[test]
    fn refuses_incomplete_or_garbled_reports() {
        let garbled = |from: &str, to: &str| parse_report(&REPORT.replace(from, to), &ARC_10);
        assert!(parse_report("", &ARC_10).is_err());
        assert!(garbled("Misses:     605", "Misses: many").is_err());
        assert!(garbled("Hit Rate:   26.67%", "Hit Rate: NaN").is_err());
        assert!(garbled("Hit Rate:   26.67%", "Hit Rate: inf%").is_err());
        assert!(garbled("Runtime:    0 ms\n", "").is_err());
        assert!(garbled("Hits:       220", "Hits: -3").is_err());
        assert!(garbled("Hits:       220", "Hits: 18446744073709551615").is_err());
    }

    #[test]
    fn refuses_reports_that_do_not_add_up_or_answer_another_question() {
        let garbled = |from: &str, to: &str| parse_report(&REPORT.replace(from, to), &ARC_10);
        // Numbers that contradict each other.
        assert!(garbled("Hits:       220", "Hits:       999999").is_err());
        assert!(garbled("Hit Rate:   26.67%", "Hit Rate:   26.68%").is_err());
        assert!(garbled("Requests:    825", "Requests:    826").is_err());
        // A report for another policy or size.
        assert!(garbled("Policy:      arc", "Policy:      fifo").is_err());
        assert!(garbled("Cache size:  10", "Cache size:  11").is_err());
        // Two reports back to back.
        assert!(parse_report(&format!("{REPORT}{REPORT}"), &ARC_10).is_err());
        // An empty trace is consistent: 0 of 0 at 0.00%.
        let empty = "Requests: 0\nHit Rate: 0.00%\nHits: 0\nMisses: 0\nRuntime: 0 ms\n";
        assert!(parse_report(empty, &ARC_10).is_ok());
    }

    #[test]
    fn response_keys_are_in_the_original_order() {
        let params = SimParams {
            policy: "lru",
            cache_size: 32,
            trace: "loop",
        };
        let report = Report {
            hits: 570,
            misses: 30,
            runtime_ms: 0,
        };
        let body = String::from_utf8(report_response(&params, &report).body).unwrap();
        assert_eq!(
            body,
            "{\"status\":\"ok\",\"policy\":\"lru\",\"cache_size\":32,\"trace\":\"loop\",\"hit_rate\":0.95,\"hits\":570,\"misses\":30,\"runtime_ms\":0}\n"
        );
    }

    #[test]
    fn excerpts_are_bounded() {
        assert_eq!(excerpt(b""), "(no output)");
        let long = "x".repeat(1000);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), EXCERPT_CHARS + 1);
    }
}
