//! The load generator: a closed loop of N client threads, each with one
//! connection, in one of two modes.
//!
//! - **close**: each client thread repeats, as fast as the server lets it:
//!   connect → write the whole request in one `write` → read until the
//!   server closes → close. Stages 01-06 close the connection after one
//!   response (`Connection: close`), so a connection *is* a request.
//! - **keep-alive**: each connection is persistent (RFC 9112 §9.3): write
//!   request → read one response, framed by its `Content-Length` (§6.3) →
//!   the next request. It reconnects only when the server closes: after a
//!   response with `Connection: close`, or on an error. The N connections
//!   are driven by a few threads with epoll ([`crate::keepalive`]); the
//!   blocking [`Persistent`] serves the probe and the idle connections.
//!
//! A thread sends its next request only when the previous one is answered
//! (or failed): the load is "closed", N requests are in flight at most, and
//! a slower server simply receives fewer requests. (An open-loop generator
//! would instead send at a fixed rate whatever the server does; wrk, like
//! this one, is closed.) There is no pipelining: one request in flight per
//! connection, as a browser or wrk sends them.
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

use crate::cli::Mode;
use crate::keepalive;
use crate::stats::{self, Errors};

/// Bytes of a response kept to read its status code: `HTTP/1.1 200`.
const STATUS_PREFIX: usize = 12;

/// Size of each client's read buffer (16 KiB): a whole response to a
/// benchmark request fits, so one `read` usually gets it all. A response
/// head longer than this is an error (`other`); a longer body is read and
/// thrown away piece by piece.
const READ_BUFFER: usize = 16 * 1024;

/// How often the probe of [`Load::start`] sends its request: 100 a
/// second, too few to load the server, enough for a p99 over a few seconds.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// How long past the end of the window a request may still be waited for.
/// It will not be counted, but giving it up at once would turn it into a
/// needless reset on the server's side.
pub const END_GRACE: Duration = Duration::from_millis(50);

/// Where the load goes and what it sends.
#[derive(Clone, Debug)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// The whole request, sent with one `write` each time.
    pub request: Arc<[u8]>,
    /// One request per connection, or request after request.
    pub mode: Mode,
}

/// Builds a `GET` request for `path` (origin form, with the query) with the
/// header fields it needs: `Host`, required in HTTP/1.1 (RFC 9112 §3.2),
/// and in [`Mode::Close`] `Connection: close`, which states the
/// one-request-per-connection model so that a server with keep-alive closes
/// too. An HTTP/1.1 request without it asks for a persistent connection
/// (RFC 9112 §9.3).
pub fn get_request(host: &str, path: &str, mode: Mode) -> Arc<[u8]> {
    let connection = match mode {
        Mode::Close => "Connection: close\r\n",
        Mode::KeepAlive => "",
    };
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{connection}\r\n")
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

/// A persistent connection and the bytes read from it but not yet used.
pub struct Persistent {
    stream: Option<TcpStream>,
    buffer: Vec<u8>,
    /// How many bytes at the start of `buffer` are filled.
    filled: usize,
}

impl Persistent {
    /// No connection yet: the first request connects.
    pub fn new() -> Persistent {
        Persistent {
            stream: None,
            buffer: vec![0; READ_BUFFER],
            filled: 0,
        }
    }

    /// The open connection, if any, for a caller that keeps it idle.
    pub fn into_stream(self) -> Option<TcpStream> {
        self.stream
    }

    /// Sends one request on the connection, connecting first if there is
    /// none, and reads its response. The connection is dropped after a
    /// response that says the server will close, and after any error.
    pub fn request(&mut self, target: &Target, timeout: Duration) -> Outcome {
        match self.exchange(target, timeout) {
            Ok(response) => {
                if response.closes {
                    self.stream = None;
                }
                Outcome::Answered(response.status)
            }
            Err(failure) => {
                self.stream = None;
                Outcome::Failed(failure)
            }
        }
    }

    fn exchange(&mut self, target: &Target, timeout: Duration) -> Result<Response, Failure> {
        let failure = |error: io::Error| classify(&error);
        if self.stream.is_none() {
            let stream = TcpStream::connect_timeout(&target.addr, timeout).map_err(failure)?;
            // Small requests written one after the other on one
            // connection: without TCP_NODELAY, Nagle's algorithm would hold
            // a request back until the previous one's ACK.
            stream.set_nodelay(true).map_err(failure)?;
            self.stream = Some(stream);
            self.filled = 0;
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::Other);
        };
        stream.set_write_timeout(Some(timeout)).map_err(failure)?;
        stream.set_read_timeout(Some(timeout)).map_err(failure)?;
        stream.write_all(&target.request).map_err(failure)?;
        read_response(stream, &mut self.buffer, &mut self.filled)
    }
}

/// What [`read_response`] found out about one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Whether the server closes the connection after it: `Connection:
    /// close`, an HTTP/1.0 response without `Connection: keep-alive`, or a
    /// body delimited by the close (no `Content-Length`).
    pub closes: bool,
}

/// Reads one response from `stream`, framed as RFC 9112 §6.3 says for a
/// response to `GET`: the head up to the empty line, then `Content-Length`
/// bytes of body, or without it everything up to the server's close.
/// `buffer[..*filled]` holds bytes already read; bytes after the response
/// are kept there for the next call (a server never sends any unasked,
/// but nothing is lost if it does).
///
/// # Errors
/// The [`Failure`] kind: `Reset` for a close before the response is
/// complete, `Timeout`, `Other` for a head larger than the buffer, a head
/// that is not HTTP/1.x, or a chunked body (the stages and nginx send
/// `Content-Length`).
pub fn read_response(
    stream: &mut impl Read,
    buffer: &mut [u8],
    filled: &mut usize,
) -> Result<Response, Failure> {
    let head = loop {
        if let Some(head) = parse_head(&buffer[..*filled])? {
            break head;
        }
        if *filled == buffer.len() {
            return Err(Failure::Other);
        }
        *filled += read_some(stream, &mut buffer[*filled..])?;
    };
    let Head {
        status,
        len: head_end,
        body: length,
        closes,
    } = head;
    let Some(length) = length else {
        // The body ends where the connection does.
        let mut sink = [0u8; 4096];
        loop {
            match stream.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(classify(&error)),
            }
        }
        *filled = 0;
        return Ok(Response {
            status,
            closes: true,
        });
    };
    // Body bytes already in the buffer, then the rest read and dropped.
    let mut missing = length;
    let in_buffer = (*filled - head_end).min(length);
    missing -= in_buffer;
    let used = head_end + in_buffer;
    buffer.copy_within(used..*filled, 0);
    *filled -= used;
    while missing > 0 {
        let chunk = buffer.len().min(missing);
        let read = read_some(stream, &mut buffer[..chunk])?;
        missing -= read;
    }
    Ok(Response { status, closes })
}

/// A complete response head, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// Its length in bytes, the empty line included.
    pub len: usize,
    /// The body's length from `Content-Length`; `None`: up to the close.
    pub body: Option<usize>,
    /// Whether the server closes the connection after this response (see
    /// [`Response::closes`]).
    pub closes: bool,
}

/// Parses the response head at the start of `bytes`: `Ok(None)` while the
/// empty line that ends it has not arrived.
///
/// # Errors
/// `Other` for a head that is not HTTP/1.x, a chunked body, or a
/// `Content-Length` that is not a number.
pub fn parse_head(bytes: &[u8]) -> Result<Option<Head>, Failure> {
    let Some(len) = find_head_end(bytes) else {
        return Ok(None);
    };
    let head = &bytes[..len];
    let status = parse_status_code(head).ok_or(Failure::Other)?;
    let (body, mut closes) = framing(head)?;
    if head.starts_with(b"HTTP/1.0") && !has_token(head, "connection", "keep-alive") {
        closes = true;
    }
    if body.is_none() {
        closes = true;
    }
    Ok(Some(Head {
        status,
        len,
        body,
        closes,
    }))
}

/// One `read` that must bring at least a byte: the server's close before
/// the response is complete is a reset.
fn read_some(stream: &mut impl Read, into: &mut [u8]) -> Result<usize, Failure> {
    loop {
        match stream.read(into) {
            Ok(0) => return Err(Failure::Reset),
            Ok(read) => return Ok(read),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(classify(&error)),
        }
    }
}

/// The length of the head, empty line included, if it is all there.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|start| start + 4)
}

/// The header fields of a response head (after the status line), as
/// lowercase name and trimmed value.
fn fields(head: &[u8]) -> impl Iterator<Item = (String, &[u8])> {
    head.split(|&byte| byte == b'\n')
        .skip(1)
        .filter_map(|line| {
            let colon = line.iter().position(|&byte| byte == b':')?;
            let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
            Some((name, line[colon + 1..].trim_ascii()))
        })
}

/// Whether a field `name` (lowercase) lists `token` (case-insensitive).
fn has_token(head: &[u8], name: &str, token: &str) -> bool {
    fields(head).any(|(field, value)| {
        field == name
            && value
                .split(|&byte| byte == b',')
                .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// The body length (`None`: up to the close) and whether `Connection:
/// close` was sent.
fn framing(head: &[u8]) -> Result<(Option<usize>, bool), Failure> {
    if fields(head).any(|(name, _)| name == "transfer-encoding") {
        return Err(Failure::Other);
    }
    let length = match fields(head).find(|(name, _)| name == "content-length") {
        Some((_, value)) => Some(
            std::str::from_utf8(value)
                .ok()
                .and_then(|text| text.parse::<usize>().ok())
                .ok_or(Failure::Other)?,
        ),
        None => None,
    };
    Ok((length, has_token(head, "connection", "close")))
}

/// One client thread's results.
pub struct Tally {
    /// Latency of each 2xx response in the window, in µs.
    latency: Histogram<u64>,
    /// 2xx responses in the window.
    ok: u64,
    /// Failures and non-2xx responses in the window.
    errors: Errors,
}

impl Tally {
    /// Nothing yet.
    pub fn new() -> Tally {
        Tally {
            latency: stats::new_histogram(),
            ok: 0,
            errors: Errors::default(),
        }
    }

    /// Counts one request that ended in the window after `latency`; a 2xx
    /// also counts in `live_ok`, for the progress bar.
    pub fn record(&mut self, outcome: Outcome, latency: Duration, live_ok: &AtomicU64) {
        match outcome {
            Outcome::Answered(code) if (200..300).contains(&code) => {
                let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                self.latency
                    .saturating_record(micros.clamp(1, stats::MAX_LATENCY_US));
                self.ok += 1;
                live_ok.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Answered(_) => self.errors.non_2xx += 1,
            Outcome::Failed(failure) => match failure {
                Failure::Refused => self.errors.refused += 1,
                Failure::Reset => self.errors.reset += 1,
                Failure::Timeout => self.errors.timeout += 1,
                Failure::Client => self.errors.client += 1,
                Failure::Other => self.errors.other += 1,
            },
        }
    }
}

/// The results of a whole run.
pub struct LoadResult {
    /// The probe's latencies (2xx only, µs) and failures, if there was one.
    pub probe: Option<(Histogram<u64>, Errors)>,
    /// Latency of every 2xx response in the window, in µs: from before
    /// `connect` (close mode, or a reconnection) or before the request's
    /// `write` (a persistent connection) to the end of the response.
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
    probe: Option<JoinHandle<Tally>>,
    /// 2xx responses so far in the window, for the progress bar.
    live_ok: Arc<AtomicU64>,
    /// When the warm-up ends and the window opens.
    pub window_start: Instant,
    /// When the window closes.
    pub window_end: Instant,
}

impl Load {
    /// Starts `schedule.connections` client threads against `target`. The
    /// warm-up begins now. With a `probe`, one more thread on a connection
    /// of its own sends the probe's request every [`PROBE_INTERVAL`]
    /// (not as fast as it can): its latencies show how the server treats a
    /// light request while it is busy with the others.
    ///
    /// # Errors
    /// The OS error if a thread cannot be started (those started stop at the
    /// end of the schedule and are not waited for).
    pub fn start(target: &Target, schedule: Schedule, probe: Option<&Target>) -> io::Result<Load> {
        let window_start = Instant::now() + schedule.warmup;
        let window_end = window_start + schedule.duration;
        let live_ok = Arc::new(AtomicU64::new(0));
        let probe = match probe {
            Some(probe) => {
                let probe = probe.clone();
                Some(
                    thread::Builder::new()
                        .name("probe".to_owned())
                        .spawn(move || {
                            client_loop(
                                &probe,
                                schedule.timeout,
                                window_start,
                                window_end,
                                &AtomicU64::new(0),
                                Some(PROBE_INTERVAL),
                            )
                        })?,
                )
            }
            None => None,
        };
        let mut clients = Vec::new();
        if target.mode == Mode::KeepAlive {
            // A few threads share the connections (see keepalive.rs).
            let cpus = thread::available_parallelism().map_or(1, |cpus| cpus.get());
            let threads = cpus.min(schedule.connections);
            for index in 0..threads {
                // Connections dealt out as evenly as they go.
                let share = schedule.connections / threads
                    + usize::from(index < schedule.connections % threads);
                let target = target.clone();
                let live_ok = Arc::clone(&live_ok);
                let client = thread::Builder::new()
                    .name(format!("client-{index}"))
                    .spawn(move || {
                        keepalive::client_thread(
                            &target,
                            share,
                            schedule.timeout,
                            window_start,
                            window_end,
                            &live_ok,
                        )
                    })?;
                clients.push(client);
            }
        }
        let blocking_clients = match target.mode {
            Mode::Close => schedule.connections,
            Mode::KeepAlive => 0,
        };
        for index in 0..blocking_clients {
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
                        None,
                    )
                })?;
            clients.push(client);
        }
        Ok(Load {
            clients,
            probe,
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
        let probe = self.probe.and_then(|probe| match probe.join() {
            Ok(tally) => Some((tally.latency, tally.errors)),
            Err(_) => {
                eprintln!("warning: the probe thread panicked; its requests are missing");
                None
            }
        });
        let mut result = LoadResult {
            probe,
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
pub fn yield_to_the_server() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler(2) reads `param` during the call only; pid 0
    // means the calling thread.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}

/// The body of a client thread: requests back to back, or with `pace`
/// one every `pace` at most.
fn client_loop(
    target: &Target,
    timeout: Duration,
    window_start: Instant,
    window_end: Instant,
    live_ok: &AtomicU64,
    pace: Option<Duration>,
) -> Tally {
    let mut tally = Tally::new();
    let mut buffer = vec![0u8; READ_BUFFER];
    let mut persistent = Persistent::new();
    yield_to_the_server();
    loop {
        let started = Instant::now();
        if started >= window_end {
            return tally;
        }
        // Never wait much past the window: what ends after it is not counted.
        let timeout = timeout.min(window_end + END_GRACE - started);
        let outcome = match target.mode {
            Mode::Close => request_once(target, &mut buffer, timeout),
            Mode::KeepAlive => persistent.request(target, timeout),
        };
        let ended = Instant::now();
        if let Some(pace) = pace {
            // Pacing, not synchronisation: the probe's rate is the point.
            let next = (started + pace).min(window_end);
            thread::sleep(next.saturating_duration_since(ended));
        }
        if ended < window_start || ended > window_end {
            continue;
        }
        tally.record(outcome, ended - started, live_ok);
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
        let request = get_request("127.0.0.1:8080", "/run-cache-sim?policy=lru", Mode::Close);
        assert_eq!(
            &*request,
            b"GET /run-cache-sim?policy=lru HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n"
        );
        let request = get_request("h", "/health", Mode::KeepAlive);
        assert_eq!(&*request, b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n");
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
            request: get_request("test", "/health", Mode::Close),
            mode: Mode::Close,
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

    /// Reads `responses` with [`read_response`] from `bytes` arriving in
    /// pieces of `piece` bytes, into a buffer of `size`.
    fn responses(
        bytes: &[u8],
        piece: usize,
        size: usize,
        count: usize,
    ) -> Vec<Result<Response, Failure>> {
        struct Pieces<'a>(&'a [u8], usize);
        impl Read for Pieces<'_> {
            fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(into.len());
                into[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut stream = Pieces(bytes, piece);
        let mut buffer = vec![0u8; size];
        let mut filled = 0;
        (0..count)
            .map(|_| read_response(&mut stream, &mut buffer, &mut filled))
            .collect()
    }

    #[test]
    fn responses_are_framed_by_content_length() {
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nOK\n\
HTTP/1.1 503 Busy\r\ncontent-length: 10\r\nConnection: keep-alive, Close\r\n\r\n0123456789";
        let ok = |status, closes| Ok(Response { status, closes });
        for piece in [1, 7, 4096] {
            // A buffer smaller than the second body: read past it in pieces.
            for size in [80, 4096] {
                assert_eq!(
                    responses(two, piece, size, 3),
                    [ok(200, false), ok(503, true), Err(Failure::Reset)],
                    "piece {piece}, size {size}"
                );
            }
        }
    }

    #[test]
    fn other_framings() {
        let ok = |status, closes| Ok(Response { status, closes });
        // No Content-Length: the body runs to the close.
        assert_eq!(
            responses(b"HTTP/1.1 200 OK\r\n\r\nbody", 5, 64, 1),
            [ok(200, true)]
        );
        // HTTP/1.0 closes unless it says keep-alive.
        assert_eq!(
            responses(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 5, 64, 1),
            [ok(200, true)]
        );
        assert_eq!(
            responses(
                b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
                5,
                64,
                1
            ),
            [ok(200, false)]
        );
        let fails = |bytes: &[u8]| responses(bytes, 100, 64, 1).remove(0);
        assert_eq!(
            fails(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Failure::Other)
        );
        assert_eq!(
            fails(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            Err(Failure::Other)
        );
        assert_eq!(
            fails(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nOK"),
            Err(Failure::Reset)
        );
        assert_eq!(fails(b"HTTP/1.1 200 OK\r\n"), Err(Failure::Reset));
        assert_eq!(
            fails(&[b'x'; 100]),
            Err(Failure::Other),
            "a head larger than the buffer"
        );
    }

    /// Three requests on one persistent connection; the server says
    /// `Connection: close` on the third, and the fourth reconnects.
    #[test]
    fn persistent_connections_are_reused_until_the_server_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = Target {
            addr: listener.local_addr().unwrap(),
            request: get_request("test", "/health", Mode::KeepAlive),
            mode: Mode::KeepAlive,
        };
        let server = thread::spawn(move || {
            let mut accepted = 0;
            for answers in [3, 1] {
                let (mut stream, _) = listener.accept().unwrap();
                accepted += 1;
                let mut head = [0u8; 256];
                for answer in 1..=answers {
                    let _ = stream.read(&mut head).unwrap();
                    let connection = if answer == answers {
                        "close"
                    } else {
                        "keep-alive"
                    };
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nConnection: {connection}\r\nContent-Length: 3\r\n\r\nOK\n"
                    );
                    stream.write_all(response.as_bytes()).unwrap();
                }
            }
            accepted
        });
        let mut connection = Persistent::new();
        let timeout = Duration::from_secs(10);
        for _ in 0..4 {
            assert_eq!(connection.request(&target, timeout), Outcome::Answered(200));
        }
        assert!(connection.into_stream().is_none(), "closed after the last");
        assert_eq!(server.join().unwrap(), 2);
    }
}
