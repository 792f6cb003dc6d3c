//! The conformance runner: grades any server command by stage.
//!
//! ```text
//! cargo run -p conformance -- --stage 3 -- ./my-server
//! cargo run -p conformance -- --stage 03 --list
//! cargo run -p conformance -- --stage 6 --format junit -- target/debug/06-graceful-shutdown > report.xml
//! cargo run -p conformance -- --stage 3 --gradescope results.json --weight 3=2 -- ./my-server
//! ```
//!
//! The server is started as `<command…> 0 [THREADS] [flags…]` once per case. The default
//! (`--format human`) prints one line per case that ran (`ok`, or `FAIL` with what was sent,
//! what came back and the server's last stderr lines), a line counting the skipped cases, and
//! `N passed, N failed`. The other formats print one document on stdout instead (see
//! `conformance::report`). The exit status is 0 only if no case failed; 2 for a usage error.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use conformance::Target;
use conformance::cases::{self, Applies, Case};
use conformance::report::{self, CaseResult, Outcome, Run, Weights};

/// Grades an HTTP server against the NetServe conformance suite, stage by stage.
#[derive(Parser)]
#[command(name = "conformance")]
struct Cli {
    /// The stage to grade the server as (1 to 7, or 01 to 07): every case of stages up to it,
    /// plus that stage's own limitation cases.
    #[arg(long, value_parser = cases::parse_stage)]
    stage: u8,

    /// Print the stage's cases (and the stage that brings each), run nothing.
    #[arg(long)]
    list: bool,

    /// Also list the cases skipped for this stage (human format).
    #[arg(long)]
    show_skipped: bool,

    /// What stdout carries: `human` lines, or one `json`, `junit` (XML) or `tap` document.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,

    /// Also write Gradescope's results.json to FILE (a test per case that ran).
    #[arg(long, value_name = "FILE")]
    gradescope: Option<PathBuf>,

    /// Points per case brought by a stage, for --gradescope: `--weight 3=2` (repeatable;
    /// stages not named are worth 1 point per case).
    #[arg(long, value_name = "STAGE=POINTS")]
    weight: Vec<String>,

    /// The simulator passed to stages 5 and later as --cache-audit [default: `cache-audit`
    /// next to the server program if there is one, else next to this runner, as `cargo build`
    /// puts them].
    #[arg(long, value_name = "PATH")]
    cache_audit: Option<PathBuf>,

    /// The trace directory passed to stages 5 and later as --traces-dir
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
    #[arg(last = true, required_unless_present = "list", value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// The report written on stdout.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Junit,
    Tap,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut weights = Weights::default();
    for weight in &cli.weight {
        if let Err(error) = weights.add(weight) {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    }

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
    if cli.list {
        list(&selected, cli.stage, cli.show_skipped);
        return ExitCode::SUCCESS;
    }

    // A missing server would fail every case the same way: say it once.
    if let Some(program) = cli.command.first().filter(|program| !can_run(program)) {
        eprintln!(
            "error: cannot run {}: no such program (a path, or a name on PATH; build it first?)",
            Path::new(program).display()
        );
        return ExitCode::from(2);
    }
    let cache_audit = cli
        .cache_audit
        .unwrap_or_else(|| default_cache_audit(cli.command.first()));
    let traces_dir = cli.traces_dir.unwrap_or_else(harness::default_traces_dir);
    let target = Target::new(cli.stage, cli.command, cache_audit, traces_dir);
    let jobs = cli.jobs.unwrap_or_else(|| {
        thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });

    let began = Instant::now();
    let mut results = Vec::new();
    run_all(&selected, &target, jobs.max(1), |result| {
        if cli.format == Format::Human {
            if let Some(line) = report::human_line(&result, cli.show_skipped) {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{line}");
                let _ = stdout.flush();
            }
        }
        results.push(result);
    });
    let run = Run {
        stage: cli.stage,
        results,
        seconds: began.elapsed().as_secs_f64(),
    };
    let (_, failed, _) = run.counts();

    match cli.format {
        Format::Human => println!("{}", report::human_summary(&run, cli.show_skipped)),
        Format::Json => println!("{:#}", report::json(&run)),
        Format::Junit => print!("{}", report::junit(&run)),
        Format::Tap => print!("{}", report::tap(&run)),
    }
    if let Some(path) = &cli.gradescope {
        let text = format!("{:#}\n", report::gradescope(&run, &weights));
        if let Err(error) = fs::write(path, text) {
            eprintln!("error: cannot write {}: {error}", path.display());
            return ExitCode::from(2);
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--list`: the cases that apply to `stage` with the stage that brings each; with
/// `--show-skipped`, the others too and why they do not apply.
fn list(selected: &[&'static Case], stage: u8, show_skipped: bool) {
    let mut skipped = 0;
    for case in selected {
        match case.applies_to(stage) {
            Applies::Yes => println!("{}  (stage {:02})", case.full_name(), case.stage()),
            Applies::NotYet if show_skipped => println!(
                "{}  (skipped: stage {:02} brings it)",
                case.full_name(),
                case.since
            ),
            Applies::Never if show_skipped => {
                println!("{}  (skipped: {})", case.full_name(), case.scope())
            }
            _ => skipped += 1,
        }
    }
    if skipped > 0 {
        println!("({skipped} cases do not apply to stage {stage:02}; --show-skipped lists them)");
    }
}

/// Whether `program` names a file: a path as given, or a bare name found on `PATH` (as
/// `execvp(3)` looks it up).
fn can_run(program: &OsString) -> bool {
    let path = Path::new(program);
    if path.components().count() > 1 {
        return path.is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|dirs| std::env::split_paths(&dirs).any(|dir| dir.join(path).is_file()))
}

/// `cache-audit` beside the server program (`target/release/` for a release build of a stage),
/// if it is there; else in the directory of this runner (`target/debug/` under `cargo run`).
fn default_cache_audit(program: Option<&OsString>) -> PathBuf {
    let beside_server = program.map(|program| Path::new(program).with_file_name("cache-audit"));
    if let Some(candidate) = beside_server.filter(|candidate| candidate.is_file()) {
        return candidate;
    }
    match std::env::current_exe() {
        Ok(exe) => exe.with_file_name("cache-audit"),
        Err(_) => PathBuf::from("cache-audit"),
    }
}

/// Runs the selected cases on `jobs` threads and calls `report` with each result, in list order,
/// as soon as it and every case before it have finished.
fn run_all(
    selected: &[&'static Case],
    target: &Target,
    jobs: usize,
    mut report: impl FnMut(CaseResult),
) {
    let next = AtomicUsize::new(0);
    let (sender, receiver) = mpsc::channel();
    thread::scope(|scope| {
        for _ in 0..jobs {
            let (next, sender) = (&next, sender.clone());
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = selected.get(index) else {
                        break;
                    };
                    let began = Instant::now();
                    let outcome = match case.applies_to(target.stage) {
                        // `run_case` catches panics, so every case reports back.
                        Applies::Yes => match cases::run_case(case, target) {
                            Ok(()) => Outcome::Passed,
                            Err(reason) => Outcome::Failed(reason),
                        },
                        Applies::NotYet => {
                            Outcome::Skipped(format!("stage {:02} brings it", case.since))
                        }
                        Applies::Never => Outcome::Skipped(case.scope()),
                    };
                    let result = CaseResult {
                        name: case.full_name(),
                        stage: case.stage(),
                        outcome,
                        seconds: began.elapsed().as_secs_f64(),
                    };
                    // The receiver outlives every worker: the scope ends after it.
                    let _ = sender.send((index, result));
                }
            });
        }
        drop(sender);

        // Outcomes arrive in completion order; hold each until all earlier cases are reported.
        let mut finished: Vec<Option<CaseResult>> = selected.iter().map(|_| None).collect();
        let mut reported = 0;
        for (index, result) in receiver {
            finished[index] = Some(result);
            while let Some(result) = finished.get_mut(reported).and_then(Option::take) {
                report(result);
                reported += 1;
            }
        }
    });
}
