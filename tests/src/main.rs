//! The conformance runner: grades any server command by stage.
//!
//! ```text
//! cargo run -p conformance -- --stage 3 -- ./my-server
//! cargo run -p conformance -- --stage 6 -- target/debug/06-graceful-shutdown
//! ```
//!
//! The server is started as `<command…> 0 [THREADS] [flags…]` once per case. The runner prints
//! one line per case (`ok`, `FAIL` with the reason, or `skip` with why) and a final
//! `N passed, N failed` line; the exit status is 0 only if no case failed.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Instant;

use clap::Parser;
use conformance::Target;
use conformance::cases::{self, Applies, Case};

/// Grades an HTTP server against the NetServe conformance suite, stage by stage.
#[derive(Parser)]
#[command(name = "conformance")]
struct Cli {
    /// The stage to grade the server as (1..=7): every case of stages up to it, plus that
    /// stage's own limitation cases.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=7))]
    stage: u8,

    /// The simulator passed to stages 5 and 6 as --cache-audit
    /// [default: `cache-audit` next to this runner, as `cargo build` puts it].
    #[arg(long, value_name = "PATH")]
    cache_audit: Option<PathBuf>,

    /// The trace directory passed to stages 5 and 6 as --traces-dir
    /// [default: the workspace's cache-audit/traces/synthetic].
    #[arg(long, value_name = "PATH")]
    traces_dir: Option<PathBuf>,

    /// Only run cases whose name contains this text (e.g. `s03::` or `408`).
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,

    /// How many cases run at the same time [default: the number of CPUs].
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,

    /// The server command, after `--`: program and any leading arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// What happened to one case.
enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cache_audit = cli.cache_audit.unwrap_or_else(default_cache_audit);
    let traces_dir = cli
        .traces_dir
        .unwrap_or_else(conformance::default_traces_dir);
    let target = Arc::new(Target::new(cli.stage, cli.command, cache_audit, traces_dir));

    let selected: Vec<&'static Case> = cases::ALL
        .iter()
        .filter(|case| match &cli.filter {
            Some(text) => case.full_name().contains(text.as_str()),
            None => true,
        })
        .collect();
    if selected.is_empty() {
        // A typo in --filter must not look like a clean pass.
        eprintln!(
            "error: no case matches --filter {:?}",
            cli.filter.unwrap_or_default()
        );
        return ExitCode::from(2);
    }
    let jobs = cli.jobs.unwrap_or_else(|| {
        thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });

    let began = Instant::now();
    let (mut passed, mut failed) = (0, 0);
    run_all(&selected, &target, jobs.max(1), |case, outcome| {
        let name = case.full_name();
        let line = match outcome {
            Outcome::Passed => {
                passed += 1;
                format!("ok   {name}")
            }
            Outcome::Failed(reason) => {
                failed += 1;
                // Indent continuation lines so each case still starts a line of its own.
                format!("FAIL {name} : {}", reason.replace('\n', "\n       "))
            }
            Outcome::Skipped(why) => format!("skip {name} ({why})"),
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    });
    println!(
        "\n(graded as stage {} in {:.1} s)\n{passed} passed, {failed} failed",
        cli.stage,
        began.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `cache-audit` in the directory of this runner (`target/debug/` under `cargo run`).
fn default_cache_audit() -> PathBuf {
    match std::env::current_exe() {
        Ok(exe) => exe.with_file_name("cache-audit"),
        Err(_) => PathBuf::from("cache-audit"),
    }
}

/// Runs the selected cases on `jobs` threads and calls `report` for each, in list order, as soon
/// as it and every case before it have finished.
fn run_all(
    selected: &[&'static Case],
    target: &Arc<Target>,
    jobs: usize,
    mut report: impl FnMut(&Case, Outcome),
) {
    let stage = target.stage;
    let next = Arc::new(AtomicUsize::new(0));
    let work: Arc<Vec<&'static Case>> = Arc::new(selected.to_vec());
    let (sender, receiver) = mpsc::channel();
    for _ in 0..jobs {
        let (next, work, target, sender) =
            (next.clone(), work.clone(), target.clone(), sender.clone());
        thread::spawn(move || {
            loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = work.get(index) else { break };
                let outcome = match case.applies_to(stage) {
                    // `run_case` catches panics, so every case reports back.
                    Applies::Yes => match cases::run_case(case, &target) {
                        Ok(()) => Outcome::Passed,
                        Err(reason) => Outcome::Failed(reason),
                    },
                    Applies::NotYet => {
                        Outcome::Skipped(format!("stage {:02} brings it", case.since))
                    }
                    Applies::Never => Outcome::Skipped(case.scope()),
                };
                if sender.send((index, outcome)).is_err() {
                    break;
                }
            }
        });
    }
    drop(sender);

    // Outcomes arrive in completion order; hold each until all earlier cases are reported.
    let mut finished: Vec<Option<Outcome>> = selected.iter().map(|_| None).collect();
    let mut reported = 0;
    for (index, outcome) in receiver {
        finished[index] = Some(outcome);
        while let Some(outcome) = finished.get_mut(reported).and_then(Option::take) {
            report(selected[reported], outcome);
            reported += 1;
        }
    }
}
