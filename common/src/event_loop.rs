//! The pieces of stage 07's event loop: the state machine of one persistent
//! connection, here, and the system calls under it ([`syscalls`]: `epoll(7)`
//! through `libc`, listeners bound with `SO_REUSEPORT`).
//!
//! Stage 07's `main.rs` is the loop itself: wait for readiness, hand each
//! event to its connection, check deadlines, drain on a signal. What a
//! connection does with an event lives here, in [`Connection`]:
//!
//! ```text
//!            bytes ──► input ──► heads, in order ──► handler ──► output ──► write
//!                        │           │                 └─► child (stdout, stderr, pidfd in the same epoll set)
//!   leftover of the next ┘           └─ a Content-Length body is skipped; chunked → answer, then close
//! ```
//!
//! Every buffer is bounded: at most [`INPUT_LIMIT`] bytes of requests are
//! held, and once more than [`OUTPUT_LIMIT`] bytes of responses wait for a
//! client that does not read, the connection stops parsing and stops
//! reading (its `EPOLLIN` interest is dropped) until the client catches up.
//! At most [`REQUESTS_PER_WAKEUP`] requests are answered per event, so one
//! pipelining client cannot starve the others of the same loop.
//!
//! The loop is *level-triggered*: epoll reports a socket as long as it is
//! readable (or writable, for those that asked), so a connection that did not
//! finish its work is reminded. Interest is therefore kept exact: `EPOLLIN`
//! only while the connection wants bytes, `EPOLLOUT` only while output waits.

pub mod syscalls;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::backend::Backend;
use crate::child::{Child, Step};
use crate::connection::{self, Discarded, LINGER_TIMEOUT, WRITE_TIMEOUT};
use crate::date;
use crate::head::{self, HeadScan, Limits, Rejection};
use crate::log;
use crate::request::{Framing, Request, Version};
use crate::response::{Response, Status};
use crate::shutdown::{FIRST_BYTES_GRACE, PARTIAL_HEAD_GRACE};
use crate::sim::SimParams;
use syscalls::BROKEN;
pub use syscalls::{Epoll, READABLE, WRITABLE, listen_reuseport, raise_descriptor_limit};

/// Bytes of requests held per connection: two maximal heads, or a batch of
/// hundreds of small pipelined requests. A full buffer stops reading.
pub const INPUT_LIMIT: usize = 16 * 1024;

/// Bytes of responses queued per connection before it stops answering
/// (and reading) until the client has read some: the back-pressure bound
/// against a pipelining client that never reads.
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// Requests answered per connection per event. The rest of a pipelined
/// batch waits for the next turn of the loop, after every other ready
/// connection has had its turn.
pub const REQUESTS_PER_WAKEUP: usize = 32;

/// The largest `Content-Length` body skipped to reach the next request on
/// the same connection. A larger body is not worth reading: its request is
/// answered, then the connection is closed.
pub const BODY_SKIP_LIMIT: u64 = 64 * 1024;

/// Set in the token of a child's descriptor: the rest of the token is the
/// index of the connection the child answers. (Connection indexes stay far
/// below 2^32; the loop's own tokens are at the top of the range.)
pub const CHILD: u64 = 1 << 32;

/// What the loop's settings are, from the command line.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Limits and deadline of each request head (`--header-timeout`).
    pub limits: Limits,
    /// No access log (`--quiet`).
    pub quiet: bool,
    /// How long a persistent connection may sit idle between requests
    /// (`--idle-timeout`).
    pub idle_timeout: Duration,
}

// ANCHOR: clock
/// The loop's idea of the time: one `Instant` per turn of the loop for
/// deadlines, and the `Date` field value, formatted only when the second
/// changes (thousands of responses a second share one).
#[derive(Debug)]
pub struct Clock {
    /// When the loop last woke up.
    pub now: Instant,
    second: u64,
    date: String,
}

impl Clock {
    /// A clock set to the present.
    pub fn new() -> Clock {
        let mut clock = Clock {
            now: Instant::now(),
            second: u64::MAX,
            date: String::new(),
        };
        clock.tick();
        clock
    }

    /// Reads the time again; re-formats the date if a second has passed.
    pub fn tick(&mut self) {
        self.now = Instant::now();
        let wall = SystemTime::now();
        let second = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            self.date = date::http_date(wall);
        }
    }

    /// The current `Date` field value (RFC 9110 §6.6.1).
    pub fn date(&self) -> &str {
        &self.date
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}
// ANCHOR_END: clock

/// What a handler answers in stage 07: a response now, or a simulation to
/// start, whose response comes when its child is done.
#[derive(Debug)]
pub enum Answer {
    /// Send this response.
    Now(Response),
    /// Start cache-audit with these parameters; answer when it is done.
    Simulate(SimParams),
}

impl From<Response> for Answer {
    fn from(response: Response) -> Answer {
        Answer::Now(response)
    }
}

/// What a connection needs from its loop while it handles an event.
pub struct Context<'a> {
    /// The loop's clock: the time of this turn and the `Date` value.
    pub clock: &'a Clock,
    /// The loop's settings.
    pub settings: &'a Settings,
    /// Answers a request (the router).
    pub handler: &'a dyn Fn(&Request) -> Answer,
    /// Starts simulations.
    pub backend: &'a Backend,
    /// The loop's interest list, where a simulation's child descriptors go.
    pub epoll: &'a Epoll,
    /// True once the drain has begun: every response says `Connection: close`.
    pub draining: bool,
}

// ANCHOR: simulation
/// A simulation in flight: the child, and what its response needs. Its
/// descriptors are in the loop's interest list with the token
/// `CHILD | index`; until it is done, the connection answers nothing else
/// (responses go out in request order, RFC 9112 §9.3.2).
#[derive(Debug)]
struct Simulation {
    child: Child,
    params: SimParams,
    exchange: Exchange,
}
// ANCHOR_END: simulation

/// What the access log needs to know about a request being answered.
#[derive(Debug)]
struct Exchange {
    /// The request line, or `-` for a refused head; `None` with `--quiet`.
    request_line: Option<String>,
    /// When the head began to arrive (for the log's duration).
    started: Instant,
    version: Version,
    include_body: bool,
    keep_alive: bool,
}

/// What a connection waits for next, after it has handled an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    /// It is over: delete it from the interest list, then close it.
    Close,
    /// Wait for these events: [`READABLE`], [`WRITABLE`], both, or neither
    /// (a simulation runs; its child's descriptors wake the connection).
    Wait(u32),
}

// ANCHOR: connection_state
/// One client connection of an event loop, from accept to close.
///
/// It never blocks: each method does what the socket allows now and records
/// where it stopped. The loop asks [`Connection::interest`] afterwards which
/// events to wait for next (or whether the connection is over).
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    /// Its index in [`Connections`]: its token in the interest list.
    index: usize,
    /// Received bytes not yet consumed: the start of the next head, or of a
    /// batch of pipelined requests. Empty (and unallocated) when idle, so ten
    /// thousand idle connections cost no buffers.
    input: Vec<u8>,
    /// How far the search for the end of the current head has got in `input`.
    scan: HeadScan,
    /// When the current head began to arrive: its header deadline counts
    /// from here (from accept for the first request). `None` between
    /// requests, when the idle timeout applies instead.
    head_started: Option<Instant>,
    /// Requests answered so far.
    served: u64,
    /// Body bytes of the last request still to be discarded.
    skip: u64,
    /// Responses not yet written; `written` bytes of it already are.
    output: Vec<u8>,
    written: usize,
    /// When bytes last arrived or a response was last completed: the idle
    /// timeout counts from here.
    last_activity: Instant,
    /// When a write last made progress: a client that stops reading is
    /// dropped [`WRITE_TIMEOUT`] after that.
    last_write: Instant,
    /// The last queued response says `Connection: close`: answer nothing more.
    closing: bool,
    /// The client itself asked to close after its last request and sent
    /// nothing after it: closing needs no lingering.
    client_done: bool,
    /// The client half-closed (read returned 0): it will send nothing more.
    peer_closed: bool,
    /// After our FIN: discarding what the client still sends, until then.
    lingering: Option<Instant>,
    /// Set by the drain for a head in progress: its deadline is cut to this.
    drain_deadline: Option<Instant>,
    /// More complete requests wait in `input` than one event may answer.
    deferred: bool,
    /// The simulation whose response comes next, if one is running.
    simulation: Option<Simulation>,
    /// Over: the loop closes it.
    done: bool,
    /// The events the loop last registered for this connection.
    pub registered: u32,
}
// ANCHOR_END: connection_state

impl Connection {
    /// A connection just accepted at `now` (the first header deadline
    /// counts from here). `stream` must already be non-blocking.
    pub fn new(stream: TcpStream, peer: SocketAddr, now: Instant) -> Connection {
        Connection {
            stream,
            peer,
            index: 0,
            input: Vec::new(),
            scan: HeadScan::default(),
            head_started: Some(now),
            served: 0,
            skip: 0,
            output: Vec::new(),
            written: 0,
            last_activity: now,
            last_write: now,
            closing: false,
            client_done: false,
            peer_closed: false,
            lingering: None,
            drain_deadline: None,
            deferred: false,
            simulation: None,
            done: false,
            registered: READABLE,
        }
    }

    /// The socket's descriptor, for the interest list.
    pub fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    // ANCHOR: on_ready
    /// Handles the readiness epoll reported (`events`): writes what waits if
    /// the socket became writable, reads once if it is readable, answers
    /// every complete request (up to [`REQUESTS_PER_WAKEUP`]), and writes the
    /// responses with one `write`. `scratch` is the loop's read buffer.
    pub fn on_ready(&mut self, events: u32, ctx: &Context, scratch: &mut [u8]) {
        // ANCHOR: milestone_7_4
        if events & BROKEN != 0 {
            // A reset, or both directions shut: nothing more can be sent.
            self.done = true;
            return;
        }
        if events & WRITABLE != 0 {
            self.flush(ctx);
        }
        if events & READABLE != 0 {
            self.receive(ctx, scratch);
        } else {
            self.work(ctx);
        }
        self.flush(ctx);
        self.settle(ctx);
        // ANCHOR_END: milestone_7_4
    }
    // ANCHOR_END: on_ready

    // ANCHOR: on_child
    /// Handles readiness of the running simulation's child (a pipe has
    /// output, the pidfd says it exited) or its deadline: steps the child,
    /// and once it is done, queues its response and goes on with the
    /// requests that waited behind it.
    pub fn on_child(&mut self, ctx: &Context) {
        let Some(simulation) = &mut self.simulation else {
            return;
        };
        let Step::Done(outcome) = simulation.child.step(ctx.clock.now) else {
            return;
        };
        if let Some(simulation) = self.simulation.take() {
            let response = ctx.backend.finish(&simulation.params, outcome);
            self.respond(&response, simulation.exchange, None, ctx);
        }
        self.work(ctx);
        self.flush(ctx);
        self.settle(ctx);
    }
    // ANCHOR_END: on_child

    /// Answers requests left in the buffer by an earlier event that reached
    /// [`REQUESTS_PER_WAKEUP`]; see [`Connection::take_deferred`].
    pub fn resume(&mut self, ctx: &Context) {
        self.work(ctx);
        self.flush(ctx);
        self.settle(ctx);
    }

    /// Whether complete requests were left in the buffer for the next turn:
    /// nothing will wake this connection for them (their bytes have already
    /// been read from the socket), so the loop must remember it. Clears the mark.
    pub fn take_deferred(&mut self) -> bool {
        std::mem::take(&mut self.deferred)
    }

    // ANCHOR: interest
    /// The events this connection waits for next, or [`Interest::Close`]
    /// when it is over. Reading stops while the input buffer is full, while
    /// more than [`OUTPUT_LIMIT`] bytes wait for the client to read them, and
    /// once a response said `Connection: close`: with level-triggered epoll, an
    /// interest the connection cannot act on would wake the loop for nothing,
    /// over and over.
    pub fn interest(&self) -> Interest {
        if self.done {
            return Interest::Close;
        }
        let mut events = 0;
        if self.written < self.output.len() {
            events |= WRITABLE;
        }
        let wants_bytes = !self.peer_closed
            && !self.closing
            && self.input.len() < INPUT_LIMIT
            && self.output.len() <= OUTPUT_LIMIT;
        if self.lingering.is_some() || wants_bytes {
            events |= READABLE;
        }
        Interest::Wait(events)
    }
    // ANCHOR_END: interest

    // ANCHOR: deadlines
    /// Checks this connection's deadlines at `ctx.clock.now`: a lingering
    /// close that took too long, a client that stopped reading our output
    /// ([`WRITE_TIMEOUT`]), a head not complete by its deadline (`408`), an
    /// idle persistent connection (closed silently, RFC 9112 §9.5).
    pub fn on_tick(&mut self, ctx: &Context) {
        let now = ctx.clock.now;
        if let Some(until) = self.lingering {
            self.done = now >= until;
            return;
        }
        if let Some(simulation) = &self.simulation {
            if now >= simulation.child.next_deadline() {
                self.on_child(ctx);
            }
            return;
        }
        let output_waits = self.written < self.output.len();
        if output_waits && now >= self.last_write + WRITE_TIMEOUT {
            self.done = true;
            return;
        }
        if output_waits || self.closing {
            return;
        }
        match self.head_started {
            Some(started) => {
                let mut deadline = started + ctx.settings.limits.header_timeout;
                if let Some(cut) = self.drain_deadline {
                    // A connection accepted just before the drain that has
                    // still sent nothing carries no request: close it.
                    if self.served == 0
                        && self.input.is_empty()
                        && now >= started + FIRST_BYTES_GRACE
                    {
                        self.done = true;
                        return;
                    }
                    deadline = deadline.min(cut);
                }
                if now >= deadline {
                    let rejection = head::timed_out().for_request(&self.input);
                    self.input = Vec::new();
                    self.refuse(rejection, ctx);
                }
            }
            None => {
                if now >= self.last_activity + ctx.settings.idle_timeout {
                    self.done = true;
                }
            }
        }
        self.flush(ctx);
        self.settle(ctx);
    }
    // ANCHOR_END: deadlines

    // ANCHOR: start_drain
    /// The drain has begun (`ctx.draining`): a connection between requests,
    /// or one that has sent no byte yet, is closed at once (one accepted less
    /// than [`FIRST_BYTES_GRACE`] ago gets that long to send its first
    /// byte); a head in progress gets [`PARTIAL_HEAD_GRACE`] more; a request
    /// being answered finishes, with `Connection: close`.
    pub fn start_drain(&mut self, ctx: &Context) {
        if self.done || self.lingering.is_some() || self.simulation.is_some() {
            // A running simulation finishes; its response says close.
            return;
        }
        let nothing_buffered = self.input.is_empty() && self.skip == 0;
        let between_requests = self.head_started.is_none() || self.served == 0;
        if self.written < self.output.len() {
            // A response is on its way: it was the last.
            self.closing = true;
        } else if nothing_buffered && between_requests {
            match self.head_started {
                // Accepted a moment ago and silent so far: its first bytes
                // may be on the wire. `on_tick` closes it, unheard, if
                // nothing has come once the grace is over.
                Some(accepted)
                    if self.served == 0 && ctx.clock.now < accepted + FIRST_BYTES_GRACE =>
                {
                    self.drain_deadline = Some(ctx.clock.now + PARTIAL_HEAD_GRACE);
                }
                _ => self.done = true,
            }
        } else if self.head_started.is_none() && self.input.is_empty() {
            // Answered, with a body still arriving: no request will follow.
            self.closing = true;
        } else if self.head_started.is_none() {
            // Complete requests wait their turn (see `take_deferred`): the
            // next one is answered, with `Connection: close`.
        } else {
            self.drain_deadline = Some(ctx.clock.now + PARTIAL_HEAD_GRACE);
        }
        self.settle(ctx);
    }
    // ANCHOR_END: start_drain

    /// One `read` into `scratch`, then answers what is complete.
    fn receive(&mut self, ctx: &Context, scratch: &mut [u8]) {
        if self.lingering.is_some() {
            // After our FIN, whatever arrives is discarded; the lingering
            // close is over once the client has closed too (its deadline
            // is `on_tick`'s).
            let discarded = connection::discard_unread(&self.stream, None);
            self.done = discarded != Discarded::Waiting;
            return;
        }
        if self.peer_closed {
            self.work(ctx);
            return;
        }
        let room = INPUT_LIMIT
            .saturating_sub(self.input.len())
            .min(scratch.len());
        let received = match (&self.stream).read(&mut scratch[..room]) {
            Ok(0) => {
                self.peer_closed = true;
                self.work(ctx);
                return;
            }
            Ok(received) => received,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return;
            }
            Err(_) => {
                self.done = true;
                return;
            }
        };
        self.last_activity = ctx.clock.now;
        if self.input.is_empty() {
            // The common case: answer straight from the loop's buffer, and
            // keep only an incomplete tail.
            let used = self.handle(&scratch[..received], ctx);
            self.input.extend_from_slice(&scratch[used..received]);
        } else {
            self.input.extend_from_slice(&scratch[..received]);
            self.work(ctx);
        }
    }

    /// Answers what `input` holds.
    fn work(&mut self, ctx: &Context) {
        if self.input.is_empty() {
            return;
        }
        let input = std::mem::take(&mut self.input);
        let used = self.handle(&input, ctx);
        if used < input.len() && !self.closing {
            self.input = input;
            self.input.drain(..used);
        }
        // Otherwise `input` is freed here: an idle connection holds no buffer.
    }

    // ANCHOR: handle
    /// Answers the complete requests at the start of `bytes`, in order
    /// (RFC 9112 §9.3.2), and returns how many bytes were consumed; the rest
    /// is the beginning of the next request.
    ///
    /// Stops early when the connection must not answer more now: a response
    /// said `Connection: close`, more than [`OUTPUT_LIMIT`] bytes wait for
    /// the client, or [`REQUESTS_PER_WAKEUP`] requests were answered.
    fn handle(&mut self, bytes: &[u8], ctx: &Context) -> usize {
        let mut used = 0;
        let mut answered = 0;
        loop {
            if self.closing || self.simulation.is_some() || self.output.len() > OUTPUT_LIMIT {
                return used;
            }
            // A Content-Length body this server does not use: skip it.
            if self.skip > 0 {
                let skipped = self.skip.min((bytes.len() - used) as u64);
                used += skipped as usize;
                self.skip -= skipped;
                if self.skip > 0 {
                    return used;
                }
            }
            let rest = &bytes[used..];
            if rest.is_empty() {
                return used;
            }
            if answered == REQUESTS_PER_WAKEUP {
                self.deferred = true;
                return used;
            }
            let started = *self.head_started.get_or_insert(ctx.clock.now);
            match head::parse_buffered_head(rest, &mut self.scan, &ctx.settings.limits) {
                Ok(Some(head)) => {
                    used += head.length;
                    answered += 1;
                    self.head_started = None;
                    self.answer(&head.request, head.body_pending, started, ctx);
                }
                Ok(None) if self.peer_closed => {
                    self.refuse(head::closed_mid_head().for_request(rest), ctx);
                    return used;
                }
                Ok(None) => return used,
                Err(rejection) => {
                    self.refuse(rejection, ctx);
                    return used;
                }
            }
        }
    }
    // ANCHOR_END: handle

    // ANCHOR: answer
    /// Answers one request whose head is complete, and decides what follows
    /// it on the connection: the next request (after skipping a
    /// Content-Length body), or the end (a `Connection: close` either way,
    /// an HTTP/1.0 client that did not ask for keep-alive, a chunked or
    /// oversized body whose end this server will not look for).
    fn answer(&mut self, request: &Request, body_pending: bool, started: Instant, ctx: &Context) {
        let mut keep_alive = wants_keep_alive(request);
        // `body_pending`: the client sent, or announced, bytes after this head.
        self.client_done = !keep_alive && !body_pending;
        match request.framing {
            Framing::NoBody => {}
            Framing::Length(length) if length <= BODY_SKIP_LIMIT => self.skip = length,
            Framing::Length(_) | Framing::Chunked => keep_alive = false,
        }
        let exchange = Exchange {
            request_line: (!ctx.settings.quiet).then(|| request.request_line()),
            started,
            version: request.version,
            include_body: request.method != "HEAD",
            keep_alive,
        };
        match (ctx.handler)(request) {
            Answer::Now(response) => self.respond(&response, exchange, None, ctx),
            Answer::Simulate(params) => match ctx.backend.start(&params) {
                Ok(child) => self.supervise(child, params, exchange, ctx),
                Err(response) => self.respond(&response, exchange, None, ctx),
            },
        }
    }

    /// Puts a just-spawned child's stdout, stderr and pidfd in the loop's
    /// interest list: from now on, the child is events like any socket.
    fn supervise(&mut self, child: Child, params: SimParams, exchange: Exchange, ctx: &Context) {
        let token = CHILD | self.index as u64;
        for fd in child.fds() {
            if let Err(error) = ctx.epoll.add(fd, token, READABLE) {
                // Dropping the child kills and reaps it.
                let message = format!("cannot watch the simulation: {error}");
                let response = crate::json::error(Status::ServiceUnavailable, &message);
                self.respond(&response, exchange, None, ctx);
                return;
            }
        }
        self.simulation = Some(Simulation {
            child,
            params,
            exchange,
        });
        // Not stepped here, even though the child may already be done: this
        // runs inside `work`, which has taken the input buffer, and a step
        // that finished the simulation would go on to answer and settle the
        // connection with that buffer looking empty. Its descriptors are in
        // the interest list (level-triggered), so the loop reports them.
    }
    // ANCHOR_END: answer

    /// Answers a head that was refused (400, 408, 414, 431, 501, 505) and
    /// closes: after an error the framing of what follows is uncertain.
    fn refuse(&mut self, rejection: Rejection, ctx: &Context) {
        let exchange = Exchange {
            request_line: (!ctx.settings.quiet).then(|| "-".to_owned()),
            started: self.head_started.unwrap_or(ctx.clock.now),
            version: Version::Http11,
            // A response to HEAD has no body, errors included (RFC 9110 §9.3.2).
            include_body: !rejection.head_method,
            keep_alive: false,
        };
        self.head_started = None;
        // Whatever follows a refused head is unknown: linger before closing.
        self.client_done = false;
        self.respond(&rejection.response(), exchange, Some(rejection.detail), ctx);
    }

    // ANCHOR: respond
    /// Appends `response` to the output buffer, with `Connection: close`
    /// when the connection ends after it (the client asked, the drain has
    /// begun, or it is a 503: a busy or stopping server sheds the
    /// connection), and `Connection: keep-alive` for an HTTP/1.0 client that
    /// asked for it.
    fn respond(
        &mut self,
        response: &Response,
        exchange: Exchange,
        note: Option<&str>,
        ctx: &Context,
    ) {
        let keep_alive =
            exchange.keep_alive && !ctx.draining && response.status != Status::ServiceUnavailable;
        let connection = match (keep_alive, exchange.version) {
            (false, _) => Some("close"),
            (true, Version::Http10) => Some("keep-alive"),
            (true, Version::Http11) => None,
        };
        let before = self.output.len();
        if before == 0 {
            // The write timeout counts from the first byte waiting.
            self.last_write = ctx.clock.now;
        }
        response.append_to(
            &mut self.output,
            exchange.include_body,
            ctx.clock.date(),
            connection,
        );
        self.served += 1;
        self.last_activity = ctx.clock.now;
        if !keep_alive {
            self.closing = true;
        }
        if let Some(request_line) = exchange.request_line {
            log::access(&log::Access {
                peer: self.peer,
                request_line: &request_line,
                status: response.status,
                sent: &Ok(self.output.len() - before),
                // The time now, not the turn's: the log is worth a clock read.
                elapsed: exchange.started.elapsed(),
                note,
            });
        }
    }
    // ANCHOR_END: respond

    // ANCHOR: flush
    /// Writes as much of the output buffer as the socket takes, with one
    /// `write`. What it does not take waits for `EPOLLOUT`.
    fn flush(&mut self, ctx: &Context) {
        if self.written == self.output.len() {
            return;
        }
        match (&self.stream).write(&self.output[self.written..]) {
            Ok(sent) => {
                self.written += sent;
                self.last_write = ctx.clock.now;
            }
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => self.done = true,
        }
        if self.written == self.output.len() {
            self.output.clear();
            self.written = 0;
            if self.output.capacity() > OUTPUT_LIMIT {
                // A burst grew it; do not keep the peak for an idle connection.
                self.output = Vec::new();
            }
        }
    }
    // ANCHOR_END: flush

    // ANCHOR: settle
    /// Decides whether the connection is over, once nothing is being
    /// answered: after a `Connection: close` response is fully written, our
    /// FIN is sent (`shutdown(Write)`) and what the client still sends is
    /// discarded for up to [`LINGER_TIMEOUT`], so that closing does not reset
    /// the connection under the response (RFC 9112 §9.6). That wait is
    /// skipped when nothing more can come: the client half-closed, or it
    /// asked to close and sent nothing after its request. A client that
    /// half-closed and has had every answer is done.
    fn settle(&mut self, ctx: &Context) {
        if self.done
            || self.lingering.is_some()
            || self.simulation.is_some()
            || self.written < self.output.len()
        {
            return;
        }
        if self.closing {
            self.input = Vec::new();
            if self.peer_closed
                || self.client_done
                || self.stream.shutdown(Shutdown::Write).is_err()
            {
                self.done = true;
            } else {
                self.lingering = Some(ctx.clock.now + LINGER_TIMEOUT);
            }
        } else if self.peer_closed && self.input.is_empty() {
            self.done = true;
        }
    }
    // ANCHOR_END: settle
}

// ANCHOR: connections
/// The connections of one loop, each at a fixed index: the index is the
/// token epoll reports with the connection's events. A closed connection's
/// index is reused by the next one accepted.
#[derive(Debug, Default)]
pub struct Connections {
    slots: Vec<Option<Connection>>,
    free: Vec<usize>,
    open: usize,
}

impl Connections {
    /// Stores `connection` and returns its index.
    pub fn insert(&mut self, mut connection: Connection) -> usize {
        self.open += 1;
        match self.free.pop() {
            Some(index) => {
                connection.index = index;
                self.slots[index] = Some(connection);
                index
            }
            None => {
                connection.index = self.slots.len();
                self.slots.push(Some(connection));
                self.slots.len() - 1
            }
        }
    }

    /// The connection at `index`, if it is still open.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Connection> {
        self.slots.get_mut(index)?.as_mut()
    }

    /// Takes the connection at `index` out; dropping it closes the socket.
    /// Delete it from the interest list first: closing removes it only when
    /// no other descriptor refers to the socket, and a child forked a moment
    /// ago holds one until its exec (epoll(7), "Questions and answers" 6).
    pub fn remove(&mut self, index: usize) -> Option<Connection> {
        let connection = self.slots.get_mut(index)?.take()?;
        self.free.push(index);
        self.open -= 1;
        Some(connection)
    }

    /// One past the highest index in use: iterate `0..end()` with [`Connections::get_mut`].
    pub fn end(&self) -> usize {
        self.slots.len()
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.open
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.open == 0
    }
}
// ANCHOR_END: connections

/// Whether the client wants the connection kept open after this request
/// (RFC 9112 §9.3): a `close` connection option ends it; otherwise HTTP/1.1
/// persists by default and HTTP/1.0 only with the `keep-alive` option.
fn wants_keep_alive(request: &Request) -> bool {
    let mut keep_alive = request.version == Version::Http11;
    for option in request.header_list("connection") {
        if option.eq_ignore_ascii_case("close") {
            return false;
        }
        if option.eq_ignore_ascii_case("keep-alive") {
            keep_alive = true;
        }
    }
    keep_alive
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::parse::parse_head;

    fn request(text: &str) -> Request {
        parse_head(text.as_bytes()).expect("valid head")
    }

    #[test]
    fn keep_alive_follows_rfc_9112_section_9_3() {
        assert!(wants_keep_alive(&request(
            "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        )));
        assert!(!wants_keep_alive(&request(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n"
        )));
        assert!(!wants_keep_alive(&request("GET / HTTP/1.0\r\n\r\n")));
        assert!(wants_keep_alive(&request(
            "GET / HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n"
        )));
        assert!(!wants_keep_alive(&request(
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"
        )));
    }

    #[test]
    fn buffered_heads_leave_the_next_request_in_place() {
        let limits = Limits::default();
        let bytes = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHo";
        let mut scan = HeadScan::default();
        let first = head::parse_buffered_head(bytes, &mut scan, &limits)
            .expect("valid")
            .expect("complete");
        assert_eq!(first.request.path, "/a");
        let rest = &bytes[first.length..];
        assert!(matches!(
            head::parse_buffered_head(rest, &mut scan, &limits),
            Ok(None)
        ));
    }
}
