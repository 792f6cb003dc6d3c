//! Clients that misbehave: silent, slow, rude (reset), or flooding. The server must answer what
//! can be answered, bound what it spends, and keep serving others (DESIGN "HTTP behaviour").

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::cases::{expect_health, joined};
use crate::target::Target;
use harness::client::{Connection, Response};
use harness::server::Server;

/// `--header-timeout` for the timeout cases, in seconds.
const HEADER_TIMEOUT_SECS: u64 = 1;

/// How long after connecting a 408 may take with a 1 s header timeout: the timeout plus slack
/// for a busy machine. A server whose deadline restarts on every read never answers at all.
const TIMEOUT_ANSWER_BOUND: Duration = Duration::from_secs(3);

/// Starts a server with `--header-timeout 1`.
fn start_with_header_timeout(target: &Target) -> Result<Server, String> {
    let seconds = HEADER_TIMEOUT_SECS.to_string();
    target.launch().args(["--header-timeout", &seconds]).start()
}

/// A client that connects and sends nothing gets 408 Request Timeout after `--header-timeout`
/// (RFC 9110 §15.5.9; DESIGN "HTTP behaviour").
pub fn silent_client_408(target: &Target) -> Result<(), String> {
    let server = start_with_header_timeout(target)?;
    let connection = Connection::open(server.addr())?;
    let response = connection.read_response_within(TIMEOUT_ANSWER_BOUND)?;
    response.expect_status(408)?;
    response.expect_complete()
}

/// A client sending one byte every 200 ms never completes its head; with `--header-timeout 1`
/// it gets 408 within ~1.5 s: the deadline covers the whole head, not each read (DESIGN).
pub fn slow_head_408(target: &Target) -> Result<(), String> {
    let server = start_with_header_timeout(target)?;
    let mut connection = Connection::open(server.addr())?;
    let start = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let began = Instant::now();
    let mut sent = 0;
    loop {
        if began.elapsed() > TIMEOUT_ANSWER_BOUND {
            return Err(format!(
                "no answer after {TIMEOUT_ANSWER_BOUND:?} of a head arriving one byte every \
                 200 ms with --header-timeout {HEADER_TIMEOUT_SECS}: the deadline seems to be per \
                 read, not for the whole head"
            ));
        }
        // The head never ends: after the start of a field, the value grows forever.
        let byte = start.get(sent).copied().unwrap_or(b'a');
        if connection.send(&[byte]).is_err() {
            // The server has closed its side; what it said before is waiting to be read.
            break;
        }
        sent += 1;
        // Waiting up to 200 ms for an answer is both the dribbling client's pause and the
        // check for the server's answer: it returns as soon as the server says something.
        if connection.answers_within(Duration::from_millis(200))? {
            break;
        }
    }
    let response = connection.read_response()?;
    response.expect_status(408)?;
    response.expect_complete()
}

/// A HEAD request whose head never completes gets 408 without a body (RFC 9110 §9.3.2).
pub fn head_408_has_no_body(target: &Target) -> Result<(), String> {
    let server = start_with_header_timeout(target)?;
    let mut connection = Connection::open(server.addr())?;
    connection.send(b"HEAD /health HTTP/1.1\r\nHost: x\r\n")?;
    let response = connection.read_response_within(TIMEOUT_ANSWER_BOUND)?;
    crate::cases::parsing::expect_head_error(&response, 408)
}

/// Bytes that cannot begin a request line (the start of a TLS ClientHello: a handshake record,
/// first byte 0x16; a line without an HTTP version) get 400 at once, not 408 after the header deadline (default 10 s); and on
/// every stage, stage 01 included, another client is served meanwhile (DESIGN "HTTP behaviour").
pub fn non_http_bytes_400_at_once(target: &Target) -> Result<(), String> {
    const BOUND: Duration = Duration::from_secs(3);
    let server = target.start()?;
    let mut tls = Connection::open(server.addr())?;
    tls.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")?;
    let mut other = Connection::open(server.addr())?;
    other.send(&harness::client::get_request("/health"))?;
    other
        .read_response_within(BOUND)
        .and_then(|response| response.expect_status(200))
        .map_err(|e| format!("a client sending GET /health after a TLS client: {e}"))?;
    tls.read_response_within(BOUND)
        .and_then(|response| response.expect_status(400))
        .map_err(|e| format!("a TLS ClientHello, with the default 10 s header deadline: {e}"))?;
    // A first line that ends without a version, like an SSH client's banner, is refused when
    // it ends, not when the deadline passes.
    let mut ssh = Connection::open(server.addr())?;
    ssh.send(b"SSH-2.0-OpenSSH_9.6\r\n")?;
    ssh.read_response_within(BOUND)
        .and_then(|response| response.expect_status(400))
        .map_err(|e| format!("an SSH banner line: {e}"))
}

/// How many times the unread-body case posts its 1 MiB body.
const BODY_TRIES: usize = 20;

/// A POST with a 1 MiB body the server does not need still receives the complete response and a
/// clean close (FIN, not a reset), 20 times of 20: the server discards the unread body before
/// closing (DESIGN "HTTP behaviour"; RFC 9112 §9.6).
pub fn unread_body_discarded_before_close(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let body = vec![b'x'; 1 << 20];
    let head = format!(
        "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    for attempt in 1..=BODY_TRIES {
        let connection = Connection::open(server.addr())?;
        let writer = send_in_background(&connection, [head.as_bytes(), &body].concat())?;
        let checked = connection.read_response().and_then(|response| {
            response.expect_complete()?;
            if response.reset_after {
                return Err(format!(
                    "the response ({}) was followed by a connection reset: the server closed \
                     with the body unread",
                    response.summary()
                ));
            }
            Ok(())
        });
        let wrote = joined(writer);
        if let Err(what) = checked {
            let wrote = match wrote {
                Ok(()) => "the whole body was written".to_string(),
                Err(e) => format!("writing the body failed: {e}"),
            };
            return Err(format!("try {attempt} of {BODY_TRIES}: {what} ({wrote})"));
        }
    }
    Ok(())
}

/// Writes `bytes` on a clone of the connection from another thread, then half-closes, so the
/// main thread can read the response while the upload is still going. The half-close tells a
/// draining server that nothing more is coming, so it need not wait for its drain deadline.
fn send_in_background(
    connection: &Connection,
    bytes: Vec<u8>,
) -> Result<thread::JoinHandle<Result<(), String>>, String> {
    let mut stream: TcpStream = connection
        .stream()
        .try_clone()
        .map_err(|e| format!("cloning the socket: {e}"))?;
    Ok(thread::spawn(move || {
        stream
            .write_all(&bytes)
            .map_err(|e| format!("after some of {} bytes: {e}", bytes.len()))?;
        stream
            .shutdown(Shutdown::Write)
            .map_err(|e| format!("shutdown(Write): {e}"))
    }))
}

/// How many times each kind of abrupt client is repeated.
const ABRUPT_CLIENTS: usize = 10;

/// An incomplete head, to leave the server mid-read.
const HALF_HEAD: &[u8] = b"GET /health HTTP/1.1\r\nHo";

/// Clients that connect and close (with no data, and with half a head), 10 times each, leave the
/// server serving: `/health` still answers 200 (DESIGN: "a client that went away is logged,
/// never a panic").
pub fn closed_connections_tolerated(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    for _ in 0..ABRUPT_CLIENTS {
        drop(Connection::open(server.addr())?);
        let mut connection = Connection::open(server.addr())?;
        connection.send(HALF_HEAD)?;
        drop(connection);
    }
    expect_health(server.addr())
}

/// Clients that connect and reset (SO_LINGER 0: RST instead of FIN), with no data and with half a
/// head, 10 times each, leave the server serving: `/health` still answers 200.
pub fn reset_connections_tolerated(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    for _ in 0..ABRUPT_CLIENTS {
        Connection::open(server.addr())?.reset()?;
        let mut connection = Connection::open(server.addr())?;
        connection.send(HALF_HEAD)?;
        connection.reset()?;
    }
    expect_health(server.addr())
}

/// How much header data the flood sends, in bytes.
const FLOOD_BYTES: usize = 1 << 20;

/// How much the server's resident memory may grow while refusing the flood, in KiB.
const FLOOD_RSS_GROWTH_KIB: u64 = 16 * 1024;

/// 1 MiB of header lines with no empty line answers 431 and the server's resident memory grows
/// by less than 16 MiB: the head limit bounds what is buffered (RFC 6585 §5; DESIGN).
pub fn endless_head_431_bounded_memory(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let rss_before = server.status()?.rss_kib;
    let mut flood = b"GET /health HTTP/1.1\r\nHost: x\r\n".to_vec();
    let mut n = 0;
    while flood.len() < FLOOD_BYTES {
        flood.extend_from_slice(format!("X-Flood-{n}: {}\r\n", "a".repeat(100)).as_bytes());
        n += 1;
    }
    let connection = Connection::open(server.addr())?;
    // The server is expected to stop reading long before 1 MiB, so the upload may well fail:
    // only the answer matters.
    let writer = send_in_background(&connection, flood)?;
    let response: Response = connection.read_response()?;
    let _ = writer.join();
    response.expect_status(431)?;
    response.expect_complete()?;
    let peak = server.status()?.peak_rss_kib;
    let growth = peak.saturating_sub(rss_before);
    if growth >= FLOOD_RSS_GROWTH_KIB {
        return Err(format!(
            "resident memory grew from {rss_before} KiB to a peak of {peak} KiB \
             (+{growth} KiB, limit {FLOOD_RSS_GROWTH_KIB} KiB) while refusing a 1 MiB head"
        ));
    }
    Ok(())
}
