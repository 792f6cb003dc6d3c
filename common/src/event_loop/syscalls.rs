//! The system calls an event loop needs that `std` does not wrap, through
//! `libc`: an epoll instance (epoll(7)), a listening socket with
//! `SO_REUSEPORT` (socket(7)), and the limit on open descriptors
//! (getrlimit(2)). Everything above them, in [`super`], is ordinary Rust.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// `EPOLLIN`: the connection wants to know when bytes can be read.
pub const READABLE: u32 = libc::EPOLLIN as u32;
/// `EPOLLOUT`: the connection wants to know when it can write again.
pub const WRITABLE: u32 = libc::EPOLLOUT as u32;
/// `EPOLLERR | EPOLLHUP`: reported whatever the interest; the connection is over.
pub(super) const BROKEN: u32 = (libc::EPOLLERR | libc::EPOLLHUP) as u32;

// ANCHOR: epoll
/// An epoll instance (epoll(7)): the kernel's interest list of descriptors
/// and the readiness it reports for them. Each registered descriptor
/// carries a `u64` token that comes back with its events: the loop uses it
/// to find the connection (or child) the event is for.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// A new, empty interest list (`epoll_create1`, close-on-exec).
    ///
    /// # Errors
    /// `EMFILE`/`ENFILE`/`ENOMEM` from the kernel.
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes a flag and returns a new descriptor or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a descriptor we just opened and nobody else owns.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Adds `fd` to the interest list for `events`, reported with `token`.
    ///
    /// # Errors
    /// The `epoll_ctl(2)` error, e.g. `ENOMEM`.
    pub fn add(&self, fd: RawFd, token: u64, events: u32) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_ADD, fd, token, events)
    }

    /// Changes the events `fd` is watched for.
    ///
    /// # Errors
    /// The `epoll_ctl(2)` error.
    pub fn modify(&self, fd: RawFd, token: u64, events: u32) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_MOD, fd, token, events)
    }

    /// Removes `fd` from the interest list. Needed before closing a
    /// socket: `close` removes it only when no other descriptor refers to
    /// the same open file, and a child forked a moment ago holds a copy of
    /// every descriptor until its `exec` (epoll(7), "Questions and answers"
    /// 6).
    ///
    /// # Errors
    /// The `epoll_ctl(2)` error.
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    fn control(&self, op: libc::c_int, fd: RawFd, token: u64, events: u32) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: token };
        // SAFETY: `event` is a valid epoll_event for the duration of the call.
        if unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits until at least one registered descriptor is ready or `timeout`
    /// passes (`None`: no timeout), and fills `events` with what is ready.
    /// Returns how many entries were filled; 0 on timeout or when a signal
    /// interrupted the wait.
    ///
    /// # Errors
    /// The `epoll_wait(2)` error other than `EINTR`.
    pub fn wait(
        &self,
        events: &mut [libc::epoll_event],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        // Rounded up: a 0.3 ms wait must not become a busy loop of 0 ms waits.
        let milliseconds = timeout.map_or(-1, |timeout| {
            i32::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
        });
        let capacity = i32::try_from(events.len()).unwrap_or(i32::MAX);
        // SAFETY: the kernel writes at most `capacity` entries into `events`.
        let ready = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.as_mut_ptr(),
                capacity,
                milliseconds,
            )
        };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(error);
        }
        Ok(usize::try_from(ready).unwrap_or(0))
    }
}
// ANCHOR_END: epoll

// ANCHOR: listen_reuseport
/// A non-blocking listening socket on `address` with `SO_REUSEPORT` set, so
/// that several sockets (one per event loop) can listen on the same port and
/// the kernel spreads incoming connections across them (socket(7)). Built
/// with `libc` because `std` cannot set an option between `socket` and
/// `bind`.
///
/// # Errors
/// Any error of `socket`, `setsockopt`, `bind` (`EADDRINUSE` when another
/// program holds the port without `SO_REUSEPORT`) or `listen`.
pub fn listen_reuseport(address: SocketAddr) -> io::Result<TcpListener> {
    let domain = match address {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: socket takes plain integers and returns a descriptor or -1.
    let fd = unsafe { libc::socket(domain, flags, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just opened; OwnedFd closes it on every error path.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    for option in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
        let one: libc::c_int = 1;
        // SAFETY: the option value is a c_int that lives across the call.
        let set = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&raw const one).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if set < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let bound = match address {
        SocketAddr::V4(v4) => {
            let raw = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*v4.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `raw` is a sockaddr_in of the size passed.
            unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&raw const raw).cast(),
                    size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(v6) => {
            let raw = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: `raw` is a sockaddr_in6 of the size passed.
            unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&raw const raw).cast(),
                    size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    if bound < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: listen takes plain integers.
    if unsafe { libc::listen(fd.as_raw_fd(), libc::SOMAXCONN) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpListener::from(fd))
}
// ANCHOR_END: listen_reuseport

/// The descriptor soft limit wanted: 10,000 connections, their children's
/// pipes and pidfds, and room to spare.
const WANTED_DESCRIPTORS: u64 = 65_536;

/// Raises the soft limit on open descriptors (`RLIMIT_NOFILE`) towards
/// 65,536, within the hard limit, and returns the new soft limit. Every
/// connection is a descriptor; the usual soft limit of 1,024 would cap the
/// server far below `--max-connections`.
///
/// # Errors
/// The `getrlimit`/`setrlimit` error.
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
