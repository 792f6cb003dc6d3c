//! The load generator: N client threads send HTTP requests to one server and
//! count what comes back, one [`Outcome`] per request.
//!
//! How requests are spaced ([`Pace`]):
//! - **closed loop**: each client sends its next request as soon as the
//!   previous one is answered or failed. At most N are in flight, and a
//!   slower server simply receives fewer (wrk works this way). The
//!   benchmark's load, and the reliability suite's.
//! - **open loop**: request `i` is due at `start + i / RATE` whatever
//!   happened to the others, sent by whichever client thread is free. A
//!   stalled server cannot slow the arrivals, so each request it fails is
//!   counted as lost: how a rolling restart is judged (`scale-out/`), and
//!   the benchmark's `/health` probe beside the simulations.
//!
//! How connections are used ([`Mode`]):
//! - **close**: connect → write the whole request (with `Connection: close`)
//!   in one `write` → read the response → read on to the server's close, so
//!   that TIME_WAIT stays on the server's side and ties up none of our ports.
//! - **keep-alive**: a persistent connection (RFC 9112 §9.3): request after
//!   request, each response framed by its `Content-Length` (§6.3);
//!   reconnect only when the server closes. In the closed loop the N
//!   connections are shared by a few threads with epoll(7), as wrk does: a
//!   blocked thread per connection would cost a context switch per
//!   response, which at 100,000 responses/s takes the server's CPU.
//!
//! Counting: a request counts once it ends after the warm-up. No request
//! starts after the window closes (or after [`Load::stop`]); those in
//! flight then are finished, each within the timeout, and counted, so the
//! end of a run never hides a lost request. No pipelining: one request in
//! flight per connection.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Bytes kept per connection (16 KiB): a response head must fit; a body is
/// read through it and dropped.
const BUFFER: usize = 16 * 1024;

/// The largest latency recorded, in µs (60 s); longer values are clamped.
const MAX_LATENCY_US: u64 = 60_000_000;

/// How often a client waiting for its next due time checks for the end.
const STOP_CHECK: Duration = Duration::from_millis(20);

/// How a client uses its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// One request per connection, `Connection: close`.
    Close,
    /// Request after request on a persistent connection.
    KeepAlive,
}

impl Mode {
    /// `close` or `keep-alive`, as tables and command lines name it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Close => "close",
            Mode::KeepAlive => "keep-alive",
        }
    }
}

/// Where the load goes and what it sends.
#[derive(Clone, Debug)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// The requests, sent in turn (client `k` starts with the `k`-th); at
    /// least one.
    pub requests: Vec<Vec<u8>>,
    /// One request per connection, or request after request.
    pub mode: Mode,
}

impl Target {
    /// A `GET` of each of `paths` (origin form, query included) with `Host`
    /// (RFC 9112 §3.2) and, in [`Mode::Close`], `Connection: close`, so that
    /// a server with persistent connections closes too (§9.6).
    pub fn get(addr: SocketAddr, host: &str, paths: &[&str], mode: Mode) -> Target {
        let connection = if mode == Mode::Close {
            "Connection: close\r\n"
        } else {
            ""
        };
        let request =
            |path| format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{connection}\r\n").into_bytes();
        let requests = paths.iter().map(request).collect();
        Target {
            addr,
            requests,
            mode,
        }
    }

    fn request(&self, count: usize) -> &[u8] {
        &self.requests[count % self.requests.len()]
    }
}

/// How requests are spaced in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// Each client sends as soon as its previous request ended.
    Closed,
    /// Open loop: this many requests due per second in all.
    Rate(u32),
}

/// How long and how hard the load runs.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Client connections (open loop: client threads, the most requests
    /// in flight at once).
    pub connections: usize,
    /// How requests are spaced.
    pub pace: Pace,
    /// Time before the window, whose requests are not counted.
    pub warmup: Duration,
    /// The window: no request starts after it.
    pub duration: Duration,
    /// Longest wait for each of connect, write and each read.
    pub timeout: Duration,
    /// Whether a client stops at its first refused connection (nobody
    /// listens any more: a server that has shut down).
    pub stop_when_refused: bool,
}

/// Why a request got no complete response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Failure {
    /// `connect` refused (ECONNREFUSED): nobody listens, or the listen
    /// queue overflowed.
    Refused,
    /// Reset (ECONNRESET, EPIPE) before a byte of response: never served,
    /// e.g. left in the queue of a listener that closed.
    Reset,
    /// Closed cleanly without a byte of response: a server that accepted
    /// the connection and read the request dropped it, a lost request.
    Closed,
    /// Part of a response, then a close or reset.
    Incomplete,
    /// Nothing within the timeout.
    Timeout,
    /// The client ran out of local ports or descriptors (EADDRNOTAVAIL,
    /// EMFILE, ENFILE, ENOBUFS): not the server's fault.
    Client,
    /// Anything else, a response that is not HTTP/1.x included.
    Other,
}

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// No complete response.
    Failed(Failure),
    /// A complete response with this status code.
    Answered(u16),
}

impl fmt::Display for Outcome {
    /// `HTTP 503`, `reset`, `timeout`, …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Answered(code) => write!(f, "HTTP {code}"),
            Outcome::Failed(failure) => write!(f, "{}", format!("{failure:?}").to_lowercase()),
        }
    }
}

/// Sorts an OS error into a [`Failure`]; `seen` says whether part of the
/// response had arrived (then a reset makes it [`Failure::Incomplete`]).
fn classify(error: &io::Error, seen: bool) -> Failure {
    use io::ErrorKind::*;
    match error.kind() {
        ConnectionRefused => Failure::Refused,
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof if seen => {
            Failure::Incomplete
        }
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => Failure::Reset,
        // A socket timeout shows up as WouldBlock (EAGAIN) on Linux.
        TimedOut | WouldBlock => Failure::Timeout,
        AddrNotAvailable => Failure::Client,
        _ => match error.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS) => Failure::Client,
            _ => Failure::Other,
        },
    }
}

/// Failed requests and non-2xx responses, counted by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Errors(pub BTreeMap<Outcome, u64>);

impl Errors {
    /// How many requests failed in one of these ways.
    pub fn of(&self, failures: &[Failure]) -> u64 {
        let failed = |outcome: &Outcome| failures.iter().any(|&f| *outcome == Outcome::Failed(f));
        (self.0.iter())
            .filter(|(o, _)| failed(o))
            .map(|(_, n)| n)
            .sum()
    }

    /// Complete responses that are not 2xx, whatever their code.
    pub fn non_2xx(&self) -> u64 {
        let answered = |outcome: &Outcome| matches!(outcome, Outcome::Answered(_));
        (self.0.iter())
            .filter(|(o, _)| answered(o))
            .map(|(_, n)| n)
            .sum()
    }

    /// Every error.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

impl fmt::Display for Errors {
    /// `0`, or what happened, failures first: `3 reset, 12 timeout, 2 HTTP 503`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = (self.0.iter()).map(|(o, n)| format!("{n} {o}")).collect();
        if parts.is_empty() {
            return write!(f, "0");
        }
        write!(f, "{}", parts.join(", "))
    }
}

/// What the requests came to: one client's, then the whole load's.
#[derive(Clone, Debug)]
pub struct Tally {
    /// Latency of each 2xx response, µs: from before `connect` (or before
    /// the `write` on a reused connection) to the response's last byte.
    pub latency: Histogram<u64>,
    /// 2xx responses.
    pub ok: u64,
    /// Everything else.
    pub errors: Errors,
    /// The slowest request, whatever its outcome.
    pub slowest: Duration,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            // Constant bounds that satisfy hdrhistogram's rules (low ≥ 1,
            // high ≥ 2 × low, 3 significant digits): this cannot fail.
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid bounds"),
            ok: 0,
            errors: Errors::default(),
            slowest: Duration::ZERO,
        }
    }

    /// Requests counted, whatever their outcome.
    pub fn requests(&self) -> u64 {
        self.ok + self.errors.total()
    }

    fn record(&mut self, outcome: Outcome, took: Duration) {
        self.slowest = self.slowest.max(took);
        if let Outcome::Answered(200..=299) = outcome {
            let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
            self.latency
                .saturating_record(micros.clamp(1, MAX_LATENCY_US));
            self.ok += 1;
            return;
        }
        *self.errors.0.entry(outcome).or_default() += 1;
    }

    fn add(&mut self, other: &Tally) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.ok += other.ok;
        for (&outcome, n) in &other.errors.0 {
            *self.errors.0.entry(outcome).or_default() += n;
        }
        self.slowest = self.slowest.max(other.slowest);
    }
}

/// What the client threads share.
struct Shared {
    target: Target,
    plan: Plan,
    started: Instant,
    window_start: Instant,
    window_end: Instant,
    stop: Arc<AtomicBool>,
    /// Open loop: the index of the next request due.
    next: AtomicU64,
}

impl Shared {
    /// Whether a new request may start now.
    fn open(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && Instant::now() < self.window_end
    }

    /// Sleeps until `due`; false if the window closes (or the load is
    /// stopped) first.
    fn wait_until(&self, due: Instant) -> bool {
        loop {
            let now = Instant::now();
            if !self.open() || due >= self.window_end {
                return false;
            }
            if now >= due {
                return true;
            }
            // Pacing, not synchronisation: the interval is the point.
            thread::sleep((due - now).min(STOP_CHECK));
        }
    }

    /// Counts a request that started at `started` and ends now; returns
    /// whether its client goes on.
    fn record(&self, tally: &mut Tally, outcome: Outcome, started: Instant) -> bool {
        let ended = Instant::now();
        if ended >= self.window_start {
            tally.record(outcome, ended - started);
        }
        !(self.plan.stop_when_refused && outcome == Outcome::Failed(Failure::Refused))
    }
}

/// A load in progress.
pub struct Load {
    clients: Vec<JoinHandle<Tally>>,
    shared: Arc<Shared>,
    /// When the warm-up ends and the window opens.
    pub window_start: Instant,
    /// When the window closes.
    pub window_end: Instant,
}

impl Load {
    /// Starts the client threads of `plan` against `target`; the warm-up
    /// begins now.
    ///
    /// # Errors
    /// The OS error if a thread cannot be started (those already started
    /// end with the window).
    pub fn start(target: &Target, plan: Plan) -> io::Result<Load> {
        let started = Instant::now();
        let shared = Arc::new(Shared {
            target: target.clone(),
            plan,
            started,
            window_start: started + plan.warmup,
            window_end: started + plan.warmup + plan.duration,
            stop: Arc::new(AtomicBool::new(false)),
            next: AtomicU64::new(0),
        });
        let multiplexed = target.mode == Mode::KeepAlive && plan.pace == Pace::Closed;
        let threads = if multiplexed {
            let cpus = thread::available_parallelism().map_or(1, |n| n.get());
            cpus.min(plan.connections)
        } else {
            plan.connections
        };
        let mut clients = Vec::with_capacity(threads);
        for index in 0..threads {
            let shared = Arc::clone(&shared);
            // Connections dealt out as evenly as they go.
            let share =
                plan.connections / threads + usize::from(index < plan.connections % threads);
            let body = move || {
                yield_to_the_server();
                if multiplexed {
                    epoll_client(&shared, index, share)
                } else {
                    client(&shared, index)
                }
            };
            clients.push(
                thread::Builder::new()
                    .name(format!("client-{index}"))
                    .spawn(body)?,
            );
        }
        let (window_start, window_end) = (shared.window_start, shared.window_end);
        Ok(Load {
            clients,
            shared,
            window_start,
            window_end,
        })
    }

    /// The flag that closes the window early when set: [`Load::stop`], or a
    /// signal handler (`signal_hook::flag::register`).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.shared.stop)
    }

    /// Closes the window now: no more requests start.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }

    /// Waits for every client (each request in flight ends within the
    /// timeout) and adds up their tallies.
    pub fn finish(self) -> Tally {
        let mut total = Tally::new();
        for client in self.clients {
            match client.join() {
                Ok(tally) => total.add(&tally),
                // A bug in this file; its requests cannot be counted, so say it.
                Err(_) => eprintln!("warning: a client thread panicked; its requests are missing"),
            }
        }
        total
    }
}

/// Asks Linux to schedule the calling client thread as a batch job
/// (`SCHED_BATCH`, sched(7)): the same share of CPU, but waking up does not
/// preempt the thread running on that core. Without it each response wakes
/// a client that at once preempts the server thread that wrote it: stage
/// 01 lost about 15 % of its throughput to its own load generator. Needs no
/// privilege; if it fails the thread stays a normal one.
fn yield_to_the_server() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler(2) reads `param` during the call; pid 0 is
    // the calling thread.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}

/// A blocking client thread: one connection, requests when [`Pace`] says.
fn client(shared: &Shared, index: usize) -> Tally {
    let mut tally = Tally::new();
    let mut connection = Connection::new();
    for count in index.. {
        let due = match shared.plan.pace {
            Pace::Closed => Instant::now(),
            Pace::Rate(rate) => {
                let index = shared.next.fetch_add(1, Ordering::Relaxed);
                shared.started + Duration::from_secs_f64(index as f64 / f64::from(rate.max(1)))
            }
        };
        if !shared.wait_until(due) {
            break;
        }
        let started = Instant::now();
        let request = shared.target.request(count);
        let outcome = connection.request(&shared.target, request, shared.plan.timeout);
        if !shared.record(&mut tally, outcome, started) {
            break;
        }
    }
    tally
}

/// The head of a response, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Head {
    /// The status code.
    status: u16,
    /// Length of the head, the empty line included.
    len: usize,
    /// The body's length from `Content-Length`; `None`: up to the close.
    body: Option<usize>,
    /// Whether the server closes after this response: `Connection: close`,
    /// HTTP/1.0 without `keep-alive`, or a body delimited by the close.
    closes: bool,
}

/// Parses the response head at the start of `bytes` with `httparse`;
/// `Ok(None)` until the empty line that ends it has arrived.
///
/// # Errors
/// [`Failure::Other`] for a head that is not HTTP/1.x (or has more than 32
/// fields), a chunked body, or a `Content-Length` that is not a number (the
/// stages and nginx send it).
fn parse_head(bytes: &[u8]) -> Result<Option<Head>, Failure> {
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Failure::Other),
    };
    let values = |name: &'static str| {
        (response.headers.iter())
            .filter(move |field| field.name.eq_ignore_ascii_case(name))
            .map(|field| field.value)
    };
    let has = |name, token: &str| {
        values(name)
            .flat_map(|value| value.split(|&b| b == b','))
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    };
    if values("transfer-encoding").next().is_some() {
        return Err(Failure::Other);
    }
    let body = match values("content-length").next() {
        Some(value) => Some(
            (std::str::from_utf8(value).ok())
                .and_then(|text| text.trim().parse().ok())
                .ok_or(Failure::Other)?,
        ),
        None => None,
    };
    let closes = has("connection", "close")
        || (response.version == Some(0) && !has("connection", "keep-alive"))
        || body.is_none();
    Ok(Some(Head {
        status: response.code.ok_or(Failure::Other)?,
        len,
        body,
        closes,
    }))
}

/// A connection's read side: bytes read and not yet used, and the
/// response in progress.
struct Reader {
    buffer: Vec<u8>,
    filled: usize,
    /// The head of the response being read, and the body bytes still to come.
    head: Option<(Head, Option<usize>)>,
}

impl Reader {
    fn new() -> Reader {
        Reader {
            buffer: vec![0; BUFFER],
            filled: 0,
            head: None,
        }
    }

    fn consume(&mut self, count: usize) {
        self.buffer.copy_within(count..self.filled, 0);
        self.filled -= count;
    }

    /// Reads from `stream` until a whole response is in: `Ok(None)` when a
    /// non-blocking stream has nothing more for now (or a blocking one timed
    /// out). Bytes after the response stay for the next one.
    fn receive(&mut self, stream: &mut impl Read) -> Result<Option<Head>, Failure> {
        loop {
            if self.head.is_none() {
                if let Some(head) = parse_head(&self.buffer[..self.filled])? {
                    self.consume(head.len);
                    self.head = Some((head, head.body));
                } else if self.filled == self.buffer.len() {
                    return Err(Failure::Other);
                }
            }
            if let Some((head, left)) = &mut self.head {
                let used = left.unwrap_or(self.filled).min(self.filled);
                let head = *head;
                *left = left.map(|left| left - used);
                let complete = *left == Some(0);
                self.consume(used);
                if complete {
                    self.head = None;
                    return Ok(Some(head));
                }
            }
            let seen = self.head.is_some() || self.filled > 0;
            match stream.read(&mut self.buffer[self.filled..]) {
                Ok(0) => {
                    return match self.head.take() {
                        Some((head, None)) => Ok(Some(head)),
                        Some(_) => Err(Failure::Incomplete),
                        None if seen => Err(Failure::Incomplete),
                        None => Err(Failure::Closed),
                    };
                }
                Ok(read) => self.filled += read,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(classify(&error, seen)),
            }
        }
    }
}

/// A blocking client connection: one request per connection, or a
/// persistent one reopened when the server closes it.
struct Connection {
    stream: Option<TcpStream>,
    reader: Reader,
}

impl Connection {
    /// No connection yet: the first request connects.
    fn new() -> Connection {
        Connection {
            stream: None,
            reader: Reader::new(),
        }
    }

    /// Sends `request` to `target` (connecting first if needed) and reads
    /// its response, each step within `timeout`. In [`Mode::Close`], and
    /// after any failure or a response that says so, the connection is then
    /// closed, after the server's close.
    fn request(&mut self, target: &Target, request: &[u8], timeout: Duration) -> Outcome {
        let outcome = match self.exchange(target.addr, request, timeout) {
            Ok(head) if target.mode == Mode::KeepAlive && !head.closes => {
                return Outcome::Answered(head.status);
            }
            Ok(head) => Outcome::Answered(head.status),
            Err(failure) => Outcome::Failed(failure),
        };
        if let (Some(mut stream), Outcome::Answered(_)) = (self.stream.take(), outcome) {
            // Wait for the server's close (TIME_WAIT on its side); anything
            // after the response is dropped.
            let mut sink = [0u8; 512];
            while matches!(stream.read(&mut sink), Ok(1..)) {}
        }
        outcome
    }

    /// Connects, if there is no connection; returns whether it did. Each
    /// write and read on the new stream then waits at most `timeout`.
    fn open(&mut self, addr: SocketAddr, timeout: Duration) -> Result<bool, Failure> {
        if self.stream.is_some() {
            return Ok(false);
        }
        let failure = |error: io::Error| classify(&error, false);
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(failure)?;
        // Small requests one after the other: without TCP_NODELAY Nagle's
        // algorithm would hold one back until an ACK.
        stream.set_nodelay(true).map_err(failure)?;
        stream.set_write_timeout(Some(timeout)).map_err(failure)?;
        stream.set_read_timeout(Some(timeout)).map_err(failure)?;
        // A new connection starts with nothing read (the buffer is reused:
        // allocating it per connection costs the close mode a tenth of its
        // rate).
        (self.reader.filled, self.reader.head) = (0, None);
        self.stream = Some(stream);
        Ok(true)
    }

    fn exchange(
        &mut self,
        addr: SocketAddr,
        request: &[u8],
        timeout: Duration,
    ) -> Result<Head, Failure> {
        self.open(addr, timeout)?;
        let stream = self.stream.as_mut().ok_or(Failure::Other)?;
        stream
            .write_all(request)
            .map_err(|error| classify(&error, false))?;
        // A blocking read returns nothing more only on its timeout.
        self.reader.receive(stream)?.ok_or(Failure::Timeout)
    }
}

/// One persistent connection of an [`epoll_client`].
struct Slot {
    connection: Connection,
    /// Requests sent on it, to take the next in turn.
    count: usize,
    /// When the request in flight started (`None`: none in flight).
    started: Option<Instant>,
}

/// A closed-loop keep-alive client thread: `connections` non-blocking
/// persistent connections, each sent its next request as soon as its
/// response is complete; the thread sleeps in `epoll_wait` only when every
/// one waits for the server.
fn epoll_client(shared: &Shared, index: usize, connections: usize) -> Tally {
    let mut tally = Tally::new();
    // SAFETY: epoll_create1 takes a flag and returns a new descriptor or -1.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        tally.record(Outcome::Failed(Failure::Client), Duration::ZERO);
        return tally;
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
    let timeout = shared.plan.timeout;
    let mut slots: Vec<Slot> = (0..connections)
        .map(|n| Slot {
            connection: Connection::new(),
            count: index + n,
            started: None,
        })
        .collect();

    // Sends the next request on slot `n`, reopening it if needed; a failure
    // is counted and the slot tried again while the window is open.
    let send = |slot: &mut Slot, n: usize, tally: &mut Tally| {
        while shared.open() {
            let started = Instant::now();
            match start_request(slot, n, shared, epoll.as_raw_fd()) {
                Ok(()) => {
                    slot.started = Some(started);
                    return;
                }
                Err(failure) => {
                    slot.connection.stream = None;
                    if !shared.record(tally, Outcome::Failed(failure), started) {
                        return;
                    }
                }
            }
        }
    };
    // The end of a request on slot `n`; the next one follows.
    let end = |slot: &mut Slot, n: usize, tally: &mut Tally, outcome: Outcome| {
        let started = slot.started.take().unwrap_or_else(Instant::now);
        if !matches!(outcome, Outcome::Answered(_)) {
            slot.connection.stream = None;
        }
        if shared.record(tally, outcome, started) {
            send(slot, n, tally);
        }
    };

    for (n, slot) in slots.iter_mut().enumerate() {
        send(slot, n, &mut tally);
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    loop {
        let Some(deadline) = slots.iter().filter_map(|slot| slot.started).min() else {
            return tally; // nothing in flight, and nothing more to send
        };
        let wait = (deadline + timeout).saturating_duration_since(Instant::now());
        let millis = libc::c_int::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(1000);
        // SAFETY: `events` has room for 256 entries and outlives the call.
        let ready =
            unsafe { libc::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), 256, millis) };
        for event in &events[..usize::try_from(ready).unwrap_or(0)] {
            let n = usize::try_from(event.u64).unwrap_or(usize::MAX);
            // Only a connection with a request in flight has anything to
            // read; a close after the window is nobody's loss.
            let Some(slot) = slots.get_mut(n).filter(|slot| slot.started.is_some()) else {
                continue;
            };
            let Connection { stream, reader } = &mut slot.connection;
            let Some(stream) = stream.as_mut() else {
                continue;
            };
            match reader.receive(stream) {
                Ok(None) => {}
                Ok(Some(head)) => {
                    if head.closes {
                        slot.connection.stream = None;
                    }
                    end(slot, n, &mut tally, Outcome::Answered(head.status));
                }
                Err(failure) => end(slot, n, &mut tally, Outcome::Failed(failure)),
            }
        }
        let now = Instant::now();
        for (n, slot) in slots.iter_mut().enumerate() {
            if slot.started.is_some_and(|started| now >= started + timeout) {
                end(slot, n, &mut tally, Outcome::Failed(Failure::Timeout));
            }
        }
    }
}

/// Writes the next request on `slot`, opening it (and adding it to the
/// interest list of `epoll`, level-triggered, under `n`) if it is closed.
fn start_request(slot: &mut Slot, n: usize, shared: &Shared, epoll: i32) -> Result<(), Failure> {
    let failure = |error: io::Error| classify(&error, false);
    let fresh = (slot.connection).open(shared.target.addr, shared.plan.timeout)?;
    let stream = slot.connection.stream.as_mut().ok_or(Failure::Other)?;
    if fresh {
        stream.set_nonblocking(true).map_err(failure)?;
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: n as u64,
        };
        // SAFETY: both descriptors are open; `event` is read during the
        // call. A closed descriptor leaves the interest list by itself.
        if unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, stream.as_raw_fd(), &mut event) }
            != 0
        {
            return Err(failure(io::Error::last_os_error()));
        }
    }
    let request = shared.target.request(slot.count);
    slot.count += 1;
    // A request of a hundred bytes into an empty send buffer (the previous
    // response has been read whole) is written at once, or not at all.
    match stream.write(request) {
        Ok(written) if written == request.len() => Ok(()),
        Ok(_) => Err(Failure::Other),
        Err(error) => Err(failure(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn os_errors_are_sorted_by_whose_fault() {
        use io::ErrorKind::*;
        let kinds = [
            (ConnectionRefused, false, Failure::Refused),
            (ConnectionReset, false, Failure::Reset),
            (ConnectionReset, true, Failure::Incomplete),
            (WouldBlock, false, Failure::Timeout),
            (AddrNotAvailable, false, Failure::Client),
        ];
        for (kind, seen, failure) in kinds {
            assert_eq!(classify(&kind.into(), seen), failure, "{kind:?}");
        }
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(classify(&emfile, false), Failure::Client);
    }

    /// Reads responses from `bytes` arriving `piece` bytes at a time, until
    /// the first failure.
    fn responses(bytes: &[u8], piece: usize) -> Vec<Result<(u16, bool), Failure>> {
        struct Pieces<'a>(&'a [u8], usize);
        impl Read for Pieces<'_> {
            fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(into.len());
                into[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let (mut stream, mut reader) = (Pieces(bytes, piece), Reader::new());
        let mut read = Vec::new();
        loop {
            let next = reader.receive(&mut stream);
            read.push(next.map(|head| head.map_or((0, false), |h| (h.status, h.closes))));
            if read.last().is_some_and(Result::is_err) {
                return read;
            }
        }
    }

    #[test]
    fn responses_are_framed_by_content_length() {
        let big = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 40000\r\n\r\n{}",
            "x".repeat(40_000)
        );
        let three = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nOK\n{big}\
             HTTP/1.1 503 Busy\r\ncontent-length: 2\r\nConnection: keep-alive, Close\r\n\r\nno"
        );
        let expected = [
            Ok((200, false)),
            Ok((200, false)),
            Ok((503, true)),
            Err(Failure::Closed),
        ];
        for piece in [1, 7, 4096] {
            assert_eq!(
                responses(three.as_bytes(), piece),
                expected,
                "piece {piece}"
            );
        }
        let cases: [(&str, _); 5] = [
            ("HTTP/1.1 200 OK\r\n\r\nto the close", Ok((200, true))),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
                Ok((200, true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                Err(Failure::Other),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nOK",
                Err(Failure::Incomplete),
            ),
            ("SSH-2.0-OpenSSH\r\n\r\n", Err(Failure::Other)),
        ];
        for (text, expected) in cases {
            assert_eq!(responses(text.as_bytes(), 5)[0], expected, "{text}");
        }
    }

    /// A listener that answers `answers[i]` requests on its i-th connection,
    /// the last with `Connection: close` (none: it reads one and closes).
    fn server(answers: Vec<usize>) -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = thread::spawn(move || {
            for count in answers {
                let (mut stream, _) = listener.accept().unwrap();
                for answer in 1..=count.max(1) {
                    let _ = stream.read(&mut [0u8; 256]).unwrap();
                    let close = if answer == count {
                        "close"
                    } else {
                        "keep-alive"
                    };
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nConnection: {close}\r\nContent-Length: 3\r\n\r\nOK\n"
                    );
                    if count > 0 {
                        stream.write_all(response.as_bytes()).unwrap();
                    }
                }
            }
        });
        (addr, thread)
    }

    fn plan(connections: usize, pace: Pace, duration: Duration, stop_when_refused: bool) -> Plan {
        let (warmup, timeout) = (Duration::ZERO, Duration::from_secs(10));
        Plan {
            connections,
            pace,
            warmup,
            duration,
            timeout,
            stop_when_refused,
        }
    }

    #[test]
    fn connections_are_reused_until_the_server_closes() {
        let (addr, server) = server(vec![3, 1, 0]);
        let target = Target::get(addr, "test", &["/health"], Mode::KeepAlive);
        let mut connection = Connection::new();
        let timeout = Duration::from_secs(10);
        let outcomes: Vec<Outcome> = (0..5)
            .map(|_| connection.request(&target, &target.requests[0], timeout))
            .collect();
        assert_eq!(outcomes[..4], [Outcome::Answered(200); 4]);
        assert_eq!(
            outcomes[4],
            Outcome::Failed(Failure::Closed),
            "accepted, then closed"
        );
        server.join().unwrap();
    }

    /// The open loop sends exactly the requests due in the window, however
    /// long each takes, and every one is counted.
    #[test]
    fn an_open_loop_sends_every_request_due() {
        let (addr, server) = server(vec![1; 10]);
        let target = Target::get(addr, "test", &["/health"], Mode::Close);
        let plan = plan(4, Pace::Rate(50), Duration::from_millis(200), false);
        let tally = Load::start(&target, plan).unwrap().finish();
        assert_eq!((tally.ok, tally.requests()), (10, 10));
        server.join().unwrap();
    }

    /// The keep-alive closed loop against a server that closes after 3,
    /// then refuses: every request is counted, and the clients stop.
    #[test]
    fn a_closed_loop_stops_when_refused() {
        let (addr, server) = server(vec![3, 3]);
        let target = Target::get(addr, "test", &["/health"], Mode::KeepAlive);
        let plan = plan(2, Pace::Closed, Duration::from_secs(60), true);
        let load = Load::start(&target, plan);
        server.join().unwrap();
        let tally = load.unwrap().finish();
        assert_eq!(tally.ok, 6);
        assert_eq!(tally.errors.of(&[Failure::Refused]), 2, "{}", tally.errors);
    }
}
