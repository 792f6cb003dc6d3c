//! Parsing a complete request head: pure RFC 9112, no socket, no clock, no
//! limits.
//!
//! [`parse_head`] takes the bytes the reader ([`super`]) found, from the
//! request line through the empty line, and checks them in order: the
//! request line (RFC 9112 §3), each header field line (RFC 9112 §5), the
//! `Host` rule (RFC 9112 §3.2) and the framing rules that defend against
//! request smuggling (RFC 9112 §6.3). Every rule is written here once; the
//! reader, which refuses what cannot become a request line as bytes arrive,
//! uses the same character classes (`is_tchar`, `is_target_byte`).
//!
//! The limits on size and count (`414`, `431`) are the reader's: it enforces
//! them while bytes arrive, before a head is complete, so they are not
//! checked again here.

use super::{Rejection, reject};
use crate::request::{Framing, Request, Version};
use crate::response::Status;

/// Parses a complete request head: `bytes` runs from the request line
/// through the empty line, with CRLF or bare LF line endings. One empty line
/// before the request line is ignored (RFC 9112 §2.2).
///
/// Checks, in order: the request line (RFC 9112 §3), each header field line
/// (RFC 9112 §5), then the `Host` rule (RFC 9112 §3.2) and the framing rules
/// (RFC 9112 §6.3), whose verdict is the request's [`Request::framing`].
/// Bytes after the empty line, if any, are ignored.
///
/// # Errors
/// A [`Rejection`] with status 400, 501 (a transfer coding other than
/// chunked) or 505 (another major version of HTTP).
pub fn parse_head(bytes: &[u8]) -> Result<Request, Rejection> {
    let mut lines = bytes
        .split(|&byte| byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .peekable();

    lines.next_if(|line| line.is_empty());
    let request_line = lines.next().unwrap_or_default();
    let (method, target, version) = parse_request_line(request_line)?;

    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        headers.push(parse_field_line(line)?);
    }

    let (path, query) = split_target(&target)?;
    let mut request = Request {
        method,
        target,
        path,
        query,
        version,
        headers,
        framing: Framing::NoBody,
    };
    check_host(&request)?;
    request.framing = framing(&request)?;
    Ok(request)
}

/// `request-line = method SP request-target SP HTTP-version` (RFC 9112 §3).
fn parse_request_line(line: &[u8]) -> Result<(String, String, Version), Rejection> {
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
    if target.is_empty() || !target.iter().all(|&byte| is_target_byte(byte)) {
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
pub(super) fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Whether `byte` may appear in a request target: visible ASCII only, so no
/// spaces, no control characters, no raw UTF-8 (RFC 3986 §2 requires
/// non-ASCII to be percent-encoded). A fragment (`#...`) is never part of a
/// request target (RFC 9112 §3.2): a client must strip it, and one that did
/// not has sent something else.
pub(super) fn is_target_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && byte != b'#'
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
/// The `Host` rule (RFC 9112 §3.2): exactly one `Host` field in an HTTP/1.1
/// request (at most one in HTTP/1.0), whose value is a valid authority.
fn check_host(request: &Request) -> Result<(), Rejection> {
    let mut hosts = request.header_values("host");
    let (first, second) = (hosts.next(), hosts.next());
    if second.is_some() {
        return Err(reject(
            Status::BadRequest,
            "more than one Host header field",
        ));
    }
    match first {
        None if request.version == Version::Http11 => Err(reject(
            Status::BadRequest,
            "HTTP/1.1 request without a Host header field",
        )),
        Some(host) if !is_valid_authority(host) => Err(reject(
            Status::BadRequest,
            "invalid Host header field value",
        )),
        _ => Ok(()),
    }
}

/// The framing rules (RFC 9112 §6.3), which a server must enforce even when
/// it ignores bodies, because a proxy in front of it may frame the same
/// bytes differently (request smuggling): a request may not carry both
/// `Content-Length` and `Transfer-Encoding`, and each of them must be
/// unambiguous on its own. Returns the one framing that remains.
fn framing(request: &Request) -> Result<Framing, Rejection> {
    let has_transfer_encoding = request.header_values("transfer-encoding").next().is_some();
    let content_length = content_length(request)?;
    match (has_transfer_encoding, content_length) {
        (true, Some(_)) => Err(reject(
            Status::BadRequest,
            "both Content-Length and Transfer-Encoding",
        )),
        (true, None) => {
            check_transfer_coding(request)?;
            Ok(Framing::Chunked)
        }
        (false, Some(length)) => Ok(Framing::Length(length)),
        (false, None) => Ok(Framing::NoBody),
    }
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
        .header_list("transfer-encoding")
        .map(str::to_ascii_lowercase)
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

/// The declared body length. Every `Content-Length` field, and every member
/// of a comma-separated list in one, must be the same decimal number
/// (RFC 9110 §8.6); anything else is refused rather than guessed.
fn content_length(request: &Request) -> Result<Option<u64>, Rejection> {
    let mut length = None;
    for value in request.header_list("content-length") {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Request, Rejection> {
        parse_head(text.as_bytes())
    }

    fn status_of(text: &str) -> u16 {
        match parse(text) {
            Ok(_) => 200,
            Err(rejection) => rejection.status.code(),
        }
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
    fn obs_text_in_field_values_is_accepted() {
        let request = parse_head(b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9 \x80\xff\r\n\r\n")
            .expect("obs-text is allowed in a field value");
        assert_eq!(
            request.header("x-name"),
            Some("caf\u{fffd} \u{fffd}\u{fffd}")
        );
        // But not in a Host, whose grammar is ASCII.
        let head = b"GET / HTTP/1.1\r\nHost: caf\xe9\r\n\r\n";
        assert_eq!(parse_head(head).unwrap_err().status, Status::BadRequest);
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
    fn framing_is_decided_once() {
        let framing = |fields: &str| {
            parse(&format!("POST / HTTP/1.1\r\nHost: a\r\n{fields}\r\n")).map(|r| r.framing)
        };
        assert_eq!(framing(""), Ok(Framing::NoBody));
        assert_eq!(framing("Content-Length: 10\r\n"), Ok(Framing::Length(10)));
        assert_eq!(framing("Content-Length: 0\r\n"), Ok(Framing::Length(0)));
        assert_eq!(
            framing("Transfer-Encoding: chunked\r\n"),
            Ok(Framing::Chunked)
        );
        assert!(Framing::Length(10).announces_body());
        assert!(Framing::Chunked.announces_body());
        assert!(!Framing::Length(0).announces_body());
        assert!(!Framing::NoBody.announces_body());
        let too_large = "Content-Length: 18446744073709551616\r\n";
        assert_eq!(framing(too_large).unwrap_err().status, Status::BadRequest);
    }
}
