//! Status codes and writing a response (RFC 9110 §15, RFC 9112 §4 and §6).

use std::io::{self, Write};
use std::time::SystemTime;

use crate::date;

/// The status codes NetServe sends, each with its standard reason phrase
/// (RFC 9110 §15; 431 is RFC 6585 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// 200: the request succeeded.
    Ok,
    /// 400: malformed request line, header field, framing or query parameter.
    BadRequest,
    /// 404: no route has this path.
    NotFound,
    /// 405: the path exists but not for this method; sent with `Allow`.
    MethodNotAllowed,
    /// 408: the request head did not arrive before the header deadline.
    RequestTimeout,
    /// 414: the request target is longer than the server accepts.
    UriTooLong,
    /// 431: the request head is too large or has too many header fields.
    RequestHeaderFieldsTooLarge,
    /// 500: the backend could not start, failed, or printed nonsense.
    InternalServerError,
    /// 501: recognised but not implemented here (stage 04's simulator).
    NotImplemented,
    /// 503: every worker is busy and the queue is full; sent with `Retry-After`.
    ServiceUnavailable,
    /// 504: the backend ran past its deadline and was killed.
    GatewayTimeout,
    /// 505: a request line with a version other than HTTP/1.0 or HTTP/1.1.
    HttpVersionNotSupported,
}

impl Status {
    /// The three-digit status code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::UriTooLong => 414,
            Status::RequestHeaderFieldsTooLarge => 431,
            Status::InternalServerError => 500,
            Status::NotImplemented => 501,
            Status::ServiceUnavailable => 503,
            Status::GatewayTimeout => 504,
            Status::HttpVersionNotSupported => 505,
        }
    }

    /// The reason phrase RFC 9110 §15 registers for the code.
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::UriTooLong => "URI Too Long",
            Status::RequestHeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::InternalServerError => "Internal Server Error",
            Status::NotImplemented => "Not Implemented",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::GatewayTimeout => "Gateway Timeout",
            Status::HttpVersionNotSupported => "HTTP Version Not Supported",
        }
    }
}

/// `Content-Type` of plain-text bodies.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// `Content-Type` of JSON bodies (RFC 8259 §11).
pub const APPLICATION_JSON: &str = "application/json";

/// A complete response: status, content type, extra header fields and body.
///
/// The writer adds `Date`, `Content-Length` and `Connection: close` itself, so
/// a handler cannot get them wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code of the status line.
    pub status: Status,
    /// The `Content-Type` field value.
    pub content_type: &'static str,
    /// Header fields beyond the four every response has, e.g.
    /// `("Allow", "GET, HEAD")` on a 405.
    pub extra_headers: Vec<(&'static str, String)>,
    /// The content, in bytes. Every body NetServe sends ends with `\n`.
    pub body: Vec<u8>,
}

impl Response {
    /// A `text/plain` response. A newline is appended when `body` lacks one,
    /// so `curl` leaves the prompt on its own line.
    pub fn text(status: Status, body: &str) -> Response {
        // Room for the newline up front: one allocation, not two.
        let mut bytes = Vec::with_capacity(body.len() + 1);
        bytes.extend_from_slice(body.as_bytes());
        if bytes.last() != Some(&b'\n') {
            bytes.push(b'\n');
        }
        let body = bytes;
        Response {
            status,
            content_type: TEXT_PLAIN,
            extra_headers: Vec::new(),
            body,
        }
    }

    /// A `text/plain` response whose body is the reason phrase, e.g.
    /// `404 Not Found` answers `Not Found\n`.
    pub fn plain_status(status: Status) -> Response {
        Response::text(status, status.reason())
    }

    /// Adds one header field; `name` must be a valid field name and `value`
    /// must not contain CR or LF (only this crate's code calls it).
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.extra_headers.push((name, value.into()));
        self
    }

    // ANCHOR: to_bytes
    /// Serialises the response as it goes on the wire: status line, header
    /// fields, empty line, then the body unless `include_body` is false (a
    /// response to HEAD has the same header fields but no content,
    /// RFC 9110 §9.3.2). `now` becomes the `Date` field (RFC 9110 §6.6.1).
    pub fn to_bytes(&self, include_body: bool, now: SystemTime) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status.code(),
            self.status.reason(),
            date::http_date(now),
            self.content_type,
            self.body.len(),
        );
        for (name, value) in &self.extra_headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");

        let mut bytes = head.into_bytes();
        if include_body {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
    // ANCHOR_END: to_bytes

    // ANCHOR: append_to
    /// Appends the response as it goes on the wire to `out`, a persistent
    /// connection's output buffer (stage 07): the bytes of
    /// [`Response::to_bytes`], except that `date` is given (a `Date` value
    /// formatted once a second, not once a response) and the `Connection`
    /// field is `connection` (`close`, `keep-alive`) or absent when `None`:
    /// an HTTP/1.1 connection persists unless a side says `close`
    /// (RFC 9112 §9.3). Nothing is allocated once `out` has grown to fit.
    pub fn append_to(
        &self,
        out: &mut Vec<u8>,
        include_body: bool,
        date: &str,
        connection: Option<&str>,
    ) {
        // Plain byte copies: `write!` would go through the formatting
        // machinery, which costs more than the rest of this function.
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, usize::from(self.status.code()));
        out.push(b' ');
        out.extend_from_slice(self.status.reason().as_bytes());
        out.extend_from_slice(b"\r\nDate: ");
        out.extend_from_slice(date.as_bytes());
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(self.content_type.as_bytes());
        out.extend_from_slice(b"\r\nContent-Length: ");
        push_decimal(out, self.body.len());
        out.extend_from_slice(b"\r\n");
        if let Some(connection) = connection {
            out.extend_from_slice(b"Connection: ");
            out.extend_from_slice(connection.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        for (name, value) in &self.extra_headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if include_body {
            out.extend_from_slice(&self.body);
        }
    }
    // ANCHOR_END: append_to

    // ANCHOR: write_to
    /// Writes the whole response and returns the number of bytes sent.
    ///
    /// `write_all` loops until every byte is accepted by the kernel, so a
    /// short write never truncates a response. Errors (a client that went
    /// away: `BrokenPipe`, `ConnectionReset`; a write deadline: `WouldBlock`
    /// or `TimedOut`) are returned for the caller to log.
    pub fn write_to(&self, out: &mut impl Write, include_body: bool) -> io::Result<usize> {
        let bytes = self.to_bytes(include_body, SystemTime::now());
        out.write_all(&bytes)?;
        out.flush()?;
        Ok(bytes.len())
    }
    // ANCHOR_END: write_to
}

/// Appends `number` in decimal digits.
fn push_decimal(out: &mut Vec<u8>, number: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = number;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn health_response_bytes() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let bytes = Response::text(Status::Ok, "OK").to_bytes(true, now);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "HTTP/1.1 200 OK\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 3\r\n\
             Connection: close\r\n\
             \r\n\
             OK\n"
        );
    }

    #[test]
    fn appended_bytes_match_to_bytes() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let response = Response::plain_status(Status::NotFound).with_header("Allow", "GET, HEAD");
        for include_body in [true, false] {
            let mut out = b"previous".to_vec();
            let date = date::http_date(now);
            response.append_to(&mut out, include_body, &date, Some("close"));
            let mut expected = b"previous".to_vec();
            expected.extend(response.to_bytes(include_body, now));
            assert_eq!(out, expected);
        }
        let mut out = Vec::new();
        push_decimal(&mut out, 0);
        push_decimal(&mut out, 1_234_567);
        assert_eq!(out, b"01234567");
        let mut out = Vec::new();
        response.append_to(&mut out, true, "d", None);
        assert!(!String::from_utf8(out).unwrap().contains("Connection"));
    }

    #[test]
    fn head_response_keeps_content_length_but_drops_body() {
        let now = UNIX_EPOCH;
        let response = Response::plain_status(Status::NotFound).with_header("Allow", "GET, HEAD");
        let text = String::from_utf8(response.to_bytes(false, now)).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.contains("Content-Length: 10\r\n"));
        assert!(text.contains("Allow: GET, HEAD\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }
}
