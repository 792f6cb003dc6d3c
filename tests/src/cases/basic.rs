//! The basics every stage serves: `GET /health`, 404, and the line-ending and target forms
//! DESIGN "Decided conventions" accepts.

use std::thread;
use std::time::Duration;

use crate::cases::expect_status;
use crate::target::Target;
use harness::client::{self, Connection, Response};

/// The complete `/health` answer: 200, text/plain, exact Content-Length, Date, Connection: close,
/// body `OK\n` (DESIGN "HTTP behaviour"; RFC 9110 §6.6.1 Date, RFC 9112 §9.6 close).
fn check_health(response: &Response, stage: u8) -> Result<(), String> {
    response.expect_status(200)?;
    if response.reason != "OK" {
        return Err(format!(
            "reason phrase {:?}, expected \"OK\"",
            response.reason
        ));
    }
    response.expect_header_prefix("Content-Type", "text/plain")?;
    response.expect_complete()?;
    if response.header("Date").is_none() {
        return Err(format!("no Date header ({})", response.summary()));
    }
    // Stages 01-06 close after every response; stage 07 keeps the connection open.
    if stage <= 6 {
        response.expect_header("Connection", "close")?;
    }
    if response.body != b"OK\n" {
        return Err(format!(
            "body should be exactly \"OK\\n\": {}",
            response.summary()
        ));
    }
    Ok(())
}

/// `GET /health` answers 200 `OK\n` with Content-Type, Content-Length, Date and, in stages
/// 01-06, `Connection: close`, then the server closes (DESIGN "HTTP behaviour").
pub fn health_ok(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let response = client::get(server.addr(), "/health")?;
    check_health(&response, target.stage)
}

/// Any other path answers a complete 404 Not Found (RFC 9110 §15.5.5).
pub fn unknown_path_404(target: &Target) -> Result<(), String> {
    let response = expect_status(target, &client::get_request("/no-such-path"), 404)?;
    if response.reason != "Not Found" {
        return Err(format!(
            "reason phrase {:?}, expected \"Not Found\"",
            response.reason
        ));
    }
    Ok(())
}

/// HTTP/1.0 needs no Host header: `GET /health HTTP/1.0` answers 200 (RFC 9112 §3.2).
pub fn http10_without_host_ok(target: &Target) -> Result<(), String> {
    expect_status(target, b"GET /health HTTP/1.0\r\n\r\n", 200).map(|_| ())
}

/// Bare LF line endings are accepted and never hang (RFC 9112 §2.2; DESIGN "Decided conventions").
pub fn bare_lf_line_endings_ok(target: &Target) -> Result<(), String> {
    expect_status(target, b"GET /health HTTP/1.1\nHost: x\n\n", 200).map(|_| ())
}

/// An absolute-form target is served like origin-form (RFC 9112 §3.2.2).
pub fn absolute_form_target_ok(target: &Target) -> Result<(), String> {
    let request = b"GET http://localhost/health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    expect_status(target, request, 200).map(|_| ())
}

/// A request sent one byte at a time is assembled across many reads and answered 200
/// (RFC 9112 §2: a message is a byte stream, not one `read`).
pub fn dribbled_request_ok(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let mut connection = Connection::open(server.addr())?;
    for byte in client::get_request("/health") {
        connection.send(&[byte])?;
        // The pause is the behaviour under test: a slow client whose bytes arrive in separate
        // TCP segments, so the server's reads see partial heads. It does not synchronise anything.
        thread::sleep(Duration::from_millis(5));
    }
    let response = connection.read_response()?;
    check_health(&response, target.stage)
}

/// Two pipelined requests: the first is answered with `Connection: close` and nothing else
/// follows (DESIGN "Decided conventions"; RFC 9112 §9.6).
pub fn pipelined_requests_first_answered(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let mut both = client::get_request("/health");
    both.extend_from_slice(&client::get_request("/no-such-path"));
    let mut connection = Connection::open(server.addr())?;
    connection.send(&both)?;
    // Reading to close and checking Content-Length against every byte received proves that no
    // second response follows the first.
    let response = connection.read_response()?;
    check_health(&response, target.stage)
}

/// `--help` exits 0 and prints the PORT argument's line indented like the others (the help of
/// a stage reads as one aligned table).
pub fn help_lines_are_indented(target: &Target) -> Result<(), String> {
    let mut server = target.launch().args(["--help"]).spawn()?;
    let status = server.wait_exit(Duration::from_secs(10))?;
    if !status.success() {
        return Err(format!("--help exited with {status}"));
    }
    let lines = server.stdout_lines(Duration::from_secs(2));
    let port_lines: Vec<&String> = lines
        .iter()
        .filter(|line| {
            let first = line.split_whitespace().next().unwrap_or("");
            first == "PORT" || first == "[PORT]"
        })
        .collect();
    if port_lines.is_empty() {
        return Err(format!("no line describing PORT in --help: {lines:?}"));
    }
    match port_lines.iter().find(|line| !line.starts_with(' ')) {
        Some(line) => Err(format!("the PORT line is not indented: {line:?}")),
        None => Ok(()),
    }
}
