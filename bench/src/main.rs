//! NetServe's benchmark: every stage under the same load, side by side.
//!
//! `cargo run --release -p bench -- --help` lists the options; README.md
//! explains the columns and how to check the figures against wrk.
//!
//! The program is a pipeline, one module per step:
//! [`cli`] turns the command line into a list of runs; for each, [`runner`]
//! starts the stage or [`reference`] server, holds the slow clients or the
//! idle connections if any, applies the load while sampling `/proc` (all
//! from `harness`), and stops the server; [`report`], [`chart`] and
//! [`record`] write what came out.

mod chart;
mod cli;
mod record;
mod reference;
mod report;
mod runner;
mod stats;
mod wrk;

use std::fs;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::cli::{Available, Cli, Mode, RunSpec, Scenario, ServerSpec};
use crate::runner::{RunResult, Settings};
use crate::stats::{format_count, format_ms};

/// Above this 1-minute load average the machine is busy enough to skew the
/// results, and the benchmark says so.
const BUSY_LOAD: f64 = 1.0;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let started = Instant::now();
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build of the benchmark; its client is slow. \
             Use `cargo run --release -p bench`."
        );
    }
    if cli.duration.is_zero() {
        return Err("--duration must be above 0".to_owned());
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpus = u32::try_from(cpus).unwrap_or(u32::MAX);
    let repo = harness::workspace_root();
    let nginx = reference::find_nginx();
    let perf_dir = reference::find_perf_dir(&repo);
    let available = Available {
        nginx: nginx.is_some(),
        ceilings: perf_dir.is_some() && reference::have_gcc(),
    };
    let (runs, notes) = cli::plan(&cli, cpus, available)?;
    for note in &notes {
        eprintln!("note: {note}");
    }
    let wants = |server: ServerSpec| runs.iter().any(|run| run.server == server);
    let ceilings = match &perf_dir {
        Some(perf_dir) if wants(ServerSpec::Ka) || wants(ServerSpec::Spawn) => {
            Some(reference::build_ceilings(perf_dir, &repo.join("target"))?)
        }
        _ => None,
    };
    if runs.iter().any(|run| run.idle > 0) {
        // A descriptor per idle connection, beyond the soft limit's usual
        // 1,024; the servers started later inherit the limit.
        let needed = u64::from(cli::IDLE_CONNECTIONS) + 1024;
        match harness::proc::raise_descriptor_limit() {
            Ok(limit) if limit < needed => eprintln!(
                "warning: at most {limit} open files (ulimit -n), and the idle connections \
                 need about {needed}: raise the hard limit"
            ),
            Ok(_) => {}
            Err(error) => eprintln!("warning: cannot raise the open files limit: {error}"),
        }
    }
    let bin_dir = (cli.bin_dir.clone()).unwrap_or_else(harness::stages::default_bin_dir);
    let mut stages: Vec<_> = runs.iter().filter_map(RunSpec::stage).collect();
    stages.sort();
    stages.dedup();
    let cache_audit = runs.iter().any(|run| run.scenario == Scenario::CacheSim);
    if let Some(message) = harness::stages::missing_build(&stages, cache_audit, &bin_dir) {
        return Err(message);
    }
    let out = (cli.out.clone()).unwrap_or_else(|| repo.join("bench/out"));
    fs::create_dir_all(&out)
        .map_err(|error| format!("cannot create {}: {error}", out.display()))?;

    let settings = Settings {
        bin_dir,
        warmup: cli.warmup,
        duration: cli.duration,
        wrk: cli.wrk,
        wrk_threads: cpus,
        nginx: nginx.filter(|_| wants(ServerSpec::Nginx)),
        ceilings,
        loop_trace: repo.join("cache-audit/traces/synthetic/loop.txt"),
    };
    let load_before = record::load_average();
    let commit = record::git_commit(&repo);
    announce(&runs, &settings, &load_before);

    let mut results: Vec<RunResult> = Vec::with_capacity(runs.len());
    for (index, spec) in runs.iter().enumerate() {
        let (count, scenario) = (runs.len(), spec.scenario.name());
        let label = format!("[{}/{count}] {scenario} {}", index + 1, spec.long_label());
        match runner::execute(spec, &settings) {
            Ok(result) => {
                eprintln!("{}", summary_line(&label, &result));
                for note in &result.notes {
                    eprintln!("    note: {note}");
                }
                results.push(result);
            }
            // A reference server that fails to start costs its row, not
            // the stages' measurements.
            Err(message) if spec.stage().is_none() => {
                eprintln!("{label}: no row: {message}");
            }
            Err(message) => return Err(message),
        }
    }

    let write = |name: &str, text: &str| {
        let path = out.join(name);
        fs::write(&path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))
    };
    write(
        "results.csv",
        &report::csv(&results, settings.duration.as_secs_f64()),
    )?;
    for scenario in Scenario::ALL {
        let of_scenario: Vec<RunResult> = (results.iter())
            .filter(|r| r.spec.scenario == scenario)
            .cloned()
            .collect();
        if of_scenario.is_empty() {
            continue;
        }
        let (name, heading) = (scenario.name(), describe(&of_scenario, &settings));
        let markdown = report::render(&report::table(&of_scenario));
        println!("\n{name} — {heading}\n\n{markdown}");
        let note = "<!-- Written by `bench`: run it again rather than editing. -->";
        write(
            &format!("{name}.md"),
            &format!("{note}\n\n*{heading}.*\n\n{markdown}"),
        )?;
        let title = format!(
            "{name}: GET {}, {} s per run",
            scenario.path(),
            cli.duration.as_secs_f64()
        );
        chart::write_svg(&out.join(format!("{name}.svg")), &title, &of_scenario)?;
    }
    record::write_readme(&out, &commit, &load_before, started, &results)?;
    println!(
        "Wrote results.csv, README.md and a table (.md) and chart (.svg) per scenario to {} in {:.0} s.",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    check_answered(&results)
}

/// Fails when a `health` or `cache-sim` run got not a single 2xx response:
/// a working server always answers those, so the server (or the setup) is
/// broken and the table above is not a measurement. A collapse under slow
/// clients is a result, not a failure. This is what makes a short run of
/// the benchmark usable as a smoke test in CI.
fn check_answered(results: &[RunResult]) -> Result<(), String> {
    let unanswered: Vec<String> = (results.iter())
        .filter(|r| r.spec.scenario != Scenario::SlowClients && r.ok == 0)
        .map(|r| {
            format!(
                "{} {} ({})",
                r.spec.scenario.name(),
                r.spec.long_label(),
                r.errors
            )
        })
        .collect();
    if unanswered.is_empty() {
        return Ok(());
    }
    Err(format!(
        "no 2xx response at all in: {}",
        unanswered.join("; ")
    ))
}

/// Says what is about to happen and how long it will take.
fn announce(runs: &[RunSpec], settings: &Settings, load: &str) {
    // Per run: warm-up and window, plus about 0.3 s to start and stop.
    let mut per_run = settings.warmup + settings.duration + Duration::from_millis(300);
    if settings.wrk {
        per_run += settings.duration.max(Duration::from_secs(1));
    }
    eprintln!(
        "{} runs of {:.0} s warm-up + {:.0} s measured: about {:.0} s. \
         Stages run with --quiet: no access log, we measure the server, not the terminal.",
        runs.len(),
        settings.warmup.as_secs_f64(),
        settings.duration.as_secs_f64(),
        per_run.as_secs_f64() * runs.len() as f64
    );
    eprintln!("binaries: {}", settings.bin_dir.display());
    eprintln!("load average now: {load}");
    if record::load_average_1min().is_some_and(|load| load > BUSY_LOAD) {
        eprintln!(
            "warning: the machine is busy (1-minute load above {BUSY_LOAD}); other processes \
             take CPU from the server and the client, so the numbers will be low and noisy"
        );
    }
}

/// One line per finished run, on stderr while the benchmark goes on: the
/// table's main figures, and how often the slow clients were cut off.
fn summary_line(label: &str, result: &RunResult) -> String {
    let rate = format_count(result.requests_per_second.round() as u64);
    let mut line = format!("{label}: {rate} req/s, errors {}", result.errors);
    if let Some(latency) = result.latency {
        line.push_str(&format!(", p99 {} ms", format_ms(latency.p99_us)));
    }
    if let Some(cut_off) = result.slow_cut_off {
        line.push_str(&format!(", slow clients cut off {cut_off} times"));
    }
    line
}

/// The load of a scenario's runs (`results`) in words, for the heading of
/// its table.
fn describe(results: &[RunResult], settings: &Settings) -> String {
    let spec = &results[0].spec;
    let keep_alive =
        (results.iter()).any(|r| r.spec.mode == Mode::KeepAlive && !r.spec.is_spawn_ceiling());
    let modes = if keep_alive {
        "one request per connection (close) or request after request on persistent \
         connections (keep-alive, ka in the chart)"
    } else {
        "one request per connection"
    };
    let extra = match spec.scenario {
        Scenario::SlowClients => ", while K slow clients dribble half-sent requests",
        Scenario::IdleConnections => {
            ", first alone (quiet), then while the idle persistent connections are held open \
             (i in the chart)"
        }
        Scenario::Health | Scenario::CacheSim => "",
    };
    let spawn = if results.iter().any(|r| r.spec.is_spawn_ceiling()) {
        "; spawn.c only spawns cache-audit and waits, without HTTP: its req/s are spawns/s"
    } else {
        ""
    };
    format!(
        "GET {}, closed loop, {modes}, {} s measured after {} s warm-up{extra}{spawn}",
        spec.scenario.path(),
        settings.duration.as_secs_f64(),
        settings.warmup.as_secs_f64()
    )
}
