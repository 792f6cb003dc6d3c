// ANCHOR: all
//! Stage 06: graceful shutdown, and the full NetServe spec.
//!
//! Stage 05 serves everything; this stage makes stopping it safe. On SIGINT
//! or SIGTERM the server stops accepting at once (the listening socket is
//! closed, so new connections are refused), lets every accepted request
//! finish, simulations included, joins every worker and exits 0. Past
//! `--drain-timeout` the remaining children are killed and the exit status
//! is 1; a second signal exits at once.

use std::net::TcpStream;
use std::process;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use common::cli::ServerArgs;
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

    /// After SIGINT/SIGTERM, how long requests in flight may take before
    /// their simulations are killed and the exit status is 1, in seconds
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

    let pool = ThreadPool::new(args.threads, args.queue_size, move |(stream, accepted)| {
        connection::serve(stream, accepted, &config, &|request| router.handle(request));
    });
    let pool = server::or_exit(pool, "starting the worker threads");
    let submit = |stream: TcpStream| {
        // The header deadline starts now: time spent queued counts.
        if let Err((stream, _)) = pool.try_submit((stream, Instant::now())) {
            connection::refuse_busy(stream, args.quiet);
        }
    };

    // ANCHOR: accept_loop
    // Handlers go in before the readiness line: from the moment a client can
    // know we are up, a SIGTERM means "drain", never "die".
    let address = server::or_exit(listener.local_addr(), "reading the bound address");
    let shutdown = Shutdown::install(address, Arc::clone(&backend));
    let shutdown = server::or_exit(shutdown, "installing the signal handlers");
    server::announce(&listener);

    for stream in listener.incoming() {
        match stream {
            Ok(stream) => submit(stream),
            Err(error) => server::accept_failed(&error),
        }
        // Checked after serving, not before: the connection that woke us
        // may be a real client that connected just before the signal.
        if shutdown.requested() {
            break;
        }
    }
    // ANCHOR_END: accept_loop

    // ANCHOR: drain
    // Connections the kernel has already completed are waiting in the
    // listen queue; their clients believe they are connected. Take them too,
    // without blocking, before closing the socket would reset them.
    if listener.set_nonblocking(true).is_ok() {
        while let Ok((stream, _)) = listener.accept() {
            if stream.set_nonblocking(false).is_ok() {
                submit(stream);
            }
        }
    }
    // Closing the listening socket: from here on, connections are refused.
    drop(listener);

    let status = shutdown::drain(pool, &backend, cli.drain_timeout);
    process::exit(status);
    // ANCHOR_END: drain
}
// ANCHOR_END: all
