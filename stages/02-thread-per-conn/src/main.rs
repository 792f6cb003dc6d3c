// ANCHOR: all
//! Stage 02: a new OS thread for every connection.
//!
//! The accept loop now only accepts: each connection is served on a thread
//! of its own, so a slow client no longer blocks the others. The cost is that
//! nothing bounds the number of threads. Each one reserves a stack and a
//! kernel task; a thousand idle connections are a thousand threads, and a
//! flood of connections can exhaust memory or the process's thread limit.
//! Stage 03 bounds it.

use std::thread;
use std::time::Instant;

use common::args::{Args, HELP_WITHOUT_POOL};
use common::{connection, health, log, server};

fn main() {
    let args = Args::parse_or_exit(HELP_WITHOUT_POOL);
    let config = args.connection_config();

    let listener = server::bind_or_exit(args.bind, args.port);
    server::announce(&listener);

    // ANCHOR: accept_loop
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                // ANCHOR: milestone_2_1
                let accepted = Instant::now();
                // `move` gives the thread its own copy of `config` and
                // ownership of the stream; the loop goes straight back to
                // accept.
                let spawned =
                    thread::Builder::new()
                        .name("connection".to_owned())
                        .spawn(move || {
                            connection::serve(stream, accepted, &config, &health::health_only);
                        });
                if let Err(error) = spawned {
                    // Out of threads or memory. The closure, and with it the
                    // stream, was dropped: the client sees the connection close.
                    log::error(&format!("cannot spawn a thread: {error}"));
                }
                // ANCHOR_END: milestone_2_1
            }
            Err(error) => server::accept_failed(&error),
        }
    }
    // ANCHOR_END: accept_loop
}
// ANCHOR_END: all
