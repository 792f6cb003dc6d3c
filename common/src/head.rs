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
//! The head is then parsed by [`parse_head`], a pure function over bytes.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::request::{Request, Version};
use crate::response::Status;

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
    /// `false` from [`parse_head`] and [`timed_out`], which do not.
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
/// clock, so it can be driven without a network: [`read_head_from_chunks`]
/// feeds it slices the way a socket would, for the fuzzer and the property
/// tests. Memory is one buffer of [`Limits::max_head_bytes`], allocated once.
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
        let bytes = &self.buffer[..self.filled];
        match self.scanner.scan(bytes, &self.limits)? {
            Some(head_len) => {
                let request = parse_head(&bytes[..head_len], &self.limits)?;
                let body_pending = self.filled > head_len || declares_body(&request);
                Ok(Some(Head {
                    request,
                    length: head_len,
                    body_pending,
                }))
            }
            // The buffer is full and the empty line has not been seen.
            None if self.filled == self.buffer.len() => Err(self.scanner.too_large()),
            None => Ok(None),
        }
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
/// # Errors
/// The same [`Rejection`] as [`read_request_head`] for that head (`408` aside,
/// which needs a clock).
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
    let window = &bytes[..bytes.len().min(limits.max_head_bytes)];
    match scan
        .0
        .scan(window, limits)
        .map_err(|r| r.for_request(window))?
    {
        Some(head_len) => {
            *scan = HeadScan::default();
            let request =
                parse_head(&bytes[..head_len], limits).map_err(|r| r.for_request(window))?;
            let body_pending = bytes.len() > head_len || declares_body(&request);
            Ok(Some(Head {
                request,
                length: head_len,
                body_pending,
            }))
        }
        None if window.len() == limits.max_head_bytes => {
            Err(scan.0.too_large().for_request(window))
        }
        None => Ok(None),
    }
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
                    self.check_request_line(bytes, index)?;
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
    /// HTTP-version`. Only whether the bytes so far can still become a
    /// request line is decided here; [`parse_head`] judges the whole line.
    fn check_request_line(&mut self, bytes: &[u8], index: usize) -> Result<(), Rejection> {
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
            RequestLinePart::Target => byte.is_ascii_graphic() && byte != b'#',
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
    /// the request line itself has not ended, it is the target that is too
    /// long (the only part of a request line without a small bound).
    fn too_large(&self) -> Rejection {
        if self.request_line_done {
            reject(
                Status::RequestHeaderFieldsTooLarge,
                "request head larger than the limit",
            )
        } else {
            reject(Status::UriTooLong, "request target longer than the limit")
        }
    }
}

/// Parses a complete request head: `bytes` runs from the request line
/// through the empty line, with CRLF or bare LF line endings. One empty line
/// before the request line is ignored (RFC 9112 §2.2).
///
/// Checks, in order: the request line (RFC 9112 §3), each header field line
/// (RFC 9112 §5), then the framing rules that defend against request
/// smuggling (RFC 9112 §6.3) and the `Host` rule (RFC 9112 §3.2).
///
/// # Errors
/// A [`Rejection`] with status 400, 414, 431, 501 or 505.
pub fn parse_head(bytes: &[u8], limits: &Limits) -> Result<Request, Rejection> {
    let mut lines = bytes
        .split(|&byte| byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .peekable();

    lines.next_if(|line| line.is_empty());
    let request_line = lines.next().unwrap_or_default();
    let (method, target, version) = parse_request_line(request_line, limits)?;

    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if headers.len() == limits.max_header_fields {
            return Err(reject(
                Status::RequestHeaderFieldsTooLarge,
                "too many header fields",
            ));
        }
        headers.push(parse_field_line(line)?);
    }

    let (path, query) = split_target(&target)?;
    let request = Request {
        method,
        target,
        path,
        query,
        version,
        headers,
    };
    check_framing(&request)?;
    Ok(request)
}

/// `request-line = method SP request-target SP HTTP-version` (RFC 9112 §3).
fn parse_request_line(
    line: &[u8],
    limits: &Limits,
) -> Result<(String, String, Version), Rejection> {
    let malformed = reject(Status::BadRequest, "malformed request line");
    let mut parts = line.split(|&byte| byte == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed);
    };

    if method.is_empty() || !method.iter().all(|&byte| is_tchar(byte)) {
        return Err(malformed);
    }
    if target.len() > limits.max_target_bytes {
        return Err(reject(
            Status::UriTooLong,
            "request target longer than the limit",
        ));
    }
    // Visible ASCII only: no spaces, no control characters, no raw UTF-8
    // (RFC 3986 §2 requires non-ASCII to be percent-encoded). A fragment
    // (`#...`) is never part of a request target (RFC 9112 §3.2): a client
    // must strip it, and one that did not has sent something else.
    if target.is_empty()
        || !target
            .iter()
            .all(|&byte| byte.is_ascii_graphic() && byte != b'#')
    {
        return Err(malformed);
    }
    // The asterisk-form exists only for a server-wide OPTIONS (RFC 9112 §3.2.4).
    if target == b"*" && method != b"OPTIONS" {
        return Err(malformed);
    }

    // HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3), case-sensitive.
    // A higher minor version of HTTP/1 is understood as the highest we speak,
    // HTTP/1.1 (RFC 9110 §2.5: minor versions are compatible); another major
    // version is a different protocol.
    let version = match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Version::Http10,
                (b'1', _) => Version::Http11,
                _ => {
                    return Err(reject(
                        Status::HttpVersionNotSupported,
                        "only HTTP/1.x is supported",
                    ));
                }
            }
        }
        _ => return Err(malformed),
    };

    // Both were checked to be ASCII above, so these conversions cannot fail.
    let method = String::from_utf8_lossy(method).into_owned();
    let target = String::from_utf8_lossy(target).into_owned();
    Ok((method, target, version))
}

/// `field-line = field-name ":" OWS field-value OWS` (RFC 9112 §5).
fn parse_field_line(line: &[u8]) -> Result<(String, String), Rejection> {
    let malformed = reject(Status::BadRequest, "malformed header field line");
    if matches!(line.first(), Some(b' ' | b'\t')) {
        // Obsolete line folding (RFC 9112 §5.2): we may reject it, and a
        // server that guesses how to unfold it can be tricked.
        return Err(reject(Status::BadRequest, "obsolete line folding"));
    }
    let Some(colon) = line.iter().position(|&byte| byte == b':') else {
        return Err(malformed);
    };
    let (name, rest) = (&line[..colon], &line[colon + 1..]);
    // This also rejects whitespace between the name and the colon, which
    // RFC 9112 §5.1 requires, because a space is not a tchar.
    if name.is_empty() || !name.iter().all(|&byte| is_tchar(byte)) {
        return Err(malformed);
    }
    // OWS around the value is spaces and horizontal tabs only (RFC 9110
    // §5.6.3). Trimming every ASCII whitespace byte would also drop a stray
    // CR or a form feed at either end, and accept what the check below must
    // refuse.
    let value = trim_ows(rest);
    // field-value: visible characters, SP, HTAB, and obs-text (bytes >= 0x80).
    // Any other control character, including NUL and a stray CR, is refused
    // (RFC 9110 §5.5).
    if value
        .iter()
        .any(|&byte| (byte < 0x20 && byte != b'\t') || byte == 0x7f)
    {
        return Err(reject(
            Status::BadRequest,
            "control character in a header field value",
        ));
    }
    // obs-text is opaque data a recipient must tolerate (RFC 9110 §5.5). No
    // field NetServe reads may contain it, so a value is kept as text: each
    // byte sequence that is not UTF-8 becomes U+FFFD, which no check below
    // (Host, Content-Length, Transfer-Encoding) accepts.
    let value = String::from_utf8_lossy(value).into_owned();
    let name = String::from_utf8_lossy(name).into_owned();
    Ok((name, value))
}

/// `bytes` without the optional whitespace (SP, HTAB) at either end.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |byte: &u8| matches!(byte, b' ' | b'\t');
    let start = bytes.iter().position(|byte| !is_ows(byte));
    let end = bytes.iter().rposition(|byte| !is_ows(byte));
    match (start, end) {
        (Some(start), Some(end)) => &bytes[start..=end],
        _ => &[],
    }
}

/// tchar (RFC 9110 §5.6.2): the characters of a method or field name token.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Splits the request target into the path the router matches and the raw
/// query string. Origin-form (`/path?query`) is the usual case; absolute-form
/// (`http://host/path`) is served the same way (RFC 9112 §3.2.2); the
/// asterisk-form `*` has the path `*`.
fn split_target(target: &str) -> Result<(String, Option<String>), Rejection> {
    let origin = if target.starts_with('/') || target == "*" {
        target
    } else if let Some(after_scheme) = strip_http_scheme(target) {
        // The authority is everything up to the first '/', '?' or the end.
        let path_start = after_scheme.find(['/', '?']).unwrap_or(after_scheme.len());
        // An http URI with an empty host is invalid and must be rejected
        // (RFC 9110 §4.2.1).
        if path_start == 0 {
            return Err(reject(
                Status::BadRequest,
                "absolute-form target without a host",
            ));
        }
        if !is_valid_authority(&after_scheme[..path_start]) {
            return Err(reject(
                Status::BadRequest,
                "invalid authority in the request target",
            ));
        }
        &after_scheme[path_start..]
    } else {
        return Err(reject(
            Status::BadRequest,
            "unsupported request target form",
        ));
    };

    let (path, query) = match origin.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (origin, None),
    };
    // An absolute-form target with an empty path means "/" (RFC 9110 §4.2.3).
    let path = if path.is_empty() { "/" } else { path };
    Ok((path.to_owned(), query))
}

/// Returns what follows `http://` or `https://`, compared without case
/// (schemes are case-insensitive, RFC 3986 §3.1).
fn strip_http_scheme(target: &str) -> Option<&str> {
    ["http://", "https://"].iter().find_map(|scheme| {
        let prefix = target.get(..scheme.len())?;
        prefix
            .eq_ignore_ascii_case(scheme)
            .then(|| &target[scheme.len()..])
    })
}

// ANCHOR: check_framing
/// The message-level rules: `Host` (RFC 9112 §3.2) and body framing
/// (RFC 9112 §6.3), which a server must enforce even when it ignores bodies,
/// because a proxy in front of it may frame the same bytes differently
/// (request smuggling).
fn check_framing(request: &Request) -> Result<(), Rejection> {
    let hosts = count_fields(request, "host");
    if hosts > 1 {
        return Err(reject(
            Status::BadRequest,
            "more than one Host header field",
        ));
    }
    if hosts == 0 && request.version == Version::Http11 {
        return Err(reject(
            Status::BadRequest,
            "HTTP/1.1 request without a Host header field",
        ));
    }
    if request
        .header("host")
        .is_some_and(|host| !is_valid_authority(host))
    {
        return Err(reject(
            Status::BadRequest,
            "invalid Host header field value",
        ));
    }

    let has_transfer_encoding = count_fields(request, "transfer-encoding") > 0;
    let content_length = content_length(request)?;
    if has_transfer_encoding && content_length.is_some() {
        return Err(reject(
            Status::BadRequest,
            "both Content-Length and Transfer-Encoding",
        ));
    }
    if has_transfer_encoding {
        check_transfer_coding(request)?;
    }
    Ok(())
}
// ANCHOR_END: check_framing

/// Whether `authority` is `uri-host [ ":" port ]`, the one grammar of both
/// the `Host` field (RFC 9112 §3.2) and the authority of an absolute-form
/// target (RFC 3986 §3.2): a bracketed IP literal, or a registered name
/// (which includes IPv4 addresses) of unreserved characters, sub-delims and
/// percent-escapes, then an optional port of digits. So a userinfo (`u@h`,
/// which an `http` URI must not carry, RFC 9110 §4.2.4), a second colon
/// outside brackets, a port that is not a number, an unclosed `[` or a bad
/// `%` escape all make it invalid (RFC 9112 §3.2: "MUST respond with a 400").
/// An empty authority is valid: it is the `Host` a client sends for a target
/// without one (RFC 9112 §3.2).
fn is_valid_authority(authority: &str) -> bool {
    let (host_is_valid, port) = match authority.strip_prefix('[') {
        Some(literal) => match literal.split_once(']') {
            Some((address, rest)) => (is_ip_literal(address), rest),
            None => return false,
        },
        None => {
            let host_end = authority.find(':').unwrap_or(authority.len());
            let (host, rest) = authority.split_at(host_end);
            (is_reg_name(host), rest)
        }
    };
    let port_is_valid = match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|byte| byte.is_ascii_digit()),
        None => port.is_empty(),
    };
    host_is_valid && port_is_valid
}

/// `IP-literal` between the brackets (RFC 3986 §3.2.2): an IPv6 address, or
/// `IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`.
fn is_ip_literal(address: &str) -> bool {
    if let Some(future) = address.strip_prefix(['v', 'V']) {
        let Some((version, rest)) = future.split_once('.') else {
            return false;
        };
        return !version.is_empty()
            && version.bytes().all(|byte| byte.is_ascii_hexdigit())
            && !rest.is_empty()
            && rest
                .bytes()
                .all(|byte| is_unreserved(byte) || is_sub_delim(byte) || byte == b':');
    }
    address.parse::<std::net::Ipv6Addr>().is_ok()
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )` (RFC 3986 §3.2.2),
/// where `pct-encoded = "%" HEXDIG HEXDIG`.
fn is_reg_name(host: &str) -> bool {
    let bytes = host.as_bytes();
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            let escape = bytes.get(index + 1..index + 3);
            if !escape.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            index += 3;
        } else if is_unreserved(byte) || is_sub_delim(byte) {
            index += 1;
        } else {
            return false;
        }
    }
    true
}

/// `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"` (RFC 3986 §2.3).
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~".contains(&byte)
}

/// `sub-delims = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="`
/// (RFC 3986 §2.2).
fn is_sub_delim(byte: u8) -> bool {
    b"!$&'()*+,;=".contains(&byte)
}

/// The `Transfer-Encoding` rules for requests (RFC 9112 §6.1, §6.3, §7):
/// chunked must be the final coding (otherwise the body length cannot be
/// known: 400), it must not be applied twice (400), and any other coding is
/// one we do not implement (501). Codings are case-insensitive and may be
/// split across several field lines.
fn check_transfer_coding(request: &Request) -> Result<(), Rejection> {
    let codings: Vec<String> = request
        .headers
        .iter()
        .filter(|(field, _)| field.eq_ignore_ascii_case("transfer-encoding"))
        .flat_map(|(_, value)| value.split(','))
        .map(|coding| coding.trim_matches([' ', '\t']).to_ascii_lowercase())
        .collect();
    let chunked = codings.iter().filter(|coding| *coding == "chunked").count();
    if codings.last().map(String::as_str) != Some("chunked") || chunked > 1 {
        return Err(reject(
            Status::BadRequest,
            "Transfer-Encoding must end with a single chunked",
        ));
    }
    if chunked != codings.len() {
        return Err(reject(
            Status::NotImplemented,
            "transfer coding other than chunked",
        ));
    }
    Ok(())
}

fn count_fields(request: &Request, name: &str) -> usize {
    request
        .headers
        .iter()
        .filter(|(field, _)| field.eq_ignore_ascii_case(name))
        .count()
}

/// The declared body length. Every `Content-Length` field, and every member
/// of a comma-separated list in one, must be the same decimal number
/// (RFC 9110 §8.6); anything else is refused rather than guessed.
fn content_length(request: &Request) -> Result<Option<u64>, Rejection> {
    let mut length = None;
    let values = request
        .headers
        .iter()
        .filter(|(field, _)| field.eq_ignore_ascii_case("content-length"))
        .flat_map(|(_, value)| value.split(','));
    for value in values {
        let value = value.trim_matches([' ', '\t']);
        let parsed = if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
            value.parse::<u64>().ok()
        } else {
            None
        };
        let Some(parsed) = parsed else {
            return Err(reject(Status::BadRequest, "invalid Content-Length"));
        };
        if length.is_some_and(|seen| seen != parsed) {
            return Err(reject(
                Status::BadRequest,
                "conflicting Content-Length values",
            ));
        }
        length = Some(parsed);
    }
    Ok(length)
}

/// Whether the head announces a body: a non-zero `Content-Length` or any
/// `Transfer-Encoding`. Framing was validated by [`parse_head`].
fn declares_body(request: &Request) -> bool {
    let nonzero_length = request
        .header("content-length")
        .is_some_and(|value| value.bytes().any(|byte| (b'1'..=b'9').contains(&byte)));
    nonzero_length || request.header("transfer-encoding").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Request, Rejection> {
        parse_head(text.as_bytes(), &Limits::default())
    }

    fn status_of(text: &str) -> u16 {
        match parse(text) {
            Ok(_) => 200,
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
    fn parses_a_simple_get() {
        let request =
            parse("GET /health?verbose=1 HTTP/1.1\r\nHost: localhost\r\nX-A:  b \r\n\r\n")
                .expect("valid head");
        assert_eq!(request.method, "GET");
        assert_eq!(request.target, "/health?verbose=1");
        assert_eq!(request.path, "/health");
        assert_eq!(request.query.as_deref(), Some("verbose=1"));
        assert_eq!(request.version, Version::Http11);
        assert_eq!(request.header("HOST"), Some("localhost"));
        assert_eq!(request.header("x-a"), Some("b"));
        assert_eq!(request.request_line(), "GET /health?verbose=1 HTTP/1.1");
        // Only SP and HTAB are trimmed around a value (OWS, RFC 9110 §5.6.3).
        let request = parse("GET / HTTP/1.0\r\nX: \t a b \t\r\nY:\r\n\r\n").expect("valid head");
        assert_eq!(request.header("x"), Some("a b"));
        assert_eq!(request.header("y"), Some(""));
    }

    #[test]
    fn accepts_bare_lf_and_absolute_form() {
        let request = parse("GET http://example.com HTTP/1.0\n\n").expect("valid head");
        assert_eq!(request.path, "/");
        let request = parse("GET HTTP://example.com:80/health?x HTTP/1.1\nHost: a\n\n").unwrap();
        assert_eq!(request.path, "/health");
        assert_eq!(request.query.as_deref(), Some("x"));
    }

    #[test]
    fn rejects_malformed_request_lines() {
        for head in [
            "GARBAGE\r\n\r\n",
            "GET\r\n\r\n",
            "GET /health\r\n\r\n",
            "GET  /health HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /health HTTP/1.1 extra\r\nHost: a\r\n\r\n",
            "GET /health http/1.1\r\nHost: a\r\n\r\n",
            "GET /health HTTP/1.10\r\nHost: a\r\n\r\n",
            "G(T /health HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET health HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert_eq!(status_of(head), 400, "{head:?}");
        }
    }

    #[test]
    fn other_major_versions_get_505_and_higher_minors_are_http11() {
        assert_eq!(status_of("GET /health HTTP/9.9\r\nHost: a\r\n\r\n"), 505);
        assert_eq!(status_of("GET /health HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
        assert_eq!(status_of("GET /health HTTP/0.9\r\nHost: a\r\n\r\n"), 505);
        for minor in 2..=9 {
            let request = parse(&format!("GET / HTTP/1.{minor}\r\nHost: a\r\n\r\n"));
            assert_eq!(request.map(|request| request.version), Ok(Version::Http11));
        }
        // Processed as HTTP/1.1, so Host is required.
        assert_eq!(status_of("GET /health HTTP/1.2\r\n\r\n"), 400);
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
    fn obs_text_in_field_values_is_accepted() {
        let request = parse_head(
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9 \x80\xff\r\n\r\n",
            &Limits::default(),
        )
        .expect("obs-text is allowed in a field value");
        assert_eq!(
            request.header("x-name"),
            Some("caf\u{fffd} \u{fffd}\u{fffd}")
        );
        // But not in a Host, whose grammar is ASCII.
        let head = b"GET / HTTP/1.1\r\nHost: caf\xe9\r\n\r\n";
        assert_eq!(
            parse_head(head, &Limits::default()).unwrap_err().status,
            Status::BadRequest
        );
    }

    #[test]
    fn rejects_malformed_field_lines() {
        for head in [
            "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n: empty-name\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
            // A CR or a form feed at the edge of a value is not OWS
            // (found by the differential test against httparse).
            "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX: \x0ca\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\x0c\r\n\r\n",
        ] {
            assert_eq!(status_of(head), 400, "{head:?}");
        }
    }

    #[test]
    fn enforces_host_and_framing_rules() {
        assert_eq!(status_of("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status_of("GET / HTTP/1.0\r\n\r\n"), 200);
        assert_eq!(
            status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            400
        );
        let both =
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status_of(both), 400);
        let two = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n";
        assert_eq!(status_of(two), 400);
        let listed = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n";
        assert_eq!(status_of(listed), 400);
        let same =
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5, 5\r\n\r\n";
        assert_eq!(status_of(same), 200);
        let signed = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n";
        assert_eq!(status_of(signed), 400);
    }

    #[test]
    fn rejects_invalid_targets_and_hosts() {
        assert_eq!(status_of("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status_of("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status_of("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
        assert_eq!(
            status_of("GET http:///health HTTP/1.1\r\nHost: a\r\n\r\n"),
            400
        );
        assert_eq!(status_of("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
        assert_eq!(status_of("GET / HTTP/1.1\r\nHost: x/y\r\n\r\n"), 400);
        assert_eq!(status_of("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 200);
        assert_eq!(status_of("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), 200);
        assert_eq!(
            status_of("GET / HTTP/1.1\r\nHost: xn--bcher-kva.example:80\r\n\r\n"),
            200
        );
    }

    #[test]
    fn host_and_absolute_form_authority_follow_rfc_3986() {
        for good in [
            "a",
            "a:",
            "a:8080",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:80",
            "[2001:db8::7]",
            "[::ffff:192.0.2.1]",
            "[v1.fe80::a+en1]",
            "a%2Db",
            "a!$&'()*+,;=b",
            "_x-y.z~",
        ] {
            let host = format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n");
            assert_eq!(status_of(&host), 200, "Host: {good}");
            let absolute = format!("GET http://{good}/ HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(status_of(&absolute), 200, "http://{good}/");
        }
        for bad in [
            "a:xyz", "a:b:c", "[::1", "[::1]x", "[::1]:8a", "::1", "[zz]", "[v.x]", "[v1.]",
            "a%zz", "a%2", "a%", "u@a", "u:p@a", "a@", "a\"b", "a<b",
        ] {
            let host = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
            assert_eq!(status_of(&host), 400, "Host: {bad}");
            let absolute = format!("GET http://{bad}/ HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(status_of(&absolute), 400, "http://{bad}/");
        }
    }

    #[test]
    fn transfer_codings_must_end_in_a_single_chunked() {
        let with =
            |codings: &str| status_of(&format!("POST / HTTP/1.1\r\nHost: a\r\n{codings}\r\n"));
        assert_eq!(with("Transfer-Encoding: chunked\r\n"), 200);
        assert_eq!(with("Transfer-Encoding: CHUNKED\r\n"), 200);
        assert_eq!(with("Transfer-Encoding: gzip\r\n"), 400);
        assert_eq!(with("Transfer-Encoding: chunked, gzip\r\n"), 400);
        assert_eq!(
            with("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
            400
        );
        assert_eq!(with("Transfer-Encoding: gzip, chunked\r\n"), 501);
        assert_eq!(
            with("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
            501
        );
    }

    #[test]
    fn target_limit_gives_414() {
        let limits = Limits::default();
        let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(4096));
        assert_eq!(status_of(&long), 414);
        let fits = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(4095));
        assert_eq!(status_of(&fits), 200);
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

    #[test]
    fn declared_bodies_are_noticed() {
        let request = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n").unwrap();
        assert!(declares_body(&request));
        let request = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert!(!declares_body(&request));
        let request =
            parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert!(declares_body(&request));
    }
}
