//! Load, then shutdown under load.
//!
//! 64 client threads send `/health` and `/run-cache-sim` (three to one) to
//! the full server, each one request per connection, as fast as answers
//! come, for a fixed time. Required: no unexpected status (everything 2xx),
//! resident memory flat after warm-up (within 10 %), and the descriptor
//! count back where it started once the load stops. Then the load starts
//! again and the server gets SIGTERM: every connection it accepted must get a
//! complete answer, and it must exit 0.

use std::collections::BTreeMap;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use harness::client::Response;
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

/// How one request ended, from the client's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response with this status code.
    Complete(u16),
    /// The connection was refused: nobody listens any more.
    Refused,
    /// The connection was reset before a single byte of answer: it was
    /// never accepted (it was in the listen queue when the listener closed).
    ResetBeforeAnswer,
    /// The server closed the connection cleanly without a byte of answer.
    /// Only a server that accepted the connection (and read the request, or
    /// there would be unread bytes and a reset) can do that: a lost request.
    ClosedBeforeAnswer,
    /// Some bytes of an answer, but not all of it.
    Incomplete,
    /// Anything else (timeout, connect error).
    Failed,
}

/// Counts of outcomes.
pub type Tally = BTreeMap<String, usize>;

/// What the load and shutdown did.
#[derive(Clone, Debug)]
pub struct LoadResult {
    /// The settings used.
    pub settings: LoadSettings,
    /// Outcomes of the measured load, by kind (`200`, `refused`, …).
    pub load: Tally,
    /// Requests in the measured load.
    pub requests: usize,
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

/// How long a client waits for one whole answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends one request on a new connection, with `Connection: close`, and reads until the server
/// closes.
fn one_request(addr: SocketAddr, target: &str) -> Outcome {
    let mut stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(stream) => stream,
        Err(error) if error.kind() == ErrorKind::ConnectionRefused => return Outcome::Refused,
        Err(_) => return Outcome::Failed,
    };
    if stream.set_read_timeout(Some(ANSWER_TIMEOUT)).is_err() {
        return Outcome::Failed;
    }
    // One request per connection: say so, or a server that keeps connections
    // open (stage 07) would hold this one until its idle timeout.
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if let Err(error) = stream.write_all(request.as_bytes()) {
        return match error.kind() {
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => Outcome::ResetBeforeAnswer,
            _ => Outcome::Failed,
        };
    }
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(count) => bytes.extend_from_slice(&chunk[..count]),
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) if error.kind() == ErrorKind::ConnectionReset && bytes.is_empty() => {
                return Outcome::ResetBeforeAnswer;
            }
            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
            Err(_) => return Outcome::Failed,
        }
    }
    match Response::parse(&bytes) {
        Ok(response) if response.is_complete() => Outcome::Complete(response.status),
        _ if bytes.is_empty() => Outcome::ClosedBeforeAnswer,
        _ => Outcome::Incomplete,
    }
}

/// The key an outcome is counted under.
fn key(outcome: Outcome) -> String {
    match outcome {
        Outcome::Complete(status) => status.to_string(),
        Outcome::Refused => "refused".to_string(),
        Outcome::ResetBeforeAnswer => "reset before any answer".to_string(),
        Outcome::ClosedBeforeAnswer => "closed before any answer".to_string(),
        Outcome::Incomplete => "incomplete answer".to_string(),
        Outcome::Failed => "failed".to_string(),
    }
}

/// Runs `connections` client threads until `stop` is set, or (with
/// `until_refused`) until each has been refused once.
fn clients(
    addr: SocketAddr,
    connections: usize,
    stop: &Arc<AtomicBool>,
    until_refused: bool,
) -> Vec<thread::JoinHandle<Tally>> {
    (0..connections)
        .map(|client| {
            let stop = Arc::clone(stop);
            thread::spawn(move || {
                let mut tally = Tally::new();
                let mut sent = client;
                while !stop.load(Ordering::SeqCst) {
                    let target = if sent % 4 == 3 {
                        SIMULATIONS[(sent / 4) % SIMULATIONS.len()]
                    } else {
                        "/health"
                    };
                    sent += 1;
                    let outcome = one_request(addr, target);
                    *tally.entry(key(outcome)).or_default() += 1;
                    if until_refused && outcome == Outcome::Refused {
                        break;
                    }
                }
                tally
            })
        })
        .collect()
}

/// Joins the client threads and adds up their tallies.
fn gather(threads: Vec<thread::JoinHandle<Tally>>) -> Tally {
    let mut total = Tally::new();
    for thread in threads {
        for (outcome, count) in thread.join().unwrap_or_default() {
            *total.entry(outcome).or_default() += count;
        }
    }
    total
}

/// Complete answers in a tally: every key that is a status code.
fn complete(tally: &Tally) -> usize {
    tally
        .iter()
        .filter(|(outcome, _)| outcome.parse::<u16>().is_ok())
        .map(|(_, count)| count)
        .sum()
}

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
    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let threads = clients(addr, settings.connections, &stop, false);
    // The load's length: the clients run meanwhile.
    thread::sleep(settings.duration);
    stop.store(true, Ordering::SeqCst);
    let load = gather(threads);
    let load_time = began.elapsed();
    let samples = sampler.stop();
    let mut fds_after = usize::MAX;
    wait_until(Duration::from_secs(10), || {
        fds_after = descriptors(pid).unwrap_or(usize::MAX);
        fds_after == fds_before
    });

    let warm = samples
        .rss_kib
        .iter()
        .find(|(at, _)| *at >= settings.warmup)
        .map_or(0, |(_, rss)| *rss);
    let most = samples
        .rss_kib
        .iter()
        .filter(|(at, _)| *at >= settings.warmup && *at <= load_time)
        .map(|(_, rss)| *rss)
        .max()
        .unwrap_or(0);

    // Shutdown under load.
    let stop = Arc::new(AtomicBool::new(false));
    let threads = clients(addr, settings.connections, &stop, true);
    thread::sleep(settings.before_signal);
    server.signal(libc::SIGTERM)?;
    let exit = server.wait_exit(Duration::from_secs(30));
    // Clients stop once refused; any still trying after the exit are told to stop.
    stop.store(true, Ordering::SeqCst);
    let shutdown = gather(threads);

    let log = fs::read_to_string(&log_path).unwrap_or_default();
    let server_answered = log.lines().filter(|line| is_access_line(line)).count();
    let head_errors = log
        .lines()
        .filter(|line| line.contains("reading the request head"))
        .count();
    // The warm-up `/health` is in the server's log too.
    let clients_answered = 1 + complete(&load) + complete(&shutdown);

    let requests: usize = load.values().sum();
    let unexpected: usize = load
        .iter()
        .filter(|(outcome, _)| !outcome.starts_with('2'))
        .map(|(_, count)| count)
        .sum();
    let shutdown_unexpected: usize = shutdown
        .iter()
        .filter(|(outcome, _)| {
            !outcome.starts_with('2')
                // A draining server answers `/health` 503 (stage 07): balancers stop sending.
                && *outcome != "503"
                && *outcome != "refused"
                && *outcome != "reset before any answer"
        })
        .map(|(_, count)| count)
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
        requests,
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
    let mut words = line.splitn(2, ' ');
    let peer = words.next().unwrap_or("");
    let rest = words.next().unwrap_or("");
    peer.parse::<SocketAddr>().is_ok() && rest.starts_with('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines_are_recognised() {
        assert!(is_access_line(
            "127.0.0.1:36008 \"GET /health HTTP/1.1\" 200 138B 0.200ms"
        ));
        assert!(is_access_line("[::1]:5 \"-\" 408 218B 10000.082ms (late)"));
        assert!(!is_access_line(
            "draining: waiting up to 30.0 s more for requests in flight"
        ));
        assert!(!is_access_line("received SIGTERM: no longer accepting"));
    }
}
