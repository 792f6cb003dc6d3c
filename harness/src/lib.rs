//! What NetServe's support tools share.
//!
//! The conformance suite (`tests/`), the benchmark (`bench/`), the reliability
//! suite (`reliability/`) and the scale-out load generator (`scale-out/`) all
//! start stage binaries, wait for their readiness line, talk raw HTTP to them,
//! read `/proc` and apply load. Each of those is written once, here; each tool
//! keeps only what is its own.

pub mod load;
