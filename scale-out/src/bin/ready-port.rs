//! `ready-port`: prints the port of the readiness line on its standard input
//! (`listening on http://ADDR:PORT`, the first line a NetServe stage prints),
//! read by `harness::server::parse_ready_line`, the one parser of that line.
//! Exits 1, saying what it read, when the first line is not one.
//!
//! `run.sh` starts its servers from bash and waits for their first line; this
//! keeps the line's format in one place instead of a second parser in bash.

use std::io::{self, BufRead};
use std::process::ExitCode;

use harness::server::parse_ready_line;

fn main() -> ExitCode {
    let mut line = String::new();
    if let Err(error) = io::stdin().lock().read_line(&mut line) {
        eprintln!("ready-port: reading standard input: {error}");
        return ExitCode::FAILURE;
    }
    match parse_ready_line(line.trim_end_matches('\n')) {
        Some(address) => {
            println!("{}", address.port());
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("ready-port: not a readiness line: {line:?}");
            ExitCode::FAILURE
        }
    }
}
