//! The command line of stages 01-03, parsed by hand so those stages need
//! nothing beyond `std` (stage 04 moves to clap, see `cli`).
//!
//! `<binary> [PORT] [THREADS] [--bind ADDR] [--quiet] [--header-timeout SECS] [--queue-size N]`
//!
//! Every stage accepts the same command line, so one command works against
//! every stage. Stages 01 and 02 have no pool: they accept THREADS and
//! `--queue-size` and ignore them, and their `--help` ([`HELP_WITHOUT_POOL`])
//! says so instead of listing them.

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroUsize;
use std::process;
use std::thread;
use std::time::Duration;

use crate::connection::ConnectionConfig;
use crate::head::Limits;

/// The parsed command line.
#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    /// TCP port to listen on; 0 lets the OS pick one (the readiness line says which).
    pub port: u16,
    /// Worker threads of the pool (stage 03 on). Default: the number of CPUs.
    pub threads: usize,
    /// Address to bind. Default 127.0.0.1: a teaching server is not exposed
    /// to the network unless asked to be.
    pub bind: IpAddr,
    /// `--quiet`: no access log.
    pub quiet: bool,
    /// `--header-timeout SECS`: deadline for a whole request head. Default 10 s.
    pub header_timeout: Duration,
    /// `--queue-size N`: connections that may wait for a worker before new
    /// ones are answered 503 (stage 03 on). Default 128.
    pub queue_size: usize,
}

/// Default of `--queue-size`.
pub const DEFAULT_QUEUE_SIZE: usize = 128;

/// The most worker threads accepted. Each thread reserves a stack (2 MiB of
/// address space by default); thousands more would only exhaust the process
/// before they could help on a machine with a handful of cores.
pub const MAX_THREADS: usize = 4096;

/// The largest `--queue-size` accepted: far beyond any useful wait, small
/// enough that a typo cannot ask for terabytes.
pub const MAX_QUEUE_SIZE: usize = 1_000_000;

/// `--help` of stages 01-02, after the program name. Every option line is
/// indented by two spaces (a `\` line continuation would swallow the first
/// line's indent, so the text starts on the opening line).
pub const HELP_WITHOUT_POOL: &str = "[PORT] [options]

  PORT                    TCP port to listen on (default 8080; 0 = any free port)
  --bind ADDR             address to listen on (default 127.0.0.1)
  --quiet                 no access log on stderr
  --header-timeout SECS   deadline for a whole request head (default 10)
  --help                  print this help

THREADS and --queue-size are accepted and ignored: this stage has no pool.
";

/// `--help` of stage 03, whose pool THREADS and `--queue-size` size.
pub const HELP_WITH_POOL: &str = "[PORT] [THREADS] [options]

  PORT                    TCP port to listen on (default 8080; 0 = any free port)
  THREADS                 worker threads, 1-4096 (default: number of CPUs)
  --bind ADDR             address to listen on (default 127.0.0.1)
  --quiet                 no access log on stderr
  --header-timeout SECS   deadline for a whole request head (default 10)
  --queue-size N          connections waiting for a worker before 503, 1-1000000
                          (default 128)
  --help                  print this help
";

/// Why the command line was not turned into [`Args`].
#[derive(Debug, PartialEq, Eq)]
pub enum ArgsError {
    /// `--help` was given.
    Help,
    /// A one-line explanation of what is wrong.
    Invalid(String),
}

impl Default for Args {
    fn default() -> Args {
        Args {
            port: 8080,
            threads: default_threads(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            quiet: false,
            header_timeout: Limits::default().header_timeout,
            queue_size: DEFAULT_QUEUE_SIZE,
        }
    }
}

impl Args {
    /// Parses `std::env::args()`. On `--help` prints `help` ([`HELP_WITH_POOL`]
    /// or [`HELP_WITHOUT_POOL`]) after `usage: <program>` and exits 0; on an
    /// error prints one line and exits 2 (the usual status for usage errors).
    pub fn parse_or_exit(help: &str) -> Args {
        match Args::parse(std::env::args().skip(1)) {
            Ok(args) => args,
            Err(ArgsError::Help) => {
                let program = std::env::args().next().unwrap_or_default();
                print!("usage: {program} {help}");
                process::exit(0);
            }
            Err(ArgsError::Invalid(message)) => {
                eprintln!("error: {message} (try --help)");
                process::exit(2);
            }
        }
    }

    /// Parses the arguments after the program name. Options may come before,
    /// between or after the positionals, as `--name VALUE` or `--name=VALUE`.
    ///
    /// # Errors
    /// [`ArgsError::Help`] for `--help`/`-h`; [`ArgsError::Invalid`] naming
    /// the argument for an unknown option, a missing or malformed value, or a
    /// third positional argument.
    pub fn parse(arguments: impl IntoIterator<Item = String>) -> Result<Args, ArgsError> {
        let mut args = Args::default();
        let mut positionals = 0;
        let mut arguments = arguments.into_iter();

        while let Some(argument) = arguments.next() {
            let (name, inline_value) = match argument.split_once('=') {
                Some((name, value)) if name.starts_with("--") => {
                    (name.to_owned(), Some(value.to_owned()))
                }
                _ => (argument.clone(), None),
            };
            // The value of an option: after `=`, or the next argument.
            let mut value = || {
                inline_value
                    .clone()
                    .or_else(|| arguments.next())
                    .ok_or_else(|| ArgsError::Invalid(format!("{name} needs a value")))
            };
            match name.as_str() {
                "-h" | "--help" => return Err(ArgsError::Help),
                "--quiet" => args.quiet = true,
                "--bind" => args.bind = parse_value(&name, &value()?)?,
                "--header-timeout" => args.header_timeout = parse_seconds(&name, &value()?)?,
                "--queue-size" => {
                    args.queue_size = parse_count(&name, &value()?, MAX_QUEUE_SIZE)?;
                }
                option if option.starts_with('-') => {
                    return Err(ArgsError::Invalid(format!("unknown option {option}")));
                }
                _ => {
                    match positionals {
                        0 => args.port = parse_value("PORT", &argument)?,
                        1 => args.threads = parse_count("THREADS", &argument, MAX_THREADS)?,
                        _ => {
                            return Err(ArgsError::Invalid(format!(
                                "unexpected argument {argument}"
                            )));
                        }
                    }
                    positionals += 1;
                }
            }
        }
        Ok(args)
    }

    /// How each connection is served: the request-head limits with this
    /// command line's `--header-timeout`, and `--quiet`.
    pub fn connection_config(&self) -> ConnectionConfig {
        ConnectionConfig {
            limits: Limits {
                header_timeout: self.header_timeout,
                ..Limits::default()
            },
            quiet: self.quiet,
        }
    }
}

/// The number of CPUs, or 4 if the OS cannot say.
pub fn default_threads() -> usize {
    thread::available_parallelism().map_or(4, NonZeroUsize::get)
}

fn parse_value<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, ArgsError> {
    text.parse()
        .map_err(|_| ArgsError::Invalid(format!("invalid {name} '{text}'")))
}

/// A count from 1 to `max` (threads, queue size).
fn parse_count(name: &str, text: &str, max: usize) -> Result<usize, ArgsError> {
    match text.parse::<usize>() {
        Ok(count) if (1..=max).contains(&count) => Ok(count),
        _ => Err(ArgsError::Invalid(format!(
            "invalid {name} '{text}': expected a whole number from 1 to {max}"
        ))),
    }
}

/// A duration given in seconds as a decimal number, e.g. `10` or `0.5`,
/// above zero and at most a day. Shared with the clap command line of
/// stages 04-07 (`cli::seconds`).
///
/// # Errors
/// What was expected, as a phrase to follow the offending value.
pub fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 86_400.0 => Ok(Duration::from_secs_f64(seconds)),
        _ => Err("expected seconds above 0, at most 86400".to_owned()),
    }
}

fn parse_seconds(name: &str, text: &str) -> Result<Duration, ArgsError> {
    seconds(text)
        .map_err(|expected| ArgsError::Invalid(format!("invalid {name} '{text}': {expected}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_line_is_indented() {
        for help in [HELP_WITHOUT_POOL, HELP_WITH_POOL] {
            let options = help.lines().filter(|line| line.contains("  "));
            for line in options {
                assert!(line.starts_with("  "), "{line:?}");
            }
        }
    }

    fn parse(line: &str) -> Result<Args, ArgsError> {
        Args::parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn defaults() {
        let args = parse("").unwrap();
        assert_eq!(args.port, 8080);
        assert_eq!(args.bind, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(args.header_timeout, Duration::from_secs(10));
        assert!(args.threads >= 1);
    }

    #[test]
    fn positionals_and_options_in_any_order() {
        let args = parse("--quiet 0 --bind ::1 4 --header-timeout=0.5 --queue-size 2").unwrap();
        assert_eq!(args.port, 0);
        assert_eq!(args.threads, 4);
        assert_eq!(args.bind, "::1".parse::<IpAddr>().unwrap());
        assert!(args.quiet);
        assert_eq!(args.header_timeout, Duration::from_millis(500));
        assert_eq!(args.queue_size, 2);
    }

    #[test]
    fn errors_name_the_argument() {
        let invalid = |line: &str| match parse(line) {
            Err(ArgsError::Invalid(message)) => message,
            other => panic!("{line:?} gave {other:?}"),
        };
        assert!(invalid("65536").contains("PORT"));
        assert!(invalid("80 0").contains("THREADS"));
        assert!(invalid("80 4097").contains("THREADS"));
        assert!(invalid("--queue-size 1000001").contains("--queue-size"));
        assert!(invalid("--queue-size 18446744073709551616").contains("--queue-size"));
        assert!(invalid("80 2 3").contains("unexpected"));
        assert!(invalid("--bind").contains("--bind needs a value"));
        assert!(invalid("--bind nowhere").contains("--bind"));
        assert!(invalid("--header-timeout 0").contains("--header-timeout"));
        assert!(invalid("--header-timeout NaN").contains("--header-timeout"));
        assert!(invalid("--verbose").contains("unknown option --verbose"));
        assert_eq!(parse("80 --help"), Err(ArgsError::Help));
    }
}
