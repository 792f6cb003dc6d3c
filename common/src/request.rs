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

/// How a request delimits its body (RFC 9112 §6.3), as the head parser
/// decided it once, after refusing every ambiguous combination (both
/// `Content-Length` and `Transfer-Encoding`, differing lengths, a transfer
/// coding that does not end in `chunked`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body.
    NoBody,
    /// `Content-Length`: a body of exactly this many bytes (0 is no body).
    Length(u64),
    /// `Transfer-Encoding` ending in `chunked`: the body's end is found only
    /// by decoding its chunks (RFC 9112 §7.1), which NetServe does not do.
    Chunked,
}

impl Framing {
    /// Whether bytes of a body follow the head: a non-zero length, or chunked.
    pub fn announces_body(self) -> bool {
        match self {
            Framing::NoBody | Framing::Length(0) => false,
            Framing::Length(_) | Framing::Chunked => true,
        }
    }
}

// ANCHOR: request
/// One request head, as received.
///
/// Built by [`crate::head::parse::parse_head`], which has already checked
/// the grammar and the framing rules, so every `Request` is well-formed;
/// the limits were enforced by the reader ([`crate::head`]) that found it.
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
    /// How the body, if any, is delimited: from `Content-Length` or
    /// `Transfer-Encoding`, parsed once by the head parser.
    pub framing: Framing,
}
// ANCHOR_END: request

impl Request {
    /// The value of the first header field called `name`, compared without
    /// regard to ASCII case (RFC 9110 §5.1). Leading and trailing whitespace
    /// of the value has already been removed (RFC 9112 §5).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }

    /// The values of every header field called `name`, in the order
    /// received, compared without regard to ASCII case (RFC 9110 §5.1). A
    /// field may be sent on several lines; its value is then all of them
    /// (RFC 9110 §5.3).
    pub fn header_values(&self, name: &str) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(move |(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The members of a comma-separated list field (RFC 9110 §5.6.1), such
    /// as `Connection: keep-alive, Upgrade`, across every line of the field,
    /// each without the optional whitespace (SP, HTAB) around it. Empty
    /// members are kept (`"a,,b"` gives `""` between `a` and `b`): a
    /// caller that must refuse them can see them.
    pub fn header_list(&self, name: &str) -> impl Iterator<Item = &str> {
        self.header_values(name)
            .flat_map(|value| value.split(','))
            .map(|member| member.trim_matches([' ', '\t']))
    }

    /// The request line without its line terminator, e.g.
    /// `GET /health HTTP/1.1`, with the version as processed. Used by the
    /// access log.
    pub fn request_line(&self) -> String {
        format!("{} {} {}", self.method, self.target, self.version)
    }
}
