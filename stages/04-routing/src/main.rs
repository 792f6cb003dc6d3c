// ANCHOR: all
//! Stage 04: a router in front of the handlers.
//!
//! The pool of stage 03 stays as it is; what changes is what a request
//! means. A router maps method + path to a handler and answers `404` for an
//! unknown path, `405` with `Allow` for a method the path does not take, and
//! `HEAD` like `GET` without the body. `/run-cache-sim` arrives with its
//! query parameters decoded and validated, and every error is a JSON body.
//! A valid simulation request is answered `501`: the backend that runs the
//! simulator is stage 05. The command line, which grows from here on, is
//! parsed with clap: each stage's `Cli` adds its options to the last one's.

use std::time::Instant;

use clap::Parser;
use common::cli::ServerArgs;
use common::json;
use common::pool::ThreadPool;
use common::request::Request;
use common::response::{Response, Status};
use common::router::Router;
use common::{connection, health, server, sim};

// ANCHOR: cli
/// This stage's command line (`--help` lists it).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}
// ANCHOR_END: cli

fn main() {
    let cli = Cli::parse();
    let args = cli.server.args();
    let config = args.connection_config();

    let listener = server::bind_or_exit(args.bind, args.port);

    // ANCHOR: router
    let router = Router::new().route("GET", "/health", health::health).route(
        "GET",
        "/run-cache-sim",
        validate_only,
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

// ANCHOR: validate_only
/// `/run-cache-sim` without a backend: a bad query is a 400 naming the
/// parameter; a good one is a 501, because the simulator arrives in stage 05.
fn validate_only(request: &Request) -> Response {
    match sim::parse_params(request.query.as_deref()) {
        Ok(_) => json::error(
            Status::NotImplemented,
            "valid request, but this is stage 04: the cache simulator backend arrives in stage 05",
        ),
        Err(error) => error.response(),
    }
}
// ANCHOR_END: validate_only
// ANCHOR_END: all
