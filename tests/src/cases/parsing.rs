//! Malformed or unsupported request heads: each must be refused with the right status code,
//! never served by guessing and never left hanging (RFC 9112 §2–§6; DESIGN "HTTP behaviour").

use crate::cases::expect_status;
use crate::target::Target;

/// An empty request line (`\r\n\r\n`) is malformed: 400 (RFC 9112 §3).
pub fn empty_request_line_400(target: &Target) -> Result<(), String> {
    expect_status(target, b"\r\n\r\n", 400).map(|_| ())
}

/// A request line that is one word (`GARBAGE`) is malformed: 400 (RFC 9112 §3).
pub fn garbage_request_line_400(target: &Target) -> Result<(), String> {
    expect_status(target, b"GARBAGE\r\n\r\n", 400).map(|_| ())
}

/// A request line with a method but no target or version (`GET`) is malformed: 400 (RFC 9112 §3).
pub fn request_line_without_target_400(target: &Target) -> Result<(), String> {
    expect_status(target, b"GET\r\n\r\n", 400).map(|_| ())
}

/// Whitespace between a field name and the colon must be rejected with 400 (RFC 9112 §5.1).
pub fn space_before_colon_400(target: &Target) -> Result<(), String> {
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Test : y\r\n\r\n";
    expect_status(target, request, 400).map(|_| ())
}

/// A line folded onto the previous field (obs-fold) is rejected with 400 (RFC 9112 §5.2).
pub fn obs_fold_400(target: &Target) -> Result<(), String> {
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Test: a\r\n b\r\n\r\n";
    expect_status(target, request, 400).map(|_| ())
}

/// A NUL byte in a field value is invalid: 400 (RFC 9110 §5.5).
pub fn nul_in_field_value_400(target: &Target) -> Result<(), String> {
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Test: a\0b\r\n\r\n";
    expect_status(target, request, 400).map(|_| ())
}

/// An unsupported version `HTTP/9.9` answers 505 (RFC 9110 §15.6.6).
pub fn http_9_9_505(target: &Target) -> Result<(), String> {
    expect_status(target, b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", 505).map(|_| ())
}

/// `HTTP/2.0` in an HTTP/1 request line is not spoken here either: 505 (RFC 9110 §15.6.6).
pub fn http_2_0_505(target: &Target) -> Result<(), String> {
    expect_status(target, b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505).map(|_| ())
}

/// An HTTP/1.1 request without Host answers 400 (RFC 9112 §3.2).
pub fn http11_without_host_400(target: &Target) -> Result<(), String> {
    expect_status(target, b"GET /health HTTP/1.1\r\n\r\n", 400).map(|_| ())
}

/// Two Host fields answer 400 (RFC 9112 §3.2).
pub fn two_host_fields_400(target: &Target) -> Result<(), String> {
    let request = b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    expect_status(target, request, 400).map(|_| ())
}

/// Content-Length together with Transfer-Encoding answers 400: request smuggling defence
/// (RFC 9112 §6.3).
pub fn content_length_with_transfer_encoding_400(target: &Target) -> Result<(), String> {
    let request = b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\
                    Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    expect_status(target, request, 400).map(|_| ())
}

/// Two different Content-Length values answer 400 (RFC 9112 §6.3).
pub fn two_different_content_lengths_400(target: &Target) -> Result<(), String> {
    let request = b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\
                    Content-Length: 6\r\n\r\nhello!";
    expect_status(target, request, 400).map(|_| ())
}

/// A Transfer-Encoding whose final coding is not chunked leaves the body length unknown: 400
/// (RFC 9112 §6.3).
pub fn transfer_coding_not_chunked_400(target: &Target) -> Result<(), String> {
    let request = b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n";
    expect_status(target, request, 400).map(|_| ())
}

/// A Host value that is not `host[:port]` (here with a space) answers 400 (RFC 9112 §3.2).
pub fn invalid_host_value_400(target: &Target) -> Result<(), String> {
    expect_status(target, b"GET /health HTTP/1.1\r\nHost: a b\r\n\r\n", 400).map(|_| ())
}

/// A fragment is never part of a request target (`/health#top`): 400 (RFC 9112 §3.2).
pub fn fragment_in_target_400(target: &Target) -> Result<(), String> {
    expect_status(target, b"GET /health#top HTTP/1.1\r\nHost: x\r\n\r\n", 400).map(|_| ())
}
