//! A raw HTTP/1.1 client: it writes exactly the bytes a test gives it, reads until the server
//! closes (or one response is complete on a persistent connection), and parses what came back
//! with `httparse` (a real parser, used as an oracle).
//!
//! It is deliberately not an HTTP library: a test about malformed requests must be able to send
//! malformed bytes, and a case about framing must see exactly what the server sent.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a complete response (until the server closes) may take by default.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many bytes of what a connection sent a failure message quotes.
const SENT_KEPT: usize = 200;

/// How many header fields a response may have for the parser.
const MAX_RESPONSE_HEADERS: usize = 64;

/// One client connection to the server under test.
pub struct Connection {
    stream: TcpStream,
    /// The first [`SENT_KEPT`] bytes sent, for failure messages.
    sent: Vec<u8>,
    /// How many bytes were sent in all.
    sent_total: usize,
}

impl Connection {
    /// Connects to `addr`, giving up after [`CONNECT_TIMEOUT`].
    pub fn open(addr: SocketAddr) -> Result<Connection, String> {
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        Ok(Connection::from_stream(stream))
    }

    /// Wraps an already connected stream.
    pub fn from_stream(stream: TcpStream) -> Connection {
        Connection {
            stream,
            sent: Vec::new(),
            sent_total: 0,
        }
    }

    /// `sent: "GET / HTTP/1.1\r\n…"`: the first bytes this connection sent, escaped, for a
    /// failure message (empty if nothing was sent).
    fn sent_excerpt(&self) -> String {
        if self.sent_total == 0 {
            return String::new();
        }
        let mut text = format!("\nsent: {}", excerpt(&self.sent));
        if self.sent_total > self.sent.len() {
            text.push_str(&format!(" … ({} bytes in all)", self.sent_total));
        }
        text
    }

    /// The underlying socket (to clone it for a writer thread, for example).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let room = SENT_KEPT.saturating_sub(self.sent.len());
        self.sent.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.sent_total += bytes.len();
        self.stream.write_all(bytes).map_err(|e| {
            format!(
                "writing {} bytes of request: {e}{}",
                bytes.len(),
                self.sent_excerpt()
            )
        })
    }

    /// Waits at most `bound` for the server to send something or close the connection, without
    /// consuming it; a zero `bound` checks without waiting. `Ok(false)` means the server stayed
    /// silent for the whole bound.
    pub fn answers_within(&self, bound: Duration) -> Result<bool, String> {
        // std refuses a zero read timeout, so "without waiting" is a non-blocking peek.
        let set = if bound.is_zero() {
            self.stream.set_nonblocking(true)
        } else {
            self.stream.set_read_timeout(Some(bound))
        };
        set.map_err(|e| format!("the grader's own client failed to set a read timeout: {e}"))?;
        // One byte peeked: data, the end of the stream (0) or a reset (which reading will
        // report) all mean the server has answered.
        let answered = match self.stream.peek(&mut [0u8; 1]) {
            Ok(_) => Ok(true),
            Err(e) if is_timeout(&e) => Ok(false),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(true),
            Err(e) => Err(format!("waiting for the server: {e}")),
        };
        let _ = self.stream.set_nonblocking(false);
        let _ = self.stream.set_read_timeout(None);
        answered
    }

    /// Reads until the server closes the connection (at most [`RESPONSE_TIMEOUT`]) and parses
    /// the bytes as one complete response.
    pub fn read_response(self) -> Result<Response, String> {
        self.read_response_within(RESPONSE_TIMEOUT)
    }

    /// Like [`Connection::read_response`] with an explicit bound.
    ///
    /// A response with `Connection: close` (every response of stages 01-06) is read until the
    /// server closes, so that anything sent after it is seen; a response without it (stage 07
    /// keeps the connection open, RFC 9112 §9.3) ends after `Content-Length` body bytes. For a
    /// response to HEAD, which has no body whatever its `Content-Length`, ask for `Connection:
    /// close`.
    ///
    /// Errors: the server did not close within the bound after a `Connection: close` response,
    /// or did not complete a persistent one; the bytes are not a well-formed response, or the
    /// body is shorter or longer than `Content-Length`, or the connection was reset before the
    /// response was complete.
    pub fn read_response_within(mut self, bound: Duration) -> Result<Response, String> {
        let sent = self.sent_excerpt();
        let raw = self.read_until(bound, is_complete_persistent)?;
        let response = match raw.end {
            End::TimedOut if raw.bytes.is_empty() => Err(format!("no response within {bound:?}")),
            End::Reset if raw.bytes.is_empty() => {
                Err("connection reset by the server before any response byte".into())
            }
            _ => Response::parse(&raw.bytes),
        };
        let response = response.map_err(|error| format!("{error}{sent}"))?;
        let failure = match raw.end {
            End::Closed | End::KeptOpen => return Ok(response),
            End::Reset if response.expect_complete().is_ok() => {
                let reset_after = true;
                return Ok(Response {
                    reset_after,
                    ..response
                });
            }
            End::Reset => format!(
                "connection reset after {} bytes, response incomplete",
                raw.bytes.len()
            ),
            End::TimedOut => format!("the server did not close the connection within {bound:?}"),
        };
        Err(format!(
            "{failure} (received: {}){sent}",
            response.summary()
        ))
    }

    /// Reads every byte until the server closes, resets, or `bound` passes.
    pub fn read_to_close(&mut self, bound: Duration) -> Result<RawRead, String> {
        self.read_until(bound, |_| false)
    }

    /// Reads every byte until the server closes, resets, or `bound` passes, or until `done`
    /// says the bytes so far are enough (a connection the server keeps open never ends).
    fn read_until(
        &mut self,
        bound: Duration,
        done: impl Fn(&[u8]) -> bool,
    ) -> Result<RawRead, String> {
        let deadline = Instant::now() + bound;
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        let end = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break End::TimedOut;
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| format!("the grader's own client failed: set_read_timeout: {e}"))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => break End::Closed,
                Ok(n) => {
                    bytes.extend_from_slice(&chunk[..n]);
                    if done(&bytes) {
                        break End::KeptOpen;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => break End::TimedOut,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break End::Reset,
                Err(e) => return Err(format!("reading the response: {e}")),
            }
        };
        Ok(RawRead { bytes, end })
    }

    /// Reads `count` complete responses, one after the other, from a connection that stays
    /// open (each framed by its `Content-Length`; no response to HEAD), within `bound`.
    ///
    /// # Errors
    /// Fewer than `count` arrived in time or before the server closed, or one is malformed.
    pub fn read_responses(
        &mut self,
        count: usize,
        bound: Duration,
    ) -> Result<Vec<Response>, String> {
        let enough = |bytes: &[u8]| split_responses(bytes).map_or(true, |r| r.len() >= count);
        let raw = self.read_until(bound, enough)?;
        let mut responses = split_responses(&raw.bytes)?;
        let got = responses.len();
        match raw.end {
            _ if got >= count => {
                responses.truncate(count);
                Ok(responses)
            }
            End::TimedOut => Err(format!("only {got} of {count} responses within {bound:?}")),
            _ => Err(format!(
                "the server closed the connection after {got} of {count} responses"
            )),
        }
    }

    /// Closes the connection with a reset (RST) instead of a normal close (FIN), the way a
    /// crashed or impatient client does: SO_LINGER with a zero timeout, then close.
    pub fn reset(self) -> Result<(), String> {
        let socket = socket2::SockRef::from(&self.stream);
        socket
            .set_linger(Some(Duration::ZERO))
            .map_err(|e| format!("the grader's own client failed: SO_LINGER: {e}"))?;
        drop(self);
        Ok(())
    }
}

/// Whether a read error is a read timeout (`WouldBlock` on Unix, `TimedOut` elsewhere), or
/// a non-blocking read that would have to wait.
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// How a read-until-close ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The server closed the connection normally (FIN; `read` returned 0).
    Closed,
    /// The server reset the connection (RST) after sending these bytes.
    Reset,
    /// The bound passed with the connection still open.
    TimedOut,
    /// Enough arrived (one complete response that keeps the connection open, or as many as
    /// were asked for) and the connection is still open.
    KeptOpen,
}

/// Whether `bytes` are exactly one complete response whose connection stays open: a
/// `Content-Length` body received in full, and no `close` option in `Connection`.
fn is_complete_persistent(bytes: &[u8]) -> bool {
    let Ok(Some(response)) = Response::parse_head(bytes) else {
        return false;
    };
    let connection = response.header("connection").unwrap_or("");
    let closes = connection
        .split(',')
        .any(|option| option.trim().eq_ignore_ascii_case("close"));
    response.expect_complete().is_ok() && !closes
}

/// The complete responses at the start of `bytes`, in order (an incomplete one after them is
/// left out).
fn split_responses(mut bytes: &[u8]) -> Result<Vec<Response>, String> {
    let mut responses = Vec::new();
    while let Some(length) = complete_length(bytes)? {
        responses.push(Response::parse(&bytes[..length])?);
        bytes = &bytes[length..];
    }
    Ok(responses)
}

/// The length of the first response in `bytes` if it has arrived whole, framed by its
/// `Content-Length` (RFC 9112 §6.3); `None` while it is incomplete.
///
/// # Errors
/// A malformed head, or one without `Content-Length`.
fn complete_length(bytes: &[u8]) -> Result<Option<usize>, String> {
    let Some(response) = Response::parse_head(bytes)? else {
        return Ok(None);
    };
    let length = response
        .content_length()
        .ok_or_else(|| format!("response without Content-Length: {}", excerpt(bytes)))?;
    let head = bytes.len() - response.body.len();
    Ok((response.body.len() >= length).then_some(head + length))
}

/// Every byte received on a connection, and how the connection ended.
pub struct RawRead {
    /// The bytes received.
    pub bytes: Vec<u8>,
    /// Why reading stopped.
    pub end: End,
}

/// A parsed HTTP response (RFC 9112 §4, §6).
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The reason phrase, e.g. `OK`.
    pub reason: String,
    /// Header fields in the order received (names as sent).
    pub headers: Vec<(String, String)>,
    /// Every byte after the empty line that ends the head, until the connection closed.
    pub body: Vec<u8>,
    /// Whether the connection ended with a reset after these bytes (rather than a clean close).
    pub reset_after: bool,
}

impl Response {
    /// Parses `bytes`: a status line and header fields (parsed by `httparse`), then the rest
    /// as the body.
    ///
    /// Errors: no bytes, an incomplete head, or a malformed head.
    pub fn parse(bytes: &[u8]) -> Result<Response, String> {
        if bytes.is_empty() {
            return Err("the server closed the connection without sending a response".into());
        }
        Response::parse_head(bytes)?.ok_or_else(|| {
            let length = bytes.len();
            format!(
                "incomplete response head ({length} bytes): {}",
                excerpt(bytes)
            )
        })
    }

    /// Like [`Response::parse`], but `None` while the head is incomplete.
    fn parse_head(bytes: &[u8]) -> Result<Option<Response>, String> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        let mut parsed = httparse::Response::new(&mut fields);
        let head_len = match parsed.parse(bytes) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(format!("malformed response head ({e}): {}", excerpt(bytes))),
        };
        let headers = parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        Ok(Some(Response {
            status: parsed.code.unwrap_or(0),
            reason: parsed.reason.unwrap_or("").to_string(),
            headers,
            body: bytes[head_len..].to_vec(),
            reset_after: false,
        }))
    }

    /// The value of the first header field named `name` (case-insensitive, RFC 9110 §5.1).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Content-Length` value, if present and a number.
    pub fn content_length(&self) -> Option<usize> {
        self.header("Content-Length")?.trim().parse().ok()
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A one-line description for failure messages: `404 Not Found, body "…"`.
    pub fn summary(&self) -> String {
        format!(
            "{} {}, {} body bytes {}",
            self.status,
            self.reason,
            self.body.len(),
            excerpt(&self.body)
        )
    }

    /// Checks the status code.
    pub fn expect_status(&self, status: u16) -> Result<(), String> {
        if self.status == status {
            Ok(())
        } else {
            Err(format!("expected status {status}, got {}", self.summary()))
        }
    }

    /// Checks that the header field `name` is present with exactly `value`.
    pub fn expect_header(&self, name: &str, value: &str) -> Result<(), String> {
        match self.header(name) {
            Some(actual) if actual == value => Ok(()),
            actual => Err(format!(
                "expected header {name}: {value:?}, got {actual:?} ({})",
                self.summary()
            )),
        }
    }

    /// Checks that the header field `name` is present and starts with `prefix`
    /// (ASCII case-insensitive, as media types are, RFC 9110 §8.3.1).
    pub fn expect_header_prefix(&self, name: &str, prefix: &str) -> Result<(), String> {
        let lowercase = |text: &str| text.to_ascii_lowercase();
        match self.header(name) {
            Some(actual) if lowercase(actual).starts_with(&lowercase(prefix)) => Ok(()),
            actual => Err(format!(
                "expected header {name} starting with {prefix:?}, got {actual:?} ({})",
                self.summary()
            )),
        }
    }

    /// Checks the message framing: a `Content-Length` equal to the number of body bytes
    /// received before the server closed (RFC 9112 §6.2). Nothing may follow the body.
    pub fn expect_complete(&self) -> Result<(), String> {
        match self.content_length() {
            Some(length) if length == self.body.len() => Ok(()),
            Some(length) => Err(format!(
                "Content-Length says {length} bytes but {} body bytes arrived before close ({})",
                self.body.len(),
                self.summary()
            )),
            None => Err(format!(
                "no valid Content-Length header (got {:?}) ({})",
                self.header("Content-Length"),
                self.summary()
            )),
        }
    }

    /// Parses the body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("body is not valid JSON ({e}): {}", excerpt(&self.body)))
    }
}

/// Opens a connection to `addr`, sends `request` and reads the response until the server closes.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Result<Response, String> {
    let mut connection = Connection::open(addr)?;
    connection.send(request)?;
    connection.read_response()
}

/// `GET target HTTP/1.1` with a Host header, the smallest valid request (RFC 9112 §3).
pub fn get_request(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
}

/// Sends `GET target` and reads the response.
pub fn get(addr: SocketAddr, target: &str) -> Result<Response, String> {
    exchange(addr, &get_request(target))
}

/// At most 200 bytes of `bytes` as an escaped string (`"GET / HTTP/1.1\r\n…"`), for messages.
pub fn excerpt(bytes: &[u8]) -> String {
    const LIMIT: usize = 200;
    let shown = &bytes[..bytes.len().min(LIMIT)];
    let mut text = format!("{:?}", String::from_utf8_lossy(shown));
    if bytes.len() > LIMIT {
        text.push_str(&format!(" … ({} bytes in all)", bytes.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_complete_response() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-type: text/plain\r\n\r\nOK\n";
        let response = Response::parse(raw).expect("valid response");
        assert_eq!(response.status, 200);
        assert_eq!(response.reason, "OK");
        assert_eq!(response.header("Content-Type"), Some("text/plain"));
        assert!(response.expect_complete().is_ok());
        assert_eq!(response.body, b"OK\n");
        let short = Response::parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nOK\n");
        assert!(short.expect("valid head").expect_complete().is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Response::parse(b"").is_err());
        assert!(Response::parse(b"HTTP/1.1 200 OK\r\nContent-").is_err());
        assert!(Response::parse(b"\x00\x01garbage\r\n\r\n").is_err());
    }
}
