//! The keep-alive load: a few client threads, each driving its share of the
//! N persistent connections with epoll(7), as wrk does.
//!
//! With one request per connection, a thread per connection is the simplest
//! client that is obviously right, and connect and close cost far more than
//! the thread's wake-ups. On a persistent connection a request costs the
//! server only a read and a write, and a blocked client thread per
//! connection would cost the client a context switch per response: at
//! 100,000 requests/s on the same two cores, the load generator would take
//! the server's CPU and cap what the fastest servers show. So in
//! keep-alive mode each of T threads (T = the CPU count, at most N) owns
//! N / T non-blocking connections, sends the next request on one as soon as
//! its response is complete, and sleeps in `epoll_wait` only when every one
//! of its connections waits for the server.
//!
//! The load is still closed: one request in flight per connection, N in
//! all; a connection whose server closes it (after `Connection: close`) or
//! fails is reopened at once, as in [`crate::load::Persistent`].

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use crate::load::{self, Failure, Head, Outcome, Tally, Target};

/// Bytes kept per connection: a whole response must fit (the stages',
/// nginx's and ka.c's are a few hundred bytes); a larger one counts as
/// `other`.
const BUFFER: usize = 16 * 1024;

/// Events taken from one `epoll_wait`.
const EVENTS: usize = 256;

/// One persistent connection of a client thread.
struct Connection {
    stream: Option<TcpStream>,
    buffer: Vec<u8>,
    filled: usize,
    /// The head of the response being read, once it is complete.
    head: Option<Head>,
    /// When the request in flight was started (connect included when the
    /// connection was reopened for it).
    started: Instant,
    /// When the request in flight times out.
    deadline: Instant,
}

/// The body of one keep-alive client thread: `connections` persistent
/// connections to `target` until `window_end`; what ends inside the
/// window counts.
pub fn client_thread(
    target: &Target,
    connections: usize,
    timeout: Duration,
    window_start: Instant,
    window_end: Instant,
    live_ok: &AtomicU64,
) -> Tally {
    let mut tally = Tally::new();
    load::yield_to_the_server();
    let epoll = match Epoll::new() {
        Ok(epoll) => epoll,
        Err(_) => {
            tally.record(Outcome::Failed(Failure::Client), Duration::ZERO, live_ok);
            return tally;
        }
    };
    let now = Instant::now();
    let mut pool: Vec<Connection> = (0..connections)
        .map(|_| Connection {
            stream: None,
            buffer: vec![0; BUFFER],
            filled: 0,
            head: None,
            started: now,
            deadline: now,
        })
        .collect();
    let timeout_at = |started: Instant| (started + timeout).min(window_end + load::END_GRACE);
    let finish = |tally: &mut Tally, outcome: Outcome, started: Instant| {
        let ended = Instant::now();
        if ended >= window_start && ended <= window_end {
            tally.record(outcome, ended - started, live_ok);
        }
    };

    // Sends the next request on connection `index`, reopening it first if
    // needed; a failure is counted and the connection tried again.
    let send = |pool: &mut Vec<Connection>, index: usize, tally: &mut Tally| {
        while Instant::now() < window_end {
            let connection = &mut pool[index];
            connection.started = Instant::now();
            connection.deadline = timeout_at(connection.started);
            match start_request(connection, target, &epoll, index, timeout) {
                Ok(()) => return,
                Err(failure) => {
                    connection.stream = None;
                    finish(tally, Outcome::Failed(failure), connection.started);
                }
            }
        }
    };

    for index in 0..pool.len() {
        send(&mut pool, index, &mut tally);
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
    loop {
        let now = Instant::now();
        if now >= window_end {
            return tally;
        }
        // Wake for the earliest deadline, or when the window closes.
        let wake = pool
            .iter()
            .filter(|connection| connection.stream.is_some())
            .map(|connection| connection.deadline)
            .min()
            .unwrap_or(window_end)
            .min(window_end);
        let ready = match epoll.wait(&mut events, wake.saturating_duration_since(now)) {
            Ok(ready) => ready,
            Err(_) => return tally,
        };
        for event in &events[..ready] {
            let Ok(index) = usize::try_from(event.u64) else {
                continue;
            };
            let Some(connection) = pool.get_mut(index) else {
                continue;
            };
            match receive(connection) {
                // Still waiting for the rest.
                Ok(None) => {}
                Ok(Some(head)) => {
                    if head.closes {
                        connection.stream = None;
                    }
                    finish(
                        &mut tally,
                        Outcome::Answered(head.status),
                        connection.started,
                    );
                    send(&mut pool, index, &mut tally);
                }
                Err(failure) => {
                    connection.stream = None;
                    finish(&mut tally, Outcome::Failed(failure), connection.started);
                    send(&mut pool, index, &mut tally);
                }
            }
        }
        let now = Instant::now();
        for index in 0..pool.len() {
            let connection = &mut pool[index];
            if connection.stream.is_some() && connection.deadline <= now {
                connection.stream = None;
                finish(
                    &mut tally,
                    Outcome::Failed(Failure::Timeout),
                    connection.started,
                );
                send(&mut pool, index, &mut tally);
            }
        }
    }
}

/// Writes the request on `connection`, opening it (and registering it with
/// `epoll` under `index`) if it is closed.
fn start_request(
    connection: &mut Connection,
    target: &Target,
    epoll: &Epoll,
    index: usize,
    timeout: Duration,
) -> Result<(), Failure> {
    let failure = |error: io::Error| load::classify(&error);
    if connection.stream.is_none() {
        let stream = TcpStream::connect_timeout(&target.addr, timeout).map_err(failure)?;
        stream.set_nodelay(true).map_err(failure)?;
        stream.set_nonblocking(true).map_err(failure)?;
        epoll.add(&stream, index).map_err(failure)?;
        connection.stream = Some(stream);
        connection.filled = 0;
        connection.head = None;
    }
    let Some(stream) = connection.stream.as_mut() else {
        return Err(Failure::Other);
    };
    // A request of a hundred bytes into an empty send buffer (the previous
    // response has been read whole) is written at once; anything less would
    // be a broken connection.
    match stream.write(&target.request) {
        Ok(written) if written == target.request.len() => Ok(()),
        Ok(_) => Err(Failure::Other),
        Err(error) => Err(failure(error)),
    }
}

/// Reads what has arrived on `connection`. Returns the response's head once
/// the whole response is there (its bytes are then dropped from the
/// buffer), `None` while it is not.
fn receive(connection: &mut Connection) -> Result<Option<Head>, Failure> {
    let Some(stream) = connection.stream.as_mut() else {
        return Ok(None);
    };
    let mut closed = false;
    loop {
        if connection.filled == connection.buffer.len() {
            return Err(Failure::Other);
        }
        match stream.read(&mut connection.buffer[connection.filled..]) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(read) => connection.filled += read,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(load::classify(&error)),
        }
    }
    if connection.head.is_none() {
        connection.head = load::parse_head(&connection.buffer[..connection.filled])?;
    }
    let Some(mut head) = connection.head else {
        return if closed {
            Err(Failure::Reset)
        } else {
            Ok(None)
        };
    };
    match head.body {
        Some(body) if connection.filled >= head.len + body => {
            let used = head.len + body;
            connection.buffer.copy_within(used..connection.filled, 0);
            connection.filled -= used;
            connection.head = None;
            // Complete, but the server has closed: reconnect for the next.
            head.closes |= closed;
            Ok(Some(head))
        }
        // The close ends a body without Content-Length.
        None if closed => Ok(Some(head)),
        // A body cut short by the close.
        _ if closed => Err(Failure::Reset),
        _ => Ok(None),
    }
}

/// An epoll instance (epoll(7)), closed when dropped.
struct Epoll(libc::c_int);

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes a flag and returns a new descriptor
        // or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll(fd))
    }

    /// Adds `stream` to the interest list for readability, with `index` as
    /// its event data. Level-triggered: [`receive`] reads until EAGAIN
    /// anyway. A closed descriptor leaves the interest list by itself.
    fn add(&self, stream: &TcpStream, index: usize) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: index as u64,
        };
        // SAFETY: both descriptors are open; `event` is read during the call.
        let result =
            unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, stream.as_raw_fd(), &mut event) };
        if result != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits at most `timeout` (rounded up to a millisecond) for events.
    fn wait(&self, events: &mut [libc::epoll_event], timeout: Duration) -> io::Result<usize> {
        let millis = timeout.as_micros().div_ceil(1000);
        let millis = libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX);
        let capacity = libc::c_int::try_from(events.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `events` has room for `capacity` entries and outlives the
        // call.
        let ready = unsafe { libc::epoll_wait(self.0, events.as_mut_ptr(), capacity, millis) };
        match ready {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => Ok(0),
            -1 => Err(io::Error::last_os_error()),
            ready => Ok(usize::try_from(ready).unwrap_or(0)),
        }
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe {
            libc::close(self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connection whose server writes `bytes` and then closes.
    fn connection_reading(bytes: &'static [u8]) -> Connection {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.write_all(bytes).unwrap();
        drop(server);
        // Blocking: each read returns what has arrived, then 0 at the close.
        let now = Instant::now();
        Connection {
            stream: Some(client),
            buffer: vec![0; BUFFER],
            filled: 0,
            head: None,
            started: now,
            deadline: now,
        }
    }

    #[test]
    fn responses_on_a_connection_the_server_then_closes() {
        let mut connection = connection_reading(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nOK\nHTTP/1.1 200 OK\r\n\r\nto the end",
        );
        // The first response, then the second (up to the close): both
        // arrive before the close, which ends the second's body.
        let first = receive(&mut connection).unwrap().unwrap();
        assert_eq!(
            (first.status, first.closes),
            (200, true),
            "closed meanwhile"
        );
        let second = receive(&mut connection).unwrap().unwrap();
        assert_eq!((second.status, second.body), (200, None));

        let mut connection = connection_reading(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nOK");
        assert_eq!(receive(&mut connection), Err(Failure::Reset));
        let mut connection = connection_reading(b"HTTP/1.1 20");
        assert_eq!(receive(&mut connection), Err(Failure::Reset));
        let mut connection = connection_reading(b"SSH-2.0-OpenSSH\r\n\r\n");
        assert_eq!(receive(&mut connection), Err(Failure::Other));
    }
}
