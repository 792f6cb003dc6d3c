//! Reading the request heads of many connections from one thread, with
//! `poll(2)`, so that slow clients cost memory instead of workers.
//!
//! In stages 03-05 a worker takes a connection as soon as it is accepted and
//! blocks reading its head. A client that sends its head slowly (a
//! *slowloris*) holds that worker until the header deadline; THREADS such
//! clients hold them all, the queue fills, and everyone else gets 503.
//! Counting the deadline from accept shortens the siege but cannot end it:
//! as long as a worker waits on one socket, N slow sockets stop N workers.
//!
//! Stage 06 reads heads differently. The accepting thread keeps every
//! connection whose head is still arriving in a set, and asks the kernel with
//! one `poll(2)` call which of them, and whether the listening socket, have
//! something to read. It reads what arrived into that connection's own
//! [`HeadBuffer`] without blocking, and hands a connection to the pool only
//! once its head is complete, refused or late. A worker then never waits on a
//! client; a slow client costs one 8 KiB buffer and a `pollfd` entry.
//!
//! ```text
//!             ┌──────────────────── poll(2) ───────────────────┐
//!  listener ──┤ readable: accept all, add to the set (≤ 1024)  │
//!  heads    ──┤ readable: read into the head's buffer          ├──► complete, refused
//!  deadline ──┤ passed: 408                                    │    or late: the pool
//!             └────────────────────────────────────────────────┘
//! ```

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Instant;

use crate::connection;
use crate::head::{self, Head, HeadBuffer, HeadError, Limits};
use crate::server;

/// The most connections whose heads may be in progress at once. More are
/// answered 503 at once. Each costs an 8 KiB buffer and a file descriptor,
/// so 1024 of them cost 8 MiB and fit the usual descriptor limit (1024 soft,
/// raise it with `ulimit -n` to go further).
pub const MAX_PENDING: usize = 1024;

/// A connection whose head has been read, refused or given up on: what a
/// worker needs to answer it with [`connection::answer`].
#[derive(Debug)]
pub struct Ready {
    /// The connection, back in blocking mode.
    pub stream: TcpStream,
    /// When `accept` returned it.
    pub accepted: Instant,
    /// The head, or why there is none.
    pub head: Result<Head, HeadError>,
}

/// A connection whose head is still arriving.
struct Pending {
    stream: TcpStream,
    accepted: Instant,
    buffer: HeadBuffer,
}

/// The set of connections whose heads are in progress, read from one thread.
pub struct HeadReader {
    /// Limits and deadline every head must meet.
    limits: Limits,
    /// Heads in progress, in the order accepted.
    pending: Vec<Pending>,
    /// Connections finished by the last [`HeadReader::poll`], for the pool.
    ready: Vec<Ready>,
}

impl HeadReader {
    /// An empty set for heads within `limits`.
    pub fn new(limits: Limits) -> HeadReader {
        HeadReader {
            limits,
            pending: Vec::new(),
            ready: Vec::new(),
        }
    }

    /// Whether no head is in progress (finished connections waiting in
    /// [`HeadReader::take_ready`] do not count).
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    // ANCHOR: accept_all
    /// Accepts every connection waiting on `listener` (which must be in
    /// non-blocking mode), reads what its client already sent, and adds it
    /// to the set (or, if its head is already whole, to the ready list for
    /// [`HeadReader::take_ready`]). When the set is full, the
    /// connection is answered 503 at once, as a full pool queue is. An accept
    /// error is handed to [`server::accept_failed`], which pauses.
    pub fn accept_all(&mut self, listener: &TcpListener, quiet: bool) {
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    let accepted = Instant::now();
                    let full = self.pending.len() >= MAX_PENDING;
                    if full || stream.set_nonblocking(true).is_err() {
                        connection::refuse_busy(stream, quiet);
                        continue;
                    }
                    let mut pending = Pending {
                        stream,
                        accepted,
                        buffer: HeadBuffer::new(&self.limits),
                    };
                    // Most clients send their request right behind the
                    // connection: try it now rather than a poll round later.
                    match read_some(&mut pending) {
                        None => self.pending.push(pending),
                        Some(head) => self.finish(pending, head),
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => {
                    server::accept_failed(&error);
                    return;
                }
            }
        }
    }
    // ANCHOR_END: accept_all

    // ANCHOR: poll
    /// Waits in `poll(2)` until `listener` (if any) has a connection to
    /// accept, a head in progress has bytes to read, or the earliest header
    /// deadline passes. Then reads what arrived and moves every head that is
    /// complete, refused or late to [`HeadReader::take_ready`]. Returns
    /// whether `listener` has connections waiting.
    ///
    /// With no listener and no head in progress it returns at once. A signal
    /// interrupting the wait returns `Ok(false)`, so the caller can look at
    /// its shutdown flag.
    ///
    /// # Errors
    /// The error of `poll` itself (out of memory; never for a bad socket,
    /// which shows up as readable and then fails its `read`).
    pub fn poll(&mut self, listener: Option<&TcpListener>) -> io::Result<bool> {
        if listener.is_none() && self.pending.is_empty() {
            return Ok(false);
        }
        // One entry per socket: the listener first (if any), then each head.
        let mut fds: Vec<libc::pollfd> = listener
            .map(|listener| listener.as_raw_fd())
            .into_iter()
            .chain(
                self.pending
                    .iter()
                    .map(|pending| pending.stream.as_raw_fd()),
            )
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();

        // SAFETY: `fds` is a valid, initialised array of `fds.len()` pollfd
        // structs that lives across the call; poll writes only `revents`.
        let result = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                self.timeout_ms(),
            )
        };
        if result < 0 {
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::Interrupted => Ok(false),
                _ => Err(error),
            };
        }

        let (listener_fd, head_fds) = match listener {
            Some(_) => (fds.first(), &fds[1..]),
            None => (None, &fds[..]),
        };
        let now = Instant::now();
        let pending = std::mem::take(&mut self.pending);
        for (mut pending, fd) in pending.into_iter().zip(head_fds) {
            let outcome = if fd.revents != 0 {
                read_some(&mut pending)
            } else if now >= pending.accepted + self.limits.header_timeout {
                Some(Err(HeadError::Rejected(head::timed_out())))
            } else {
                None
            };
            match outcome {
                None => self.pending.push(pending),
                Some(head) => self.finish(pending, head),
            }
        }
        Ok(listener_fd.is_some_and(|fd| fd.revents != 0))
    }
    // ANCHOR_END: poll

    /// The connections finished since the last call, in the order they
    /// finished.
    pub fn take_ready(&mut self) -> Vec<Ready> {
        std::mem::take(&mut self.ready)
    }

    /// Milliseconds until the earliest deadline of a head in progress,
    /// rounded up so that the deadline has passed when `poll` returns; `-1`
    /// (wait for ever) when no head is in progress.
    fn timeout_ms(&self) -> libc::c_int {
        let now = Instant::now();
        self.pending
            .iter()
            .map(|pending| {
                (pending.accepted + self.limits.header_timeout).saturating_duration_since(now)
            })
            .min()
            .map_or(-1, |wait| {
                let millis = wait.as_micros().div_ceil(1000);
                libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX)
            })
    }

    /// Hands a connection to the ready list, back in blocking mode for the
    /// worker; one that went away before its first byte is simply closed.
    fn finish(&mut self, pending: Pending, head: Result<Head, HeadError>) {
        if matches!(head, Err(HeadError::ClosedEarly)) {
            return;
        }
        if pending.stream.set_nonblocking(false).is_err() {
            return;
        }
        self.ready.push(Ready {
            stream: pending.stream,
            accepted: pending.accepted,
            head,
        });
    }
}

// ANCHOR: read_some
/// One non-blocking read for a head in progress: `None` while the head is
/// still incomplete, otherwise how it ended.
fn read_some(pending: &mut Pending) -> Option<Result<Head, HeadError>> {
    match pending.stream.read(pending.buffer.spare()) {
        Ok(0) => Some(Err(pending.buffer.closed())),
        Ok(received) => match pending.buffer.received(received) {
            Ok(None) => None,
            Ok(Some(head)) => Some(Ok(head)),
            Err(rejection) => Some(Err(HeadError::Rejected(rejection))),
        },
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            None
        }
        Err(error) => Some(Err(pending.buffer.failed(error))),
    }
}
// ANCHOR_END: read_some
