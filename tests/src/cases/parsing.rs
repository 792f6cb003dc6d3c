//! Malformed or unsupported request heads: each must be refused with the right status code,
//! never served by guessing and never left hanging (RFC 9112 §2–§6; DESIGN "HTTP behaviour").

use crate::cases::expect_status;
use crate::target::Target;
use harness::client::{self, Response};

/// An empty request line after the one empty line a server ignores (`\r\n\r\n`) is malformed:
/// 400 (RFC 9112 §2.2, §3; DESIGN "Decided conventions": one empty line is ignored, not two).
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

/// One empty line (CRLF or a bare LF) before the request line is ignored: the request is served
/// (RFC 9112 §2.2).
pub fn one_empty_line_before_request_line_ok(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    for request in [
        &b"\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"\nGET /health HTTP/1.1\nHost: x\n\n",
    ] {
        client::exchange(server.addr(), request)
            .and_then(|response| response.expect_status(200))
            .map_err(|e| format!("{}: {e}", client::excerpt(request)))?;
    }
    Ok(())
}

/// A field value with obs-text bytes (0x80–0xFF, here Latin-1 `café`) is opaque data a server
/// must tolerate, not an error: 200 (RFC 9110 §5.5).
pub fn obs_text_in_field_value_ok(target: &Target) -> Result<(), String> {
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9 \x80\xff\r\n\r\n";
    expect_status(target, request, 200).map(|_| ())
}

/// `HTTP/1.2` is a later minor version of HTTP/1.1 and is processed as HTTP/1.1: 200, and 400
/// without Host (RFC 9110 §2.5, RFC 9112 §3.2).
pub fn http_1_2_processed_as_http_1_1(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    client::exchange(server.addr(), b"GET /health HTTP/1.2\r\nHost: x\r\n\r\n")
        .and_then(|response| response.expect_status(200))
        .map_err(|e| format!("HTTP/1.2 with Host: {e}"))?;
    client::exchange(server.addr(), b"GET /health HTTP/1.2\r\n\r\n")
        .and_then(|response| response.expect_status(400))
        .map_err(|e| format!("HTTP/1.2 without Host: {e}"))
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

/// A Host value outside `uri-host [":" port]` (RFC 3986 §3.2) answers 400 (RFC 9112 §3.2): a
/// port that is not a number, a second colon outside an IP literal, an unclosed IP literal, a
/// bad percent-escape, a userinfo.
pub fn invalid_host_authority_400(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    for host in ["a:xyz", "a:b:c", "[::1", "a%zz", "u@a"] {
        let request = format!("GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n");
        client::exchange(server.addr(), request.as_bytes())
            .and_then(|response| response.expect_status(400))
            .map_err(|e| format!("Host: {host}: {e}"))?;
    }
    // The same grammar accepts these.
    for host in ["a:8080", "[::1]:80", "127.0.0.1", "a%2Db"] {
        let request = format!("GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n");
        client::exchange(server.addr(), request.as_bytes())
            .and_then(|response| response.expect_status(200))
            .map_err(|e| format!("Host: {host}: {e}"))?;
    }
    Ok(())
}

/// An absolute-form target's authority follows the Host grammar: a userinfo (`http://u@host/`,
/// which an http URI must not carry) or a bad port answers 400 (RFC 9110 §4.2.4, RFC 9112 §3.2).
pub fn absolute_form_invalid_authority_400(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    for authority in ["u@localhost", "u:p@localhost", "localhost:xyz", "[::1"] {
        let request = format!("GET http://{authority}/health HTTP/1.1\r\nHost: localhost\r\n\r\n");
        client::exchange(server.addr(), request.as_bytes())
            .and_then(|response| response.expect_status(400))
            .map_err(|e| format!("http://{authority}/health: {e}"))?;
    }
    Ok(())
}

/// Checks an error answer to HEAD: status `status`, a Content-Length, and no body
/// (RFC 9110 §9.3.2).
pub(crate) fn expect_head_error(response: &Response, status: u16) -> Result<(), String> {
    response.expect_status(status)?;
    if response.content_length().is_none() {
        return Err(format!("no Content-Length ({})", response.summary()));
    }
    if !response.body.is_empty() {
        return Err(format!(
            "the answer to HEAD carried a body: {}",
            response.summary()
        ));
    }
    Ok(())
}

/// Error answers to HEAD (400, 505, 414, 431, conflicting framing) carry header fields and no
/// body, like every answer to HEAD (RFC 9110 §9.3.2).
pub fn head_errors_have_no_body(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let long_target = format!("/{}", "a".repeat(4096));
    let many_fields: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let cases = [
        (
            "without Host",
            "HEAD /health HTTP/1.1\r\n\r\n".to_string(),
            400,
        ),
        (
            "HTTP/2.0",
            "HEAD /health HTTP/2.0\r\nHost: x\r\n\r\n".to_string(),
            505,
        ),
        (
            "a 4097-byte target",
            format!("HEAD {long_target} HTTP/1.1\r\nHost: x\r\n\r\n"),
            414,
        ),
        (
            "101 header fields",
            format!("HEAD /health HTTP/1.1\r\nHost: x\r\n{many_fields}\r\n"),
            431,
        ),
        (
            "Content-Length and Transfer-Encoding",
            "HEAD /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
                .to_string(),
            400,
        ),
        (
            "a head larger than 8 KiB",
            format!(
                "HEAD /health HTTP/1.1\r\nHost: x\r\nX-A: {}\r\n\r\n",
                "a".repeat(9216)
            ),
            431,
        ),
    ];
    for (what, request, status) in cases {
        client::exchange(server.addr(), request.as_bytes())
            .and_then(|response| expect_head_error(&response, status))
            .map_err(|e| format!("HEAD {what}: {e}"))?;
    }
    Ok(())
}

/// A fragment is never part of a request target (`/health#top`): 400 (RFC 9112 §3.2).
pub fn fragment_in_target_400(target: &Target) -> Result<(), String> {
    expect_status(target, b"GET /health#top HTTP/1.1\r\nHost: x\r\n\r\n", 400).map(|_| ())
}
