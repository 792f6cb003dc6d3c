// ANCHOR: all
//! Stage 03: a fixed pool of worker threads behind a bounded queue.
//!
//! THREADS workers are started once. The accept loop pushes each connection
//! onto a queue of at most `--queue-size` connections and goes back to
//! accepting; a free worker takes the oldest one and serves it. When the queue
//! is full the accept loop answers `503 Service Unavailable` itself, at once:
//! back-pressure instead of an unbounded pile of waiting clients.
//!
//! The thread count no longer grows with connections. The limitation left is
//! what the pool cannot see: a worker holding an idle client is busy, so
//! THREADS slow clients still occupy every worker until the header deadline.

use std::time::Instant;

use common::args::{Args, HELP_WITH_POOL};
use common::pool::ThreadPool;
use common::{connection, health, server};

fn main() {
    let args = Args::parse_or_exit(HELP_WITH_POOL);
    let config = args.connection_config();

    let listener = server::bind_or_exit(args.bind, args.port);

    // ANCHOR: pool
    let pool = ThreadPool::new(args.threads, args.queue_size, move |(stream, accepted)| {
        connection::serve(stream, accepted, &config, &health::health_only);
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
