//! `scale-out-load`: sends requests at a fixed rate and counts every one
//! that is lost.
//!
//! The benchmark (`bench/`) is a closed loop: each client waits for its
//! answer before sending again, so a server that stalls simply receives
//! fewer requests, and a restart shows up as a dip, not as a count. A
//! rolling restart is judged the other way round: clients keep arriving at
//! their own pace whatever the servers do, and the question is how many of
//! them got no good answer. So this generator is open-loop: request `i` is
//! due at `start + i / RATE`, whatever happened to the others, and each one
//! ends as exactly one outcome: a 2xx, another status code, or a failure
//! (refused, reset, timeout, other).
//!
//! Each request is a new connection carrying `Connection: close` (RFC 9112
//! §9.6), read to the server's close: every request is independent, and a
//! connection that a stopping server leaves in its listen queue shows up as
//! a failure of its own.
//!
//! The run is bounded twice: it ends after `--max-duration` seconds, or
//! earlier at SIGTERM or SIGINT (the script stops the load once its
//! restarts are done). Requests already sent are then finished, each within
//! `--timeout`. The result is one line of `key=value` pairs on stdout.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};

/// Sends GET requests to URL at a fixed rate, one per connection, and
/// counts 2xx answers, other status codes, refusals, resets and timeouts.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Where to send, e.g. http://127.0.0.1:8080/health (loopback only)
    #[arg(value_parser = parse_url)]
    url: Target,

    /// Requests started per second
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    rate: u32,

    /// Stop sending after this many seconds, if no SIGTERM came first
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    max_duration: u64,

    /// Longest wait for each of connect, write and read; longer is a
    /// timeout, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
    timeout: u64,

    /// Client threads, so this many requests can be in flight at once
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1024))]
    clients: u32,
}

/// A parsed URL: the address to connect to and the request to send.
#[derive(Clone, Debug)]
struct Target {
    addr: SocketAddr,
    request: Arc<[u8]>,
}

/// Accepts `http://IP:PORT/path` with a loopback IP: this tool only ever
/// loads servers on the same machine.
fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("the URL must start with http://")?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let addr: SocketAddr = authority
        .parse()
        .map_err(|_| format!("{authority:?} is not IP:PORT"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{} is not a loopback address", addr.ip()));
    }
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    Ok(Target {
        addr,
        request: request.into_bytes().into(),
    })
}

/// What one request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// A response with this status code.
    Answered(u16),
    /// `connect` was refused: nobody listens on the port.
    Refused,
    /// Reset, or closed before a status line.
    Reset,
    /// No answer within `--timeout`.
    Timeout,
    /// Anything else, a response that is not HTTP included.
    Other,
}

/// The counts of one client thread, then of the whole run.
#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    ok: u64,
    /// Responses other than 2xx, by status code.
    statuses: BTreeMap<u16, u64>,
    refused: u64,
    reset: u64,
    timeout: u64,
    other: u64,
    /// Requests sent more than [`LATE`] after they were due: every client
    /// thread was busy, so the rate was not held.
    late: u64,
    /// The slowest request, in ms, connect included.
    max_ms: u64,
    /// When the first and the last lost request ended, in ms from the start.
    first_loss_ms: Option<u64>,
    last_loss_ms: Option<u64>,
}

/// How far behind its due time a request may start before it counts as late.
const LATE: Duration = Duration::from_millis(100);

/// How often a client thread waiting for its next due time checks for SIGTERM.
const STOP_CHECK: Duration = Duration::from_millis(20);

impl Tally {
    fn record(&mut self, outcome: Outcome, took: Duration, ended_ms: u64) {
        self.sent += 1;
        self.max_ms = self.max_ms.max(took.as_millis() as u64);
        match outcome {
            Outcome::Answered(200..=299) => {
                self.ok += 1;
                return;
            }
            Outcome::Answered(code) => *self.statuses.entry(code).or_default() += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::Reset => self.reset += 1,
            Outcome::Timeout => self.timeout += 1,
            Outcome::Other => self.other += 1,
        }
        self.first_loss_ms = Some(self.first_loss_ms.unwrap_or(ended_ms).min(ended_ms));
        self.last_loss_ms = Some(self.last_loss_ms.unwrap_or(ended_ms).max(ended_ms));
    }

    fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.ok += other.ok;
        for (code, count) in other.statuses {
            *self.statuses.entry(code).or_default() += count;
        }
        self.refused += other.refused;
        self.reset += other.reset;
        self.timeout += other.timeout;
        self.other += other.other;
        self.late += other.late;
        self.max_ms = self.max_ms.max(other.max_ms);
        self.first_loss_ms = [self.first_loss_ms, other.first_loss_ms]
            .into_iter()
            .flatten()
            .min();
        self.last_loss_ms = [self.last_loss_ms, other.last_loss_ms]
            .into_iter()
            .flatten()
            .max();
    }

    /// Every request that did not get a 2xx.
    fn lost(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.refused + self.reset + self.timeout + self.other
    }

    /// The result line: `key=value` pairs, for the script to pick apart.
    fn line(&self, elapsed: Duration) -> String {
        let non_2xx: u64 = self.statuses.values().sum();
        let codes: Vec<String> = self
            .statuses
            .iter()
            .map(|(code, count)| format!("{code}:{count}"))
            .collect();
        let ms = |value: Option<u64>| value.map_or("-".to_string(), |ms| ms.to_string());
        format!(
            "sent={} ok={} lost={} non_2xx={} codes={} refused={} reset={} timeout={} other={} \
             late={} max_ms={} first_loss_ms={} last_loss_ms={} duration_ms={}",
            self.sent,
            self.ok,
            self.lost(),
            non_2xx,
            if codes.is_empty() {
                "-".to_string()
            } else {
                codes.join(",")
            },
            self.refused,
            self.reset,
            self.timeout,
            self.other,
            self.late,
            self.max_ms,
            ms(self.first_loss_ms),
            ms(self.last_loss_ms),
            elapsed.as_millis(),
        )
    }
}

fn main() {
    let cli = Cli::parse();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGTERM, SIGINT] {
        if let Err(error) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("scale-out-load: cannot install a signal handler: {error}");
            process::exit(1);
        }
    }

    let interval = Duration::from_secs(1) / cli.rate;
    let end = Duration::from_secs(cli.max_duration);
    let timeout = Duration::from_secs(cli.timeout);
    let start = Instant::now();
    // Request i is due at start + i × interval; each thread takes the next
    // index, waits for its time, and sends it.
    let next = Arc::new(AtomicU64::new(0));

    let clients: Vec<_> = (0..cli.clients)
        .map(|_| {
            let (target, next, stop) = (cli.url.clone(), Arc::clone(&next), Arc::clone(&stop));
            thread::spawn(move || {
                let mut tally = Tally::default();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(due) = u32::try_from(index).ok().map(|i| interval * i) else {
                        break;
                    };
                    if due >= end || !wait_until(start + due, &stop) {
                        break;
                    }
                    if start.elapsed() > due + LATE {
                        tally.late += 1;
                    }
                    let sent = Instant::now();
                    let outcome = request_once(&target, timeout);
                    let ended_ms = start.elapsed().as_millis() as u64;
                    tally.record(outcome, sent.elapsed(), ended_ms);
                }
                tally
            })
        })
        .collect();

    let mut total = Tally::default();
    for client in clients {
        match client.join() {
            Ok(tally) => total.merge(tally),
            Err(_) => {
                eprintln!("scale-out-load: a client thread panicked");
                process::exit(1);
            }
        }
    }
    println!("{}", total.line(start.elapsed()));
}

/// Sleeps until `due`, waking up to check `stop`. Returns false if the run
/// was stopped first.
fn wait_until(due: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        thread::sleep((due - now).min(STOP_CHECK));
    }
}

/// connect → write the request → read to the server's close, each step
/// within `timeout`; the status code comes from the first bytes.
fn request_once(target: &Target, timeout: Duration) -> Outcome {
    let mut head = Vec::with_capacity(16);
    let result = (|| -> io::Result<()> {
        let mut stream = TcpStream::connect_timeout(&target.addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.write_all(&target.request)?;
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => return Ok(()),
                Ok(read) => {
                    let room = 12usize.saturating_sub(head.len());
                    head.extend_from_slice(&buffer[..read.min(room)]);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    })();
    match result {
        // `HTTP/1.1 200`: the code is bytes 9..12.
        Ok(()) if head.is_empty() => Outcome::Reset,
        Ok(()) => match head
            .get(9..12)
            .and_then(|code| std::str::from_utf8(code).ok())
        {
            Some(code) if head.starts_with(b"HTTP/1.") => {
                code.parse().map_or(Outcome::Other, Outcome::Answered)
            }
            _ => Outcome::Other,
        },
        Err(error) => match error.kind() {
            io::ErrorKind::ConnectionRefused => Outcome::Refused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => Outcome::Reset,
            // A socket timeout shows up as WouldBlock (EAGAIN) on Linux.
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Outcome::Timeout,
            _ => Outcome::Other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_url_takes_loopback_only() {
        let target = parse_url("http://127.0.0.1:8080/health").expect("a loopback URL");
        assert_eq!(target.addr, "127.0.0.1:8080".parse().expect("an address"));
        assert!(target.request.starts_with(b"GET /health HTTP/1.1\r\n"));
        assert!(parse_url("http://10.0.0.1:8080/").is_err());
        assert!(parse_url("http://localhost:8080/").is_err());
        assert!(parse_url("https://127.0.0.1:8080/").is_err());
    }

    #[test]
    fn merged_tallies_keep_the_first_and_last_loss() {
        let mut total = Tally::default();
        let mut one = Tally::default();
        one.record(Outcome::Answered(200), Duration::from_millis(3), 10);
        one.record(Outcome::Reset, Duration::from_millis(1), 50);
        let mut two = Tally::default();
        two.record(Outcome::Answered(502), Duration::from_millis(7), 20);
        two.record(Outcome::Refused, Duration::from_millis(1), 90);
        total.merge(one);
        total.merge(two);
        assert_eq!((total.sent, total.ok, total.lost()), (4, 1, 3));
        assert_eq!(
            (total.first_loss_ms, total.last_loss_ms),
            (Some(20), Some(90))
        );
        assert_eq!(total.max_ms, 7);
        assert!(
            total
                .line(Duration::from_secs(1))
                .contains("codes=502:1 refused=1 reset=1")
        );
    }
}
