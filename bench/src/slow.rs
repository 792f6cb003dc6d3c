//! Slow clients: connections that send half a request and then dribble the
//! rest, one byte at a time, never finishing the head ("slowloris").
//!
//! Each one holds whatever serves it for as long as the server lets it: in
//! stage 01 the only thread, in stage 02 a thread of its own, in stages
//! 03-05 a pool worker; stage 06 reads heads with poll(2), so a slow client
//! holds only a buffer there. The server's defence is the deadline for the
//! whole head (`--header-timeout`, 10 s by default): it answers 408 and
//! closes, and the slow client reconnects at once and starts over.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often a slow client sends one more byte of its head (500 ms). Also
/// how quickly it notices [`SlowClients::stop`].
pub const DRIBBLE_INTERVAL: Duration = Duration::from_millis(500);

/// How long [`SlowClients::start`] waits for every client's first connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// K slow clients, running until [`SlowClients::stop`].
pub struct SlowClients {
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<u64>>,
}

impl SlowClients {
    /// Starts `count` slow clients against `addr` and returns once each has
    /// connected and sent the start of its request, so that they are ahead
    /// of the measuring clients in the server's accept queue.
    ///
    /// # Errors
    /// A message if a client cannot start or connect.
    pub fn start(addr: SocketAddr, host: &str, count: usize) -> Result<SlowClients, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let (connected, first_connections) = mpsc::channel();
        let mut slow = SlowClients {
            stop: Arc::clone(&stop),
            clients: Vec::with_capacity(count),
        };
        // Half a request head: the request line and one header field, and the
        // start of another that never ends.
        let opening: Arc<[u8]> = format!("GET /health HTTP/1.1\r\nHost: {host}\r\nX-Slow: ")
            .into_bytes()
            .into();
        for index in 0..count {
            let stop = Arc::clone(&stop);
            let connected = connected.clone();
            let opening = Arc::clone(&opening);
            let client = thread::Builder::new()
                .name(format!("slow-{index}"))
                .spawn(move || slow_client(addr, &opening, &stop, &connected))
                .map_err(|error| format!("cannot start a slow client: {error}"))?;
            slow.clients.push(client);
        }
        drop(connected);
        for _ in 0..count {
            match first_connections.recv_timeout(CONNECT_TIMEOUT) {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(format!("a slow client cannot connect: {error}")),
                Err(_) => return Err("the slow clients did not connect in time".to_owned()),
            }
        }
        Ok(slow)
    }

    /// Stops and joins every slow client (within [`DRIBBLE_INTERVAL`]),
    /// closing their connections. Returns how many times, in all, the server
    /// cut a slow client off (answered 408 or 503, or closed).
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.clients
            .drain(..)
            .map(|client| client.join().unwrap_or(0))
            .sum()
    }
}

impl Drop for SlowClients {
    fn drop(&mut self) {
        // Also on an early return: the threads notice and end by themselves.
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The body of a slow client thread; returns how often it was cut off.
fn slow_client(
    addr: SocketAddr,
    opening: &[u8],
    stop: &AtomicBool,
    connected: &mpsc::Sender<io::Result<()>>,
) -> u64 {
    let mut cut_off = 0;
    let mut first = true;
    while !stop.load(Ordering::SeqCst) {
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).and_then(|mut stream| {
            stream.write_all(opening)?;
            stream.set_read_timeout(Some(DRIBBLE_INTERVAL))?;
            Ok(stream)
        });
        if first {
            first = false;
            let failed = stream
                .as_ref()
                .err()
                .map(|error| io::Error::new(error.kind(), error.to_string()));
            let _ = connected.send(failed.map_or(Ok(()), Err));
        }
        match stream {
            Ok(stream) => {
                if dribble(stream, stop) {
                    cut_off += 1;
                }
            }
            // Refused or timed out: try again after a pause rather than spin.
            Err(_) => thread::sleep(DRIBBLE_INTERVAL),
        }
    }
    cut_off
}

/// Sends one byte of a header field value every [`DRIBBLE_INTERVAL`] until
/// the server answers or closes (returns `true`) or `stop` is set (`false`).
/// Waiting for the server's answer *is* the pause between bytes: the read
/// timeout is the interval.
fn dribble(mut stream: TcpStream, stop: &AtomicBool) -> bool {
    let mut sink = [0u8; 1024];
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut sink) {
            // An answer (408, or 503 from a full queue) or a close.
            Ok(_) => return true,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if stream.write_all(b"a").is_err() {
                    return true;
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    false
}
