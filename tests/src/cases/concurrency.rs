//! How each stage shares itself between clients: stage 01 serves one at a time, stage 02 a thread
//! each, stage 03 a fixed pool behind a bounded queue (DESIGN "Stage matrix").
//!
//! Every case here first makes the server *hold* an idle connection (a half-sent head on an
//! accepted socket, observed in `/proc/PID/fd`) before it measures anything: a fast sequential
//! server must not pass a concurrency case by leaving the second client in the listen backlog
//! (STYLE.md, after codecrafters' hardened concurrency check).

use std::cmp::Ordering;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use crate::cases::{ACCEPT_BOUND, hold_connections, joined};
use crate::target::Target;
use harness::client::{self, Connection};
use harness::server::Server;
use harness::wait_until;

/// The start of a request head, never finished: the server is left waiting for the rest.
const HALF_HEAD: &[u8] = b"GET /health HTTP/1.1\r\nHost: x\r\n";

/// The bytes that complete [`HALF_HEAD`].
const REST_OF_HEAD: &[u8] = b"\r\n";

/// Opens a connection and sends a half head, so that whoever accepts it waits for the rest.
fn idle_connection(addr: SocketAddr) -> Result<Connection, String> {
    let mut connection = Connection::open(addr)?;
    connection.send(HALF_HEAD)?;
    Ok(connection)
}

/// Starts a server with THREADS=2 and `--queue-size 2`.
fn start_small_pool(target: &Target) -> Result<Server, String> {
    let queue = SMALL_QUEUE.to_string();
    target
        .launch()
        .threads(SMALL_POOL)
        .args(["--queue-size", &queue])
        .start()
}

/// Stage 01's limitation: while client A holds a half-sent head, client B's complete request gets
/// no answer within 0.5 s; once A completes, both get 200 (DESIGN "Stage matrix").
pub fn idle_client_blocks_others(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let mut a = hold_connections(&server, 1, HALF_HEAD, "client A was never accepted")?.remove(0);

    let mut b = Connection::open(server.addr())?;
    b.send(&client::get_request("/health"))?;
    if b.answers_within(Duration::from_millis(500))? {
        return Err(
            "client B was answered while client A's head was still incomplete: this \
                    server is concurrent, unlike stage 01 (this case shows stage 01's limitation)"
                .into(),
        );
    }

    a.send(REST_OF_HEAD)?;
    a.read_response()
        .and_then(|r| r.expect_status(200))
        .map_err(|e| format!("client A, after completing its head: {e}"))?;
    b.read_response()
        .and_then(|r| r.expect_status(200))
        .map_err(|e| format!("client B, once A was served: {e}"))
}

/// While client A holds a half-sent head on an accepted connection, client B's `/health`
/// completes within 2 s (DESIGN "Stage matrix": stage 02 on).
pub fn idle_client_does_not_block_others(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let mut a = hold_connections(&server, 1, HALF_HEAD, "client A was never accepted")?.remove(0);

    let mut b = Connection::open(server.addr())?;
    b.send(&client::get_request("/health"))?;
    b.read_response_within(Duration::from_secs(2))
        .and_then(|r| r.expect_status(200))
        .map_err(|e| format!("client B, while A's head is incomplete: {e}"))?;

    a.send(REST_OF_HEAD)?;
    a.read_response()
        .and_then(|r| r.expect_status(200))
        .map_err(|e| format!("client A, after completing its head: {e}"))
}

/// How many idle connections the thread-count cases open.
const IDLE_CONNECTIONS: usize = 50;

/// Stage 02's limitation: with 50 idle connections accepted, the server runs more than 50
/// threads, one per connection (DESIGN "Stage matrix": what unbounded threads cost).
pub fn threads_grow_with_connections(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let why = "idle connections not accepted";
    let idle = hold_connections(&server, IDLE_CONNECTIONS, HALF_HEAD, why)?;
    let mut threads = 0;
    let grew = wait_until(ACCEPT_BOUND, || {
        threads = server.status().map_or(0, |status| status.threads);
        threads > IDLE_CONNECTIONS as u64
    });
    if !grew {
        return Err(format!(
            "with {IDLE_CONNECTIONS} idle connections the server runs {threads} threads, expected \
             more than {IDLE_CONNECTIONS} (a thread per connection)"
        ));
    }
    drop(idle);
    Ok(())
}

/// The pool size the bounded-threads case asks for.
const POOL_THREADS: u32 = 4;

/// Threads a pooled server may run besides its workers (main/accept thread, one helper).
const EXTRA_THREADS: u64 = 2;

/// With THREADS=4, `--queue-size 64` and 50 idle connections accepted, the server runs at most
/// THREADS + 2 threads (DESIGN "Stage matrix": a fixed pool).
pub fn threads_bounded_by_pool(target: &Target) -> Result<(), String> {
    let server = target
        .launch()
        .threads(POOL_THREADS)
        .args(["--queue-size", "64"])
        .start()?;
    let baseline = server.sockets()?;
    let limit = u64::from(POOL_THREADS) + EXTRA_THREADS;
    let mut most = server.status()?.threads;
    let mut idle = Vec::new();
    for _ in 0..IDLE_CONNECTIONS {
        idle.push(idle_connection(server.addr())?);
        most = most.max(server.status()?.threads);
    }
    // Sample the thread count at every poll: a server that spawns threads lazily must not
    // slip under the bar between two samples.
    let mut held = 0;
    let accepted = wait_until(ACCEPT_BOUND, || {
        most = most.max(server.status().map_or(0, |status| status.threads));
        held = server.sockets().unwrap_or(0);
        held >= baseline + IDLE_CONNECTIONS
    });
    most = most.max(server.status()?.threads);
    if !accepted {
        return Err(format!(
            "the server holds {held} sockets after {ACCEPT_BOUND:?}, expected at least {} \
             ({IDLE_CONNECTIONS} idle connections accepted; were some refused with 503?)",
            baseline + IDLE_CONNECTIONS
        ));
    }
    if most > limit {
        return Err(format!(
            "with THREADS={POOL_THREADS} and {IDLE_CONNECTIONS} idle connections the server ran \
             {most} threads, expected at most {limit}"
        ));
    }
    drop(idle);
    Ok(())
}

/// Workers and queue slots in the full-queue case: capacity is 2 running + 2 waiting.
const SMALL_POOL: u32 = 2;
const SMALL_QUEUE: usize = 2;

/// How many clients must be turned away while the server is full.
const TURNED_AWAY: usize = 10;

/// How many idle connections [`fill_to_capacity`] opens before giving up. Generous, because on a
/// busy machine the workers may be slow to take their first connections off the queue, and the
/// server rightly refuses connections meanwhile.
const MAX_FILL_ATTEMPTS: usize = 40;

/// Opens idle connections one at a time until the server refuses one (answers it, with 503),
/// and returns the ones it holds, which must be exactly `capacity`.
///
/// Why until a refusal: a connection that is held is never answered, so silence alone does not
/// prove it is held: the server may be about to refuse it. The accepting thread handles
/// connections in order, though, so once a *later* connection has been refused, every earlier
/// one has been either refused (and answered) or kept. A refusal can also come early, while a
/// worker has not yet taken its first connection off the queue; then filling goes on.
fn fill_to_capacity(
    server: &Server,
    baseline: usize,
    capacity: usize,
) -> Result<Vec<Connection>, String> {
    let answered =
        |connection: &Connection| connection.answers_within(Duration::ZERO).unwrap_or(true);
    let mut held: Vec<Connection> = Vec::new();
    let mut refused = 0;
    for _ in 0..MAX_FILL_ATTEMPTS {
        // A connection the server refused a moment after we counted it as held is answered by
        // now; forget it, or the socket count below could never be reached.
        held.retain(|earlier| !answered(earlier));
        let connection = idle_connection(server.addr())?;
        let accepted = baseline + held.len() + 1;
        wait_until(ACCEPT_BOUND, || {
            answered(&connection) || server.sockets().unwrap_or(0) >= accepted
        });
        if !answered(&connection) {
            held.push(connection);
            continue;
        }
        // Refused: the server is full now, and every earlier connection's fate is known.
        refused += 1;
        held.retain(|earlier| !answered(earlier));
        match held.len().cmp(&capacity) {
            Ordering::Equal => return Ok(held),
            Ordering::Less => continue,
            Ordering::Greater => {
                return Err(format!(
                    "the server held {} idle connections before refusing one, expected \
                     {capacity} (THREADS={SMALL_POOL} running + --queue-size {SMALL_QUEUE} queued)",
                    held.len()
                ));
            }
        }
    }
    Err(format!(
        "after {MAX_FILL_ATTEMPTS} idle connections ({refused} refused) the server holds {} of \
         them and did not refuse the next: expected it to be full at {capacity} \
         (THREADS={SMALL_POOL} running + --queue-size {SMALL_QUEUE} queued)",
        held.len()
    ))
}

/// With THREADS=2 and `--queue-size 2` held full by idle connections, 10 clients each receive a
/// complete `503 Service Unavailable` with `Retry-After: 1`; once the idle connections close,
/// `/health` answers 200 again (RFC 9110 §15.6.4, §10.2.3; DESIGN "Decided conventions").
pub fn full_queue_503(target: &Target) -> Result<(), String> {
    let server = start_small_pool(target)?;
    let baseline = server.sockets()?;
    let capacity = SMALL_POOL as usize + SMALL_QUEUE;

    let held = fill_to_capacity(&server, baseline, capacity)?;

    // Ten clients at once while the server is full: each must get a whole 503, not a reset.
    let addr = server.addr();
    let clients: Vec<_> = (0..TURNED_AWAY)
        .map(|_| thread::spawn(move || client::get(addr, "/health")))
        .collect();
    for (index, client) in clients.into_iter().enumerate() {
        let check = joined(client).and_then(|response| {
            response.expect_status(503)?;
            if response.reason != "Service Unavailable" {
                return Err(format!("reason phrase {:?}", response.reason));
            }
            response.expect_header("Retry-After", "1")?;
            response.expect_complete()
        });
        check.map_err(|e| {
            format!(
                "client {} of {TURNED_AWAY}, while the server is full: {e}",
                index + 1
            )
        })?;
    }

    // Free the server; a client retrying after 503 (as Retry-After invites) gets in again.
    drop(held);
    let mut last = Ok(());
    wait_until(ACCEPT_BOUND, || {
        last = client::get(addr, "/health").and_then(|response| response.expect_status(200));
        last.is_ok()
    });
    last.map_err(|last| {
        format!(
            "after the idle connections closed, /health did not answer 200 within \
             {ACCEPT_BOUND:?}: {last}"
        )
    })
}

/// Idle connections queued behind each other for the one worker of `--header-timeout 1`.
const QUEUED_IDLE: usize = 3;

/// The header deadline counts from accept, not from when a worker picks the connection up: with
/// one worker and `--header-timeout 1`, three idle clients connected together all get their 408
/// about 1 s after connecting, not 1, 2 and 3 s (DESIGN "HTTP behaviour": a deadline for the
/// whole head, so idle clients cannot hold the pool for a deadline each).
pub fn header_deadline_counts_from_accept(target: &Target) -> Result<(), String> {
    let server = target
        .launch()
        .threads(1)
        .args(["--header-timeout", "1"])
        .start()?;
    let connected = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..QUEUED_IDLE {
        idle.push(idle_connection(server.addr())?);
    }
    // One deadline, a few milliseconds to notice it, and slack for a loaded machine; a server
    // that restarts the clock per worker needs 3 s for the last one.
    let bound = Duration::from_millis(2500);
    for (index, connection) in idle.into_iter().enumerate() {
        let left = bound.saturating_sub(connected.elapsed());
        connection
            .read_response_within(left)
            .and_then(|response| response.expect_status(408))
            .map_err(|error| {
                format!(
                    "idle client {} of {QUEUED_IDLE}, {:?} after connecting: {error}",
                    index + 1,
                    connected.elapsed()
                )
            })?;
    }
    Ok(())
}

/// Slow clients held open against a server with a small pool (THREADS=2).
const SLOW_CLIENTS: usize = 50;

/// Normal clients that must be served while the slow ones are held.
const NORMAL_CLIENTS: usize = 10;

/// Stage 07 reads request heads in its event loop, so a connection waiting for its client costs a
/// buffer, not a thread: with THREADS=2 and `--queue-size 2`, 50 clients holding half-sent heads
/// occupy no loop, and ten normal
/// clients, one after the other, still get 200 (a slowloris cannot take the server's workers).
pub fn slow_clients_do_not_hold_workers(target: &Target) -> Result<(), String> {
    let server = start_small_pool(target)?;
    let why = "the slow clients were not all accepted";
    let slow = hold_connections(&server, SLOW_CLIENTS, HALF_HEAD, why)?;
    // One after the other: ten at once would overflow a queue of 2 on their own.
    for index in 0..NORMAL_CLIENTS {
        client::get(server.addr(), "/health")
            .and_then(|response| response.expect_status(200))
            .map_err(|error| {
                format!(
                    "normal client {} of {NORMAL_CLIENTS}, with {SLOW_CLIENTS} slow clients held \
                     and THREADS={SMALL_POOL}: {error}",
                    index + 1
                )
            })?;
    }
    drop(slow);
    Ok(())
}

/// Clients that announce a body and never send it, in [`unsent_bodies_do_not_hold_workers`].
const SILENT_UPLOADS: usize = 40;

/// Stage 07 answers a request whose body has not arrived (the routes need none), then its event
/// loop discards what still arrives for up to a second before closing (DESIGN "HTTP behaviour":
/// shut down the write side, drain with a short deadline). So with THREADS=2, forty clients that
/// announce `Content-Length: 10` and never send the body hold no thread: a normal client after
/// them gets 200 within the usual response bound (a worker draining each for a second would need
/// 20 s), and each of the forty receives its complete answer followed by a clean close, not a
/// reset.
pub fn unsent_bodies_do_not_hold_workers(target: &Target) -> Result<(), String> {
    let server = target.launch().threads(SMALL_POOL).start()?;
    let mut silent = Vec::new();
    for _ in 0..SILENT_UPLOADS {
        let mut connection = Connection::open(server.addr())?;
        connection.send(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")?;
        silent.push(connection);
    }
    client::get(server.addr(), "/health")
        .and_then(|response| response.expect_status(200))
        .map_err(|error| {
            format!(
                "a normal client after {SILENT_UPLOADS} clients that never send their announced \
                 body, THREADS={SMALL_POOL}: {error}"
            )
        })?;
    for (index, connection) in silent.iter().enumerate() {
        // Read through a second handle, so that the client's side stays open and the server
        // is the one waiting for the body.
        let stream = connection
            .stream()
            .try_clone()
            .map_err(|error| format!("try_clone: {error}"))?;
        Connection::from_stream(stream)
            .read_response()
            .and_then(|response| {
                if response.reset_after {
                    Err(format!("{} followed by a reset", response.summary()))
                } else {
                    response.expect_status(200)
                }
            })
            .map_err(|error| {
                format!(
                    "client {} of {SILENT_UPLOADS} that never sent its body: {error}",
                    index + 1
                )
            })?;
    }
    Ok(())
}
