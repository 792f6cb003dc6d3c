//! Load, then shutdown under load.
//!
//! 64 client threads send `/health` and `/run-cache-sim` (three to one) to
//! the full server, each one request per connection, as fast as answers
//! come, for a fixed time. Required: no unexpected status (everything 2xx),
//! resident memory flat after warm-up (within 10 %), and the descriptor
//! count back where it started once the load stops. Then the load starts
//! again and the server gets SIGTERM: every connection it accepted must get a
//! complete answer, and it must exit 0.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use harness::load::{Failure, Load, Mode, Outcome, Pace, Plan, Tally, Target};
use harness::proc::{Sampler, Watched, descriptors};
use harness::server::describe_exit;
use harness::stages::Stage;
use harness::wait_until;

use crate::{Check, Setup, all_passed};

/// How the load is run.
#[derive(Clone, Copy, Debug)]
pub struct LoadSettings {
    /// How long the measured load lasts (60 s by default).
    pub duration: Duration,
    /// How much of it is warm-up, excluded from the memory comparison.
    pub warmup: Duration,
    /// Concurrent client connections (64 by default).
    pub connections: usize,
    /// How long the load runs again before SIGTERM.
    pub before_signal: Duration,
}

/// What the load and shutdown did.
#[derive(Clone, Debug)]
pub struct LoadResult {
    /// The settings used.
    pub settings: LoadSettings,
    /// Outcomes of the measured load.
    pub load: Tally,
    /// Resident memory at the end of warm-up, and the most after it, KiB.
    pub rss_kib: (u64, u64),
    /// Descriptors before the load, at its peak, and after it settled.
    pub fds: (usize, usize, usize),
    /// Outcomes of the requests around SIGTERM.
    pub shutdown: Tally,
    /// Access-log lines the server wrote (one per answered connection).
    pub server_answered: usize,
    /// Complete answers the clients received, both phases.
    pub clients_answered: usize,
    /// The exit status after SIGTERM.
    pub exit: String,
    /// Every check.
    pub checks: Vec<Check>,
}

impl LoadResult {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        all_passed(&self.checks)
    }
}

/// The simulations the load asks for, in turn.
const SIMULATIONS: [&str; 4] = [
    "/run-cache-sim?policy=lru",
    "/run-cache-sim?policy=arc&trace=hot_cold&cache_size=10",
    "/run-cache-sim?policy=belady&trace=skewed&cache_size=8",
    "/run-cache-sim?policy=lfu&trace=scan&cache_size=100",
];

/// How long a client waits for a connection, a write or a read.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the load and the shutdown against `stage` (the full server).
pub fn run(
    stage: Stage,
    bin_dir: &Path,
    settings: LoadSettings,
    log_dir: &Path,
) -> Result<LoadResult, String> {
    fs::create_dir_all(log_dir).map_err(|e| format!("creating {}: {e}", log_dir.display()))?;
    let log_path = log_dir.join(format!("load-{stage}.log"));
    // The access log goes to a file, so every answered connection can be
    // counted afterwards.
    let setup = format!("exec 2>'{}'", log_path.display());
    let setup = Setup {
        shell: Some(&setup),
        ..Setup::default()
    };
    let mut server = crate::start(stage, bin_dir, setup)?;
    let addr = server.addr();
    let pid = server.pid();
    // Counted once the server has answered: stage 07's loops open their epoll
    // instances after the readiness line.
    let warm = harness::client::exchange(
        addr,
        b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )?;
    warm.expect_status(200)?;
    let fds_before = descriptors(pid)?;

    // The measured load.
    let sampler = Sampler::start(Watched::alone(pid), Duration::from_millis(100));
    let began = Instant::now();
    let mut plan = Plan {
        connections: settings.connections,
        pace: Pace::Closed,
        warmup: Duration::ZERO,
        duration: settings.duration,
        timeout: TIMEOUT,
        stop_when_refused: false,
    };
    // Three `/health` to one simulation, the simulations in turn; each
    // client starts at a different place in the list.
    let paths: Vec<&str> = (SIMULATIONS.iter())
        .flat_map(|&simulation| ["/health", "/health", "/health", simulation])
        .collect();
    let target = Target::get(addr, "localhost", &paths, Mode::Close);
    let start = |plan| Load::start(&target, plan).map_err(|e| format!("load: {e}"));
    let load = start(plan)?.finish();
    let load_time = began.elapsed();
    let samples = sampler.stop();
    let mut fds_after = usize::MAX;
    wait_until(Duration::from_secs(10), || {
        fds_after = descriptors(pid).unwrap_or(usize::MAX);
        fds_after == fds_before
    });

    let after_warmup = (samples.rss_kib.iter())
        .filter(|(at, _)| *at >= settings.warmup && *at <= load_time)
        .map(|(_, rss)| *rss);
    let warm = after_warmup.clone().next().unwrap_or(0);
    let most = after_warmup.max().unwrap_or(0);

    // Shutdown under load: each client stops once refused (nobody listens
    // any more); the window is only a bound.
    plan.duration = Duration::from_secs(120);
    plan.stop_when_refused = true;
    let shutdown = start(plan)?;
    // The load's length before the signal: the clients run meanwhile.
    thread::sleep(settings.before_signal);
    server.signal(libc::SIGTERM)?;
    let exit = server.wait_exit(Duration::from_secs(30));
    shutdown.stop();
    let shutdown = shutdown.finish();

    let log = fs::read_to_string(&log_path).unwrap_or_default();
    let server_answered = log.lines().filter(|line| is_access_line(line)).count();
    let head_errors = log
        .lines()
        .filter(|line| line.contains("reading the request head"))
        .count();
    // Complete answers, whatever their status; the warm-up `/health` is in
    // the server's log too.
    let answered = |tally: &Tally| (tally.ok + tally.errors.non_2xx()) as usize;
    let clients_answered = 1 + answered(&load) + answered(&shutdown);
    let requests = load.requests();
    let unexpected = load.errors.total();
    // A draining server answers `/health` 503 (stage 07: balancers stop
    // sending); refused and reset connections were never accepted.
    let expected = [
        Outcome::Answered(503),
        Outcome::Failed(Failure::Refused),
        Outcome::Failed(Failure::Reset),
    ];
    let shutdown_unexpected: u64 = (shutdown.errors.0.iter())
        .filter(|(outcome, _)| !expected.contains(outcome))
        .map(|(_, n)| n)
        .sum();
    let limit = warm + warm / 10;
    let exit_text = describe_exit(&exit);
    let checks = vec![
        Check::new(
            "requests during the load",
            requests.to_string(),
            requests > 0,
        ),
        Check::new(
            "unexpected (non-2xx or no answer) during the load",
            unexpected.to_string(),
            unexpected == 0,
        ),
        Check::new(
            format!("RSS after warm-up within 10 % of {warm} KiB"),
            format!("at most {most} KiB"),
            warm > 0 && most <= limit,
        ),
        Check::new(
            format!("descriptors back to {fds_before} after the load"),
            fds_after.to_string(),
            fds_after == fds_before,
        ),
        Check::new(
            "after SIGTERM: no incomplete answer, no non-2xx but a draining 503",
            shutdown_unexpected.to_string(),
            shutdown_unexpected == 0,
        ),
        Check::new(
            "every connection the server answered was received whole (server log = client count)",
            format!("server {server_answered}, clients {clients_answered}"),
            server_answered == clients_answered,
        ),
        Check::new(
            "no accepted connection failed mid-head",
            head_errors.to_string(),
            head_errors == 0,
        ),
        Check::new("exit status 0", exit_text.clone(), exit_text == "status 0"),
    ];
    Ok(LoadResult {
        settings,
        load,
        rss_kib: (warm, most),
        fds: (fds_before, samples.descriptors, fds_after),
        shutdown,
        server_answered,
        clients_answered,
        exit: exit_text,
        checks,
    })
}

/// Whether `line` is an access-log line: `PEER "REQUEST LINE" STATUS …`.
fn is_access_line(line: &str) -> bool {
    let (peer, rest) = line.split_once(' ').unwrap_or_default();
    peer.parse::<SocketAddr>().is_ok() && rest.starts_with('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines_are_recognised() {
        assert!(is_access_line(
            r#"127.0.0.1:36008 "GET /health HTTP/1.1" 200 138B 0.2ms"#
        ));
        assert!(is_access_line(r#"[::1]:5 "-" 408 218B 10000.082ms (late)"#));
        assert!(!is_access_line(
            "draining: waiting up to 30.0 s for requests in flight"
        ));
    }
}
