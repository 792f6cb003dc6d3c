//! The command line of stages 04-07, parsed with clap.
//!
//! It accepts everything the hand-written parser of stages 01-03 accepts
//! (see [`crate::args`]), with the same defaults and limits. Stage 04 is
//! where the command line starts to grow (stage 05 adds the backend's
//! paths, see [`crate::backend_cli`]; stages 06 and 07 their own settings),
//! so from here a well-kept parser with generated `--help` replaces more
//! hand-written code. Each stage's `main.rs` declares its own `Cli` struct
//! and flattens [`ServerArgs`] into it, so its `--help` lists what that stage
//! uses.

use std::net::IpAddr;
use std::time::Duration;

use crate::args::{self, Args};

/// A duration given in seconds, for clap's `value_parser` (see
/// [`args::seconds`]): every stage reads durations the same way.
pub use crate::args::seconds;

/// The settings every stage has: where to listen, how many workers, how
/// long a request head may take, the access log, the queue. Flattened into
/// each stage's `Cli` with `#[command(flatten)]`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// TCP port to listen on (0 = any free port)
    #[arg(default_value_t = 8080)]
    pub port: u16,

    /// Worker threads [default: number of CPUs]
    #[arg(value_parser = clap::value_parser!(u32).range(1..=args::MAX_THREADS as i64))]
    pub threads: Option<u32>,

    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// No access log on stderr
    #[arg(long)]
    pub quiet: bool,

    /// Deadline for a whole request head, in seconds
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = args::seconds)]
    pub header_timeout: Duration,

    /// Connections waiting for a worker before new ones get 503
    #[arg(long, value_name = "N", default_value_t = args::DEFAULT_QUEUE_SIZE as u32,
          value_parser = clap::value_parser!(u32).range(1..=args::MAX_QUEUE_SIZE as i64))]
    pub queue_size: u32,
}

impl ServerArgs {
    /// The same settings as stages 01-03 hold them, as their [`Args`].
    pub fn args(&self) -> Args {
        Args {
            port: self.port,
            threads: self
                .threads
                .map_or_else(args::default_threads, |threads| threads as usize),
            bind: self.bind,
            quiet: self.quiet,
            header_timeout: self.header_timeout,
            queue_size: self.queue_size as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    #[test]
    fn accepts_what_the_hand_written_parser_accepts() {
        let line = "--quiet 0 --bind ::1 4 --header-timeout=0.5 --queue-size 2";
        let parsed = Cli::try_parse_from(["server"].into_iter().chain(line.split(' ')))
            .expect("parses")
            .server
            .args();
        let expected = Args::parse(line.split(' ').map(str::to_owned)).expect("parses");
        assert_eq!(parsed, expected);
    }

    #[test]
    fn defaults_match_the_hand_written_parser() {
        let parsed = Cli::try_parse_from(["server"])
            .expect("parses")
            .server
            .args();
        assert_eq!(parsed, Args::default());
    }

    #[test]
    fn rejects_bad_values() {
        for line in [
            ["server", "0", "0"].as_slice(),
            &["server", "70000"],
            &["server", "80", "4097"],
            &["server", "--header-timeout", "-1"],
            &["server", "--queue-size", "0"],
        ] {
            assert!(Cli::try_parse_from(line).is_err(), "{line:?}");
        }
    }
}
