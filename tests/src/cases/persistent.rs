//! Persistent connections (RFC 9112 §9.3): stages 01-06 answer one request with `Connection:
//! close` and close; stage 07 keeps the connection open, answers pipelined requests in order,
//! bounds what a client can make it hold, and drains its connections on a signal.

use std::io::{ErrorKind, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::cases::backend::start_with_sleeper;
use crate::cases::{expect_exit, expect_health, wait_for_simulations, wait_for_sockets};
use crate::target::Target;
use harness::client::{self, Connection, End, Response};

/// How long a batch of responses may take to arrive.
const RESPONSES_BOUND: Duration = Duration::from_secs(10);

/// How long the server may take to close a connection it has decided to close.
const CLOSE_BOUND: Duration = Duration::from_secs(3);

/// Sends `GET path` on a persistent connection and reads its one response within `bound`.
fn get_on(connection: &mut Connection, path: &str, bound: Duration) -> Result<Response, String> {
    connection.send(&client::get_request(path))?;
    Ok(connection.read_responses(1, bound)?.remove(0))
}

/// Checks that the server closes `connection` within [`CLOSE_BOUND`] without sending more.
fn expect_closed(mut connection: Connection, after: &str) -> Result<(), String> {
    let raw = connection.read_to_close(CLOSE_BOUND)?;
    match raw.end {
        End::Closed | End::Reset if raw.bytes.is_empty() => Ok(()),
        End::TimedOut if raw.bytes.is_empty() => Err(format!(
            "{after}, the connection was still open {CLOSE_BOUND:?} later"
        )),
        _ => Err(format!(
            "{after}, the server sent more: {}",
            client::excerpt(&raw.bytes)
        )),
    }
}

/// Stages 01-06: an HTTP/1.1 request, which could keep the connection open, is answered with
/// `Connection: close` and the connection is closed (DESIGN "HTTP behaviour": they close after
/// every response).
pub fn one_response_then_close(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let response = client::get(server.addr(), "/health")?;
    response.expect_status(200)?;
    response.expect_header("Connection", "close")
}

/// Two requests, one after the other, on one connection: both answered, neither with
/// `Connection: close` (RFC 9112 §9.3: HTTP/1.1 persists by default).
pub fn two_requests_on_one_connection(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let mut connection = Connection::open(server.addr())?;
    for round in 1..=2 {
        let response = get_on(&mut connection, "/health", RESPONSES_BOUND)?;
        response.expect_status(200)?;
        if response.header("Connection").is_some() {
            return Err(format!(
                "response {round} has Connection: {:?}; a persistent one needs none",
                response.header("Connection")
            ));
        }
    }
    Ok(())
}

/// Pipelined requests in [`hundred_pipelined_in_order`].
const PIPELINED: usize = 100;

/// 100 requests in one write, /health, /run-cache-sim (policies and traces varying) and a 404
/// mixed: every one answered, in order, each body matching its request (RFC 9112 §9.3.2).
pub fn hundred_pipelined_in_order(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let policies = ["fifo", "lru", "lfu", "arc", "belady"];
    let traces = ["loop", "scan", "skewed", "hot_cold"];
    let mut requests = Vec::new();
    let mut expected = Vec::new();
    for index in 0..PIPELINED {
        let (target, check) = match index % 4 {
            0 | 2 => ("/health".to_string(), None),
            1 => {
                let policy = policies[index / 4 % policies.len()];
                let trace = traces[index / 4 % traces.len()];
                let size = 1 + index;
                let target =
                    format!("/run-cache-sim?policy={policy}&trace={trace}&cache_size={size}");
                (target, Some((policy, trace, size)))
            }
            _ => (format!("/no-such-path-{index}"), None),
        };
        requests.extend_from_slice(&client::get_request(&target));
        expected.push((target, check));
    }
    let mut connection = Connection::open(server.addr())?;
    connection.send(&requests)?;
    let responses = connection.read_responses(PIPELINED, RESPONSES_BOUND)?;
    for (index, (response, (target, check))) in responses.iter().zip(&expected).enumerate() {
        let fail = |e: String| format!("response {} (for {target}): {e}", index + 1);
        response.expect_complete().map_err(fail)?;
        if target == "/health" {
            response.expect_status(200).map_err(fail)?;
            if response.body != b"OK\n" {
                return Err(fail(format!("body {}", response.summary())));
            }
        } else if let Some((policy, trace, size)) = check {
            response.expect_status(200).map_err(fail)?;
            let json = response.json().map_err(fail)?;
            let matches = json["policy"] == *policy
                && json["trace"] == *trace
                && json["cache_size"] == *size as u64;
            if !matches {
                return Err(fail(format!("answers another request: {json}")));
            }
        } else {
            response.expect_status(404).map_err(fail)?;
            if !response.body_text().contains(target.as_str()) {
                return Err(fail(format!(
                    "answers another path: {}",
                    response.summary()
                )));
            }
        }
    }
    Ok(())
}

/// HTTP/1.0 closes unless the client asks for keep-alive; when it asks, the response says
/// `Connection: keep-alive` and a second request is answered (RFC 9112 §9.3, Appendix C.2.2).
pub fn http10_closes_unless_asked(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let mut plain = Connection::open(server.addr())?;
    plain.send(b"GET /health HTTP/1.0\r\n\r\n")?;
    let response = plain.read_response()?;
    response.expect_status(200)?;
    response.expect_header("Connection", "close")?;

    let mut asking = Connection::open(server.addr())?;
    let request = b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    for round in 1..=2 {
        asking.send(request)?;
        let response = asking
            .read_responses(1, RESPONSES_BOUND)
            .map_err(|e| format!("HTTP/1.0 keep-alive request {round}: {e}"))?
            .remove(0);
        response.expect_status(200)?;
        response.expect_header("Connection", "keep-alive")?;
    }
    Ok(())
}

/// `Connection: close` from the client is honoured: the response says `Connection: close` and
/// the server closes, even with a second request pipelined behind (RFC 9112 §9.6).
pub fn connection_close_honoured(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let mut connection = Connection::open(server.addr())?;
    let mut bytes = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec();
    bytes.extend_from_slice(&client::get_request("/health"));
    connection.send(&bytes)?;
    // Read to close: Content-Length against every byte proves no second response follows.
    let response = connection.read_response()?;
    response.expect_status(200)?;
    response.expect_header("Connection", "close")
}

/// With `--idle-timeout 1`, a persistent connection idle after its response is closed by the
/// server without a byte (RFC 9112 §9.5).
pub fn idle_timeout_closes(target: &Target) -> Result<(), String> {
    let server = target.launch().args(["--idle-timeout", "1"]).start()?;
    let mut connection = Connection::open(server.addr())?;
    get_on(&mut connection, "/health", RESPONSES_BOUND)?;
    expect_closed(connection, "idle after its response with --idle-timeout 1")
}

/// Requests [`half_close_still_answered`] pipelines before it half-closes.
const HALF_CLOSE_REQUESTS: usize = 20;

/// A client that pipelines twenty requests, `/health` and simulations alternating, and
/// half-closes (SHUT_WR) still gets all twenty responses, then the server closes. (A simulation
/// that finished while its request was being answered once made the server take the half-close
/// as "every request answered" and drop the rest.)
pub fn half_close_still_answered(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let mut connection = Connection::open(server.addr())?;
    let mut bytes = Vec::new();
    for index in 0..HALF_CLOSE_REQUESTS {
        let path = if index % 2 == 0 {
            "/run-cache-sim?policy=lru"
        } else {
            "/health"
        };
        bytes.extend_from_slice(&client::get_request(path));
    }
    connection.send(&bytes)?;
    let half_close = connection.stream().shutdown(Shutdown::Write);
    half_close.map_err(|e| format!("shutdown(Write): {e}"))?;
    let responses = connection.read_responses(HALF_CLOSE_REQUESTS, RESPONSES_BOUND)?;
    for response in &responses {
        response.expect_status(200)?;
    }
    expect_closed(connection, "after the half-closed client's responses")
}

/// The most request bytes [`never_reading_client_bounded`] sends.
const FLOOD_LIMIT: usize = 64 * 1024 * 1024;

/// How much the server's resident memory may grow while one client floods it.
const FLOOD_RSS_GROWTH_KIB: u64 = 16 * 1024;

/// A client that pipelines /health requests and never reads: the server stops reading it once
/// its bounded output is full (the client's writes then block), its resident memory grows by
/// less than 16 MiB, and /health still answers on another connection.
pub fn never_reading_client_bounded(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let before = server.status()?.rss_kib;
    let stream = TcpStream::connect_timeout(&server.addr(), client::CONNECT_TIMEOUT)
        .map_err(|e| format!("connect: {e}"))?;
    // A write that makes no progress for a second means the server has stopped reading.
    stream
        .set_write_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| format!("set_write_timeout: {e}"))?;
    let batch = client::get_request("/health").repeat(1000);
    let mut sent = 0;
    let blocked = loop {
        if sent >= FLOOD_LIMIT {
            break false;
        }
        match (&stream).write(&batch) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break true;
            }
            Err(e) => return Err(format!("flooding after {sent} bytes: {e}")),
        }
    };
    if !blocked {
        return Err(format!(
            "the server read {FLOOD_LIMIT} bytes of requests from a client that never reads"
        ));
    }
    let after = server.status()?.rss_kib;
    if after > before + FLOOD_RSS_GROWTH_KIB {
        return Err(format!(
            "resident memory grew from {before} KiB to {after} KiB under one client that never reads"
        ));
    }
    expect_health(server.addr())
}

/// A request with a Content-Length body between two pipelined requests: the body is skipped and
/// the request after it answered (RFC 9112 §6.3: the length frames the message).
pub fn body_between_pipelined_requests_skipped(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let mut connection = Connection::open(server.addr())?;
    let mut bytes = b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 21\r\n\r\n".to_vec();
    // A body that looks like a request: it must be skipped, not answered.
    bytes.extend_from_slice(b"GET /nope HTTP/1.0\r\n\r\n"[..21].as_ref());
    bytes.extend_from_slice(&client::get_request("/health"));
    connection.send(&bytes)?;
    let responses = connection.read_responses(2, RESPONSES_BOUND)?;
    responses[0].expect_status(405)?;
    responses[1].expect_status(200)?;
    if responses[1].body != b"OK\n" {
        return Err(format!("second response: {}", responses[1].summary()));
    }
    Ok(())
}

/// With one event loop (THREADS=1) and a simulation that takes 2 s in flight on one connection,
/// /health on another connection answers within 1 s: the child is events in the loop, not a
/// wait.
pub fn simulation_does_not_delay_health(target: &Target) -> Result<(), String> {
    let backend = start_with_sleeper(target, 2, "{sleep}", &["1"])?;
    let addr = backend.server.addr();
    let mut simulation = Connection::open(addr)?;
    simulation.send(&client::get_request("/run-cache-sim?policy=lru"))?;
    let started = Instant::now();
    wait_for_simulations(&backend.server, 1)?;
    get_on(
        &mut Connection::open(addr)?,
        "/health",
        Duration::from_secs(1),
    )
    .map_err(|e| format!("/health while a simulation runs on the same loop: {e}"))?;
    if started.elapsed() >= Duration::from_secs(2) {
        return Err("/health was answered only after the simulation".into());
    }
    simulation.read_responses(1, RESPONSES_BOUND)?[0].expect_status(200)
}

/// Idle persistent connections in [`idle_connections_do_not_stop_health`].
const IDLE_PERSISTENT: usize = 5000;

/// 5,000 persistent connections, each idle after one answered request: /health on a new
/// connection still answers within a second.
pub fn idle_connections_do_not_stop_health(target: &Target) -> Result<(), String> {
    let wanted = IDLE_PERSISTENT as u64 + 1024;
    let limit = harness::proc::raise_descriptor_limit()?;
    if limit < wanted {
        return Err(format!(
            "this test needs {wanted} descriptors; the hard limit is {limit}"
        ));
    }
    let server = target.launch().args(["--idle-timeout", "60"]).start()?;
    let mut idle = Vec::with_capacity(IDLE_PERSISTENT);
    for index in 0..IDLE_PERSISTENT {
        let mut connection = Connection::open(server.addr())?;
        get_on(&mut connection, "/health", RESPONSES_BOUND)
            .map_err(|e| format!("connection {index}: {e}"))?;
        idle.push(connection);
    }
    get_on(
        &mut Connection::open(server.addr())?,
        "/health",
        Duration::from_secs(1),
    )
    .map_err(|e| format!("/health with {IDLE_PERSISTENT} idle connections open: {e}"))?;
    // And the idle ones are still served.
    let last = idle.last_mut().ok_or("no idle connection")?;
    get_on(last, "/health", Duration::from_secs(1))
        .map_err(|e| format!("an idle connection's second request: {e}"))?;
    Ok(())
}

/// SIGTERM with idle persistent connections (and `--idle-timeout 60`) exits 0 at once: idle
/// connections are closed by the drain, not by their timeout. A simulation in flight on another
/// persistent connection finishes first, answered with `Connection: close`.
pub fn sigterm_closes_idle_and_finishes_in_flight(target: &Target) -> Result<(), String> {
    let mut backend = start_with_sleeper(target, 1, "{sleep}", &["--idle-timeout", "60"])?;
    let addr = backend.server.addr();
    let mut idle = Vec::new();
    for _ in 0..5 {
        let mut connection = Connection::open(addr)?;
        get_on(&mut connection, "/health", RESPONSES_BOUND)?;
        idle.push(connection);
    }
    let mut busy = Connection::open(addr)?;
    busy.send(&client::get_request("/run-cache-sim?policy=lru"))?;
    wait_for_simulations(&backend.server, 1)?;
    backend.server.signal(libc::SIGTERM)?;
    for (index, connection) in idle.into_iter().enumerate() {
        expect_closed(
            connection,
            &format!("idle connection {} at SIGTERM", index + 1),
        )?;
    }
    let response = busy.read_response()?;
    response.expect_status(200)?;
    response.expect_header("Connection", "close")?;
    let status = backend.server.wait_exit(Duration::from_secs(3));
    let why = "after SIGTERM and the in-flight simulation the server should exit 0";
    expect_exit(&status, 0, why)
}

/// At SIGTERM, a connection that has sent no byte is closed at once, one with a partial head
/// gets at most about a second more and then 408, and the server exits 0 (with the header and
/// drain deadlines at 30 s, neither is what ends them).
pub fn drain_closes_silent_and_bounds_partial_heads(target: &Target) -> Result<(), String> {
    let mut server = target
        .launch()
        .args(["--header-timeout", "30", "--drain-timeout", "30"])
        .start()?;
    let baseline = server.sockets()?;
    let silent = Connection::open(server.addr())?;
    let mut partial = Connection::open(server.addr())?;
    partial.send(b"GET /health HTTP/1.1\r\n")?;
    wait_for_sockets(&server, baseline + 2, "the connections were not accepted")?;
    let signalled = Instant::now();
    server.signal(libc::SIGTERM)?;
    expect_closed(silent, "a connection that sent nothing, at SIGTERM")?;
    let response = partial.read_response_within(Duration::from_secs(3))?;
    response.expect_status(408)?;
    let status = server.wait_exit(Duration::from_secs(3));
    let took = signalled.elapsed();
    if took >= Duration::from_secs(4) {
        return Err(format!("the drain took {took:?}, not about a second"));
    }
    expect_exit(&status, 0, "the drain should end with exit 0")
}

/// With `--drain-delay 2`, right after SIGTERM /health on an open persistent connection answers
/// 503 with `Connection: close` (a load balancer stops sending), and new connections are still
/// accepted during the delay.
pub fn health_503_while_draining(target: &Target) -> Result<(), String> {
    let mut server = target.launch().args(["--drain-delay", "2"]).start()?;
    let mut open = Connection::open(server.addr())?;
    get_on(&mut open, "/health", RESPONSES_BOUND)?;
    server.signal(libc::SIGTERM)?;
    let unhealthy = harness::wait_until(Duration::from_secs(1), || {
        client::get(server.addr(), "/health").is_ok_and(|r| r.status == 503)
    });
    if !unhealthy {
        return Err("/health did not answer 503 on new connections within 1 s of SIGTERM".into());
    }
    open.send(&client::get_request("/health"))?;
    let response = open.read_response()?;
    response.expect_status(503)?;
    response.expect_header("Connection", "close")?;
    let status = server.wait_exit(Duration::from_secs(5));
    expect_exit(&status, 0, "after the drain delay the server should exit 0")
}

/// With `--max-connections 2` and two connections open, a third is answered 503 with
/// `Connection: close`; once one closes, a new one is served.
pub fn max_connections_503(target: &Target) -> Result<(), String> {
    let server = target.launch().args(["--max-connections", "2"]).start()?;
    let mut first = Connection::open(server.addr())?;
    let mut second = Connection::open(server.addr())?;
    for connection in [&mut first, &mut second] {
        get_on(connection, "/health", RESPONSES_BOUND)?;
    }
    let third = client::get(server.addr(), "/health")?;
    third.expect_status(503)?;
    third.expect_header("Connection", "close")?;
    drop(first);
    let served = harness::wait_until(Duration::from_secs(2), || {
        client::get(server.addr(), "/health").is_ok_and(|r| r.status == 200)
    });
    if !served {
        return Err("a connection closed, but new ones still got 503".into());
    }
    Ok(())
}
