//! The access log, lifecycle lines and error messages, one line each on
//! stderr.
//!
//! Stdout is reserved for the readiness line (see [`crate::server::announce`]),
//! so scripts and tests can read it without parsing logs.
//!
//! A log line that cannot be written is dropped, never a panic: `eprintln!`
//! panics when stderr fails (a pipe whose reader exited gives `EPIPE`, as in
//! `netserve 2>&1 | head`), and a panic while logging would kill the thread
//! that serves, or the accepting thread itself.

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use crate::response::Status;

/// One finished exchange, as the access log records it.
pub struct Access<'a> {
    /// The client's address and port.
    pub peer: SocketAddr,
    /// The request line, or `-` when the head was rejected before one was parsed.
    pub request_line: &'a str,
    /// The status code sent (or that we tried to send).
    pub status: Status,
    /// Bytes of the response written to the socket, or why writing failed.
    pub sent: &'a io::Result<usize>,
    /// Time from accept to close, time queued for a worker included.
    pub elapsed: Duration,
    /// Why the head was rejected, or another short remark.
    pub note: Option<&'a str>,
}

/// Writes one access-log line to stderr, e.g.
/// `127.0.0.1:50312 "GET /health HTTP/1.1" 200 142B 0.081ms`.
/// A failed write shows the error instead of the byte count.
pub fn access(entry: &Access) {
    let sent = match entry.sent {
        Ok(bytes) => format!("{bytes}B"),
        Err(error) => format!("write failed ({error})"),
    };
    let note = entry
        .note
        .map(|note| format!(" ({note})"))
        .unwrap_or_default();
    // `{:?}` quotes the request line and escapes any `"` or `\` in the target,
    // so a client cannot forge fields in a log that tools parse.
    write_line(format_args!(
        "{} {:?} {} {} {:.3}ms{}",
        entry.peer,
        entry.request_line,
        entry.status.code(),
        sent,
        entry.elapsed.as_secs_f64() * 1000.0,
        note,
    ));
}

/// Writes a lifecycle line to stderr: a signal received, the drain
/// beginning or ending, the process exiting. Printed even with `--quiet`,
/// which only silences the access log.
pub fn lifecycle(message: &str) {
    write_line(format_args!("{message}"));
}

/// Writes an error or a warning to stderr: something failed (a start-up
/// step, a child, a handler), and the line says what. Printed even with
/// `--quiet`, which only silences the access log.
pub fn error(message: &str) {
    write_line(format_args!("{message}"));
}

// ANCHOR: write_line
/// Writes `line` and a newline to stderr, ignoring any error: the server
/// keeps serving when nobody can read its log. The lock keeps lines from
/// different threads whole, as `eprintln!` does.
fn write_line(line: fmt::Arguments) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}
// ANCHOR_END: write_line
