//! Clients that hold a server without finishing anything: slow clients (slowloris) and idle
//! persistent connections.
//!
//! A slow client sends half a request head and then dribbles the rest, one byte at a time,
//! never finishing it. It holds whatever serves it for as long as the server lets it: in stage
//! 01 the only thread, in stage 02 a thread of its own, in stages 03-05 a pool worker; from
//! stage 06 heads are read with poll(2), so a slow client holds only a buffer. The server's
//! defence is the deadline for the whole head (`--header-timeout`): it answers 408 and closes,
//! and the slow client reconnects at once and starts over, so the pressure never lets up.
//!
//! An idle connection sent one request, read its answer, and stays open without a byte more:
//! a persistent connection between two requests, as a browser leaves many.

use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::client::Connection;

/// How often each slow client sends one more byte of its head. Also how quickly the clients
/// notice [`SlowClients::stop`].
pub const DRIBBLE_INTERVAL: Duration = Duration::from_millis(500);

/// How long one slow client may take to connect. A server that no longer accepts (stage 01
/// busy, a full listen backlog) makes the attempt time out; it is retried a round later.
const SLOW_CONNECT_TIMEOUT: Duration = Duration::from_millis(100);

/// How long [`SlowClients::start`] waits for the first round of connections. A server that
/// accepts no more (stage 01 busy) leaves each further attempt to time out, one by one.
pub const FIRST_ROUND_BOUND: Duration = Duration::from_secs(5);

/// Slow clients, driven by one thread until [`SlowClients::stop`].
pub struct SlowClients {
    stop: Arc<AtomicBool>,
    driver: Option<JoinHandle<u64>>,
}

impl SlowClients {
    /// Starts `count` slow clients against `addr` (`host` is their `Host` field) and returns
    /// once each has tried its first connection (or after [`FIRST_ROUND_BOUND`]), so that those
    /// that connected are ahead of any later client in the server's accept queue.
    pub fn start(addr: SocketAddr, host: &str, count: usize) -> SlowClients {
        // Half a request head: the request line, one header field, and the start of another
        // that never ends.
        let opening = format!("GET /health HTTP/1.1\r\nHost: {host}\r\nX-Slow: ").into_bytes();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (first_round, first_round_done) = mpsc::channel();
        let driver = thread::spawn(move || {
            let mut slots: Vec<Option<Connection>> = (0..count).map(|_| None).collect();
            let mut cut_off = 0;
            while !flag.load(Ordering::SeqCst) {
                let began = Instant::now();
                round(&mut slots, addr, &opening, &flag, &mut cut_off);
                let _ = first_round.send(());
                // The clients' own pace, not a synchronisation.
                thread::sleep(DRIBBLE_INTERVAL.saturating_sub(began.elapsed()));
            }
            cut_off
        });
        let _ = first_round_done.recv_timeout(FIRST_ROUND_BOUND);
        SlowClients {
            stop,
            driver: Some(driver),
        }
    }

    /// Stops the clients (within about [`DRIBBLE_INTERVAL`]) and closes their connections.
    /// Returns how many times, in all, the server cut a slow client off (answered 408 or 503,
    /// closed or reset).
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        let driver = self.driver.take().map(JoinHandle::join);
        driver.and_then(Result::ok).unwrap_or(0)
    }
}

impl Drop for SlowClients {
    fn drop(&mut self) {
        // Also on an early return: the driver notices and ends by itself.
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One round over every slot: a connection the server answered or closed is counted in
/// `cut_off` and replaced by a new one that sends `opening`; any other gets one more byte.
fn round(
    slots: &mut [Option<Connection>],
    addr: SocketAddr,
    opening: &[u8],
    stop: &AtomicBool,
    cut_off: &mut u64,
) {
    for slot in slots.iter_mut() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let alive = match slot {
            Some(connection) if connection.answers_within(Duration::ZERO).unwrap_or(true) => {
                *cut_off += 1;
                false
            }
            Some(connection) => connection.send(b"a").is_ok(),
            None => false,
        };
        if !alive {
            *slot = TcpStream::connect_timeout(&addr, SLOW_CONNECT_TIMEOUT)
                .ok()
                .map(Connection::from_stream)
                .and_then(|mut connection| connection.send(opening).ok().map(|()| connection));
        }
    }
}

/// Longest wait for each idle connection's connect and first response.
const IDLE_OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest time to open all of them: beyond it, the rest count as failed.
const IDLE_OPEN_ALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Idle persistent connections, closed when dropped. A server that gives each connection a
/// thread or a fixed buffer pays for every one of them; an event loop a few kilobytes each.
pub struct IdleConnections {
    connections: Vec<Connection>,
    /// Connections that could not be opened, or whose request was not answered 2xx.
    pub failed: usize,
}

impl IdleConnections {
    /// Opens `count` connections to `addr`, one after the other, each with one answered
    /// keep-alive `GET /health` (so the server has really accepted it and it sits between two
    /// requests). Thousands of them need [`crate::proc::raise_descriptor_limit`] first.
    pub fn open(addr: SocketAddr, host: &str, count: usize) -> IdleConnections {
        let request = format!("GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let deadline = Instant::now() + IDLE_OPEN_ALL_TIMEOUT;
        let mut idle = IdleConnections {
            connections: Vec::with_capacity(count),
            failed: 0,
        };
        for _ in 0..count {
            if Instant::now() >= deadline {
                idle.failed += 1;
                continue;
            }
            let opened = Connection::open(addr).and_then(|mut connection| {
                connection.send(request.as_bytes())?;
                let responses = connection.read_responses(1, IDLE_OPEN_TIMEOUT)?;
                let ok = (200..300).contains(&responses[0].status);
                Ok(ok.then_some(connection))
            });
            match opened {
                Ok(Some(connection)) => idle.connections.push(connection),
                _ => idle.failed += 1,
            }
        }
        idle
    }

    /// How many are open.
    pub fn len(&self) -> usize {
        self.connections.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }

    /// How many the server has closed (or reset) meanwhile: those that poll(2) finds
    /// readable, since an idle connection gets no byte unless the server ends it.
    pub fn closed_by_server(&self) -> usize {
        let mut fds: Vec<libc::pollfd> = self
            .connections
            .iter()
            .map(|connection| libc::pollfd {
                fd: connection.stream().as_raw_fd(),
                events: libc::POLLIN | libc::POLLRDHUP,
                revents: 0,
            })
            .collect();
        let Ok(count) = libc::nfds_t::try_from(fds.len()) else {
            return 0;
        };
        // SAFETY: `fds` is a valid array of `count` pollfd that outlives the call; timeout 0
        // returns at once.
        if unsafe { libc::poll(fds.as_mut_ptr(), count, 0) } <= 0 {
            return 0;
        }
        fds.iter().filter(|fd| fd.revents != 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn slow_clients_connect_dribble_and_count_cut_offs() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let slow = SlowClients::start(addr, "x", 2);
        // Both connected in the first round: the backlog holds them.
        let (mut first, _) = listener.accept().expect("first");
        let (_second, _) = listener.accept().expect("second");
        let mut opening = [0u8; 38];
        first.read_exact(&mut opening).expect("opening");
        assert!(opening.starts_with(b"GET /health HTTP/1.1\r\nHost: x\r\n"));
        // Cut one off, as a 408 would: it is counted and replaced.
        first
            .write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
            .expect("answer");
        drop(first);
        let (mut third, _) = listener.accept().expect("a replacement");
        assert!(drain_some(&mut third) > 0);
        assert_eq!(slow.stop(), 1);
    }

    /// Reads what arrives within a second.
    fn drain_some(stream: &mut TcpStream) -> usize {
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        let mut buffer = [0u8; 256];
        stream.read(&mut buffer).unwrap_or(0)
    }
}
