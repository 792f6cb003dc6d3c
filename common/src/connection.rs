//! One connection from accept to close: read the request head, answer it,
//! and close without destroying the answer.
//!
//! Every stage calls [`serve`] for each accepted connection; what changes
//! between stages is only *which thread* calls it.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::head::{self, Head, HeadError, Limits};
use crate::log;
use crate::request::Request;
use crate::response::{Response, Status};

/// How long a response may take to be accepted by the client's socket. Our
/// responses are small, so only a client that stopped reading hits it.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long we keep discarding request bytes we will not use (an unwanted
/// body, a pipelined request) after the response has been sent.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(1);

/// What a connection needs besides the socket and the handler.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionConfig {
    /// Limits and deadline for the request head.
    pub limits: Limits,
    /// `true` turns the access log off (`--quiet`).
    pub quiet: bool,
}

// ANCHOR: serve
/// Serves one connection: reads one request head, answers it with
/// `handler` (or with the status code that rejects the head), then closes.
/// `accepted` is when `accept` returned it: the header deadline and the
/// duration in the access log count from then, queueing included.
///
/// Never panics on anything the client does: a client that resets, stops
/// reading or sends garbage costs at most the header deadline plus
/// [`WRITE_TIMEOUT`] and [`LINGER_TIMEOUT`]. A response to `HEAD` carries the
/// header fields but no body (RFC 9110 §9.3.2).
pub fn serve(
    mut stream: TcpStream,
    accepted: Instant,
    config: &ConnectionConfig,
    handler: &dyn Fn(&Request) -> Response,
) {
    let head = head::read_request_head(&mut stream, &config.limits, accepted);
    answer(stream, accepted, head, config, handler);
}
// ANCHOR_END: serve

// ANCHOR: answer
/// Answers a connection whose head has already been read (or refused):
/// the second half of [`serve`], on its own for stage 06, whose workers
/// read heads while watching for the drain (see `shutdown`). Returns once
/// the connection is closed, after lingering if the client may still be
/// sending (see [`discard_unread`]).
pub fn answer(
    stream: TcpStream,
    accepted: Instant,
    head: Result<Head, HeadError>,
    config: &ConnectionConfig,
    handler: &dyn Fn(&Request) -> Response,
) {
    let head = match head {
        Ok(head) => head,
        Err(error) => return refuse(stream, accepted, error, config),
    };
    // A client that reset the connection has no peer address any more;
    // there is nobody to answer, and no reason to run the handler.
    let Ok(peer) = stream.peer_addr() else {
        return;
    };
    let reply = Reply {
        response: handler(&head.request),
        request_line: head.request.request_line(),
        include_body: head.request.method != "HEAD",
        body_pending: head.body_pending,
        note: None,
    };
    send_and_log(stream, peer, accepted, reply, config)
}

/// Answers a connection whose head was refused (400, 414, 431, …) or late
/// (408) with that status code, like [`answer`]. It needs no handler, and
/// the answer is a few hundred bytes, which the socket's send buffer takes
/// at once.
fn refuse(stream: TcpStream, accepted: Instant, error: HeadError, config: &ConnectionConfig) {
    let Ok(peer) = stream.peer_addr() else {
        return;
    };
    let rejection = match error {
        HeadError::ClosedEarly => return,
        HeadError::Io(error) => {
            log::error(&format!("{peer}: reading the request head: {error}"));
            return;
        }
        HeadError::Rejected(rejection) => rejection,
    };
    let reply = Reply {
        response: rejection.response(),
        request_line: "-".to_owned(),
        // A response to HEAD has no body, errors included (RFC 9110 §9.3.2).
        include_body: !rejection.head_method,
        // A client cut off mid-head may still be sending; a client that
        // timed out is too slow to be worth waiting for.
        body_pending: rejection.status != Status::RequestTimeout,
        note: Some(rejection.detail),
    };
    send_and_log(stream, peer, accepted, reply, config)
}

/// What [`send_and_log`] sends, and what the access log says about it.
struct Reply<'a> {
    response: Response,
    request_line: String,
    include_body: bool,
    /// Whether the client may still be sending.
    body_pending: bool,
    note: Option<&'a str>,
}

fn send_and_log(
    mut stream: TcpStream,
    peer: SocketAddr,
    accepted: Instant,
    reply: Reply,
    config: &ConnectionConfig,
) {
    let sent = send(&mut stream, &reply.response, reply.include_body);
    // Our FIN tells the client the response is complete, even while it is
    // still sending. If the client is done, dropping the stream closes it.
    let still_sending = reply.body_pending && stream.shutdown(Shutdown::Write).is_ok();

    if !config.quiet {
        log::access(&log::Access {
            peer,
            request_line: &reply.request_line,
            status: reply.response.status,
            sent: &sent,
            elapsed: accepted.elapsed(),
            note: reply.note,
        });
    }
    // Logged first: the linger is not the request's time. Then the client
    // has had our FIN; discard what it still sends, so that our close is a
    // FIN too, not a reset.
    if still_sending {
        discard_unread(&stream, Some(Instant::now() + LINGER_TIMEOUT));
    }
}
// ANCHOR_END: answer

// ANCHOR: refuse_busy
/// Answers `503 Service Unavailable` with `Retry-After: 1` and closes; `why`
/// (`queue full`, `too many connections`) goes into the body, after the
/// reason phrase, and into the access log. Used by the accepting thread when
/// the pool's queue is full, so it must never wait on the client: the
/// response is small enough to fit in the socket's send buffer, and whatever
/// the client already sent is read without blocking so that closing does
/// not turn into a reset. If the start of a `HEAD` request has already
/// arrived, the answer has no body (RFC 9110 §9.3.2); a request still on its
/// way is not waited for.
pub fn refuse_busy(mut stream: TcpStream, quiet: bool, why: &str) {
    let peer = stream.peer_addr();
    let status = Status::ServiceUnavailable;
    let body = format!("{}: {why}", status.reason());
    let response = Response::text(status, &body).with_header("Retry-After", "1");
    let sent = stream.set_nonblocking(true).and_then(|()| {
        let mut start = [0u8; 7];
        let arrived = stream.peek(&mut start).unwrap_or(0);
        let include_body = !head::begins_with_head(&start[..arrived]);
        response.write_to(&mut stream, include_body)
    });
    let _ = stream.shutdown(Shutdown::Write);
    // Non-blocking: only what has already arrived is discarded.
    discard_unread(&stream, None);

    if let (false, Ok(peer)) = (quiet, peer) {
        log::access(&log::Access {
            peer,
            request_line: "-",
            status: response.status,
            sent: &sent,
            elapsed: Duration::ZERO,
            note: Some(why),
        });
    }
}
// ANCHOR_END: refuse_busy

fn send(stream: &mut TcpStream, response: &Response, include_body: bool) -> io::Result<usize> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    response.write_to(stream, include_body)
}

// ANCHOR: discard_unread
/// What [`discard_unread`] saw last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discarded {
    /// The client closed its side (`read` returned 0): closing ours now
    /// sends a FIN.
    PeerClosed,
    /// Nothing more arrived (for now, on a non-blocking socket; before the
    /// deadline, on a blocking one), or a non-blocking call discarded all it
    /// may.
    Waiting,
    /// The connection failed (a reset, for one): there is nothing left to
    /// protect.
    Failed,
}

/// Bytes [`discard_unread`] throws away per call on a non-blocking socket:
/// bounded, so that a client that keeps sending cannot hold an event loop;
/// the loop calls again at the next readiness.
pub const DISCARD_PER_CALL: usize = 64 * 1024;

/// Reads and throws away what the client sent that we will not use (a
/// body, a pipelined request), so that closing the socket sends a FIN
/// rather than a reset. Every place that discards before closing calls
/// this: [`answer`] (for [`serve`] and `Shutdown::serve`), [`refuse_busy`]
/// and the event loop's lingering close.
///
/// With `wait_until`, the socket is blocking and each read waits no later
/// than that moment: it returns when the client closes its side or the
/// moment passes. Without (`None`), the socket must be non-blocking: it
/// takes only what has already arrived, at most [`DISCARD_PER_CALL`] bytes.
///
/// When a socket is closed with unread data in its receive buffer, the kernel
/// sends RST instead of FIN (RFC 1122 §4.2.2.13). A reset can arrive before
/// the client has read our response and makes its kernel drop that response.
/// So [`answer`] first sends our FIN (`shutdown(Write)`: the client sees the
/// response end); this then reads until the client closes too. In stages
/// 01-06 [`answer`] waits [`LINGER_TIMEOUT`] at most, which blocks the
/// calling worker for up to that long.
pub fn discard_unread(stream: &TcpStream, wait_until: Option<Instant>) -> Discarded {
    let mut sink = [0u8; 16 * 1024];
    let mut discarded = 0;
    loop {
        match wait_until {
            Some(until) => {
                let time_left = until.saturating_duration_since(Instant::now());
                if time_left.is_zero() {
                    return Discarded::Waiting;
                }
                if stream.set_read_timeout(Some(time_left)).is_err() {
                    return Discarded::Failed;
                }
            }
            None if discarded >= DISCARD_PER_CALL => return Discarded::Waiting,
            None => {}
        }
        match (&*stream).read(&mut sink) {
            Ok(0) => return Discarded::PeerClosed,
            Ok(received) => discarded += received,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            // Nothing more now (non-blocking), or the time ran out.
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Discarded::Waiting;
            }
            Err(_) => return Discarded::Failed,
        }
    }
}
// ANCHOR_END: discard_unread

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    /// A 503 for a full queue, to a client whose request has already
    /// arrived: `HEAD` gets the header fields only.
    fn busy_answer(request: &[u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        client.write_all(request).expect("send");
        let (server, _) = listener.accept().expect("accept");
        // A blocking peek returns once bytes have arrived; loopback delivers
        // this small write at once, but wait for all of it, bounded.
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut start = [0u8; 7];
        while server.peek(&mut start).expect("peek") < start.len() {}
        refuse_busy(server, true, "test");
        let mut answer = String::new();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        client.read_to_string(&mut answer).expect("read");
        answer
    }

    #[test]
    fn busy_answer_to_head_has_no_body() {
        let head = busy_answer(b"HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "{head}");
        let get = busy_answer(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(
            get.ends_with("\r\n\r\nService Unavailable: test\n"),
            "{get}"
        );
    }
}
