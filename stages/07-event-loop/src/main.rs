// ANCHOR: all
//! Stage 07: one event loop per core, persistent connections, children as
//! events. Also built as `netserve`.
//!
//! Stages 03-06 give every connection a worker thread for as long as it is
//! being served, so a worker waits whenever its client is slow, and every
//! request pays a TCP handshake because the connection closes after it.
//! Here THREADS loops each own an epoll instance and a listening socket
//! (all on one port, `SO_REUSEPORT`), and each serves thousands of
//! connections: nothing blocks, a loop only ever acts on what epoll says is
//! ready. Connections persist between requests (RFC 9112 §9.3), pipelined
//! requests are answered in order, and a simulation's child process is
//! watched through the same epoll set as the sockets.
//!
//! What one connection does with an event (read, parse, answer, write, and
//! every bound) is `common::event_loop::Connection`; this file is the loop.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::process;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use common::backend::Backend;
use common::backend_cli::BackendArgs;
use common::cli::{self, ServerArgs};
use common::event_loop::{
    self, Answer, CHILD, Clock, Connection, Connections, Context, Epoll, READABLE, Settings,
};
use common::response::{Response, Status};
use common::router::Router;
use common::{connection, health, log, server, sim};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

// ANCHOR: cli
/// This stage's command line (`--help` lists it).
#[derive(Parser, Debug)]
#[command(
    version,
    about,
    // THREADS counts event loops here, and there is no queue: `--queue-size`
    // is still accepted, so that one command line serves every stage.
    mut_arg("threads", |arg| arg.help("Event loops [default: number of CPUs]")),
    mut_arg("queue_size", |arg| arg.hide(true))
)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,

    #[command(flatten)]
    backend: BackendArgs,

    /// After SIGINT/SIGTERM/SIGHUP, how long requests in flight may take
    /// before simulations are killed and the exit status is 1, in seconds
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = cli::seconds)]
    drain_timeout: Duration,

    /// After the signal, how long to keep serving (with /health answering
    /// 503) before the drain begins, in seconds
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = seconds_or_none)]
    drain_delay: Duration,

    /// How long a persistent connection may stay idle between requests, in seconds
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = cli::seconds)]
    idle_timeout: Duration,

    /// Open connections (all loops together) beyond which new ones get 503
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
}
// ANCHOR_END: cli

/// What every loop shares.
struct Shared {
    settings: Settings,
    router: Router<Answer>,
    backend: Arc<Backend>,
    /// Open connections of all loops, against `--max-connections`.
    open: AtomicUsize,
    max_connections: usize,
    drain_timeout: Duration,
    drain_delay: Duration,
}

/// The token of the listening socket in a loop's interest list; connections
/// use their index in [`Connections`].
const LISTENER: u64 = u64::MAX;
/// The token of the socket signals are written to.
const SIGNALS: u64 = u64::MAX - 1;
/// How often a loop checks its connections' deadlines.
const TICK: Duration = Duration::from_millis(100);
/// Connections accepted per event on the listener, so that a flood of new
/// connections cannot starve the established ones.
const ACCEPTS_PER_WAKEUP: usize = 64;
/// After the drain timeout has killed the simulations, how long their 503s
/// get to be written before the process exits anyway.
const KILL_GRACE: Duration = Duration::from_secs(2);

fn main() {
    let cli = Cli::parse();
    // Checked before binding: a server with a missing backend never looks ready.
    let backend = Arc::new(cli.backend.backend_or_exit());
    let args = cli.server.args();

    // ANCHOR: router
    // /health fails from the first signal on: a load balancer polling it
    // stops sending before the drain closes anything.
    let stopping = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stopping);
    let router = Router::new()
        .route("GET", "/health", move |request| {
            if stopped.load(Ordering::Relaxed) {
                return Response::text(Status::ServiceUnavailable, "shutting down").into();
            }
            health::health(request).into()
        })
        // A valid simulation is not answered here: the loop starts the child
        // and answers when it is done.
        .route("GET", "/run-cache-sim", |request| {
            match sim::parse_params(request.query.as_deref()) {
                Ok(params) => Answer::Simulate(params),
                Err(error) => error.response().into(),
            }
        });
    // ANCHOR_END: router

    let shared = Arc::new(Shared {
        settings: Settings {
            limits: args.connection_config().limits,
            quiet: args.quiet,
            idle_timeout: cli.idle_timeout,
        },
        router,
        backend,
        open: AtomicUsize::new(0),
        max_connections: cli.max_connections as usize,
        drain_timeout: cli.drain_timeout,
        drain_delay: cli.drain_delay,
    });

    // ANCHOR: listeners
    // Every connection is a descriptor: 10,000 need more than the usual
    // soft limit of 1,024. If it cannot be raised, accept fails with EMFILE
    // under that load, which server::accept_failed survives.
    let _ = event_loop::raise_descriptor_limit();
    // One listening socket per loop, all on the same port: the kernel
    // spreads new connections across them, and no two loops ever compete
    // for one connection. The first picks the port when it is 0.
    let first = server::or_exit(
        event_loop::listen_reuseport((args.bind, args.port).into()),
        &format!("cannot listen on {}:{}", args.bind, args.port),
    );
    let address = server::or_exit(first.local_addr(), "reading the bound address");
    let mut listeners = vec![first];
    for _ in 1..args.threads {
        let listener = event_loop::listen_reuseport(address);
        listeners.push(server::or_exit(
            listener,
            "opening another listening socket",
        ));
    }
    // ANCHOR_END: listeners

    // ANCHOR: signals
    // A signal handler may do almost nothing, so signal-hook's handler only
    // writes a byte into a socket; each loop watches its own socket in its
    // interest list, so a signal wakes every loop. Installed before the
    // readiness line: from then on a SIGTERM means "drain", never "die".
    let mut loops = Vec::new();
    for listener in listeners {
        let (signals, notifier) = server::or_exit(UnixStream::pair(), "creating a signal socket");
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            let notifier = server::or_exit(notifier.try_clone(), "cloning the signal socket");
            let registered = signal_hook::low_level::pipe::register(signal, notifier);
            server::or_exit(registered, "installing the signal handlers");
        }
        server::or_exit(
            signals.set_nonblocking(true),
            "configuring the signal socket",
        );
        loops.push((listener, signals));
    }
    // ANCHOR_END: signals
    server::announce(&loops[0].0);

    let mut threads = Vec::new();
    for (number, (listener, signals)) in loops.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        let stopping = Arc::clone(&stopping);
        let thread = thread::Builder::new()
            .name(format!("loop-{number}"))
            .spawn(move || run(number, listener, signals, &shared, &stopping));
        threads.push(server::or_exit(thread, "starting the event loops"));
    }
    let mut status = 0;
    for thread in threads {
        // A loop that panicked has lost its connections: not a clean exit.
        status = status.max(thread.join().unwrap_or(1));
    }
    if status == 0 {
        log::error("drained: every accepted request was answered; exiting");
    }
    process::exit(status);
}

// ANCHOR: run
/// One event loop: waits for readiness on its listener, its connections,
/// its children and its signal socket, and acts on each. Returns the exit
/// status once it has drained: 0, or 1 if the drain timeout ran out.
fn run(
    number: usize,
    listener: std::net::TcpListener,
    signals: UnixStream,
    shared: &Shared,
    stopping: &AtomicBool,
) -> i32 {
    let epoll = server::or_exit(Epoll::new(), "creating an epoll instance");
    server::or_exit(
        epoll.add(listener.as_raw_fd(), LISTENER, READABLE),
        "watching the listener",
    );
    server::or_exit(
        epoll.add(signals.as_raw_fd(), SIGNALS, READABLE),
        "watching the signal socket",
    );
    let mut listener = Some(listener);
    let mut connections = Connections::default();
    let mut clock = Clock::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut scratch = vec![0u8; event_loop::INPUT_LIMIT];
    // Connections with requests left in their buffer for the next turn.
    let mut deferred: Vec<usize> = Vec::new();
    let mut next_tick = clock.now + TICK;
    // When the first signal arrived, whether the drain has begun, and when
    // the drain timeout killed the remaining simulations.
    let mut signalled: Option<Instant> = None;
    let mut draining = false;
    let mut killed: Option<Instant> = None;

    loop {
        // Deferred work must not wait for new events: then only look.
        let timeout = if deferred.is_empty() {
            next_tick.saturating_duration_since(clock.now)
        } else {
            Duration::ZERO
        };
        let ready = server::or_exit(epoll.wait(&mut events, Some(timeout)), "epoll_wait");
        clock.tick();
        let ctx = Context {
            clock: &clock,
            settings: &shared.settings,
            handler: &|request| shared.router.handle(request),
            backend: &shared.backend,
            epoll: &epoll,
            draining,
        };

        // ANCHOR: milestone_7_1
        for event in &events[..ready] {
            let (token, flags) = (event.u64, event.events);
            match token {
                LISTENER => {
                    if let Some(listener) = &listener {
                        accept_all(listener, &epoll, &mut connections, shared, clock.now);
                    }
                }
                SIGNALS => {
                    if received_signal(&signals) {
                        if signalled.is_some() {
                            log::error("signalled again: exiting now");
                            shared.backend.kill_all();
                            process::exit(1);
                        }
                        if number == 0 {
                            log::error(
                                "stopping: /health answers 503; draining after --drain-delay (signal again to exit now)",
                            );
                        }
                        stopping.store(true, Ordering::Relaxed);
                        signalled = Some(clock.now);
                    }
                }
                // A simulation's child: a pipe has output or it has exited.
                token if token & CHILD != 0 => {
                    let index = (token & !CHILD) as usize;
                    if let Some(connection) = connections.get_mut(index) {
                        connection.on_child(&ctx);
                    }
                    update(&epoll, &mut connections, index, &mut deferred, shared);
                }
                index => {
                    let index = index as usize;
                    if let Some(connection) = connections.get_mut(index) {
                        connection.on_ready(flags, &ctx, &mut scratch);
                    }
                    update(&epoll, &mut connections, index, &mut deferred, shared);
                }
            }
        }
        // ANCHOR_END: milestone_7_1

        // Requests a connection left in its buffer last turn: their bytes are
        // already read, so epoll will not report them again.
        for index in std::mem::take(&mut deferred) {
            if let Some(connection) = connections.get_mut(index) {
                connection.resume(&ctx);
            }
            update(&epoll, &mut connections, index, &mut deferred, shared);
        }

        // ANCHOR: tick
        // Deadlines: a scan of this loop's connections every TICK. It costs
        // nothing per request (a request only stores the time it happened),
        // and a few microseconds per thousand connections per tick.
        if clock.now >= next_tick {
            next_tick = clock.now + TICK;
            for index in 0..connections.end() {
                if let Some(connection) = connections.get_mut(index) {
                    connection.on_tick(&ctx);
                }
                update(&epoll, &mut connections, index, &mut deferred, shared);
            }
        }
        // ANCHOR_END: tick

        // ANCHOR: drain
        let Some(signalled_at) = signalled else {
            continue;
        };
        if !draining && clock.now >= signalled_at + shared.drain_delay {
            draining = true;
            // Connections the kernel has completed wait in the listen queue;
            // their clients believe they are connected. Take them, then close
            // the listener: from now on, connections are refused.
            if let Some(listener) = listener.take() {
                accept_all(&listener, &epoll, &mut connections, shared, clock.now);
            }
            let ctx = Context { draining, ..ctx };
            for index in 0..connections.end() {
                if let Some(connection) = connections.get_mut(index) {
                    // Read what has already arrived, then decide.
                    connection.on_ready(READABLE, &ctx, &mut scratch);
                    if let Some(connection) = connections.get_mut(index) {
                        connection.start_drain(&ctx);
                    }
                }
                update(&epoll, &mut connections, index, &mut deferred, shared);
            }
        }
        if killed.is_none() && clock.now >= signalled_at + shared.drain_timeout {
            log::error("drain timeout: killing the simulations still running");
            shared.backend.kill_all();
            killed = Some(clock.now);
        }
        if killed.is_some_and(|at| clock.now >= at + KILL_GRACE) {
            return 1;
        }
        if draining && connections.is_empty() {
            return i32::from(killed.is_some());
        }
        // ANCHOR_END: drain
    }
}
// ANCHOR_END: run

// ANCHOR: accept_all
/// Accepts what the listen queue holds (up to [`ACCEPTS_PER_WAKEUP`]) and
/// adds each connection to the interest list, waiting for its request.
/// Beyond `--max-connections` a connection is answered 503 and closed. A
/// failed accept (out of descriptors) pauses this loop for a moment
/// (`server::accept_failed`): only closing connections can help, and
/// retrying at once would spin.
fn accept_all(
    listener: &std::net::TcpListener,
    epoll: &Epoll,
    connections: &mut Connections,
    shared: &Shared,
    now: Instant,
) {
    // ANCHOR: milestone_7_2
    for _ in 0..ACCEPTS_PER_WAKEUP {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(error) => return server::accept_failed(&error),
        };
        if shared.open.load(Ordering::Relaxed) >= shared.max_connections {
            connection::refuse_busy(stream, shared.settings.quiet, "too many connections");
            continue;
        }
        // Responses are written whole, one write per turn: Nagle's algorithm
        // would only hold back a pipelined response for the client's ACK.
        if stream.set_nonblocking(true).is_err() || stream.set_nodelay(true).is_err() {
            continue;
        }
        let fd = stream.as_raw_fd();
        let index = connections.insert(Connection::new(stream, peer, now));
        if epoll.add(fd, index as u64, READABLE).is_err() {
            connections.remove(index);
            continue;
        }
        shared.open.fetch_add(1, Ordering::Relaxed);
    }
    // ANCHOR_END: milestone_7_2
}
// ANCHOR_END: accept_all

// ANCHOR: update
/// After a connection has handled an event: closes it if it is over, or
/// changes its interest if it now waits for something else (most turns it
/// does not, and no system call is made); remembers it if it left requests
/// for the next turn.
fn update(
    epoll: &Epoll,
    connections: &mut Connections,
    index: usize,
    deferred: &mut Vec<usize>,
    shared: &Shared,
) {
    // ANCHOR: milestone_7_3
    let Some(connection) = connections.get_mut(index) else {
        return;
    };
    match connection.interest() {
        None => {
            // Closing is not enough to leave the interest list: a child
            // forked a moment ago may still hold a copy of the socket (until
            // its exec), and its events would reach whatever connection is
            // given this index next (epoll(7), "Questions and answers" 6).
            let _ = epoll.delete(connection.fd());
            connections.remove(index);
            shared.open.fetch_sub(1, Ordering::Relaxed);
        }
        Some(events) => {
            if events != connection.registered
                && epoll.modify(connection.fd(), index as u64, events).is_ok()
            {
                connection.registered = events;
            }
            if connection.take_deferred() {
                deferred.push(index);
            }
        }
    }
    // ANCHOR_END: milestone_7_3
}
// ANCHOR_END: update

/// `--drain-delay`: like every other duration, or `0` for none.
fn seconds_or_none(text: &str) -> Result<Duration, String> {
    if text.parse::<f64>() == Ok(0.0) {
        return Ok(Duration::ZERO);
    }
    cli::seconds(text).map_err(|expected| format!("{expected}, or 0"))
}

/// Empties the signal socket; true if a signal arrived. (Several signals
/// at once count as one here; a second one later exits.)
fn received_signal(signals: &UnixStream) -> bool {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let mut any = false;
    while let Ok(1..) = (&*signals).read(&mut bytes) {
        any = true;
    }
    any
}
// ANCHOR_END: all
