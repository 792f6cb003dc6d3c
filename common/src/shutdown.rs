//! Graceful shutdown on SIGINT and SIGTERM: stop accepting, finish what was
//! accepted, exit 0.
//!
//! Two facts shape this module:
//!
//! - A signal handler may do almost nothing (only async-signal-safe calls),
//!   so the handler installed by signal-hook just records the signal; a
//!   thread of ours reads it and does the real work in ordinary code.
//! - Setting a flag is not enough to stop the accept loop. `accept` blocks in
//!   the kernel, and Rust's standard library retries it when a signal
//!   interrupts it (`EINTR`), so the loop would not look at the flag until the
//!   next client arrived. The signal thread therefore *wakes* the loop with a
//!   connection of its own to the listening socket. That connection is served
//!   like any other: it sends nothing, so its worker closes it silently.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::backend::Backend;
use crate::log;
use crate::pool::ThreadPool;

/// After the drain timeout has killed the remaining children, how long the
/// workers get to send their answers before the process exits anyway.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Whether a shutdown signal has arrived. Shared by the signal thread, which
/// sets it, and the accept loop, which checks it after every `accept`.
#[derive(Debug, Default)]
pub struct Shutdown {
    requested: AtomicBool,
}

impl Shutdown {
    // ANCHOR: install
    /// Starts the thread that waits for SIGINT and SIGTERM.
    ///
    /// On the first signal it sets the flag and wakes the accept loop by
    /// connecting to `listening` (the listener's own address). On a second
    /// signal it kills every running child of `backend` and exits with
    /// status 1 at once: the operator has asked twice.
    ///
    /// # Errors
    /// The OS error if the handlers cannot be installed or the thread cannot
    /// be started.
    pub fn install(listening: SocketAddr, backend: Arc<Backend>) -> io::Result<Arc<Shutdown>> {
        let shutdown = Arc::new(Shutdown::default());
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let flag = Arc::clone(&shutdown);
        let waker = loopback(listening);

        thread::Builder::new().name("signals".to_owned()).spawn(move || {
            let mut received = signals.forever();
            if let Some(signal) = received.next() {
                log::error(&format!(
                    "received {}: no longer accepting; finishing requests in flight (signal again to exit now)",
                    name(signal)
                ));
                flag.requested.store(true, Ordering::SeqCst);
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
                log::error(&format!("received {} again: exiting now", name(signal)));
                backend.kill_all();
                process::exit(1);
            }
        })?;
        Ok(shutdown)
    }
    // ANCHOR_END: install

    /// True once SIGINT or SIGTERM has arrived.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
}

// ANCHOR: drain
/// Waits for the pool to finish every accepted connection, until
/// `deadline` at the latest; returns the process exit status.
///
/// `0` when everything finished in time. Otherwise the backend's children
/// are killed, so their workers answer (503) and finish, and the status is `1`
/// after at most `KILL_GRACE` (2 s) more.
pub fn drain<T: Send + 'static>(pool: ThreadPool<T>, backend: &Backend, deadline: Instant) -> i32 {
    let timeout = deadline.saturating_duration_since(Instant::now());
    log::error(&format!(
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
        log::error("drained: every accepted request was answered; exiting");
        return 0;
    }
    log::error("drain timeout: killing the simulations still running");
    backend.kill_all();
    let _ = finished.recv_timeout(KILL_GRACE);
    1
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
        _ => "a signal",
    }
}
