//! Binding, the readiness line, and what to do when `accept` fails.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::process;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::log;

/// Binds a listening socket (socket → bind → listen in one call) or exits
/// with status 1 and one line saying why (port in use, address not local,
/// permission denied for ports below 1024).
pub fn bind_or_exit(address: IpAddr, port: u16) -> TcpListener {
    let what = format!("cannot listen on {}", SocketAddr::new(address, port));
    or_exit(TcpListener::bind((address, port)), &what)
}

// ANCHOR: announce
/// Prints the readiness line `listening on http://ADDR:PORT` as the first
/// line of stdout and flushes it, then returns the bound address.
///
/// This line is the server's contract with scripts, tests and the benchmark:
/// they wait for it (instead of sleeping and hoping) and read the port from
/// it, which is how port 0 becomes usable. It is printed only once the
/// socket is listening, so a connection attempted after it cannot be refused.
pub fn announce(listener: &TcpListener) -> SocketAddr {
    let address = or_exit(listener.local_addr(), "reading the bound address");
    announce_address(address);
    address
}

/// Prints the readiness line for `address`, as [`announce`] does, for a
/// server whose listening sockets already belong to its threads (stage 07
/// announces only once every event loop is running).
pub fn announce_address(address: SocketAddr) {
    let mut stdout = io::stdout().lock();
    // Stdout is block-buffered when it is a pipe, which is exactly when a
    // program is waiting for this line: flush, or the reader waits forever.
    if writeln!(stdout, "listening on http://{address}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        // Nobody is reading stdout; keep serving anyway.
        log::error("warning: could not print the readiness line");
    }
}
// ANCHOR_END: announce

/// Unwraps `result`, or exits with status 1 after one line naming what
/// failed, e.g. `error: starting the worker threads: Resource temporarily
/// unavailable`. For start-up steps, where there is nothing to recover.
pub fn or_exit<T>(result: io::Result<T>, what: &str) -> T {
    result.unwrap_or_else(|error| {
        log::error(&format!("error: {what}: {error}"));
        process::exit(1);
    })
}

/// How long the accept loop pauses after a failed `accept`.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// The last time an accept error was logged, to print at most one per second.
static LAST_ACCEPT_ERROR_LOG: Mutex<Option<Instant>> = Mutex::new(None);

// ANCHOR: accept_failed
/// Handles a failed `accept`: logs it (at most once a second) and pauses.
///
/// The usual causes are running out of file descriptors (`EMFILE`) or
/// memory. The waiting connection stays in the listen queue, so an immediate
/// retry fails the same way: without a pause the accept loop would spin at
/// 100 % CPU and flood the log. A short pause lets connections close; then
/// accepting resumes by itself.
pub fn accept_failed(error: &io::Error) {
    if error.kind() == io::ErrorKind::ConnectionAborted {
        // The client gave up while queued; nothing is wrong with us.
        return;
    }
    let mut last = LAST_ACCEPT_ERROR_LOG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
        log::error(&format!(
            "accept failed: {error} (pausing {ACCEPT_BACKOFF:?}; repeats within 1 s not logged)"
        ));
        *last = Some(Instant::now());
    }
    drop(last);
    thread::sleep(ACCEPT_BACKOFF);
}
// ANCHOR_END: accept_failed
