//! Graceful shutdown on SIGINT, SIGTERM and SIGHUP: stop accepting, finish
//! what was accepted, exit 0.
//!
//! Three facts shape this module:
//!
//! - A signal handler may do almost nothing (only async-signal-safe calls),
//!   so the handler installed by signal-hook just records the signal; a
//!   thread of ours reads it and does the real work in ordinary code.
//! - Setting a flag is not enough to stop the accept loop. `accept` blocks in
//!   the kernel, and Rust's standard library retries it when a signal
//!   interrupts it (`EINTR`), so the loop would not look at the flag until the
//!   next client arrived. The signal thread therefore *wakes* the loop with a
//!   connection of its own to the listening socket.
//! - Nor is it enough for the workers. A worker waiting for a request head
//!   blocks in `read` for up to the header deadline (10 s by default), and a
//!   connection that has sent nothing yet would hold the exit that long. So a
//!   worker waits with `poll(2)` on two descriptors: its socket, and the read
//!   end of a socket pair whose write end the signal thread closes. Once
//!   closed, that end is readable (at end of file) for every poller at once:
//!   one `close` tells all workers that the drain has begun. A connection
//!   that has sent no byte is then closed at once; a half-sent head gets
//!   [`PARTIAL_HEAD_GRACE`] more, then `408`.

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::process;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::backend::Backend;
use crate::child::wait_readable;
use crate::connection::{self, ConnectionConfig};
use crate::head::{Head, HeadBuffer, HeadError, Limits};
use crate::log;
use crate::pool::ThreadPool;
use crate::request::Request;
use crate::response::Response;

/// Once the drain has begun, how much longer a client that has sent part of
/// its head may take to send the rest (then `408`). A head that has begun is
/// a request on its way, so it gets a moment; an impatient operator is not
/// kept waiting for a slow client's full header deadline.
pub const PARTIAL_HEAD_GRACE: Duration = Duration::from_secs(1);

/// Once the drain has begun, how long a connection accepted a moment ago may
/// take to send its first byte. A connection accepted earlier that has sent
/// nothing is closed at once; one accepted just now (taken from the listen
/// queue as the listener closes, or racing the signal) may have its request
/// on the wire already, and is not a connection to drop unheard.
pub const FIRST_BYTES_GRACE: Duration = Duration::from_millis(200);

/// After the drain timeout has killed the remaining children, how long the
/// workers (stage 06) or the event loops (stage 07) get to send their 503s
/// before the process exits anyway.
pub const ANSWER_GRACE: Duration = Duration::from_secs(2);

/// Whether a shutdown signal has arrived, and the means to tell everyone who
/// waits. Shared by the signal thread, which starts the drain, the accept
/// loop, which checks [`Shutdown::requested`] after every `accept`, and the
/// workers, which read request heads through [`Shutdown::serve`].
#[derive(Debug)]
pub struct Shutdown {
    /// Set by the signal thread when the first signal arrives.
    requested: AtomicBool,
    /// Readable once the drain has begun: the signal thread drops the other
    /// end of this pair ([`Shutdown::wake_workers`]), so every `poll` on it
    /// returns at once, now and forever after.
    drain_started: UnixStream,
    /// The other end, until the drain begins.
    wake_workers: Mutex<Option<UnixStream>>,
}

impl Shutdown {
    // ANCHOR: install
    /// Starts the thread that waits for SIGINT, SIGTERM and SIGHUP (the
    /// terminal closed: drain too, rather than die with requests in flight).
    ///
    /// On the first signal it sets the flag, tells the workers (see
    /// [`Shutdown::serve`]) and wakes the accept loop by connecting to
    /// `listening` (the listener's own address). On a second signal it kills
    /// every running child of `backend` and exits with status 1 at once: the
    /// operator has asked twice.
    ///
    /// # Errors
    /// The OS error if the handlers cannot be installed, the socket pair
    /// cannot be made or the thread cannot be started.
    pub fn install(listening: SocketAddr, backend: Arc<Backend>) -> io::Result<Arc<Shutdown>> {
        let (drain_started, wake_workers) = UnixStream::pair()?;
        let shutdown = Arc::new(Shutdown {
            requested: AtomicBool::new(false),
            drain_started,
            wake_workers: Mutex::new(Some(wake_workers)),
        });
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
        let flag = Arc::clone(&shutdown);
        let waker = loopback(listening);

        thread::Builder::new().name("signals".to_owned()).spawn(move || {
            // ANCHOR: milestone_6_1
            let mut received = signals.forever();
            if let Some(signal) = received.next() {
                log::lifecycle(&format!(
                    "received {}: no longer accepting; finishing requests in flight (signal again to exit now)",
                    name(signal)
                ));
                flag.requested.store(true, Ordering::SeqCst);
                flag.wake_workers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                match TcpStream::connect_timeout(&waker, Duration::from_secs(1)) {
                    // Refused or reset: the loop saw the flag on its own (other
                    // traffic woke it) and has already closed the listening socket.
                    Err(error)
                        if !matches!(
                            error.kind(),
                            io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
                        ) =>
                    {
                        log::error(&format!("could not wake the accept loop: {error}"));
                    }
                    _ => {}
                }
            }
            if let Some(signal) = received.next() {
                log::lifecycle(&format!("received {} again: exiting now", name(signal)));
                backend.kill_all();
                process::exit(1);
            }
            // ANCHOR_END: milestone_6_1
        })?;
        Ok(shutdown)
    }
    // ANCHOR_END: install

    /// True once SIGINT, SIGTERM or SIGHUP has arrived.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    // ANCHOR: serve
    /// Serves one connection like [`connection::serve`], except that the
    /// request head is read with [`Shutdown::read_request_head`], which
    /// watches for the drain while it waits.
    pub fn serve(
        &self,
        mut stream: TcpStream,
        accepted: Instant,
        config: &ConnectionConfig,
        handler: &dyn Fn(&Request) -> Response,
    ) {
        let head = self.read_request_head(&mut stream, &config.limits, accepted);
        connection::answer(stream, accepted, head, config, handler);
    }
    // ANCHOR_END: serve

    // ANCHOR: read_request_head
    /// Reads one request head like [`crate::head::read_request_head`], and also
    /// waits for the drain. Once it has begun, a connection that has sent no
    /// byte ends at once ([`HeadError::ClosedEarly`]: there is no request to
    /// answer; one accepted less than [`FIRST_BYTES_GRACE`] ago gets that
    /// long), and a half-sent head gets at most [`PARTIAL_HEAD_GRACE`] more
    /// before `408`. A head that has already arrived is read and answered as
    /// usual, however late a worker gets to it.
    ///
    /// # Errors
    /// Those of [`crate::head::read_request_head`].
    pub fn read_request_head(
        &self,
        stream: &mut TcpStream,
        limits: &Limits,
        accepted: Instant,
    ) -> Result<Head, HeadError> {
        let header_deadline = accepted + limits.header_timeout;
        let mut head = HeadBuffer::new(limits);
        // When this worker first saw that the drain had begun.
        let mut drain_began = None;
        stream.set_nonblocking(true).map_err(HeadError::Io)?;

        let outcome = loop {
            // Whatever has arrived is read before anything else is decided:
            // a client whose head is already in our socket is not slow.
            let received = match stream.read(head.spare()) {
                Ok(0) => break Err(head.closed()),
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => 0,
                Err(error) => break Err(head.failed(error)),
            };
            if received > 0 {
                match head.received(received) {
                    Ok(Some(complete)) => break Ok(complete),
                    Ok(None) => continue,
                    Err(rejection) => break Err(HeadError::Rejected(rejection)),
                }
            }

            if drain_began.is_none() && self.requested() {
                drain_began = Some(Instant::now());
            }
            let deadline = match drain_began {
                None => header_deadline,
                // Nothing sent: no request in flight, unless the connection
                // was accepted a moment ago and its first bytes are on the way.
                Some(began) if head.is_empty() => {
                    header_deadline.min(began.max(accepted + FIRST_BYTES_GRACE))
                }
                Some(began) => header_deadline.min(began + PARTIAL_HEAD_GRACE),
            };
            let time_left = deadline.saturating_duration_since(Instant::now());
            if time_left.is_zero() {
                break Err(match drain_began {
                    Some(_) if head.is_empty() => HeadError::ClosedEarly,
                    _ => HeadError::Rejected(head.timed_out()),
                });
            }
            // Nothing to read yet: sleep until the client sends, the drain
            // begins, or the deadline passes.
            let watch_drain = match drain_began {
                None => Some(&self.drain_started),
                Some(_) => None,
            };
            let fds = [Some(stream.as_raw_fd()), watch_drain.map(|s| s.as_raw_fd())];
            let fds: Vec<RawFd> = fds.into_iter().flatten().collect();
            if let Err(error) = wait_readable(&fds, time_left) {
                break Err(HeadError::Io(error));
            }
        };
        // The answer is written with blocking writes and a timeout.
        match stream.set_nonblocking(false) {
            Ok(()) => outcome,
            Err(error) => Err(HeadError::Io(error)),
        }
    }
    // ANCHOR_END: read_request_head
}

// ANCHOR: close_listener
/// Closes the listening socket after accepting the connections still in its
/// listen queue: the kernel has already completed their handshakes, so their
/// clients believe they are connected, and closing the socket would reset
/// them. Returns them, with the moment each was accepted, to be served like
/// any other; from then on, connections are refused.
pub fn close_listener(listener: TcpListener) -> Vec<(TcpStream, Instant)> {
    let mut queued = Vec::new();
    if let Err(error) = listener.set_nonblocking(true) {
        log::error(&format!("could not take the queued connections: {error}"));
        return queued;
    }
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => queued.push((stream, Instant::now())),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) => crate::server::accept_failed(&error),
        }
    }
    queued
}
// ANCHOR_END: close_listener

// ANCHOR: drain
/// Waits for the pool to finish every accepted connection, until
/// `deadline` at the latest; returns the process exit status.
///
/// `0` when everything finished in time. Otherwise the backend's children
/// are killed, so their workers answer (503) and finish, and the status is `1`
/// after at most `ANSWER_GRACE` (2 s) more.
pub fn drain<T: Send + 'static>(pool: ThreadPool<T>, backend: &Backend, deadline: Instant) -> i32 {
    // ANCHOR: milestone_6_2
    let timeout = deadline.saturating_duration_since(Instant::now());
    log::lifecycle(&format!(
        "draining: waiting up to {:.1} s more for requests in flight",
        timeout.as_secs_f64()
    ));
    let (done, finished) = mpsc::channel();
    // Joining the workers blocks; doing it on a helper thread lets this one
    // keep the deadline.
    let joiner = thread::Builder::new()
        .name("drain".to_owned())
        .spawn(move || {
            pool.shutdown();
            let _ = done.send(());
        });
    if let Err(error) = joiner {
        // The closure, and the pool with it, was dropped: that joined the
        // workers on this thread, without a deadline.
        log::error(&format!(
            "could not start the drain thread ({error}); drained without a deadline"
        ));
        return 0;
    }
    if finished.recv_timeout(timeout).is_ok() {
        log::lifecycle("drained: every accepted request was answered; exiting");
        return 0;
    }
    log::lifecycle("drain timeout: killing the simulations still running");
    backend.kill_all();
    let _ = finished.recv_timeout(ANSWER_GRACE);
    1
    // ANCHOR_END: milestone_6_2
}
// ANCHOR_END: drain

/// The address to connect to in order to reach a listener bound to
/// `address`: the same port on loopback when it listens on every interface.
fn loopback(address: SocketAddr) -> SocketAddr {
    let ip = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, address.port())
}

fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}
