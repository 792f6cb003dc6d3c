// ANCHOR: all
//! Stage 06: graceful shutdown, and the full NetServe spec.
//!
//! Stage 05 serves everything, but stopping it kills every request in
//! flight. This stage stops gracefully. On SIGINT, SIGTERM or SIGHUP the
//! server stops accepting at once (the listening socket is closed, so new
//! connections are refused), closes connections that have sent nothing,
//! lets every accepted request finish, simulations included, joins every
//! worker and exits 0. Past `--drain-timeout`, counted from the signal, the
//! remaining children are killed and the exit status is 1; a second signal
//! exits at once.
//!
//! The limitations left: a worker waits on its client while the request
//! head arrives, so THREADS slow clients hold every worker, and every
//! request pays for a TCP handshake of its own. Stage 07 fixes both.

use std::process;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use common::backend_cli::BackendArgs;
use common::cli::{self, ServerArgs};
use common::pool::ThreadPool;
use common::router::Router;
use common::shutdown::{self, Shutdown};
use common::{connection, health, server, sim};

// ANCHOR: cli
/// This stage's command line (`--help` lists it).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,

    #[command(flatten)]
    backend: BackendArgs,

    /// After SIGINT/SIGTERM/SIGHUP, how long requests in flight may take
    /// before simulations are killed and the exit status is 1, in seconds
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = cli::seconds)]
    drain_timeout: Duration,
}
// ANCHOR_END: cli

fn main() {
    let cli = Cli::parse();
    // Checked before binding: a server with a missing backend never looks ready.
    let backend = Arc::new(cli.backend.backend_or_exit());
    let args = cli.server.args();
    let config = args.connection_config();

    let listener = server::bind_or_exit(args.bind, args.port);

    // ANCHOR: install
    // Handlers go in before the readiness line: from the moment a client can
    // know we are up, a SIGTERM means "drain", never "die".
    let address = server::or_exit(listener.local_addr(), "reading the bound address");
    let shutdown = Shutdown::install(address, Arc::clone(&backend));
    let shutdown = server::or_exit(shutdown, "installing the signal handlers");
    // ANCHOR_END: install

    // ANCHOR: router
    let simulator = Arc::clone(&backend);
    let router = Router::new().route("GET", "/health", health::health).route(
        "GET",
        "/run-cache-sim",
        move |request| match sim::parse_params(request.query.as_deref()) {
            Ok(params) => simulator.run(&params),
            Err(error) => error.response(),
        },
    );
    // ANCHOR_END: router

    // ANCHOR: pool
    // A worker reads the head watching for the drain, too (see `Shutdown::serve`).
    let draining = Arc::clone(&shutdown);
    let pool = ThreadPool::new(args.threads, args.queue_size, move |(stream, accepted)| {
        draining.serve(stream, accepted, &config, &|request| router.handle(request));
    });
    let pool = server::or_exit(pool, "starting the worker threads");
    // ANCHOR_END: pool
    server::announce(&listener);

    // ANCHOR: accept_loop
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                // A full queue hands the stream back, to be refused politely.
                // The header deadline starts now: time spent queued counts.
                if let Err((stream, _)) = pool.try_submit((stream, Instant::now())) {
                    connection::refuse_busy(stream, args.quiet, "queue full");
                }
            }
            Err(error) => server::accept_failed(&error),
        }
        // The signal thread wakes us with a connection of its own: look now.
        if shutdown.requested() {
            break;
        }
    }
    // ANCHOR_END: accept_loop

    // ANCHOR: drain
    // The drain timeout counts from the signal.
    let deadline = Instant::now() + cli.drain_timeout;
    for job in shutdown::close_listener(listener) {
        if let Err((stream, _)) = pool.try_submit(job) {
            connection::refuse_busy(stream, args.quiet, "queue full");
        }
    }
    process::exit(shutdown::drain(pool, &backend, deadline));
    // ANCHOR_END: drain
}
// ANCHOR_END: all
