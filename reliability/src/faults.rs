//! Faults: a backend that is missing, killed, hung or flooding; clients that
//! reset mid-request or mid-response; a server out of file descriptors; a
//! server whose log reader went away.
//!
//! Every fault is judged the same way: the right status code or a clean
//! close, no zombie child, as many descriptors in `/proc/PID/fd` after as
//! before, and the server still answering `/health`.

use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::thread;
use std::time::Duration;

use harness::client::{self, Connection, get_request};
use harness::proc;
use harness::scripts::{self, ScriptDir};
use harness::server::Server;
use harness::stages::Stage;
use harness::wait_until;

use crate::{Check, Setup, all_passed, check_built, start};

/// How long descriptors may take to come back to their count before the fault:
/// longer than stage 07's default idle timeout (5 s), which closes a persistent
/// connection whose client has gone quiet without closing it.
const SETTLE_BOUND: Duration = Duration::from_secs(8);

/// How long a finished child may stay unreaped.
const REAP_BOUND: Duration = Duration::from_secs(3);

/// How long a simulation's answer may take.
const ANSWER_BOUND: Duration = Duration::from_secs(5);

/// One fault injected into one stage, and what came of it.
#[derive(Clone, Debug)]
pub struct FaultResult {
    /// The stage under test.
    pub stage: Stage,
    /// Which fault, e.g. `backend hangs`.
    pub fault: &'static str,
    /// What the client got, e.g. `504` or `clean close`.
    pub answer: String,
    /// Descriptors before the fault and after it settled.
    pub fds: (usize, usize),
    /// Zombie children left after [`REAP_BOUND`].
    pub zombies: usize,
    /// Every check, passed or not.
    pub checks: Vec<Check>,
}

impl FaultResult {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        all_passed(&self.checks)
    }
}

/// The faults that apply to `stage`, each run on a fresh server.
pub fn run_all(stage: Stage, bin_dir: &Path) -> Vec<FaultResult> {
    let mut results = Vec::new();
    let mut record = |fault: &'static str, outcome: Result<FaultResult, String>| {
        results.push(outcome.unwrap_or_else(|error| FaultResult {
            stage,
            fault,
            answer: "-".to_string(),
            fds: (0, 0),
            zombies: 0,
            checks: vec![Check::new("the scenario runs", error, false)],
        }));
    };
    if let Err(error) = check_built(stage, bin_dir) {
        record("binary built", Err(error));
        return results;
    }
    if stage.number >= 5 {
        record(BACKEND_MISSING, backend_missing(stage, bin_dir));
        record(BACKEND_KILLED, backend_killed(stage, bin_dir));
        record(BACKEND_HANGS, backend_hangs(stage, bin_dir));
        record(
            BACKEND_FLOODS_STDOUT,
            backend_floods(stage, bin_dir, Flood::Stdout),
        );
        record(
            BACKEND_FLOODS_STDERR,
            backend_floods(stage, bin_dir, Flood::Stderr),
        );
    }
    record(RESET_MID_REQUEST, reset_mid_request(stage, bin_dir));
    record(RESET_MID_RESPONSE, reset_mid_response(stage, bin_dir));
    record(OUT_OF_FDS, out_of_descriptors(stage, bin_dir));
    record(LOG_READER_GONE, log_reader_gone(stage, bin_dir));
    results
}

const BACKEND_MISSING: &str = "backend missing";
const BACKEND_KILLED: &str = "backend killed by SIGKILL";
const BACKEND_HANGS: &str = "backend hangs";
const BACKEND_FLOODS_STDOUT: &str = "backend prints 100 MiB (stdout)";
const BACKEND_FLOODS_STDERR: &str = "backend prints 100 MiB (stderr), then a report";
const RESET_MID_REQUEST: &str = "client resets mid-request";
const RESET_MID_RESPONSE: &str = "client resets mid-response";
const OUT_OF_FDS: &str = "out of descriptors (ulimit -n 64, 200 connections)";
const LOG_READER_GONE: &str = "log reader gone (stderr a closed pipe)";

/// How most faults start the server: with its defaults and its log off.
const QUIET: Setup<'static> = Setup {
    args: &["--quiet"],
    backend: None,
    shell: None,
};

/// A server about to suffer one fault, and its descriptor count before the fault.
struct Trial {
    stage: Stage,
    fault: &'static str,
    server: Server,
    before: usize,
}

impl Trial {
    /// Starts `stage` as `setup` says and counts its descriptors once it has served one
    /// `/health` (so that anything opened lazily on the first request is counted).
    fn start(
        stage: Stage,
        fault: &'static str,
        bin_dir: &Path,
        setup: Setup<'_>,
    ) -> Result<Trial, String> {
        let server = start(stage, bin_dir, setup)?;
        client::get(server.addr(), "/health")?.expect_status(200)?;
        let before = server.descriptors()?;
        Ok(Trial {
            stage,
            fault,
            server,
            before,
        })
    }

    /// Starts `stage` quietly with `body` (a `#!/bin/sh` body) as its backend, plus `args`.
    fn with_backend(
        stage: Stage,
        fault: &'static str,
        bin_dir: &Path,
        scripts: &ScriptDir,
        body: &str,
        args: &[&str],
    ) -> Result<Trial, String> {
        let backend = scripts.script("cache-audit.sh", body)?;
        let args = [&["--quiet"], args].concat();
        let setup = Setup {
            args: &args,
            backend: Some(&backend),
            shell: None,
        };
        Trial::start(stage, fault, bin_dir, setup)
    }

    /// Ends the fault: adds the common checks (descriptors back to their count before, no
    /// zombie child, `/health` still 200) to `checks` and makes the result.
    fn conclude(self, answer: String, mut checks: Vec<Check>) -> FaultResult {
        let (server, before) = (&self.server, self.before);
        let mut after = usize::MAX;
        // At most `before`: that count may include the warm-up's connection, which a server
        // with persistent connections (stage 07) closes only once it sees the client's FIN.
        wait_until(SETTLE_BOUND, || {
            after = server.descriptors().unwrap_or(usize::MAX);
            after <= before
        });
        let mut zombies = 0;
        wait_until(REAP_BOUND, || {
            zombies = server.children().iter().filter(|c| c.is_zombie()).count();
            zombies == 0
        });
        let health = client::get(server.addr(), "/health")
            .map_or_else(|error| error, |response| response.status.to_string());
        checks.extend([
            Check::new(
                format!("descriptors back to {before}"),
                after.to_string(),
                after <= before,
            ),
            Check::new("no zombie child", zombies.to_string(), zombies == 0),
            Check::new("/health answers 200 afterwards", &health, health == "200"),
        ]);
        FaultResult {
            stage: self.stage,
            fault: self.fault,
            answer,
            fds: (before, after),
            zombies,
            checks,
        }
    }
}

/// One `/run-cache-sim` request, answered within `bound`: checks that its
/// status is `status` and, unless that is 200, that its body is a JSON error.
/// Returns the status for the table, and the checks.
fn simulate(server: &Server, status: u16, bound: Duration) -> Result<(String, Vec<Check>), String> {
    let mut connection = Connection::open(server.addr())?;
    connection.send(&get_request("/run-cache-sim?policy=lru"))?;
    let response = connection.read_response_within(bound)?;
    response.expect_complete()?;
    let got = response.status.to_string();
    let mut checks = vec![Check::new(
        format!("status {status}"),
        &got,
        response.status == status,
    )];
    if status != 200 {
        let is_error = response.json().is_ok_and(|json| json["status"] == "error");
        checks.push(Check::new(
            "a JSON error body",
            is_error.to_string(),
            is_error,
        ));
    }
    Ok((got, checks))
}

/// The backend was there at start-up and is gone when a request comes: 500.
pub fn backend_missing(stage: Stage, bin_dir: &Path) -> Result<FaultResult, String> {
    let scripts = ScriptDir::new()?;
    let trial = Trial::with_backend(stage, BACKEND_MISSING, bin_dir, &scripts, "exit 0\n", &[])?;
    let script = scripts.path().join("cache-audit.sh");
    fs::remove_file(&script).map_err(|e| format!("removing {}: {e}", script.display()))?;
    let (answer, checks) = simulate(&trial.server, 500, ANSWER_BOUND)?;
    Ok(trial.conclude(answer, checks))
}

/// The backend kills itself with SIGKILL: 500 naming the signal.
pub fn backend_killed(stage: Stage, bin_dir: &Path) -> Result<FaultResult, String> {
    let scripts = ScriptDir::new()?;
    let body = "kill -KILL $$\n";
    let trial = Trial::with_backend(stage, BACKEND_KILLED, bin_dir, &scripts, body, &[])?;
    let (answer, checks) = simulate(&trial.server, 500, ANSWER_BOUND)?;
    Ok(trial.conclude(answer, checks))
}

/// The backend sleeps 30 s; with `--backend-timeout 1` the answer is 504
/// and neither the script nor its `sleep` is left running.
pub fn backend_hangs(stage: Stage, bin_dir: &Path) -> Result<FaultResult, String> {
    let scripts = ScriptDir::new()?;
    let sleep = scripts.sleep_command(30)?;
    let body = format!("{sleep}\n{}", scripts::answer_lines(1, 1));
    let args = ["--backend-timeout", "1"];
    let trial = Trial::with_backend(stage, BACKEND_HANGS, bin_dir, &scripts, &body, &args)?;
    let (answer, mut checks) = simulate(&trial.server, 504, ANSWER_BOUND)?;
    let leftovers = scripts.leftovers_after(REAP_BOUND, Some(trial.server.pid()));
    checks.push(Check::new(
        "no process of the backend left",
        leftovers.len().to_string(),
        leftovers.is_empty(),
    ));
    Ok(trial.conclude(answer, checks))
}

/// Where a flooding backend writes its 100 MiB.
#[derive(Clone, Copy, Debug)]
pub enum Flood {
    /// On stdout, instead of a report: 500.
    Stdout,
    /// On stderr, followed by a valid report on stdout: 200.
    Stderr,
}

/// Bytes a flooding backend writes: 100 MiB.
const FLOOD_BYTES: u64 = 100 * 1024 * 1024;

/// How much the server's peak resident memory may grow while a backend
/// floods it, KiB: the capture limit is 64 KiB per pipe.
const FLOOD_RSS_GROWTH_KIB: u64 = 16 * 1024;

/// The backend prints 100 MiB; the server keeps 64 KiB of it, answers, and
/// its peak memory grows by less than 16 MiB.
pub fn backend_floods(stage: Stage, bin_dir: &Path, flood: Flood) -> Result<FaultResult, String> {
    let scripts = ScriptDir::new()?;
    let writer = format!("head -c {FLOOD_BYTES} /dev/zero | tr '\\0' x");
    let (body, status, fault) = match flood {
        Flood::Stdout => (format!("{writer}\n"), 500, BACKEND_FLOODS_STDOUT),
        Flood::Stderr => (
            format!("{writer} >&2\n{}", scripts::answer_lines(570, 30)),
            200,
            BACKEND_FLOODS_STDERR,
        ),
    };
    // A generous timeout: producing 100 MiB through a shell pipe takes a while.
    let args = ["--backend-timeout", "60"];
    let trial = Trial::with_backend(stage, fault, bin_dir, &scripts, &body, &args)?;
    let rss_before = trial.server.status()?.rss_kib;
    let (answer, mut checks) = simulate(&trial.server, status, Duration::from_secs(60))?;
    let growth = trial
        .server
        .status()?
        .peak_rss_kib
        .saturating_sub(rss_before);
    checks.push(Check::new(
        format!(
            "peak memory growth under {} MiB",
            FLOOD_RSS_GROWTH_KIB / 1024
        ),
        format!("{growth} KiB"),
        growth < FLOOD_RSS_GROWTH_KIB,
    ));
    Ok(trial.conclude(answer, checks))
}

/// How many times each reset fault is repeated.
const RESETS: usize = 20;

/// Clients send half a head, then reset (RST), 20 times. Nobody is left to
/// answer: the server must simply close its side, and keep serving.
pub fn reset_mid_request(stage: Stage, bin_dir: &Path) -> Result<FaultResult, String> {
    let trial = Trial::start(stage, RESET_MID_REQUEST, bin_dir, QUIET)?;
    for _ in 0..RESETS {
        let mut connection = Connection::open(trial.server.addr())?;
        connection.send(b"GET /health HTTP/1.1\r\nHo")?;
        connection.reset()?;
    }
    Ok(trial.conclude("clean close".to_string(), Vec::new()))
}

/// Clients send a whole request and reset before the answer is written: the
/// server writes into a reset connection (EPIPE / ECONNRESET; the original
/// C++ server died of SIGPIPE here). From stage 05 the request is a
/// simulation whose backend takes 0.3 s, so the reset always comes first;
/// before, it is `/health` and the reset races the answer.
pub fn reset_mid_response(stage: Stage, bin_dir: &Path) -> Result<FaultResult, String> {
    let scripts = ScriptDir::new()?;
    let (trial, request) = if stage.runs_simulations() {
        let body = format!("sleep 0.3\n{}", scripts::answer_lines(570, 30));
        let fault = RESET_MID_RESPONSE;
        let trial = Trial::with_backend(stage, fault, bin_dir, &scripts, &body, &[])?;
        (trial, "/run-cache-sim?policy=lru")
    } else {
        (
            Trial::start(stage, RESET_MID_RESPONSE, bin_dir, QUIET)?,
            "/health",
        )
    };
    let server = &trial.server;
    for _ in 0..RESETS {
        let mut connection = Connection::open(server.addr())?;
        connection.send(&get_request(request))?;
        if stage.runs_simulations() {
            // Reset only once the simulation runs: the answer is on its way.
            wait_until(Duration::from_secs(2), || server.live_children() >= 1);
        }
        connection.reset()?;
    }
    Ok(trial.conclude("clean close".to_string(), Vec::new()))
}

/// The descriptor limit the server runs under.
const FD_LIMIT: u32 = 64;

/// Idle connections opened against it.
const FD_CONNECTIONS: usize = 200;

/// How long one of the 200 connections may take to connect; past it, the
/// listen backlog is full and the connection counts as not connected.
const FD_CONNECT_TIMEOUT: Duration = Duration::from_millis(200);

/// How long CPU use and log lines are watched while the server is out of
/// descriptors.
const EXHAUSTED_WINDOW: Duration = Duration::from_secs(3);

/// CPU time the server may use in that window: 10 %. A busy accept loop
/// would use all of it.
const EXHAUSTED_CPU: Duration = Duration::from_millis(300);

/// Under `ulimit -n 64`, 200 idle connections exhaust the server's
/// descriptors: `accept` fails with EMFILE. It must not spin (CPU), must not
/// flood its log (at most one line a second), and must serve again once the
/// connections close.
pub fn out_of_descriptors(stage: Stage, bin_dir: &Path) -> Result<FaultResult, String> {
    let shell = format!("ulimit -n {FD_LIMIT}");
    let setup = Setup {
        args: &["--quiet", "--header-timeout", "30"],
        backend: None,
        shell: Some(&shell),
    };
    let trial = Trial::start(stage, OUT_OF_FDS, bin_dir, setup)?;
    let server = &trial.server;
    let log = server.stderr();

    // Once the server stops accepting, the kernel queues connections in the
    // listen backlog until it is full, then drops new SYNs: those connects
    // time out, which is the kernel's back-pressure, not the server's fault.
    let mut idle = Vec::new();
    for _ in 0..FD_CONNECTIONS {
        if let Ok(stream) = TcpStream::connect_timeout(&server.addr(), FD_CONNECT_TIMEOUT) {
            let mut connection = Connection::from_stream(stream);
            // A send can fail if the server answered 503 and closed already.
            let _ = connection.send(b"GET /health HTTP/1.1\r\nHost: x\r\n");
            idle.push(connection);
        }
    }
    let not_connected = FD_CONNECTIONS - idle.len();
    // Stage 01 holds one connection at a time and never runs out; the others
    // fill their descriptor table. Wait until it is full, or says so.
    let limit = FD_LIMIT as usize;
    let exhausted = wait_until(Duration::from_secs(5), || {
        server.descriptors().unwrap_or(0) >= limit - 1
            || log
                .tail(20)
                .iter()
                .any(|line| line.contains("accept failed"))
    });
    let cpu_before = proc::cpu_time(server.pid())?;
    let lines_before = log.lines();
    // A measurement window: how much CPU and log the exhausted server uses.
    thread::sleep(EXHAUSTED_WINDOW);
    let cpu = proc::cpu_time(server.pid())?.saturating_sub(cpu_before);
    let log_lines = log.lines() - lines_before;
    let last_line = log.tail(1).concat();
    let allowed_lines = EXHAUSTED_WINDOW.as_secs() + 2;

    let idle_count = idle.len();
    drop(idle);
    let mut recovered = String::from("no answer");
    let resumed = wait_until(Duration::from_secs(10), || {
        match client::get(server.addr(), "/health") {
            Ok(response) => recovered = response.status.to_string(),
            Err(error) => recovered = error,
        }
        recovered == "200"
    });
    let never = if exhausted { "" } else { " (never exhausted)" };
    let checks = vec![
        Check::new(
            format!("CPU under {EXHAUSTED_CPU:?} in {EXHAUSTED_WINDOW:?} while exhausted"),
            format!("{cpu:?}{never}"),
            cpu < EXHAUSTED_CPU,
        ),
        Check::new(
            format!("at most {allowed_lines} log lines in {EXHAUSTED_WINDOW:?}"),
            format!("{log_lines}, the last: {last_line:?}"),
            log_lines <= allowed_lines,
        ),
        Check::new(
            "serves again once the connections close",
            &recovered,
            resumed,
        ),
    ];
    let answer = if resumed {
        format!(
            "{idle_count} connected, {not_connected} left in the backlog; {cpu:?} of CPU \
             and {log_lines} log lines in {EXHAUSTED_WINDOW:?}; 200 once closed"
        )
    } else {
        recovered
    };
    Ok(trial.conclude(answer, checks))
}

/// The server's stderr is a pipe nobody reads any more (a log shipper that
/// died, `netserve 2>&1 | head`): writing a log line fails with EPIPE. It
/// must keep serving.
pub fn log_reader_gone(stage: Stage, bin_dir: &Path) -> Result<FaultResult, String> {
    check_built(stage, bin_dir)?;
    let mut child = crate::command(stage, bin_dir, Setup::default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", stage.binary))?;
    // Close our end of its stderr at once: every log line is now EPIPE.
    drop(child.stderr.take());
    let mut server = Server::adopt(child);
    let ready = server.wait_ready();
    let mut answers = Vec::new();
    if let Ok(addr) = ready {
        for _ in 0..3 {
            let status = client::get(addr, "/health")
                .map_or_else(|error| error, |response| response.status.to_string());
            answers.push(status);
        }
    }
    let running = server.is_running();
    let all_ok = answers.len() == 3 && answers.iter().all(|status| status == "200");
    let checks = vec![
        Check::new(
            "readiness line",
            ready
                .as_ref()
                .map_or_else(String::clone, ToString::to_string),
            ready.is_ok(),
        ),
        Check::new("3 × /health answered 200", answers.join(", "), all_ok),
        Check::new("still running afterwards", running.to_string(), running),
    ];
    Ok(FaultResult {
        stage,
        fault: LOG_READER_GONE,
        answer: answers.last().cloned().unwrap_or_else(|| "-".to_string()),
        fds: (0, 0),
        zombies: 0,
        checks,
    })
}
