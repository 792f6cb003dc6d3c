//! Reading a request head from a socket, safely.
//!
//! A request head is the request line, the header field lines and the empty
//! line that ends them (RFC 9112 §2.1). Reading one safely means three things:
//!
//! 1. **Partial reads.** TCP delivers a byte stream, not messages: one `read`
//!    may return half a request line, or a head and the start of a body. We
//!    keep reading into one buffer until the empty line has arrived.
//! 2. **Bounded memory.** The buffer never grows past [`Limits::max_head_bytes`];
//!    a client that keeps sending header lines gets `431` as soon as it
//!    crosses a limit, whatever it sends afterwards.
//! 3. **A deadline for the whole head.** A per-`read` timeout is not enough:
//!    a client sending one byte every second would satisfy it forever and hold
//!    a worker. Before each `read` we set the socket's timeout to the time left
//!    until one deadline, so the head as a whole must arrive in time (`408`).
//!    The deadline counts from the moment the connection was accepted.
//!
//! Every limit is enforced here, while bytes arrive, by a scanner that looks
//! at each byte once. The complete head is then parsed by
//! [`parse::parse_head`], a pure function over bytes (RFC 9112's grammar,
//! `Host` and framing rules).

pub mod parse;

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::request::Request;
use crate::response::{Response, Status};
use parse::{is_target_byte, is_tchar, parse_head};

/// The limits a request head must fit in. [`Limits::default`] gives
/// NetServe's values; RFC 9110 §2.3 and RFC 9112 §3 leave the numbers to
/// servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the whole head, request line through the empty line
    /// inclusive. Larger → `431`. This is also the size of the read buffer.
    pub max_head_bytes: usize,
    /// Header field lines. More → `431`.
    pub max_header_fields: usize,
    /// Bytes of the request target. Longer → `414`.
    pub max_target_bytes: usize,
    /// Time allowed for the whole head to arrive, from the moment the
    /// connection was accepted. Later → `408`.
    pub header_timeout: Duration,
}

// ANCHOR: limits
impl Default for Limits {
    /// 8 KiB head, 100 header fields, 4 KiB target, 10 s.
    fn default() -> Limits {
        Limits {
            max_head_bytes: 8 * 1024,
            max_header_fields: 100,
            max_target_bytes: 4 * 1024,
            header_timeout: Duration::from_secs(10),
        }
    }
}
// ANCHOR_END: limits

/// A request head that arrived whole and passed every check.
#[derive(Debug)]
pub struct Head {
    /// The parsed request line and header fields.
    pub request: Request,
    /// Bytes of the head, from the request line through its empty line.
    pub length: usize,
    /// True when the client sent, or announced, bytes after the head: part of a
    /// body or a pipelined request already in our buffer, a `Content-Length`
    /// above zero, or a `Transfer-Encoding`. Those bytes must be discarded
    /// before closing, or the kernel answers them with a reset that can
    /// destroy our response in flight (RFC 9112 §9.6).
    pub body_pending: bool,
}

/// Why no [`Head`] came out of a connection.
#[derive(Debug)]
pub enum HeadError {
    /// The client closed or reset the connection before sending a single
    /// byte: a port check, a health probe, or an impatient client. There is
    /// nobody to answer.
    ClosedEarly,
    /// The connection failed part-way (for example a reset). Nothing can be
    /// sent back; the caller logs it.
    Io(io::Error),
    /// The client must be told why: answer `status` and close.
    Rejected(Rejection),
}

/// A request head we refuse, with the status code to answer and a short
/// explanation for the response body and the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// 400, 408, 414, 431, 501 (a transfer coding other than chunked) or 505.
    pub status: Status,
    /// One lower-case sentence, without a final period, e.g.
    /// `"missing Host header field"`.
    pub detail: &'static str,
    /// Whether the refused head began with the method `HEAD`: the answer then
    /// carries no body, errors included (RFC 9110 §9.3.2). Set by
    /// [`HeadBuffer`], which has the bytes, or [`Rejection::for_request`];
    /// `false` from [`parse::parse_head`] and [`timed_out`], which do not.
    pub head_method: bool,
}

impl Rejection {
    /// This rejection, for the request whose first bytes are `received`: it
    /// records whether they name `HEAD` (see [`begins_with_head`]), so that
    /// the answer carries no body.
    pub fn for_request(self, received: &[u8]) -> Rejection {
        Rejection {
            head_method: begins_with_head(received),
            ..self
        }
    }

    /// The answer to a refused head: this status code, with a one-line
    /// `text/plain` body `"{reason}: {detail}"` (e.g. `Bad Request: missing
    /// Host header field`). Whether to send the body is the caller's
    /// decision: [`Rejection::head_method`] says the request was `HEAD`,
    /// whose answer has no body, errors included (RFC 9110 §9.3.2).
    pub fn response(&self) -> Response {
        let body = format!("{}: {}", self.status.reason(), self.detail);
        Response::text(self.status, &body)
    }
}

fn reject(status: Status, detail: &'static str) -> Rejection {
    Rejection {
        status,
        detail,
        head_method: false,
    }
}

/// Whether `bytes`, the start of a request, name the method `HEAD`: the
/// request line, after the one empty line a client may send before it
/// (RFC 9112 §2.2), begins with `HEAD` and a space. Methods are
/// case-sensitive (RFC 9110 §9.1), so `head` is another method.
pub fn begins_with_head(bytes: &[u8]) -> bool {
    let request_line = bytes
        .strip_prefix(b"\r\n")
        .or_else(|| bytes.strip_prefix(b"\n"))
        .unwrap_or(bytes);
    request_line.starts_with(b"HEAD ")
}

// ANCHOR: read_request_head
/// Reads one request head from `stream`, within `limits`. The header
/// deadline counts from `accepted`, the moment the connection was accepted:
/// time a connection spends queued for a worker counts too, so a slow client
/// cannot hold a worker for a full deadline after already waiting in the
/// queue, while a normal client's head, already received by the kernel, is
/// still read however late a worker gets to it.
///
/// On success the returned [`Head`] says whether body bytes remain to be
/// discarded. The socket's read timeout is left set; the caller resets it as
/// it needs.
///
/// # Errors
/// [`HeadError::ClosedEarly`] if the peer went away before its first byte,
/// [`HeadError::Io`] if the socket failed mid-head, and
/// [`HeadError::Rejected`] for every head that must be refused: `408` past the
/// deadline, `431`/`414` past a limit, `400` for malformed syntax or framing
/// (including a connection closed mid-head), `505` for an unsupported version.
pub fn read_request_head(
    stream: &mut TcpStream,
    limits: &Limits,
    accepted: Instant,
) -> Result<Head, HeadError> {
    // ANCHOR: milestone_1_2
    let deadline = accepted + limits.header_timeout;
    let mut head = HeadBuffer::new(limits);

    loop {
        let received = match read_before(stream, head.spare(), deadline) {
            Ok(0) => return Err(head.closed()),
            Ok(received) => received,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            // A read timeout shows up as WouldBlock on Unix, TimedOut on Windows.
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HeadError::Rejected(head.timed_out()));
            }
            Err(error) => return Err(head.failed(error)),
        };

        if let Some(complete) = head.received(received).map_err(HeadError::Rejected)? {
            return Ok(complete);
        }
    }
    // ANCHOR_END: milestone_1_2
}

/// One `read` into `buffer` that waits at most until `deadline`.
///
/// The socket's timeout is re-armed with the time left before every read:
/// this is what turns a per-read timeout into a deadline for the whole head.
/// Past the deadline, it still returns bytes that have already arrived, but
/// does not wait for more (a non-blocking read): a client whose head arrived
/// while it sat in our queue is not a slow client.
///
/// # Errors
/// `WouldBlock` (Unix) or `TimedOut` (Windows) when nothing arrived in time;
/// any other error of the socket.
fn read_before(stream: &mut TcpStream, buffer: &mut [u8], deadline: Instant) -> io::Result<usize> {
    // ANCHOR: milestone_1_3
    let time_left = deadline.saturating_duration_since(Instant::now());
    if !time_left.is_zero() {
        stream.set_read_timeout(Some(time_left))?;
        return stream.read(buffer);
    }
    stream.set_nonblocking(true)?;
    let received = stream.read(buffer);
    stream.set_nonblocking(false)?;
    received
    // ANCHOR_END: milestone_1_3
}
// ANCHOR_END: read_request_head

// ANCHOR: head_buffer
/// A request head as it accumulates, one read at a time: the bounded buffer,
/// how much of it is filled, and the `Scanner` that finds the end.
///
/// This is everything [`read_request_head`] does except the socket and the
/// clock, so it can be driven without a network: `read_head_from_chunks`
/// (feature `testing`) feeds it slices the way a socket would, for the
/// fuzzer and the property tests. Memory is one buffer of [`Limits::max_head_bytes`], allocated once.
pub struct HeadBuffer {
    /// The bytes received so far, in a buffer that never grows.
    buffer: Vec<u8>,
    /// How many bytes of `buffer` hold data.
    filled: usize,
    /// Where the end of the head is being looked for.
    scanner: Scanner,
    /// The limits the head must fit in.
    limits: Limits,
}

impl HeadBuffer {
    /// An empty buffer of `limits.max_head_bytes` bytes.
    pub fn new(limits: &Limits) -> HeadBuffer {
        HeadBuffer {
            buffer: vec![0u8; limits.max_head_bytes],
            filled: 0,
            scanner: Scanner::default(),
            limits: *limits,
        }
    }

    /// Whether no byte has been received yet.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// What a `read` returning 0 (the client closed its side) means for this
    /// head: before the first byte, a client that went away with nothing to
    /// answer; after some bytes, an incomplete request (`400`).
    pub fn closed(&self) -> HeadError {
        if self.is_empty() {
            HeadError::ClosedEarly
        } else {
            HeadError::Rejected(self.refuse(closed_mid_head()))
        }
    }

    /// The rejection of this head when its deadline has passed: `408`,
    /// without a body if what arrived so far is a `HEAD` request.
    pub fn timed_out(&self) -> Rejection {
        self.refuse(timed_out())
    }

    /// `rejection`, marked with whether the bytes received name `HEAD`.
    fn refuse(&self, rejection: Rejection) -> Rejection {
        rejection.for_request(&self.buffer[..self.filled])
    }

    /// What a failed `read` means for this head: a reset before the first
    /// byte is a client that went away; anything else is a broken connection.
    pub fn failed(&self, error: io::Error) -> HeadError {
        if self.is_empty() && error.kind() == io::ErrorKind::ConnectionReset {
            HeadError::ClosedEarly
        } else {
            HeadError::Io(error)
        }
    }

    /// The free part of the buffer, where the next read must put its bytes.
    /// Never empty while the head is incomplete: a full buffer is rejected by
    /// [`HeadBuffer::received`] as soon as it fills.
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.buffer[self.filled..]
    }

    /// Records that the last read wrote `count` bytes at the start of
    /// [`HeadBuffer::spare`] (`count` is at most its length), and looks at them.
    ///
    /// Returns the parsed [`Head`] once the empty line that ends it has
    /// arrived, `None` while more bytes are needed.
    ///
    /// # Errors
    /// A [`Rejection`]: `400` as soon as the bytes cannot be the start of a
    /// request line, `431` for too many header fields or a full buffer, `414`
    /// for a request line that fills the buffer, and whatever [`parse_head`]
    /// refuses once the head is complete.
    pub fn received(&mut self, count: usize) -> Result<Option<Head>, Rejection> {
        self.filled = (self.filled + count).min(self.buffer.len());
        self.examine().map_err(|rejection| self.refuse(rejection))
    }

    /// What [`HeadBuffer::received`] decides about the bytes so far.
    fn examine(&mut self) -> Result<Option<Head>, Rejection> {
        find_head(&mut self.scanner, &self.buffer[..self.filled], &self.limits)
    }
}

/// Scans `bytes` for the end of the head they begin with, and parses the
/// head once it is complete: the one decision [`HeadBuffer`] and
/// [`parse_buffered_head`] share. Only the first [`Limits::max_head_bytes`]
/// can be part of the head; bytes after the head mean more is coming.
fn find_head(
    scanner: &mut Scanner,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Option<Head>, Rejection> {
    let window = &bytes[..bytes.len().min(limits.max_head_bytes)];
    match scanner.scan(window, limits)? {
        Some(length) => {
            let request = parse_head(&bytes[..length])?;
            let body_pending = bytes.len() > length || request.framing.announces_body();
            Ok(Some(Head {
                request,
                length,
                body_pending,
            }))
        }
        // The limit is reached and the empty line has not been seen.
        None if window.len() == limits.max_head_bytes => Err(scanner.too_large()),
        None => Ok(None),
    }
}
// ANCHOR_END: head_buffer

/// Runs the socket reader's logic over `bytes` without a socket: the bytes
/// arrive in reads of the sizes `chunk_sizes` yields (a read never takes more
/// than the buffer's free space, as with a socket; a size of 0 is taken as 1,
/// and once the sizes run out the rest arrives in one read).
///
/// Returns the head as [`read_request_head`] would, or `Ok(None)` when
/// `bytes` end before the head does (a socket reader would wait for more).
/// Used by the fuzz targets and property tests, which check that however the
/// bytes are split the answer is the same, with no panic and no loop.
///
/// Test-only: compiled for this crate's unit tests and with the feature
/// `testing` (the fuzz targets, the property and differential tests).
///
/// # Errors
/// The same [`Rejection`] as [`read_request_head`] for that head (`408` aside,
/// which needs a clock).
#[cfg(any(test, feature = "testing"))]
pub fn read_head_from_chunks(
    bytes: &[u8],
    chunk_sizes: impl IntoIterator<Item = usize>,
    limits: &Limits,
) -> Result<Option<Head>, Rejection> {
    let mut head = HeadBuffer::new(limits);
    let mut chunk_sizes = chunk_sizes.into_iter();
    let mut rest = bytes;
    while !rest.is_empty() {
        let wanted = chunk_sizes.next().unwrap_or(rest.len()).max(1);
        let spare = head.spare();
        let count = wanted.min(rest.len()).min(spare.len());
        spare[..count].copy_from_slice(&rest[..count]);
        rest = &rest[count..];
        if let Some(complete) = head.received(count)? {
            return Ok(Some(complete));
        }
    }
    Ok(None)
}

// ANCHOR: buffered_head
/// Where the search for the end of a request head stands, for a head that
/// arrives in a buffer it shares with what follows it: a persistent
/// connection's input, where a pipelining client may already have sent the
/// next request (stage 07). Start each head with [`HeadScan::default`].
#[derive(Debug, Default)]
pub struct HeadScan(Scanner);

/// Finds the first request head at the start of `bytes` and parses it, like
/// [`HeadBuffer::received`] but without a buffer of its own: bytes after the
/// head (a body, the next pipelined request) stay where they are for the
/// caller. `scan` remembers what was already looked at, so calling again
/// with the same bytes plus more costs only the new bytes; it is reset after
/// a complete head.
///
/// Returns `None` while the head is incomplete. Only the first
/// [`Limits::max_head_bytes`] bytes can be part of the head.
///
/// # Errors
/// The same [`Rejection`]s as [`HeadBuffer::received`]: `431`/`414` once the
/// limit is reached without the empty line, and whatever [`parse_head`]
/// refuses.
pub fn parse_buffered_head(
    bytes: &[u8],
    scan: &mut HeadScan,
    limits: &Limits,
) -> Result<Option<Head>, Rejection> {
    let found = find_head(&mut scan.0, bytes, limits).map_err(|r| r.for_request(bytes))?;
    if found.is_some() {
        // The next head starts a new search.
        *scan = HeadScan::default();
    }
    Ok(found)
}
// ANCHOR_END: buffered_head

/// The rejection of a head cut off by the client closing its side: `400`.
pub fn closed_mid_head() -> Rejection {
    reject(
        Status::BadRequest,
        "connection closed before the end of the request head",
    )
}

/// The rejection of a head that did not arrive before its deadline: `408`.
/// Where the bytes received are at hand, [`HeadBuffer::timed_out`] also
/// says whether they name `HEAD`.
pub fn timed_out() -> Rejection {
    reject(
        Status::RequestTimeout,
        "the request head did not arrive before the deadline",
    )
}

// ANCHOR: scanner_state
/// Finds the end of the head as bytes arrive, and enforces the limits that
/// can be decided before the head is complete. It remembers where it stopped,
/// so each byte is looked at once however the head is split across reads
/// (no quadratic rescans of a slowly growing buffer).
#[derive(Debug, Default)]
struct Scanner {
    /// Index of the next byte to look at.
    next: usize,
    /// Index where the current line starts.
    line_start: usize,
    /// Whether the request line (the first line) has ended.
    request_line_done: bool,
    /// Whether the one empty line allowed before the request line was seen.
    skipped_empty_line: bool,
    /// Which part of the request line the next byte belongs to.
    part: RequestLinePart,
    /// Bytes of that part seen so far.
    part_len: usize,
    /// Header field lines seen so far.
    fields: usize,
}

/// The shape of `HTTP-version` (RFC 9112 §2.3); `#` stands for a digit.
const VERSION: &[u8] = b"HTTP/#.#";

/// The three parts of `method SP request-target SP HTTP-version`
/// (RFC 9112 §3), checked byte by byte as they arrive, so that bytes that
/// cannot begin a request line (a TLS ClientHello, binary) are refused at
/// once instead of waiting for a deadline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum RequestLinePart {
    /// A token (RFC 9110 §9.1).
    #[default]
    Method,
    /// Visible ASCII without `#` (RFC 9112 §3.2).
    Target,
    /// `HTTP/` DIGIT `.` DIGIT (RFC 9112 §2.3).
    Version,
}
// ANCHOR_END: scanner_state

impl Scanner {
    // ANCHOR: scan
    /// Looks at the bytes received since the last call. Returns the length of
    /// the head (through its empty line) once that line has arrived.
    fn scan(&mut self, bytes: &[u8], limits: &Limits) -> Result<Option<usize>, Rejection> {
        while self.next < bytes.len() {
            let index = self.next;
            self.next += 1;
            if bytes[index] != b'\n' {
                if !self.request_line_done {
                    self.check_request_line(bytes, index, limits)?;
                }
                continue;
            }
            // A line ends at LF; a CR before it is part of the terminator. A
            // bare LF is accepted as well (RFC 9112 §2.2).
            let mut line = &bytes[self.line_start..index];
            if let Some(without_cr) = line.strip_suffix(b"\r") {
                line = without_cr;
            }
            self.line_start = index + 1;

            if !self.request_line_done {
                if line.is_empty() {
                    // RFC 9112 §2.2: a server SHOULD ignore at least one
                    // empty line before the request line (some clients send
                    // one after a body). One is enough; more is not HTTP.
                    if self.skipped_empty_line {
                        return Err(reject(
                            Status::BadRequest,
                            "more than one empty line before the request line",
                        ));
                    }
                    self.skipped_empty_line = true;
                    continue;
                }
                // A line that ends before its version is complete (`GET /`,
                // an SSH banner) is no request line.
                if self.part != RequestLinePart::Version || self.part_len != VERSION.len() {
                    return Err(reject(Status::BadRequest, "malformed request line"));
                }
                self.request_line_done = true;
            } else if line.is_empty() {
                return Ok(Some(index + 1));
            } else {
                self.fields += 1;
                if self.fields > limits.max_header_fields {
                    return Err(reject(
                        Status::RequestHeaderFieldsTooLarge,
                        "too many header fields",
                    ));
                }
            }
        }
        Ok(None)
    }
    // ANCHOR_END: scan

    /// Checks `bytes[index]`, a byte of the request line other than its LF,
    /// against what may come next in `method SP request-target SP
    /// HTTP-version`, and against the target's length limit (`414` as soon
    /// as the target outgrows [`Limits::max_target_bytes`]). Only whether the
    /// bytes so far can still become a request line is decided here;
    /// [`parse_head`] judges the whole line.
    fn check_request_line(
        &mut self,
        bytes: &[u8],
        index: usize,
        limits: &Limits,
    ) -> Result<(), Rejection> {
        let byte = bytes[index];
        // A CR is allowed only as the first half of CRLF: the scanner sees
        // its LF next, or the bytes cannot be a request line.
        if index > self.line_start && bytes[index - 1] == b'\r' {
            return Err(reject(Status::BadRequest, "malformed request line"));
        }
        if byte == b'\r' {
            return Ok(());
        }
        let fits = match self.part {
            RequestLinePart::Method if byte == b' ' && self.part_len > 0 => {
                self.part = RequestLinePart::Target;
                self.part_len = 0;
                return Ok(());
            }
            RequestLinePart::Method => is_tchar(byte),
            RequestLinePart::Target if byte == b' ' && self.part_len > 0 => {
                self.part = RequestLinePart::Version;
                self.part_len = 0;
                return Ok(());
            }
            RequestLinePart::Target if self.part_len == limits.max_target_bytes => {
                return Err(target_too_long());
            }
            RequestLinePart::Target => is_target_byte(byte),
            RequestLinePart::Version => match VERSION.get(self.part_len) {
                Some(b'#') => byte.is_ascii_digit(),
                Some(&expected) => byte == expected,
                None => false,
            },
        };
        if !fits {
            return Err(reject(Status::BadRequest, "malformed request line"));
        }
        self.part_len += 1;
        Ok(())
    }

    /// The rejection for a buffer that filled up before the empty line: if
    /// the request line itself has not ended, the request line is too long,
    /// which is answered as a long target (`414`); otherwise `431`.
    fn too_large(&self) -> Rejection {
        if self.request_line_done {
            reject(
                Status::RequestHeaderFieldsTooLarge,
                "request head larger than the limit",
            )
        } else {
            target_too_long()
        }
    }
}

/// The rejection of a request line too long to hold: `414` (RFC 9110 §15.5.15).
fn target_too_long() -> Rejection {
    reject(Status::UriTooLong, "request target longer than the limit")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status the reader answers to `text` arriving in one read: 200 for
    /// a head that passes, 0 for one still incomplete.
    fn status_of(text: &str) -> u16 {
        match read_head_from_chunks(text.as_bytes(), [], &Limits::default()) {
            Ok(Some(_)) => 200,
            Ok(None) => 0,
            Err(rejection) => rejection.status.code(),
        }
    }

    /// Runs the incremental scanner over `text` split into `chunk`-byte reads.
    fn scan_in_chunks(text: &[u8], chunk: usize) -> Result<Option<usize>, Rejection> {
        let limits = Limits::default();
        let mut scanner = Scanner::default();
        let mut end = 0;
        while end < text.len() {
            end = (end + chunk).min(text.len());
            if let Some(len) = scanner.scan(&text[..end], &limits)? {
                return Ok(Some(len));
            }
        }
        Ok(None)
    }

    #[test]
    fn one_empty_line_before_the_request_line_is_ignored() {
        for head in [
            "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "\nGET / HTTP/1.0\n\n",
        ] {
            assert_eq!(status_of(head), 200, "{head:?}");
            let found = scan_in_chunks(head.as_bytes(), 1);
            assert_eq!(found, Ok(Some(head.len())), "{head:?}");
        }
        for head in [
            "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "\n\nGET / HTTP/1.0\n\n",
        ] {
            let rejection = scan_in_chunks(head.as_bytes(), 1).unwrap_err();
            assert_eq!(rejection.status, Status::BadRequest, "{head:?}");
        }
    }

    #[test]
    fn bytes_that_cannot_begin_a_request_line_are_refused_at_once() {
        // The start of a TLS ClientHello: a handshake record, TLS 1.0.
        for start in [
            &b"\x16\x03\x01\x02\x00\x01"[..],
            b"\x00",
            b"GE\xff",
            b" GET",
            b"GET\t/",
            b"GET  /",
            b"GET /\x7f",
            b"GET /a#b",
            b"GET / HTTQ",
            b"GET / HTTP/x",
            b"GET / HTTP/1.1x",
            b"GET / HTTP/1.1 ",
            b"GET\r/",
            b"\r\r",
            b"\r\n\r\n",
            // A line that ends before its version does.
            b"SSH-2.0-OpenSSH_9.6\r\n",
            b"GET\n",
            b"GET / \r\n",
            b"GET / HTTP/1.\r\n",
        ] {
            let rejection = scan_in_chunks(start, 1).unwrap_err();
            assert_eq!(rejection.status, Status::BadRequest, "{start:?}");
        }
        // Prefixes of valid request lines wait for more.
        for start in [
            &b"G"[..],
            b"\r",
            b"\r\nGET",
            b"M-SEARCH * HTTP/1.",
            b"GET /%zz?x=1 HTTP/2",
            b"GET / HTTP/1.1\r",
        ] {
            assert_eq!(scan_in_chunks(start, 1), Ok(None), "{start:?}");
        }
    }

    #[test]
    fn rejections_of_head_requests_say_so() {
        let limits = Limits::default();
        let refused = |bytes: &[u8]| read_head_from_chunks(bytes, [], &limits).unwrap_err();
        assert!(refused(b"HEAD / HTTP/1.1\r\n\r\n").head_method);
        assert!(refused(b"\r\nHEAD / HTTP/2.0\r\nHost: a\r\n\r\n").head_method);
        assert!(refused(b"HEAD /\x01").head_method);
        assert!(!refused(b"GET / HTTP/1.1\r\n\r\n").head_method);
        assert!(!refused(b"head / HTTP/1.1\r\n\r\n").head_method);
        let mut buffer = HeadBuffer::new(&limits);
        buffer.spare()[..6].copy_from_slice(b"HEAD /");
        assert!(matches!(buffer.received(6), Ok(None)));
        assert!(buffer.timed_out().head_method);
        assert_eq!(buffer.timed_out().status, Status::RequestTimeout);
        assert!(matches!(buffer.closed(), HeadError::Rejected(r) if r.head_method));
    }

    #[test]
    fn a_rejection_answers_its_reason_and_detail() {
        let response = closed_mid_head().response();
        assert_eq!(response.status, Status::BadRequest);
        let bytes = response.to_bytes(true, std::time::SystemTime::now());
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.ends_with(
                "\r\n\r\nBad Request: connection closed before the end of the request head\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn target_limit_gives_414() {
        let limits = Limits::default();
        let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(4096));
        assert_eq!(status_of(&long), 414);
        let fits = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(4095));
        assert_eq!(status_of(&fits), 200);
        // Refused as soon as the target outgrows the limit, end or no end.
        assert_eq!(status_of(&long[..5 + 4096]), 414);
        assert_eq!(status_of(&fits[..5 + 4095]), 0);
        // An unterminated request line that fills the buffer is a long target.
        let mut scanner = Scanner::default();
        let line = vec![b'a'; limits.max_head_bytes];
        assert_eq!(scanner.scan(&line, &limits), Ok(None));
        assert_eq!(scanner.too_large().status, Status::UriTooLong);
    }

    #[test]
    fn field_count_limit_gives_431_while_scanning() {
        let mut head = String::from("GET / HTTP/1.1\r\n");
        for i in 0..101 {
            head.push_str(&format!("X-{i}: v\r\n"));
        }
        let rejection = scan_in_chunks(head.as_bytes(), 7).unwrap_err();
        assert_eq!(rejection.status, Status::RequestHeaderFieldsTooLarge);
    }

    #[test]
    fn scanner_finds_the_end_however_the_bytes_are_split() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
        for chunk in 1..head.len() {
            assert_eq!(scan_in_chunks(head, chunk), Ok(Some(head.len() - 4)));
        }
        assert_eq!(scan_in_chunks(b"GET / HTTP/1.0\n\n", 1), Ok(Some(16)));
        assert_eq!(scan_in_chunks(b"GET / HTTP/1.0\r\n", 1), Ok(None));
        assert_eq!(
            scan_in_chunks(b"\r\n\r\n", 1).unwrap_err().status,
            Status::BadRequest
        );
        let after_an_empty_line = b"\r\nGET / HTTP/1.0\r\n\r\n";
        for chunk in 1..after_an_empty_line.len() {
            assert_eq!(
                scan_in_chunks(after_an_empty_line, chunk),
                Ok(Some(after_an_empty_line.len()))
            );
        }
    }
}
