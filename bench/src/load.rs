//! The load generator: a closed loop of N client threads, one request per
//! connection.
//!
//! Each client thread repeats, as fast as the server lets it:
//! connect → write the whole request in one `write` → read until the server
//! closes → close. Every stage closes the connection after one response
//! (`Connection: close`), so a connection *is* a request. A thread sends its
//! next request only when the previous one is answered (or failed): the load
//! is "closed", N requests are in flight at most, and a slower server simply
//! receives fewer requests. (An open-loop generator would instead send at a
//! fixed rate whatever the server does; wrk, like this one, is closed.)
//!
//! The run has two phases on one clock: a warm-up whose requests are thrown
//! away (threads start, caches and the server's allocator warm up), then the
//! measurement window. A request counts in the window in which it *ends*.
//! Requests still in flight when the window closes are abandoned uncounted.
//!
//! One thread per connection is the simplest model that is obviously right.
//! wrk multiplexes many connections on each of a few threads with epoll,
//! which costs less CPU per request; the cross-check in the README shows the
//! difference stays small on this machine.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::stats::{self, Errors};

/// Bytes of a response kept to read its status code: `HTTP/1.1 200`.
const STATUS_PREFIX: usize = 12;

/// Size of each client's read buffer (16 KiB): a whole response to a
/// benchmark request fits, so one `read` usually gets it all.
const READ_BUFFER: usize = 16 * 1024;

/// How long past the end of the window a request may still be waited for.
/// It will not be counted, but giving it up at once would turn it into a
/// needless reset on the server's side.
const END_GRACE: Duration = Duration::from_millis(50);

/// Where the load goes and what it sends.
#[derive(Clone, Debug)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// The whole request, sent with one `write` per connection.
    pub request: Arc<[u8]>,
}

/// Builds a `GET` request for `path` (origin form, with the query) with the
/// two header fields it needs: `Host`, required in HTTP/1.1 (RFC 9112
/// §3.2), and `Connection: close`, which states the one-request-per-
/// connection model so that a server with keep-alive (for a comparison
/// through `--url`) closes too.
pub fn get_request(host: &str, path: &str) -> Arc<[u8]> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
        .into_bytes()
        .into()
}

/// How long the load runs.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Client threads, each with one connection (one request) at a time.
    pub connections: usize,
    /// Time spent loading the server before measuring.
    pub warmup: Duration,
    /// Length of the measurement window.
    pub duration: Duration,
    /// Longest wait for each of connect, write and read; longer is a
    /// timeout error.
    pub timeout: Duration,
}

/// What one connection attempt came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response with this status code.
    Answered(u16),
    /// No response.
    Failed(Failure),
}

/// Why a request got no response. The kinds of [`Errors`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// `connect` was refused.
    Refused,
    /// Reset, or closed before a status line.
    Reset,
    /// Past the timeout.
    Timeout,
    /// The client ran out of local ports or file descriptors.
    Client,
    /// Anything else, including a response that is not HTTP.
    Other,
}

/// Sorts an OS error into a [`Failure`] kind.
pub fn classify(error: &io::Error) -> Failure {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => Failure::Refused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => Failure::Reset,
        // A socket timeout shows up as WouldBlock (EAGAIN) on Linux.
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::Timeout,
        // EADDRNOTAVAIL from connect: every local port is taken, usually by
        // sockets in TIME_WAIT. The server never saw this request.
        io::ErrorKind::AddrNotAvailable => Failure::Client,
        _ => match error.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS) => Failure::Client,
            _ => Failure::Other,
        },
    }
}

/// Reads the status code from the start of a response, `HTTP/1.x NNN`.
pub fn parse_status_code(start: &[u8]) -> Option<u16> {
    let rest = start.strip_prefix(b"HTTP/1.")?;
    let (&minor, rest) = rest.split_first()?;
    let code = rest.strip_prefix(b" ")?.get(..3)?;
    if !minor.is_ascii_digit() || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    code.iter().try_fold(0u16, |value, digit| {
        Some(value * 10 + u16::from(digit - b'0'))
    })
}

/// Sends one request on a new connection and reads the response to the
/// server's close. `buffer` is the caller's, reused for every request, so
/// the loop allocates nothing.
pub fn request_once(target: &Target, buffer: &mut [u8], timeout: Duration) -> Outcome {
    match exchange(target, buffer, timeout) {
        Ok(kept) => match parse_status_code(&buffer[..kept]) {
            Some(code) => Outcome::Answered(code),
            // The server closed without a byte: as good as a reset.
            None if kept == 0 => Outcome::Failed(Failure::Reset),
            None => Outcome::Failed(Failure::Other),
        },
        Err(error) => Outcome::Failed(classify(&error)),
    }
}

/// connect → write → read to EOF. Returns how many bytes at the start of
/// `buffer` hold the start of the response (at most [`STATUS_PREFIX`]);
/// later reads overwrite the rest of the buffer, which nobody looks at.
fn exchange(target: &Target, buffer: &mut [u8], timeout: Duration) -> io::Result<usize> {
    let mut stream = TcpStream::connect_timeout(&target.addr, timeout)?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_read_timeout(Some(timeout))?;
    // One write for the whole request: no Nagle delay to fear, so
    // TCP_NODELAY makes no difference.
    stream.write_all(&target.request)?;
    let mut kept = 0;
    loop {
        match stream.read(&mut buffer[kept..]) {
            Ok(0) => return Ok(kept),
            Ok(read) => kept = (kept + read).min(STATUS_PREFIX),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
    // Dropping `stream` closes it. The server closed first, so the
    // TIME_WAIT state stays on its side and ties up none of our ports.
}

/// One client thread's results.
struct Tally {
    /// Latency of each 2xx response in the window, in µs.
    latency: Histogram<u64>,
    /// 2xx responses in the window.
    ok: u64,
    /// Failures and non-2xx responses in the window.
    errors: Errors,
}

/// The results of a whole run.
pub struct LoadResult {
    /// Latency of every 2xx response in the window, in µs, connect included.
    pub latency: Histogram<u64>,
    /// 2xx responses that ended in the window.
    pub ok: u64,
    /// Everything else that ended in the window.
    pub errors: Errors,
    /// The length of the window.
    pub window: Duration,
}

impl LoadResult {
    /// 2xx responses per second of the window.
    pub fn requests_per_second(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64()
    }
}

/// A load in progress.
pub struct Load {
    clients: Vec<JoinHandle<Tally>>,
    /// 2xx responses so far in the window, for the progress bar.
    live_ok: Arc<AtomicU64>,
    /// When the warm-up ends and the window opens.
    pub window_start: Instant,
    /// When the window closes.
    pub window_end: Instant,
}

impl Load {
    /// Starts `schedule.connections` client threads against `target`. The
    /// warm-up begins now.
    ///
    /// # Errors
    /// The OS error if a thread cannot be started (those started stop at the
    /// end of the schedule and are not waited for).
    pub fn start(target: &Target, schedule: Schedule) -> io::Result<Load> {
        let window_start = Instant::now() + schedule.warmup;
        let window_end = window_start + schedule.duration;
        let live_ok = Arc::new(AtomicU64::new(0));
        let mut clients = Vec::with_capacity(schedule.connections);
        for index in 0..schedule.connections {
            let target = target.clone();
            let live_ok = Arc::clone(&live_ok);
            let client = thread::Builder::new()
                .name(format!("client-{index}"))
                .spawn(move || {
                    client_loop(
                        &target,
                        schedule.timeout,
                        window_start,
                        window_end,
                        &live_ok,
                    )
                })?;
            clients.push(client);
        }
        Ok(Load {
            clients,
            live_ok,
            window_start,
            window_end,
        })
    }

    /// 2xx responses counted so far.
    pub fn ok_so_far(&self) -> u64 {
        self.live_ok.load(Ordering::Relaxed)
    }

    /// Waits for every client (at most the timeout past the window's end)
    /// and merges their results.
    pub fn finish(self) -> LoadResult {
        let mut result = LoadResult {
            latency: stats::new_histogram(),
            ok: 0,
            errors: Errors::default(),
            window: self.window_end - self.window_start,
        };
        for client in self.clients {
            match client.join() {
                Ok(tally) => {
                    // Same bounds on both sides: adding cannot fail.
                    let _ = result.latency.add(&tally.latency);
                    result.ok += tally.ok;
                    result.errors.add(&tally.errors);
                }
                // A panic in a client is a bug in this program: its counts
                // are lost, which the error total cannot show, so say it.
                Err(_) => eprintln!("warning: a client thread panicked; its requests are missing"),
            }
        }
        result
    }
}

/// Asks Linux to schedule the calling client thread as a batch job
/// (`SCHED_BATCH`, sched(7)): like any other thread in every way but one —
/// waking up does not preempt the thread running on that core.
///
/// Without it, each response the server writes wakes a client thread that
/// at once preempts the server thread that woke it, so the server is
/// interrupted once per request by its own load generator. That costs a
/// single-threaded server (stage 01) about 15 % of its throughput compared
/// with wrk, whose two threads rarely sleep; with it, the two agree on every
/// stage (see README, "Cross-checking with wrk"). Needs no privilege; if it
/// fails, the thread stays a normal one.
fn yield_to_the_server() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler(2) reads `param` during the call only; pid 0
    // means the calling thread.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}

/// The body of a client thread.
fn client_loop(
    target: &Target,
    timeout: Duration,
    window_start: Instant,
    window_end: Instant,
    live_ok: &AtomicU64,
) -> Tally {
    let mut tally = Tally {
        latency: stats::new_histogram(),
        ok: 0,
        errors: Errors::default(),
    };
    let mut buffer = vec![0u8; READ_BUFFER];
    yield_to_the_server();
    loop {
        let started = Instant::now();
        if started >= window_end {
            return tally;
        }
        // Never wait much past the window: what ends after it is not counted.
        let timeout = timeout.min(window_end + END_GRACE - started);
        let outcome = request_once(target, &mut buffer, timeout);
        let ended = Instant::now();
        if ended < window_start || ended > window_end {
            continue;
        }
        match outcome {
            Outcome::Answered(code) if (200..300).contains(&code) => {
                let micros = u64::try_from((ended - started).as_micros()).unwrap_or(u64::MAX);
                tally
                    .latency
                    .saturating_record(micros.clamp(1, stats::MAX_LATENCY_US));
                tally.ok += 1;
                live_ok.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Answered(_) => tally.errors.non_2xx += 1,
            Outcome::Failed(failure) => match failure {
                Failure::Refused => tally.errors.refused += 1,
                Failure::Reset => tally.errors.reset += 1,
                Failure::Timeout => tally.errors.timeout += 1,
                Failure::Client => tally.errors.client += 1,
                Failure::Other => tally.errors.other += 1,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn status_codes() {
        assert_eq!(parse_status_code(b"HTTP/1.1 200"), Some(200));
        assert_eq!(parse_status_code(b"HTTP/1.0 503 Service"), Some(503));
        assert_eq!(parse_status_code(b"HTTP/1.1 20"), None);
        assert_eq!(parse_status_code(b"HTTP/2 200 "), None);
        assert_eq!(parse_status_code(b"SSH-2.0-Open"), None);
        assert_eq!(parse_status_code(b"HTTP/1.1 2x0"), None);
    }

    #[test]
    fn requests_name_the_host_and_close() {
        let request = get_request("127.0.0.1:8080", "/run-cache-sim?policy=lru");
        assert_eq!(
            &*request,
            b"GET /run-cache-sim?policy=lru HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn os_errors_are_sorted_by_whose_fault() {
        let kind = |kind| classify(&io::Error::from(kind));
        assert_eq!(kind(io::ErrorKind::ConnectionRefused), Failure::Refused);
        assert_eq!(kind(io::ErrorKind::ConnectionReset), Failure::Reset);
        assert_eq!(kind(io::ErrorKind::BrokenPipe), Failure::Reset);
        assert_eq!(kind(io::ErrorKind::WouldBlock), Failure::Timeout);
        assert_eq!(kind(io::ErrorKind::AddrNotAvailable), Failure::Client);
        let os = |code| classify(&io::Error::from_raw_os_error(code));
        assert_eq!(os(libc::EADDRNOTAVAIL), Failure::Client);
        assert_eq!(os(libc::EMFILE), Failure::Client);
        assert_eq!(os(libc::ECONNREFUSED), Failure::Refused);
        assert_eq!(os(libc::EHOSTUNREACH), Failure::Other);
    }

    /// One exchange with a local listener that answers like a stage, and one
    /// with a listener that closes without answering. No timing involved.
    #[test]
    fn one_exchange_against_a_local_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = Target {
            addr: listener.local_addr().unwrap(),
            request: get_request("test", "/health"),
        };
        let server = thread::spawn(move || {
            for answer in [
                &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nOK\n"[..],
                b"",
            ] {
                let (mut stream, _) = listener.accept().unwrap();
                let mut head = [0u8; 256];
                let _ = stream.read(&mut head).unwrap();
                stream.write_all(answer).unwrap();
            }
        });
        let mut buffer = vec![0u8; READ_BUFFER];
        let timeout = Duration::from_secs(10);
        assert_eq!(
            request_once(&target, &mut buffer, timeout),
            Outcome::Answered(200)
        );
        assert_eq!(
            request_once(&target, &mut buffer, timeout),
            Outcome::Failed(Failure::Reset)
        );
        server.join().unwrap();
    }
}
