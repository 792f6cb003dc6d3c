// ANCHOR: all
//! Stage 06: graceful shutdown, and the full NetServe spec.
//!
//! Stage 05 serves everything; this stage makes it hard to stop by accident
//! and safe to stop on purpose.
//!
//! - **Slow clients cannot stop it.** The accepting thread now reads request
//!   heads itself, for every connection at once, with `poll(2)` (see
//!   `common::poller`), and hands the pool only connections whose head is
//!   complete, and takes back answered connections whose client is still
//!   sending a body. A worker never waits on a client, so a thousand
//!   slowloris connections cost buffers, not workers.
//! - **A signal stops it gracefully.** On SIGINT or SIGTERM the server stops
//!   accepting at once (the listening socket is closed, so new connections
//!   are refused), finishes the heads in progress, lets every accepted
//!   request finish, simulations included, joins every worker and exits 0.
//!   Past `--drain-timeout`, counted from the signal, late heads get 408,
//!   the remaining children are killed and the exit status is 1; a second
//!   signal exits at once.

use std::process;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use common::cli::ServerArgs;
use common::poller::{self, HeadReader, Ready};
use common::pool::ThreadPool;
use common::router::Router;
use common::shutdown::{self, Shutdown};
use common::{args, connection, health, server, sim};

/// Stage 05's command line plus the drain deadline.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "NetServe: an HTTP/1.1 server that runs the cache-audit simulator"
)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,

    /// After SIGINT/SIGTERM, how long requests in flight, heads still
    /// arriving included, may take before late heads get 408, simulations
    /// are killed and the exit status is 1, in seconds
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = args::seconds)]
    drain_timeout: Duration,
}

pub fn main() {
    let cli = Cli::parse();
    let backend = Arc::new(cli.server.backend_or_exit());
    let args = cli.server.args();
    let config = args.connection_config();

    let listener = server::bind_or_exit(args.bind, args.port);

    let simulator = Arc::clone(&backend);
    let router = Router::new().route("GET", "/health", health::health).route(
        "GET",
        "/run-cache-sim",
        move |request| match sim::parse_params(request.query.as_deref()) {
            Ok(params) => simulator.run(&params),
            Err(error) => error.response(),
        },
    );

    // One thread waits on every socket at once: the listener, each
    // connection whose head is still arriving, and each answered one whose
    // client is still sending. A thousand of them need more descriptors than
    // the usual soft limit; if it cannot be raised, accept fails with EMFILE
    // under that load, which server::accept_failed survives.
    let _ = poller::raise_descriptor_limit();
    let mut heads = server::or_exit(HeadReader::new(config.limits), "starting the head reader");

    // ANCHOR: pool
    // Workers only answer. The accepting thread reads the head, and discards
    // whatever the client still sends after its answer.
    let lingerer = heads.lingerer();
    let pool = ThreadPool::new(args.threads, args.queue_size, move |ready: Ready| {
        let handler = |request: &_| router.handle(request);
        let answered =
            connection::answer(ready.stream, ready.accepted, ready.head, &config, &handler);
        if let Some(stream) = answered {
            lingerer.hand_over(stream);
        }
    });
    let pool = server::or_exit(pool, "starting the worker threads");
    let lingerer = heads.lingerer();
    let submit = |ready: Ready| match ready.head {
        Ok(_) => {
            if let Err(ready) = pool.try_submit(ready) {
                connection::refuse_busy(ready.stream, args.quiet, "queue full");
            }
        }
        // A refused or late head needs no worker, and its short answer does
        // not wait on the client: answer it here, even when the queue is full.
        Err(error) => {
            if let Some(stream) = connection::refuse(ready.stream, ready.accepted, error, &config) {
                lingerer.hand_over(stream);
            }
        }
    };
    // ANCHOR_END: pool

    // ANCHOR: accept_loop
    // Handlers go in before the readiness line: from the moment a client can
    // know we are up, a SIGTERM means "drain", never "die".
    let address = server::or_exit(listener.local_addr(), "reading the bound address");
    let shutdown = Shutdown::install(address, Arc::clone(&backend));
    let shutdown = server::or_exit(shutdown, "installing the signal handlers");
    server::or_exit(
        listener.set_nonblocking(true),
        "making the listener non-blocking",
    );
    server::announce(&listener);

    while !shutdown.requested() {
        match heads.poll(Some(&listener)) {
            Ok(true) => heads.accept_all(&listener, args.quiet),
            Ok(false) => {}
            Err(error) => server::accept_failed(&error),
        }
        heads.take_ready().into_iter().for_each(submit);
    }
    // ANCHOR_END: accept_loop

    // ANCHOR: drain
    // The drain timeout counts from the signal.
    let deadline = Instant::now() + cli.drain_timeout;
    // Connections the kernel has already completed are waiting in the
    // listen queue; their clients believe they are connected. Take them too,
    // before closing the socket would reset them. From then on, connections
    // are refused.
    heads.accept_all(&listener, args.quiet);
    drop(listener);
    // Heads in progress are requests in flight: finish reading them, within
    // the drain deadline, before waiting for the workers. Hand over what is
    // ready first: the last accept_all may have read whole heads.
    heads.cut_deadlines(deadline);
    loop {
        heads.take_ready().into_iter().for_each(submit);
        if heads.is_empty() {
            break;
        }
        if let Err(error) = heads.poll(None) {
            server::accept_failed(&error);
        }
    }

    let status = shutdown::drain(pool, &backend, deadline);
    // The last answers may still have clients sending: let them finish.
    if let Err(error) = heads.finish_lingering() {
        server::accept_failed(&error);
    }
    process::exit(status);
    // ANCHOR_END: drain
}
// ANCHOR_END: all
