//! The idle persistent connections of the `idle-connections` scenario.
//!
//! Before the load starts, N connections each send one `GET /health`
//! (keep-alive) and read its response, then stay open without a byte more:
//! a persistent connection between two requests, as a browser leaves many.
//! A server that gives each connection a thread or a fixed buffer pays for
//! every one of them; an event loop should pay a few kilobytes each.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use harness::load::{Connection, Mode, Outcome, Target};

/// Longest wait for each idle connection's connect and first response.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest time to open all of them: beyond it, the run goes on with those
/// that are open.
const OPEN_ALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Raises this process's soft limit on file descriptors (`RLIMIT_NOFILE`,
/// getrlimit(2)) to its hard limit, so that the idle connections fit: the
/// usual soft limit, 1,024, would not hold 10,000. Servers started later
/// inherit it. Returns the new soft limit.
///
/// # Errors
/// The OS error of getrlimit or setrlimit.
pub fn raise_descriptor_limit() -> io::Result<u64> {
    // SAFETY: `limit` is a plain C struct that getrlimit fills in and
    // setrlimit reads; neither keeps the pointer.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(limit.rlim_cur)
    }
}

/// N idle persistent connections, closed when dropped.
pub struct IdleConnections {
    streams: Vec<TcpStream>,
    /// Connections that could not be opened, or not answered.
    pub failed: usize,
}

impl IdleConnections {
    /// Opens `count` connections to `addr`, one after the other, each with
    /// one answered `GET /health` (so the server has really accepted it and
    /// it sits between two requests).
    pub fn open(addr: SocketAddr, host: &str, count: usize) -> IdleConnections {
        let target = Target::get(addr, host, &["/health"], Mode::KeepAlive);
        let deadline = Instant::now() + OPEN_ALL_TIMEOUT;
        let mut idle = IdleConnections {
            streams: Vec::with_capacity(count),
            failed: 0,
        };
        for _ in 0..count {
            if Instant::now() >= deadline {
                idle.failed += count - idle.streams.len() - idle.failed;
                break;
            }
            let mut connection = Connection::new();
            match connection.request(&target, &target.requests[0], OPEN_TIMEOUT) {
                Outcome::Answered(code) if (200..300).contains(&code) => {
                    match connection.into_stream() {
                        Some(stream) => idle.streams.push(stream),
                        None => idle.failed += 1,
                    }
                }
                _ => idle.failed += 1,
            }
        }
        idle
    }

    /// How many are open.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// How many the server has closed (or reset) meanwhile: those that
    /// poll(2) finds readable, since an idle connection gets no byte unless
    /// the server ends it.
    pub fn closed_by_server(&self) -> usize {
        let mut fds: Vec<libc::pollfd> = self
            .streams
            .iter()
            .map(|stream| libc::pollfd {
                fd: stream.as_raw_fd(),
                events: libc::POLLIN | libc::POLLRDHUP,
                revents: 0,
            })
            .collect();
        let Ok(count) = libc::nfds_t::try_from(fds.len()) else {
            return 0;
        };
        // SAFETY: `fds` is a valid array of `count` pollfd that outlives the
        // call; timeout 0 returns at once.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), count, 0) };
        if ready <= 0 {
            return 0;
        }
        fds.iter().filter(|fd| fd.revents != 0).count()
    }
}
