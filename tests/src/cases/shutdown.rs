//! Stage 06: on SIGTERM, SIGINT or SIGHUP the server stops accepting, closes connections that
//! have sent nothing, lets accepted requests finish with their real answer, and exits 0 (DESIGN
//! "Decided conventions", "Stage matrix").

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::cases::backend::{expect_no_leftovers, start_with_sleeper};
use crate::cases::routing::expect_json_error;
use crate::cases::{expect_exit, hold_connections, joined, wait_for_simulations};
use crate::target::Target;
use harness::client::{self, Connection, End, Response};
use harness::scripts::{self, ScriptDir};

/// How many simulations are in flight when the signal arrives.
const IN_FLIGHT: usize = 3;

/// How long the server may keep accepting after the signal.
const STOP_ACCEPTING_BOUND: Duration = Duration::from_secs(2);

/// How long after the signal the process must be gone (in-flight work takes ~1 s).
const EXIT_BOUND: Duration = Duration::from_secs(3);

/// Starts 3 simulations whose backend takes 1 s, waits until the 3 children run, sends `signal`:
/// the server stops accepting within 2 s (a connection accepted meanwhile is answered), all
/// three get 200, and it exits 0 within 3 s.
fn drains_in_flight(target: &Target, signal: libc::c_int, name: &str) -> Result<(), String> {
    let scripts = ScriptDir::new()?;
    let body = format!("sleep 1\n{}", scripts::answer_lines(570, 30));
    let script = scripts.script("slow-cache-audit.sh", &body)?;
    // One worker per in-flight request, and one spare.
    let threads = IN_FLIGHT + 1;
    let mut server = target
        .launch()
        .threads(threads as u32)
        .cache_audit(script)
        .start()?;
    let addr = server.addr();

    let requests: Vec<_> = (0..IN_FLIGHT)
        .map(|_| thread::spawn(move || client::get(addr, "/run-cache-sim?policy=lru")))
        .collect();
    wait_for_simulations(&server, IN_FLIGHT)?;

    let signalled = Instant::now();
    server.signal(signal)?;

    // Keep knocking until the door is shut; whoever gets in must still be answered.
    let mut answered_meanwhile = 0;
    // Connections lost in the instant a listening socket closes (see below): at most one per
    // listening socket, which stages 01-06 have one of and stage 07 one per event loop.
    let listeners = if target.stage >= 7 { threads } else { 1 };
    let mut lost_as_a_listener_closed = 0;
    loop {
        if signalled.elapsed() > STOP_ACCEPTING_BOUND {
            return Err(format!(
                "still accepting connections {STOP_ACCEPTING_BOUND:?} after {name} \
                 ({answered_meanwhile} answered meanwhile)"
            ));
        }
        let stream = match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => break,
            // The handshake was under way on a listening socket that closed at that instant:
            // its half-open connection was dropped, or its complete one reset (see below).
            Err(e)
                if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::TimedOut)
                    && lost_as_a_listener_closed < listeners =>
            {
                lost_as_a_listener_closed += 1;
                continue;
            }
            Err(e) => return Err(format!("connecting after {name}: {e}")),
            Ok(stream) => stream,
        };
        let mut connection = Connection::from_stream(stream);
        let sent = connection.send(&client::get_request("/health"));
        let raw = connection
            .read_to_close(client::RESPONSE_TIMEOUT)
            .map_err(|e| format!("a connection accepted after {name}: {e}"))?;
        let reset = sent.is_err() || raw.end == End::Reset;
        if raw.bytes.is_empty() && reset {
            // The kernel completed this handshake in the instant between the
            // server's last accept(2) and its close(2) of a listening socket,
            // so the server never saw it; closing the socket reset it. No
            // server that stops accepting by closing its socket can prevent
            // that. With one listening socket the next attempt is refused: the
            // door is shut. Stage 07's loops close theirs one after another.
            if door_is_shut(addr) {
                break;
            }
            if lost_as_a_listener_closed < listeners {
                lost_as_a_listener_closed += 1;
                continue;
            }
        }
        sent.map_err(|e| format!("a connection accepted after {name}: {e}"))?;
        Response::parse(&raw.bytes)
            .and_then(|r| r.expect_complete())
            .map_err(|e| {
                format!("a connection accepted after {name} got no complete answer: {e}")
            })?;
        answered_meanwhile += 1;
    }

    for (index, request) in requests.into_iter().enumerate() {
        joined(request)
            .and_then(|r| r.expect_status(200))
            .map_err(|e| format!("in-flight request {} of {IN_FLIGHT}: {e}", index + 1))?;
    }

    let status = server.wait_exit(EXIT_BOUND.saturating_sub(signalled.elapsed()));
    let why = format!("after {name} and the drain the server should exit 0 within {EXIT_BOUND:?}");
    expect_exit(&status, 0, &why)
}

/// Whether a connection to `addr` is refused now.
fn door_is_shut(addr: SocketAddr) -> bool {
    matches!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

/// SIGTERM with 3 simulations in flight: stop accepting, all three answered 200, exit 0 within
/// 3 s (DESIGN "Decided conventions": accepted requests finish with their real answer).
pub fn sigterm_drains_in_flight(target: &Target) -> Result<(), String> {
    drains_in_flight(target, libc::SIGTERM, "SIGTERM")
}

/// SIGINT (Ctrl-C) drains exactly like SIGTERM (DESIGN "Stage matrix").
pub fn sigint_drains_in_flight(target: &Target) -> Result<(), String> {
    drains_in_flight(target, libc::SIGINT, "SIGINT")
}

/// SIGHUP (the terminal closed) drains exactly like SIGTERM, rather than killing requests in
/// flight (DESIGN "Decided conventions").
pub fn sighup_drains_in_flight(target: &Target) -> Result<(), String> {
    drains_in_flight(target, libc::SIGHUP, "SIGHUP")
}

/// SIGTERM while idle: exit status 0 within 1 s (DESIGN "Stage matrix": exit 0).
pub fn sigterm_idle_exits_0(target: &Target) -> Result<(), String> {
    let mut server = target.start()?;
    server.signal(libc::SIGTERM)?;
    let status = server.wait_exit(Duration::from_secs(1));
    expect_exit(
        &status,
        0,
        "an idle server should exit 0 within 1 s of SIGTERM",
    )
}

/// How long a server with `--drain-timeout 1` may take to give up on a hung child and exit.
const DRAIN_GIVE_UP_BOUND: Duration = Duration::from_secs(3);

/// With `--drain-timeout 1` and a simulation that would take 30 s, SIGTERM kills the child and
/// the server answers the request in flight 503 and exits with status 1 within ~2 s, leaving no
/// process behind (DESIGN "Stage matrix").
pub fn drain_timeout_kills_backend(target: &Target) -> Result<(), String> {
    // "2" follows the port: THREADS=2.
    let args = ["2", "--drain-timeout", "1"];
    let mut backend = start_with_sleeper(target, 30, "{sleep}", &args)?;
    let server = &mut backend.server;
    let addr = server.addr();
    let request = thread::spawn(move || client::get(addr, "/run-cache-sim?policy=lru"));
    wait_for_simulations(server, 1)?;

    let signalled = Instant::now();
    server.signal(libc::SIGTERM)?;
    let status = server.wait_exit(DRAIN_GIVE_UP_BOUND);
    // The killed simulation is still answered: 503, the server is going away.
    let answer = joined(request)
        .map_err(|error| format!("the request in flight got no complete answer: {error}"))?;
    expect_json_error(&answer, 503, "")
        .map_err(|error| format!("the simulation stopped by the drain timeout: {error}"))?;
    let why = format!(
        "with --drain-timeout 1 and a hung simulation the server should exit with status 1 \
         within {DRAIN_GIVE_UP_BOUND:?} ({:?} after SIGTERM)",
        signalled.elapsed()
    );
    expect_exit(&status, 1, &why)?;
    let why = "after the server exited, its simulation still runs";
    expect_no_leftovers(&backend.scripts, None, why)
}

/// Connections held open during SIGTERM that have sent nothing.
const SILENT_AT_SHUTDOWN: usize = 6;

/// How long after SIGTERM a server holding only silent connections may take to exit.
const SILENT_EXIT_BOUND: Duration = Duration::from_millis(1500);

/// With `--header-timeout 60`, six connections that have sent no byte when SIGTERM arrives (two
/// with a worker each, four queued) are closed at once, without a response: none of them is a
/// request in flight. The server exits 0 within 1.5 s, not after a header deadline (DESIGN
/// "Decided conventions": a connection that has sent nothing is closed at once).
pub fn silent_connections_closed_at_once(target: &Target) -> Result<(), String> {
    let mut server = target
        .launch()
        .threads(2)
        .args(["--header-timeout", "60"])
        .start()?;
    let why = "the silent connections were not all accepted";
    let mut silent = hold_connections(&server, SILENT_AT_SHUTDOWN, b"", why)?;
    let signalled = Instant::now();
    server.signal(libc::SIGTERM)?;
    let status = server.wait_exit(SILENT_EXIT_BOUND);
    let why = format!(
        "with {SILENT_AT_SHUTDOWN} connections that sent nothing and --header-timeout 60 the \
         server should exit 0 within {SILENT_EXIT_BOUND:?} of SIGTERM ({:?} after SIGTERM)",
        signalled.elapsed()
    );
    expect_exit(&status, 0, &why)?;
    for (index, connection) in silent.iter_mut().enumerate() {
        let raw = connection
            .read_to_close(client::RESPONSE_TIMEOUT)
            .map_err(|error| format!("silent connection {}: {error}", index + 1))?;
        if !raw.bytes.is_empty() {
            return Err(format!(
                "silent connection {} of {SILENT_AT_SHUTDOWN} should be closed without an \
                 answer (it sent no request), but received {:?}",
                index + 1,
                client::excerpt(&raw.bytes)
            ));
        }
    }
    Ok(())
}

/// Connections holding half-sent heads at SIGTERM in [`partial_heads_get_one_more_second`].
const SLOW_AT_SHUTDOWN: usize = 3;

/// How long after SIGTERM a half-sent head may be answered: one second of grace, and slack.
const PARTIAL_HEAD_BOUND: Duration = Duration::from_millis(2500);

/// With `--header-timeout 60`, three connections holding half-sent heads at SIGTERM get one
/// second more, not a minute: each is answered 408 within 2.5 s of the signal, and the server
/// exits 0, since no complete request went unanswered (DESIGN "Decided conventions").
pub fn partial_heads_get_one_more_second(target: &Target) -> Result<(), String> {
    let mut server = target
        .launch()
        .threads(SLOW_AT_SHUTDOWN as u32)
        .args(["--header-timeout", "60"])
        .start()?;
    let why = "the slow connections were not all accepted";
    let slow = hold_connections(&server, SLOW_AT_SHUTDOWN, b"GET /health HTTP/1.1\r\n", why)?;
    let signalled = Instant::now();
    server.signal(libc::SIGTERM)?;
    let status = server.wait_exit(PARTIAL_HEAD_BOUND);
    for (index, connection) in slow.into_iter().enumerate() {
        connection
            .read_response()
            .and_then(|response| response.expect_status(408))
            .map_err(|error| {
                format!(
                    "slow connection {} of {SLOW_AT_SHUTDOWN}, its head cut off one second into \
                     the drain: {error}",
                    index + 1
                )
            })?;
    }
    let why = format!(
        "with heads still arriving at SIGTERM the server should answer them 408 after one \
         second and exit 0 within {PARTIAL_HEAD_BOUND:?}, whatever --header-timeout says \
         ({:?} after SIGTERM)",
        signalled.elapsed()
    );
    expect_exit(&status, 0, &why)
}
