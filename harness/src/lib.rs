//! What NetServe's support tools share.
//!
//! The conformance suite (`tests/`), the benchmark (`bench/`), the reliability suite
//! (`reliability/`) and the scale-out runs (`scale-out/`) all start stage binaries, wait for
//! their readiness line, talk raw HTTP to them, read `/proc` and apply load. Each of those is written once,
//! here, one concept per module; each tool keeps only what is its own.
//!
//! | module | what it holds |
//! |---|---|
//! | [`stages`] | the seven stages: binaries, packages, features, where they are built |
//! | [`server`] | a server process: spawn, readiness line, stderr, signals, exit |
//! | [`proc`] | what a process uses, from `/proc`: threads, memory, descriptors, CPU, children |
//! | [`client`] | a raw HTTP/1.1 client, with `httparse` as the oracle for responses |
//! | [`slow`] | clients that hold a server without finishing: slowloris and idle keep-alive |
//! | [`scripts`] | fake `cache-audit` backends written as shell scripts |
//! | [`load`] | the load generator: closed or open loop, per connection or persistent |
//!
//! Nothing here sleeps to synchronise: waits are for a readiness line, a socket event, a
//! child exit, or a condition polled with [`wait_until`], always with a bound.

pub mod client;
pub mod load;
pub mod proc;
pub mod scripts;
pub mod server;
pub mod slow;
pub mod stages;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// How often [`wait_until`] re-checks its condition.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Polls `condition` every 10 ms until it holds or `bound` has passed; returns whether it held.
///
/// Some things a test must wait for have no event to block on: the server's thread count in
/// `/proc`, the number of sockets it holds, a child process disappearing. Polling them is the
/// honest way to wait, *as long as* the wait ends the moment the condition holds (so a fast
/// server is not slowed down) and has a hard bound (so a broken server makes the case fail with
/// a message instead of hanging the suite). A fixed `sleep` has neither property: too short and
/// the test is flaky, too long and every run pays for it.
pub fn wait_until(bound: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// The workspace root: the parent of this crate's directory (`harness/`).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// The bundled traces, `<workspace>/cache-audit/traces/synthetic`, passed as `--traces-dir`.
pub fn default_traces_dir() -> PathBuf {
    workspace_root().join("cache-audit/traces/synthetic")
}
