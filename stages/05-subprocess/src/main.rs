// ANCHOR: all
//! Stage 05: `/run-cache-sim` runs the simulator as a child process.
//!
//! The pool and router of stage 04 stay. The handler now spawns
//! `cache-audit <trace> <policy> <cache_size>` (separate arguments, no shell),
//! captures both of its output pipes within a bound, kills it past
//! `--backend-timeout`, always reaps it, and turns its report into JSON. The
//! backend's paths are checked before the socket is bound.
//!
//! The limitation left: stopping the server. Ctrl-C kills it mid-request,
//! and every simulation in flight is lost with it. Stage 06 drains instead.

use std::time::Instant;

use clap::Parser;
use common::backend_cli::BackendArgs;
use common::cli::ServerArgs;
use common::pool::ThreadPool;
use common::router::Router;
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
}
// ANCHOR_END: cli

fn main() {
    let cli = Cli::parse();
    // Checked before binding: a server with a missing backend never looks ready.
    let backend = cli.backend.backend_or_exit();
    let args = cli.server.args();
    let config = args.connection_config();

    let listener = server::bind_or_exit(args.bind, args.port);

    // ANCHOR: router
    let router = Router::new().route("GET", "/health", health::health).route(
        "GET",
        "/run-cache-sim",
        move |request| match sim::parse_params(request.query.as_deref()) {
            Ok(params) => backend.run(&params),
            Err(error) => error.response(),
        },
    );
    // ANCHOR_END: router

    // ANCHOR: pool
    let pool = ThreadPool::new(args.threads, args.queue_size, move |(stream, accepted)| {
        connection::serve(stream, accepted, &config, &|request| router.handle(request));
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
    }
    // ANCHOR_END: accept_loop
}
// ANCHOR_END: all
