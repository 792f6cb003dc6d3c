//! Faults: a backend that is missing, killed, hung or flooding; clients that
//! reset mid-request or mid-response; a server out of file descriptors; a
//! server whose log reader went away.
//!
//! Every fault is judged the same way: the right status code or a clean
//! close, no zombie child, as many descriptors in `/proc/PID/fd` after as
//! before, and the server still answering `/health`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use conformance::client::{self, Connection, get_request};
use conformance::scripts::{self, ScriptDir};
use conformance::server::Server;
use conformance::wait_until;

use crate::observe::{cpu_ticks, fd_count};
use crate::stages::{self, Stage};
use crate::{Check, all_passed};

/// How long descriptors may take to come back to their count before the fault:
/// longer than stage 07's default idle timeout (5 s), which closes a persistent
/// connection whose client has gone quiet without closing it.
const SETTLE_BOUND: Duration = Duration::from_secs(8);

/// How long a finished child may stay unreaped.
const REAP_BOUND: Duration = Duration::from_secs(3);

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
    if let Err(error) = stage.check_built(bin_dir) {
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

/// A server's descriptor count once it has served one `/health` (so that
/// anything opened lazily on the first request is counted).
fn warm_baseline(server: &Server) -> Result<usize, String> {
    let response = client::get(server.addr(), "/health")?;
    response.expect_status(200)?;
    fd_count(server.pid())
}

/// The checks every fault ends with: descriptors back to `before`, no
/// zombie child, `/health` still 200. Returns the settled count and zombies.
fn after_fault(server: &Server, before: usize, checks: &mut Vec<Check>) -> (usize, usize) {
    let mut after = usize::MAX;
    // At most `before`: that count may include the warm-up's connection,
    // which a server with persistent connections (stage 07) closes only
    // once it sees the client's FIN.
    wait_until(SETTLE_BOUND, || {
        after = fd_count(server.pid()).unwrap_or(usize::MAX);
        after <= before
    });
    checks.push(Check::new(
        format!("descriptors back to {before}"),
        after.to_string(),
        after <= before,
    ));
    let mut zombies = 0;
    wait_until(REAP_BOUND, || {
        zombies = server.children().iter().filter(|c| c.is_zombie()).count();
        zombies == 0
    });
    checks.push(Check::new(
        "no zombie child",
        zombies.to_string(),
        zombies == 0,
    ));
    let health = client::get(server.addr(), "/health")
        .map(|response| response.status.to_string())
        .unwrap_or_else(|error| error);
    checks.push(Check::new(
        "/health answers 200 afterwards",
        health.clone(),
        health == "200",
    ));
    (after, zombies)
}

/// Starts `stage` with `script` (a `#!/bin/sh` body) as its backend, plus `args`.
fn start_with_backend(
    stage: Stage,
    bin_dir: &Path,
    scripts: &ScriptDir,
    body: &str,
    args: &[&str],
) -> Result<Server, String> {
    let script = scripts.script("cache-audit.sh", body)?;
    let target = stage.target(bin_dir);
    let mut launch = target.launch().arg("--quiet").cache_audit(script);
    for arg in args {
        launch = launch.arg(arg);
    }
    launch.start()
}

/// One `/run-cache-sim` request; its status and whether its JSON body has
/// `"status":"error"`.
fn simulate(addr: SocketAddr) -> Result<(u16, bool), String> {
    let response = client::get(addr, "/run-cache-sim?policy=lru")?;
    response.expect_complete()?;
    let is_error = response
        .json()
        .ok()
        .and_then(|json| {
            json.get("status")
                .and_then(|s| s.as_str().map(str::to_owned))
        })
        .is_some_and(|status| status == "error");
    Ok((response.status, is_error))
}

/// Runs one backend fault: a request whose answer must be `status` (with a
/// JSON error unless it is 200), then the common checks.
fn backend_fault(
    stage: Stage,
    fault: &'static str,
    server: &Server,
    before: usize,
    status: u16,
    mut checks: Vec<Check>,
) -> Result<FaultResult, String> {
    let (got, is_error) = simulate(server.addr())?;
    checks.push(Check::new(
        format!("status {status}"),
        got.to_string(),
        got == status,
    ));
    if status != 200 {
        checks.push(Check::new(
            "a JSON error body",
            is_error.to_string(),
            is_error,
        ));
    }
    let (after, zombies) = after_fault(server, before, &mut checks);
    Ok(FaultResult {
        stage,
        fault,
        answer: got.to_string(),
        fds: (before, after),
        zombies,
        checks,
    })
}

/// The backend was there at start-up and is gone when a request comes: 500.
pub fn backend_missing(stage: Stage, bin_dir: &Path) -> Result<FaultResult, String> {
    let scripts = ScriptDir::new()?;
    let server = start_with_backend(stage, bin_dir, &scripts, "exit 0\n", &[])?;
    let before = warm_baseline(&server)?;
    let script = scripts.path().join("cache-audit.sh");
    fs::remove_file(&script).map_err(|e| format!("removing {}: {e}", script.display()))?;
    backend_fault(stage, BACKEND_MISSING, &server, before, 500, Vec::new())
}

/// The backend kills itself with SIGKILL: 500 naming the signal.
pub fn backend_killed(stage: Stage, bin_dir: &Path) -> Result<FaultResult, String> {
    let scripts = ScriptDir::new()?;
    let server = start_with_backend(stage, bin_dir, &scripts, "kill -KILL $$\n", &[])?;
    let before = warm_baseline(&server)?;
    backend_fault(stage, BACKEND_KILLED, &server, before, 500, Vec::new())
}

/// The backend sleeps 30 s; with `--backend-timeout 1` the answer is 504
/// and neither the script nor its `sleep` is left running.
pub fn backend_hangs(stage: Stage, bin_dir: &Path) -> Result<FaultResult, String> {
    let scripts = ScriptDir::new()?;
    let body = format!(
        "{}\n{}",
        scripts.sleep_command(30)?,
        scripts::answer_lines(1, 1)
    );
    let server = start_with_backend(stage, bin_dir, &scripts, &body, &["--backend-timeout", "1"])?;
    let before = warm_baseline(&server)?;
    let (got, is_error) = simulate(server.addr())?;
    let leftovers = scripts.leftovers_after(REAP_BOUND, Some(server.pid()));
    let mut checks = vec![
        Check::new("status 504", got.to_string(), got == 504),
        Check::new("a JSON error body", is_error.to_string(), is_error),
        Check::new(
            "no process of the backend left",
            leftovers.len().to_string(),
            leftovers.is_empty(),
        ),
    ];
    let (after, zombies) = after_fault(&server, before, &mut checks);
    Ok(FaultResult {
        stage,
        fault: BACKEND_HANGS,
        answer: got.to_string(),
        fds: (before, after),
        zombies,
        checks,
    })
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
    let server = start_with_backend(
        stage,
        bin_dir,
        &scripts,
        &body,
        &["--backend-timeout", "60"],
    )?;
    let before = warm_baseline(&server)?;
    let rss_before = server.rss_kib()?;
    let (got, is_error) = {
        let response = Connection::open(server.addr()).and_then(|mut connection| {
            connection.send(&get_request("/run-cache-sim?policy=lru"))?;
            connection.read_response_within(Duration::from_secs(60))
        })?;
        let is_error = response.json().is_ok_and(|json| json["status"] == "error");
        (response.status, is_error)
    };
    let growth = server.peak_rss_kib()?.saturating_sub(rss_before);
    let mut checks = vec![
        Check::new(format!("status {status}"), got.to_string(), got == status),
        Check::new(
            format!(
                "peak memory growth under {} MiB",
                FLOOD_RSS_GROWTH_KIB / 1024
            ),
            format!("{growth} KiB"),
            growth < FLOOD_RSS_GROWTH_KIB,
        ),
    ];
    if status != 200 {
        checks.push(Check::new(
            "a JSON error body",
            is_error.to_string(),
            is_error,
        ));
    }
    let (after, zombies) = after_fault(&server, before, &mut checks);
    Ok(FaultResult {
        stage,
        fault,
        answer: got.to_string(),
        fds: (before, after),
        zombies,
        checks,
    })
}

/// How many times each reset fault is repeated.
const RESETS: usize = 20;

/// Clients send half a head, then reset (RST), 20 times. Nobody is left to
/// answer: the server must simply close its side, and keep serving.
pub fn reset_mid_request(stage: Stage, bin_dir: &Path) -> Result<FaultResult, String> {
    let server = stage.target(bin_dir).launch().arg("--quiet").start()?;
    let before = warm_baseline(&server)?;
    for _ in 0..RESETS {
        let mut connection = Connection::open(server.addr())?;
        connection.send(b"GET /health HTTP/1.1\r\nHo")?;
        connection.reset()?;
    }
    let mut checks = Vec::new();
    let (after, zombies) = after_fault(&server, before, &mut checks);
    Ok(FaultResult {
        stage,
        fault: RESET_MID_REQUEST,
        answer: "clean close".to_string(),
        fds: (before, after),
        zombies,
        checks,
    })
}

/// Clients send a whole request and reset before the answer is written: the
/// server writes into a reset connection (EPIPE / ECONNRESET; the original
/// C++ server died of SIGPIPE here). From stage 05 the request is a
/// simulation whose backend takes 0.3 s, so the reset always comes first;
/// before, it is `/health` and the reset races the answer.
pub fn reset_mid_response(stage: Stage, bin_dir: &Path) -> Result<FaultResult, String> {
    let scripts = ScriptDir::new()?;
    let server = if stage.number >= 5 {
        let body = format!("sleep 0.3\n{}", scripts::answer_lines(570, 30));
        start_with_backend(stage, bin_dir, &scripts, &body, &[])?
    } else {
        stage.target(bin_dir).launch().arg("--quiet").start()?
    };
    let before = warm_baseline(&server)?;
    for _ in 0..RESETS {
        let mut connection = Connection::open(server.addr())?;
        if stage.number >= 5 {
            connection.send(&get_request("/run-cache-sim?policy=lru"))?;
            // Reset only once the simulation runs: the answer is on its way.
            wait_until(Duration::from_secs(2), || server.live_children() >= 1);
        } else {
            connection.send(&get_request("/health"))?;
        }
        connection.reset()?;
    }
    let mut checks = Vec::new();
    let (after, zombies) = after_fault(&server, before, &mut checks);
    Ok(FaultResult {
        stage,
        fault: RESET_MID_RESPONSE,
        answer: "clean close".to_string(),
        fds: (before, after),
        zombies,
        checks,
    })
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

/// CPU the server may use in that window, in clock ticks (10 ms): 10 %. A
/// busy accept loop would use all 300.
const EXHAUSTED_CPU_TICKS: u64 = 30;

/// Under `ulimit -n 64`, 200 idle connections exhaust the server's
/// descriptors: `accept` fails with EMFILE. It must not spin (CPU), must not
/// flood its log (at most one line a second), and must serve again once the
/// connections close.
pub fn out_of_descriptors(stage: Stage, bin_dir: &Path) -> Result<FaultResult, String> {
    let server = stages::start_under_shell(
        stage,
        bin_dir,
        &format!("ulimit -n {FD_LIMIT}"),
        None,
        &["--quiet", "--header-timeout", "30"],
    )?;
    let before = warm_baseline(&server)?;
    let log = server.stderr_log();

    // Once the server stops accepting, the kernel queues connections in the
    // listen backlog until it is full, then drops new SYNs: those connects
    // time out, which is the kernel's back-pressure, not the server's fault.
    let mut idle = Vec::new();
    let mut not_connected = 0;
    for _ in 0..FD_CONNECTIONS {
        match TcpStream::connect_timeout(&server.addr(), FD_CONNECT_TIMEOUT) {
            Ok(stream) => {
                let mut connection = Connection::from_stream(stream);
                // A send can fail if the server answered 503 and closed already.
                let _ = connection.send(b"GET /health HTTP/1.1\r\nHost: x\r\n");
                idle.push(connection);
            }
            Err(_) => not_connected += 1,
        }
    }
    // Stage 01 holds one connection at a time and never runs out; the others
    // fill their descriptor table. Wait until it is full, or says so.
    let limit = FD_LIMIT as usize;
    let exhausted = wait_until(Duration::from_secs(5), || {
        fd_count(server.pid()).unwrap_or(0) >= limit - 1
            || log
                .tail(20)
                .iter()
                .any(|line| line.contains("accept failed"))
    });
    let ticks_before = cpu_ticks(server.pid())?;
    let log_lines_before = log.tail(usize::MAX).len();
    // A measurement window: how much CPU and log the exhausted server uses.
    thread::sleep(EXHAUSTED_WINDOW);
    let ticks = cpu_ticks(server.pid())?.saturating_sub(ticks_before);
    let lines = log.tail(usize::MAX);
    let log_lines = lines.len().saturating_sub(log_lines_before);
    let last_line = lines.last().cloned().unwrap_or_default();
    let allowed_lines = EXHAUSTED_WINDOW.as_secs() as usize + 2;

    let idle_count = idle.len();
    drop(idle);
    let mut recovered = String::from("no answer");
    let resumed = wait_until(Duration::from_secs(10), || {
        match client::get(server.addr(), "/health") {
            Ok(response) => {
                recovered = response.status.to_string();
                response.status == 200
            }
            Err(error) => {
                recovered = error;
                false
            }
        }
    });
    let mut checks = vec![
        Check::new(
            format!(
                "CPU under {EXHAUSTED_CPU_TICKS} ticks in {EXHAUSTED_WINDOW:?} while exhausted"
            ),
            format!(
                "{ticks} ticks{}",
                if exhausted { "" } else { " (never exhausted)" }
            ),
            ticks < EXHAUSTED_CPU_TICKS,
        ),
        Check::new(
            format!("at most {allowed_lines} log lines in {EXHAUSTED_WINDOW:?}"),
            format!("{log_lines}, the last: {last_line:?}"),
            log_lines <= allowed_lines,
        ),
        Check::new(
            "serves again once the connections close",
            recovered.clone(),
            resumed,
        ),
    ];
    let (after, zombies) = after_fault(&server, before, &mut checks);
    Ok(FaultResult {
        stage,
        fault: OUT_OF_FDS,
        answer: if resumed {
            format!(
                "{idle_count} connected, {not_connected} left in the backlog; {ticks} CPU ticks \
                 and {log_lines} log lines in {EXHAUSTED_WINDOW:?}; 200 once closed"
            )
        } else {
            recovered
        },
        fds: (before, after),
        zombies,
        checks,
    })
}

/// The server's stderr is a pipe nobody reads any more (a log shipper that
/// died, `netserve 2>&1 | head`): writing a log line fails with EPIPE. It
/// must keep serving.
pub fn log_reader_gone(stage: Stage, bin_dir: &Path) -> Result<FaultResult, String> {
    let target = stage.target(bin_dir);
    let mut command = Command::new(&target.command[0]);
    command.arg("0");
    if stage.number >= 5 {
        command
            .arg("--cache-audit")
            .arg(&target.cache_audit)
            .arg("--traces-dir")
            .arg(&target.traces_dir);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", stage.binary))?;
    // Close our end of its stderr at once: every log line is now EPIPE.
    drop(child.stderr.take());
    let mut ready = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut ready);
    }
    let addr: Option<SocketAddr> = ready
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|text| text.parse().ok());
    let mut answers = Vec::new();
    if let Some(addr) = addr {
        for _ in 0..3 {
            let status = client::get(addr, "/health")
                .map(|response| response.status.to_string())
                .unwrap_or_else(|error| error);
            answers.push(status);
        }
    }
    let exited = child.try_wait().ok().flatten();
    let _ = child.kill();
    let _ = child.wait();
    let all_ok = answers.len() == 3 && answers.iter().all(|status| status == "200");
    let checks = vec![
        Check::new("readiness line", ready.trim().to_string(), addr.is_some()),
        Check::new("3 × /health answered 200", answers.join(", "), all_ok),
        Check::new(
            "still running afterwards",
            exited.map_or("running".to_string(), |status| format!("exited: {status}")),
            exited.is_none(),
        ),
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
