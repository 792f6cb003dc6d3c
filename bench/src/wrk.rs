//! The cross-check: the same server loaded by wrk, a load generator that
//! systems engineers already trust, to show this benchmark's figures are
//! not an artefact of its own client.

use std::process::Command;
use std::time::Duration;

use crate::cli::Mode;

/// What wrk reported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WrkResult {
    /// `Requests/sec:` — every response, whatever its status code.
    pub requests_per_second: f64,
    /// The `99%` line of `--latency`, in µs.
    pub p99_us: Option<u64>,
}

impl WrkResult {
    /// The average of two runs (p99 only when both have one).
    pub fn mean(&self, other: &WrkResult) -> WrkResult {
        WrkResult {
            requests_per_second: (self.requests_per_second + other.requests_per_second) / 2.0,
            p99_us: self.p99_us.zip(other.p99_us).map(|(a, b)| (a + b) / 2),
        }
    }
}

/// The wrk command line for the same load as a run of this benchmark:
/// `connections` connections over `threads` threads for `duration` (whole
/// seconds, at least 1: wrk ignores fractions), the same timeout, and in
/// [`Mode::Close`] the same `Connection: close` request header. wrk keeps
/// its connections open by default, which is [`Mode::KeepAlive`].
pub fn command_line(
    url: &str,
    connections: u32,
    threads: u32,
    duration: Duration,
    timeout: Duration,
    mode: Mode,
) -> Vec<String> {
    let seconds = duration.as_secs_f64().round().max(1.0);
    let timeout = timeout.as_secs_f64().ceil().max(1.0);
    let mut args = vec![
        format!("-t{}", threads.clamp(1, connections)),
        format!("-c{connections}"),
        format!("-d{seconds}s"),
        format!("--timeout={timeout}s"),
        "--latency".to_owned(),
    ];
    if mode == Mode::Close {
        args.extend(["-H".to_owned(), "Connection: close".to_owned()]);
    }
    args.push(url.to_owned());
    args
}

/// Runs `wrk args…` and parses what it prints.
///
/// # Errors
/// A message if wrk is not installed, fails, or prints no `Requests/sec:`.
pub fn run(args: &[String]) -> Result<WrkResult, String> {
    let stdout = crate::reference::output(Command::new("wrk").args(args))
        .map_err(|error| format!("{error} (on Debian: apt-get install wrk)"))?;
    parse_output(&stdout)
}

/// Parses wrk's report (see the test for an example).
///
/// # Errors
/// A message if there is no `Requests/sec:` line.
pub fn parse_output(text: &str) -> Result<WrkResult, String> {
    let value_after = |label: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(label).map(str::trim))
    };
    let requests_per_second = value_after("Requests/sec:")
        .and_then(|value| value.parse::<f64>().ok())
        .ok_or_else(|| format!("no 'Requests/sec:' in wrk's output:\n{text}"))?;
    let p99_us = value_after("99%").and_then(parse_wrk_time_us);
    Ok(WrkResult {
        requests_per_second,
        p99_us,
    })
}

/// Parses a wrk time such as `812.00us`, `2.08ms`, `1.02s` or `1.50m`, in µs.
fn parse_wrk_time_us(text: &str) -> Option<u64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some((number * scale).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
Running 5s test @ http://127.0.0.1:40021/health
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.27ms    1.02ms  17.32ms   87.41%
    Req/Sec    14.14k     1.33k   16.63k    72.00%
  Latency Distribution
     50%    2.08ms
     75%    2.48ms
     90%    3.07ms
     99%    6.11ms
  140696 requests in 5.00s, 20.52MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 12
Requests/sec:  28127.32
Transfer/sec:      4.10MB
";

    #[test]
    fn parses_a_report() {
        assert_eq!(
            parse_output(OUTPUT),
            Ok(WrkResult {
                requests_per_second: 28127.32,
                p99_us: Some(6110),
            })
        );
        assert!(parse_output("unable to connect to 127.0.0.1:1").is_err());
        assert_eq!(parse_wrk_time_us("1.50m"), Some(90_000_000));
        assert_eq!(parse_wrk_time_us("fast"), None);
    }

    #[test]
    fn same_load_as_ours() {
        let url = "http://127.0.0.1:1/health";
        let (five, two) = (Duration::from_secs(5), Duration::from_millis(1500));
        let close = command_line(url, 64, 2, five, two, Mode::Close).join(" ");
        let expected = "-t2 -c64 -d5s --timeout=2s --latency -H Connection: close";
        assert_eq!(close, format!("{expected} {url}"));
        let keep_alive = command_line(url, 1, 2, five, two, Mode::KeepAlive).join(" ");
        assert_eq!(
            keep_alive,
            format!("-t1 -c1 -d5s --timeout=2s --latency {url}")
        );
    }
}
