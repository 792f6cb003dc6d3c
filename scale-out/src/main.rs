//! `scale-out-load`: sends requests at a fixed rate and counts every one
//! that is lost.
//!
//! The benchmark (`bench/`) is a closed loop: each client waits for its
//! answer before sending again, so a server that stalls simply receives
//! fewer requests, and a restart shows up as a dip, not as a count. A
//! rolling restart is judged the other way round: clients keep arriving at
//! their own pace whatever the servers do, and the question is how many of
//! them got no good answer. So this is the load engine's open loop
//! (`harness::load`, [`Pace::Rate`]): request `i` is due at `start + i /
//! RATE`, whatever happened to the others, and each one ends as exactly one
//! outcome: a 2xx, another status code, or a failure.
//!
//! Each request is a new connection carrying `Connection: close` (RFC 9112
//! §9.6), read to the server's close: every request is independent, and a
//! connection that a stopping server leaves in its listen queue shows up as
//! a failure of its own.
//!
//! With `--connections N` it is the benchmark's closed loop instead: N
//! connections, each sending its next request as soon as the previous one
//! is answered, for `--max-duration` seconds after one of warm-up; the
//! throughput through a balancer is measured this way.
//!
//! The run is bounded twice: it ends after `--max-duration` seconds, or
//! earlier at SIGTERM or SIGINT (the script stops the load once its
//! restarts are done). Requests already sent are then finished, each within
//! `--timeout`. The result is one line of `key=value` pairs on stdout.

use std::net::SocketAddr;
use std::process;
use std::time::Duration;

use clap::Parser;
use harness::load::{Failure, Load, Mode, Outcome, Pace, Plan, Tally, Target};
use signal_hook::consts::{SIGINT, SIGTERM};

/// Sends GET requests to URL at a fixed rate, one per connection, and
/// counts 2xx answers, other status codes, refusals, resets and timeouts.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Where to send, e.g. http://127.0.0.1:8080/health (loopback only)
    #[arg(value_parser = parse_url)]
    url: (SocketAddr, String),

    /// Requests started per second
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    rate: u32,

    /// Stop sending after this many seconds, if no SIGTERM came first
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    max_duration: u64,

    /// Longest wait for each of connect, write and read; longer is a
    /// timeout, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
    timeout: u64,

    /// Client threads, so this many requests can be in flight at once
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1024))]
    clients: u32,

    /// A closed loop of N connections instead of the fixed rate (--rate
    /// and --clients unused), measured after 1 s of warm-up
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    connections: Option<u32>,
}

/// `http://IP:PORT[/PATH]` with a loopback IP (this tool only ever loads
/// servers on the same machine): the address and the path (`/` if none).
fn parse_url(text: &str) -> Result<(SocketAddr, String), String> {
    let rest = text.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.parse::<SocketAddr>() {
        Ok(addr) if addr.ip().is_loopback() => {
            let path = if path.is_empty() { "/" } else { path };
            Ok((addr, path.to_owned()))
        }
        _ => Err(format!("{authority} is not a loopback IP:PORT")),
    }
}

fn main() {
    let cli = Cli::parse();
    let (addr, path) = &cli.url;
    let target = Target::get(*addr, &addr.to_string(), &[path], Mode::Close);
    let plan = Plan {
        connections: cli.connections.unwrap_or(cli.clients) as usize,
        pace: cli
            .connections
            .map_or(Pace::Rate(cli.rate), |_| Pace::Closed),
        warmup: Duration::from_secs(cli.connections.map_or(0, |_| 1)),
        duration: Duration::from_secs(cli.max_duration),
        timeout: Duration::from_secs(cli.timeout),
        stop_when_refused: false,
    };
    let load = Load::start(&target, plan).unwrap_or_else(|error| {
        eprintln!("scale-out-load: cannot start the client threads: {error}");
        process::exit(1);
    });
    for signal in [SIGTERM, SIGINT] {
        if let Err(error) = signal_hook::flag::register(signal, load.stop_flag()) {
            eprintln!("scale-out-load: cannot install a signal handler: {error}");
            process::exit(1);
        }
    }
    let window_start = load.window_start;
    let tally = load.finish();
    println!(
        "{}",
        line(&tally, window_start.elapsed().min(plan.duration))
    );
}

/// The result line: `key=value` pairs, for the script to pick apart. `reset`
/// counts every connection that ended without a whole response (reset,
/// closed, or cut short); `other` includes the client's own failures;
/// `rps` is 2xx responses per second of `window`, `p99_ms` their p99.
fn line(tally: &Tally, window: Duration) -> String {
    let errors = &tally.errors;
    let codes: Vec<String> = (errors.0.iter())
        .filter_map(|(outcome, n)| match outcome {
            Outcome::Answered(code) => Some(format!("{code}:{n}")),
            Outcome::Failed(_) => None,
        })
        .collect();
    format!(
        "sent={} ok={} lost={} non_2xx={} codes={} refused={} reset={} timeout={} other={} \
         max_ms={} rps={:.0} p99_ms={:.2}",
        tally.requests(),
        tally.ok,
        errors.total(),
        errors.non_2xx(),
        if codes.is_empty() {
            "-".to_owned()
        } else {
            codes.join(",")
        },
        errors.of(&[Failure::Refused]),
        errors.of(&[Failure::Reset, Failure::Closed, Failure::Incomplete]),
        errors.of(&[Failure::Timeout]),
        errors.of(&[Failure::Client, Failure::Other]),
        tally.slowest.as_millis(),
        tally.ok as f64 / window.as_secs_f64().max(0.001),
        tally.latency.value_at_quantile(0.99) as f64 / 1000.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_loopback_only() {
        let (addr, path) = parse_url("http://127.0.0.1:8080/health").expect("a loopback URL");
        assert_eq!(addr, "127.0.0.1:8080".parse().expect("an address"));
        assert_eq!(path, "/health");
        assert_eq!(
            parse_url("http://[::1]:8080").expect("a loopback URL").1,
            "/"
        );
        assert!(parse_url("http://10.0.0.1:8080/").is_err());
        assert!(parse_url("http://localhost:8080/").is_err());
        assert!(parse_url("https://127.0.0.1:8080/").is_err());
    }
}
