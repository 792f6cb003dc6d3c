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
//! [`HeadBuffer`] without blocking, and lets go of a connection only once its
//! head is complete (stage 06 hands it to the pool), refused or late (stage 06
//! answers it at once with [`connection::refuse`]). A worker then never waits
//! on a client; a slow client costs one 8 KiB buffer and a `pollfd` entry.
//!
//! The same holds at the other end of a connection. A client may still be
//! sending after its answer (a body we never read): closing then would reset
//! the connection, so the rest must be read and thrown away for a moment
//! first ([`connection::discard_unread`]). A worker doing that waits on the
//! client again, up to a second per connection. So in stage 06 the worker
//! hands such a connection back ([`Lingerer`]), and the same `poll` discards
//! its bytes until the client closes or the second is up.
//!
//! ```text
//!             ┌──────────────────── poll(2) ───────────────────┐
//!  listener ──┤ readable: accept all, add to the set (≤ 1024)  │
//!  heads    ──┤ readable: read into the head's buffer          ├──► complete: the pool;
//!  deadline ──┤ passed: 408                                    │    refused, late: answered
//!  lingering ─┤ readable: discard; closed or 1 s passed: close │
//!  wake-up  ──┤ a worker handed over a connection to discard   │◄── the pool
//!             └────────────────────────────────────────────────┘
//! ```

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, mpsc};
use std::time::Instant;

use crate::connection::{self, LINGER_TIMEOUT};
use crate::head::{Head, HeadBuffer, HeadError, Limits};
use crate::server;

/// The most connections whose heads may be in progress at once. More are
/// answered 503 at once. Each costs an 8 KiB buffer and a file descriptor,
/// so 1024 of them cost 8 MiB and fit the usual descriptor limit (1024 soft,
/// raise it with `ulimit -n` to go further). The set of answered connections
/// still being discarded has the same bound.
pub const MAX_PENDING: usize = 1024;

/// The soft descriptor limit [`raise_descriptor_limit`] asks for: room for
/// [`MAX_PENDING`] heads in progress, as many lingering connections, the
/// pool's queue and the rest.
const WANTED_DESCRIPTORS: libc::rlim_t = 4096;

/// Raises the soft limit on open descriptors (`ulimit -n`, often 1024) to
/// 4096, or to the hard limit if that is lower; never lowers it. With the
/// usual 1024, accept(2) fails with `EMFILE` a little before [`MAX_PENDING`]
/// heads are in progress, and the clients behind wait in the listen queue
/// instead of getting a 503. Returns the soft limit now in force.
///
/// # Errors
/// The OS error of `getrlimit` or `setrlimit`.
pub fn raise_descriptor_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct, which `limit` is.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let wanted = WANTED_DESCRIPTORS.min(limit.rlim_max);
    if limit.rlim_cur < wanted {
        limit.rlim_cur = wanted;
        // SAFETY: setrlimit reads one valid rlimit struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

/// A connection whose head has been read, refused or given up on: what
/// [`connection::answer`] needs to answer it (or [`connection::refuse`],
/// for a head that is an error).
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
    /// When the head must be complete: the header deadline, or earlier at
    /// shutdown (see [`HeadReader::cut_deadlines`]).
    deadline: Instant,
    buffer: HeadBuffer,
}

/// An answered connection whose client is still sending: what arrives is
/// discarded until the client closes or `until` passes (see
/// [`connection::discard_unread`] for why).
struct Lingering {
    stream: TcpStream,
    until: Instant,
}

/// The set of connections whose heads are in progress, read from one thread,
/// and of answered connections whose unread bytes it discards.
pub struct HeadReader {
    /// Limits and deadline every head must meet.
    limits: Limits,
    /// Heads in progress, in the order accepted.
    pending: Vec<Pending>,
    /// Connections finished by the last [`HeadReader::poll`], for the pool.
    ready: Vec<Ready>,
    /// Answered connections being discarded, at most [`MAX_PENDING`].
    lingering: Vec<Lingering>,
    /// Where [`Lingerer::hand_over`] puts connections for `lingering`.
    handed_over: mpsc::Receiver<TcpStream>,
    /// Readable when something was handed over, so that `poll` wakes up.
    wake: UnixStream,
    /// The workers' end of `handed_over` and `wake`.
    lingerer: Lingerer,
}

// ANCHOR: lingerer
/// How a worker gives the poll thread an answered connection whose client
/// is still sending, instead of blocking for [`LINGER_TIMEOUT`] itself.
#[derive(Clone, Debug)]
pub struct Lingerer {
    sender: mpsc::Sender<TcpStream>,
    wake: Arc<UnixStream>,
}

impl Lingerer {
    /// Hands `stream` (write side already shut, see [`connection::answer`])
    /// to the poll thread, which discards what arrives and closes it.
    pub fn hand_over(&self, stream: TcpStream) {
        if stream.set_nonblocking(true).is_err() || self.sender.send(stream).is_err() {
            return;
        }
        // One byte wakes the poll thread. If the socket's buffer is full,
        // enough wake-ups are already waiting, so a write that would block
        // is no loss.
        let _ = (&*self.wake).write(&[1]);
    }
}
// ANCHOR_END: lingerer

impl HeadReader {
    /// An empty set for heads within `limits`.
    ///
    /// # Errors
    /// The OS error if the wake-up socket pair cannot be made (out of
    /// descriptors).
    pub fn new(limits: Limits) -> io::Result<HeadReader> {
        let (wake, wake_writer) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_writer.set_nonblocking(true)?;
        let (sender, handed_over) = mpsc::channel();
        Ok(HeadReader {
            limits,
            pending: Vec::new(),
            ready: Vec::new(),
            lingering: Vec::new(),
            handed_over,
            wake,
            lingerer: Lingerer {
                sender,
                wake: Arc::new(wake_writer),
            },
        })
    }

    /// A handle for the workers to give back connections still to discard.
    pub fn lingerer(&self) -> Lingerer {
        self.lingerer.clone()
    }

    /// Whether no head is in progress (finished connections waiting in
    /// [`HeadReader::take_ready`] and lingering ones do not count).
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Brings the deadline of every head in progress forward to `deadline`
    /// at the latest. At shutdown, heads still arriving are requests in
    /// flight and get only what is left of the drain timeout; one that is
    /// late then is answered 408 like any other.
    pub fn cut_deadlines(&mut self, deadline: Instant) {
        for pending in &mut self.pending {
            pending.deadline = pending.deadline.min(deadline);
        }
    }

    /// Discards and closes the lingering connections: the last step of a
    /// shutdown, after the workers have finished. Nobody read them while the
    /// accepting thread waited for the workers, so each gets a fresh
    /// [`LINGER_TIMEOUT`] from now; a client still sending after that is
    /// reset.
    ///
    /// # Errors
    /// The error of `poll` itself.
    pub fn finish_lingering(&mut self) -> io::Result<()> {
        self.take_handed_over();
        let until = Instant::now() + LINGER_TIMEOUT;
        for lingering in &mut self.lingering {
            lingering.until = until;
        }
        while !self.lingering.is_empty() {
            self.poll(None)?;
        }
        Ok(())
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
                    if self.pending.len() >= MAX_PENDING {
                        connection::refuse_busy(stream, quiet, "too many heads in progress");
                        continue;
                    }
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let mut pending = Pending {
                        stream,
                        accepted,
                        deadline: accepted + self.limits.header_timeout,
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
    /// accept, a head in progress or a lingering connection has bytes to
    /// read, a worker hands over a connection, or the earliest deadline
    /// passes. Then reads what arrived and moves every head that is
    /// complete, refused or late to [`HeadReader::take_ready`], and closes
    /// every lingering connection whose client closed or whose time is up.
    /// Returns whether `listener` has connections waiting.
    ///
    /// With no listener, no head in progress and nothing lingering it
    /// returns at once. A signal interrupting the wait returns `Ok(false)`,
    /// so the caller can look at its shutdown flag.
    ///
    /// # Errors
    /// The error of `poll` itself (out of memory; never for a bad socket,
    /// which shows up as readable and then fails its `read`).
    pub fn poll(&mut self, listener: Option<&TcpListener>) -> io::Result<bool> {
        if listener.is_none() && self.pending.is_empty() && self.lingering.is_empty() {
            return Ok(false);
        }
        // One entry per socket, in this order: the listener (if any), the
        // wake-up socket, each head in progress, each lingering connection.
        let mut fds: Vec<libc::pollfd> = listener
            .map(|listener| listener.as_raw_fd())
            .into_iter()
            .chain([self.wake.as_raw_fd()])
            .chain(
                self.pending
                    .iter()
                    .map(|pending| pending.stream.as_raw_fd()),
            )
            .chain(
                self.lingering
                    .iter()
                    .map(|lingering| lingering.stream.as_raw_fd()),
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

        let (listener_ready, rest) = match listener {
            Some(_) => (fds[0].revents != 0, &fds[1..]),
            None => (false, &fds[..]),
        };
        let (wake_fd, rest) = (&rest[0], &rest[1..]);
        let (head_fds, lingering_fds) = rest.split_at(self.pending.len());
        let now = Instant::now();

        let pending = std::mem::take(&mut self.pending);
        for (mut pending, fd) in pending.into_iter().zip(head_fds) {
            let outcome = if fd.revents != 0 {
                read_some(&mut pending)
            } else if now >= pending.deadline {
                Some(Err(HeadError::Rejected(pending.buffer.timed_out())))
            } else {
                None
            };
            match outcome {
                None => self.pending.push(pending),
                Some(head) => self.finish(pending, head),
            }
        }

        // Dropping a lingering connection closes it.
        let lingering = std::mem::take(&mut self.lingering);
        for (mut lingering, fd) in lingering.into_iter().zip(lingering_fds) {
            let open = fd.revents == 0 || discard_some(&mut lingering.stream);
            if open && now < lingering.until {
                self.lingering.push(lingering);
            }
        }

        if wake_fd.revents != 0 {
            let mut sink = [0u8; 64];
            while let Ok(1..) = (&self.wake).read(&mut sink) {}
        }
        self.take_handed_over();
        Ok(listener_ready)
    }
    // ANCHOR_END: poll

    /// The connections finished since the last call, in the order they
    /// finished.
    pub fn take_ready(&mut self) -> Vec<Ready> {
        std::mem::take(&mut self.ready)
    }

    /// Moves the connections workers handed over into the lingering set.
    /// Past [`MAX_PENDING`] of them a connection is closed at once: its
    /// client may see a reset, but memory and descriptors stay bounded.
    fn take_handed_over(&mut self) {
        let until = Instant::now() + LINGER_TIMEOUT;
        while let Ok(stream) = self.handed_over.try_recv() {
            if self.lingering.len() < MAX_PENDING {
                self.lingering.push(Lingering { stream, until });
            }
        }
    }

    /// Milliseconds until the earliest deadline of a head in progress or a
    /// lingering connection, rounded up so that the deadline has passed when
    /// `poll` returns; `-1` (wait for ever) when there is none.
    fn timeout_ms(&self) -> libc::c_int {
        let now = Instant::now();
        let head_deadlines = self.pending.iter().map(|pending| pending.deadline);
        let linger_deadlines = self.lingering.iter().map(|lingering| lingering.until);
        head_deadlines
            .chain(linger_deadlines)
            .map(|deadline| deadline.saturating_duration_since(now))
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

/// Reads and throws away what a lingering connection has received, without
/// blocking; returns whether the client is still connected.
fn discard_some(stream: &mut TcpStream) -> bool {
    let mut sink = [0u8; 16 * 1024];
    // At most 1 MiB per round: a fast sender must not keep this thread from
    // every other socket.
    for _ in 0..64 {
        match stream.read(&mut sink) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return error.kind() == io::ErrorKind::WouldBlock,
        }
    }
    true
}
