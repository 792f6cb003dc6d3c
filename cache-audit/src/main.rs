//! `cache-audit <TRACE_FILE> <POLICY> <CACHE_SIZE> [--out FILE.csv]`
//!
//! Replays a trace through one replacement policy and prints the hit ratio in
//! the original CacheAudit's layout. Exit status: 0 on success; 2 for a usage
//! error (bad or missing argument), reported before the trace is read; 1 when
//! the trace cannot be read or is malformed, or the CSV cannot be written.
//! Every error is one line on stderr, starting `cache-audit: `.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cache_audit::report::Report;
use cache_audit::{PolicyKind, parse_cache_size, simulate, trace};
use clap::Parser;
use clap::error::ErrorKind;

/// Replay a cache trace through a replacement policy and report the hit ratio.
#[derive(Debug, Parser)]
#[command(name = "cache-audit", version)]
struct Cli {
    /// Trace file: one `R <key>` or `W <key>` per line; `#` comments and blank
    /// lines are skipped.
    trace_file: PathBuf,
    /// Replacement policy: fifo, lru, lfu, arc or belady.
    policy: String,
    /// Number of keys the cache holds, a whole number >= 1.
    // Taken as text and checked by `parse_cache_size`, so that `-1` reaches
    // our validator instead of being read as a flag.
    #[arg(allow_negative_numbers = true)]
    cache_size: String,
    /// Append a CSV record of the result to this file (header written when
    /// the file is created).
    #[arg(long, value_name = "FILE.csv")]
    out: Option<PathBuf>,
}

/// Usage synopsis appended to argument errors.
const USAGE: &str = "usage: cache-audit <TRACE_FILE> <POLICY> <CACHE_SIZE> [--out FILE.csv]";

/// Why the run failed: the exit status and the one-line message.
struct Failure {
    status: u8,
    message: String,
}

impl Failure {
    /// A usage error: exit status 2.
    fn usage(message: impl ToString) -> Failure {
        Failure {
            status: 2,
            message: message.to_string(),
        }
    }

    /// A failure reading the trace or writing output: exit status 1.
    fn io(message: impl ToString) -> Failure {
        Failure {
            status: 1,
            message: message.to_string(),
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // Ignore a failure to write to stderr: there is nowhere left to
            // report it, and the exit status still tells.
            let _ = writeln!(io::stderr(), "cache-audit: {}", failure.message);
            ExitCode::from(failure.status)
        }
    }
}

fn run() -> Result<(), Failure> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // `--help` and `--version` are "errors" to clap; print them and exit 0.
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            let _ = err.print();
            return Ok(());
        }
        Err(err) => return Err(Failure::usage(one_line(&err))),
    };

    // Every argument is checked before the trace is opened: a typo in the
    // policy must not cost a full load of a large trace.
    let policy: PolicyKind = cli.policy.parse().map_err(Failure::usage)?;
    let cache_size = parse_cache_size(&cli.cache_size).map_err(Failure::usage)?;

    // In error messages, paths are written with `{:?}`: quoted, and with
    // control characters escaped, so that a path containing a newline cannot
    // break the one-line error in two.
    let trace = trace::load(&cli.trace_file)
        .map_err(|err| Failure::io(format!("cannot load trace {:?}: {err}", cli.trace_file)))?;

    // Runtime covers building the policy (for OPT, precomputing next uses)
    // and the replay, not the loading of the trace.
    let start = Instant::now();
    let outcome = simulate(policy, cache_size, &trace);
    let elapsed = start.elapsed();
    let report = Report {
        trace_name: cli
            .trace_file
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default(),
        // On stdout the path is echoed as given, as the original did.
        trace_path: cli.trace_file.display().to_string(),
        unique_keys: trace.distinct_keys,
        policy,
        cache_size,
        outcome,
        runtime_ms: elapsed.as_millis(),
    };

    // The CSV is written before stdout, so a failure leaves no results on
    // stdout that a caller might mistake for success.
    if let Some(out) = &cli.out {
        report
            .append_csv(out)
            .map_err(|err| Failure::io(format!("cannot write {out:?}: {err}")))?;
    }
    io::stdout()
        .write_all(report.stdout_text().as_bytes())
        .map_err(|err| Failure::io(format!("cannot write to stdout: {err}")))
}

/// Squeeze clap's multi-line error into one line: its first paragraph (the
/// error itself, without clap's tips and usage block) plus our usage synopsis.
fn one_line(err: &clap::Error) -> String {
    let rendered = err.to_string();
    let first_paragraph = rendered.split("\n\n").next().unwrap_or_default();
    let words: Vec<&str> = first_paragraph.split_whitespace().collect();
    let text = words.join(" ");
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    format!("{text}; {USAGE}")
}
