// ANCHOR: all
//! Stage 01: an iterative server, one connection at a time.
//!
//! The whole life of a TCP server is here: socket → bind → listen (one call,
//! `TcpListener::bind`), then a loop of accept → read → write → close. It is
//! correct and fast for one client, and its limitation is the point of the
//! next stage: while it serves one connection, nobody calls `accept`, so every
//! other client waits in the kernel's listen queue — behind a slow client, for
//! up to the whole header deadline.

use std::time::Instant;

use common::args::{Args, HELP_WITHOUT_POOL};
use common::{connection, health, server};

fn main() {
    let args = Args::parse_or_exit(HELP_WITHOUT_POOL);
    let config = args.connection_config();

    let listener = server::bind_or_exit(args.bind, args.port);
    server::announce(&listener);

    // ANCHOR: accept_loop
    // ANCHOR: milestone_1_1
    for stream in listener.incoming() {
        match stream {
            // Read the request head, answer, close; only then accept again.
            Ok(stream) => connection::serve(stream, Instant::now(), &config, &health::health_only),
            Err(error) => server::accept_failed(&error),
        }
    }
    // ANCHOR_END: milestone_1_1
    // ANCHOR_END: accept_loop
}
// ANCHOR_END: all
