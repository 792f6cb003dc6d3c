//! A parsed request head: the request line and the header fields.
//!
//! Terms follow RFC 9112 §3 (request line, request target) and RFC 9110 §5
//! (header fields). The body, if any, is never read into a `Request`: no route
//! of NetServe needs one, and the connection discards it before closing.

use std::fmt;

/// The HTTP versions NetServe speaks (RFC 9112 §2.3). A higher minor version
/// of HTTP/1 (`HTTP/1.2`) is processed as HTTP/1.1 (RFC 9110 §2.5); another
/// major version is answered `505 HTTP Version Not Supported` before a
/// `Request` exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`: `Host` is optional.
    Http10,
    /// `HTTP/1.1`: `Host` is required (RFC 9112 §3.2).
    Http11,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Http10 => f.write_str("HTTP/1.0"),
            Version::Http11 => f.write_str("HTTP/1.1"),
        }
    }
}

// ANCHOR: request
/// One request head, as received.
///
/// Built only by [`crate::head::read_request_head`], which has already
/// checked the limits and the framing rules, so every `Request` is
/// well-formed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method token, case-sensitive (RFC 9110 §9.1): `GET`, `HEAD`, ...
    pub method: String,
    /// The request target exactly as sent: origin-form `/path?query`,
    /// absolute-form `http://host/path?query`, or `*` (RFC 9112 §3.2).
    pub target: String,
    /// The path the router matches: the target's path, not percent-decoded,
    /// with any scheme and authority of an absolute-form target removed.
    pub path: String,
    /// The raw query string after `?`, without the `?`; `None` when the target
    /// has no `?`.
    pub query: Option<String>,
    /// The protocol version from the request line, as processed: `HTTP/1.2`
    /// and above are [`Version::Http11`].
    pub version: Version,
    /// Header fields in the order received, names as sent. Look them up with
    /// [`Request::header`], which ignores case (RFC 9110 §5.1). A value's
    /// obs-text bytes (0x80–0xFF, RFC 9110 §5.5) that are not UTF-8 read as
    /// U+FFFD.
    pub headers: Vec<(String, String)>,
}
// ANCHOR_END: request

impl Request {
    /// The value of the first header field called `name`, compared without
    /// regard to ASCII case (RFC 9110 §5.1). Leading and trailing whitespace
    /// of the value has already been removed (RFC 9112 §5).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The request line without its line terminator, e.g.
    /// `GET /health HTTP/1.1`, with the version as processed. Used by the
    /// access log.
    pub fn request_line(&self) -> String {
        format!("{} {} {}", self.method, self.target, self.version)
    }
}
