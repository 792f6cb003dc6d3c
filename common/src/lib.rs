//! The layers NetServe's stages share.
//!
//! Every stage's `main.rs` shows that stage's architecture: how it binds, how
//! it accepts, and how it hands a connection off. Everything that does not
//! change from one stage to the next lives here, one module per concept, in
//! the order the stages introduce them:
//!
//! | module | first used by | what it is |
//! |---|---|---|
//! | [`head`] | 01 | reading a request head from a socket, within limits and a deadline |
//! | [`request`] | 01 | the parsed request line and header fields |
//! | [`response`] | 01 | status codes, reason phrases and writing a response |
//! | [`date`] | 01 | the `Date` header field |
//! | [`connection`] | 01 | one connection from accept to close |
//! | [`health`] | 01 | `GET /health`, and the 404 of stages 01-03 |
//! | [`args`] | 01 | the hand-written command line of stages 01-03 |
//! | [`server`] | 01 | binding, the readiness line, accept errors |
//! | [`log`] | 01 | the access log |
//! | [`pool`] | 03 | a fixed set of workers behind a bounded queue |
//! | `query`, `router`, `json`, `sim`, `cli` | 04 | form decoding, routing, JSON bodies, `/run-cache-sim` parameters, the command line parsed with clap (feature `routing`) |
//! | `child`, `backend`, `report`, `backend_cli` | 05 | one child process supervised with `poll(2)` on its pipes and a pidfd; running cache-audit for a request; parsing its report; the backend's command-line paths (feature `backend`) |
//! | `shutdown` | 06 | SIGINT/SIGTERM/SIGHUP: stop accepting, drain, exit (feature `shutdown`) |
//! | `event_loop` | 07 | epoll, `SO_REUSEPORT` listeners, the persistent connection's state machine (feature `event-loop`) |
//!
//! Stages 01-03 use no feature, so their dependency tree is `std` alone.
//!
//! `// ANCHOR: milestone_N_M` … `// ANCHOR_END: milestone_N_M` lines mark the
//! code a coursework starter leaves for the student to write (milestone N.M;
//! `starters/MILESTONES.md` says what each must do). `starters/generate.py`
//! turns them into `todo!()`s; here they are comments and change nothing.

pub mod args;
pub mod connection;
pub mod date;
pub mod head;
pub mod health;
pub mod log;
pub mod pool;
pub mod request;
pub mod response;
pub mod server;

#[cfg(feature = "routing")]
pub mod cli;
#[cfg(feature = "routing")]
pub mod json;
#[cfg(feature = "routing")]
pub mod query;
#[cfg(feature = "routing")]
pub mod router;
#[cfg(feature = "routing")]
pub mod sim;

#[cfg(feature = "backend")]
pub mod backend;
#[cfg(feature = "backend")]
pub mod backend_cli;
#[cfg(feature = "backend")]
pub mod child;
#[cfg(feature = "backend")]
pub mod report;

#[cfg(feature = "shutdown")]
pub mod shutdown;

#[cfg(feature = "event-loop")]
pub mod event_loop;
