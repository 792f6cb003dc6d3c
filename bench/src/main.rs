//! NetServe's benchmark: every stage under the same load, side by side.
//!
//! `cargo run --release -p bench -- --help` lists the options; README.md
//! explains the columns and how to check the figures against wrk.
//!
//! The program is a pipeline, one module per step:
//! [`cli`] turns the command line into a list of runs; for each, [`runner`]
//! starts the stage or [`reference`] server, holds the slow clients or the
//! idle connections if any, applies the load while sampling `/proc` (all
//! four from `harness`), and stops the server; [`report`],
//! [`chart`] and [`record`] write what came out.

mod chart;
mod cli;
mod record;
mod reference;
mod report;
mod runner;
mod stats;
mod wrk;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::cli::{Available, Cli, Mode, RunSpec, Scenario, ServerSpec};
use crate::runner::{RunResult, Settings};

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
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpus = u32::try_from(cpus).unwrap_or(u32::MAX);
    // The checkout's root: bench/ is one of its members.
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = manifest_dir.parent().unwrap_or(manifest_dir);
    let nginx = reference::find_nginx();
    let perf_dir = reference::find_perf_dir(repo);
    let available = Available {
        nginx: nginx.is_some(),
        ceilings: perf_dir.is_some() && reference::have_gcc(),
    };
    if cli.duration.is_zero() {
        return Err("--duration must be above 0".to_owned());
    }
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
        // The idle connections need a descriptor each, beyond the soft
        // limit's usual 1,024; the servers started later inherit the limit.
        match harness::proc::raise_descriptor_limit() {
            Ok(limit) => {
                let needed = u64::from(cli::IDLE_CONNECTIONS) + 1024;
                if limit < needed {
                    eprintln!(
                        "warning: at most {limit} open files (ulimit -n), and {} idle \
                         connections need about {needed}: raise the hard limit",
                        cli::IDLE_CONNECTIONS
                    );
                }
            }
            Err(error) => eprintln!("warning: cannot raise the open files limit: {error}"),
        }
    }

    let bin_dir = cli.bin_dir.clone().unwrap_or_else(default_bin_dir);
    if cli.url.is_none() {
        let mut stages: Vec<harness::stages::Stage> =
            runs.iter().filter_map(RunSpec::stage).collect();
        stages.sort();
        stages.dedup();
        let needs_cache_audit = runs.iter().any(|run| run.scenario == Scenario::CacheSim);
        if let Some(message) = harness::stages::missing_build(&stages, needs_cache_audit, &bin_dir)
        {
            return Err(message);
        }
    }
    let out = cli
        .out
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("out"));
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
    let commit = record::git_commit(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    announce(&runs, &settings, &load_before);

    let mut results: Vec<RunResult> = Vec::with_capacity(runs.len());
    for (index, spec) in runs.iter().enumerate() {
        let label = format!(
            "[{}/{}] {} {}",
            index + 1,
            runs.len(),
            spec.scenario.name(),
            spec.long_label()
        );
        match runner::execute(spec, &settings, &label) {
            Ok(result) => {
                eprintln!("{}", summary_line(&label, &result));
                for note in &result.notes {
                    eprintln!("    note: {note}");
                }
                results.push(result);
            }
            // A reference server that fails to start costs its row, not
            // the stages' measurements.
            Err(message) if !matches!(spec.server, ServerSpec::Stage(_) | ServerSpec::Url(_)) => {
                eprintln!("{label}: no row: {message}");
            }
            Err(message) => return Err(message),
        }
        let scenario_done = runs
            .get(index + 1)
            .is_none_or(|next| next.scenario != spec.scenario);
        let of_scenario: Vec<RunResult> = results
            .iter()
            .filter(|result| scenario_done && result.spec.scenario == spec.scenario)
            .cloned()
            .collect();
        if !of_scenario.is_empty() {
            println!(
                "\n{} — {}\n",
                spec.scenario.name(),
                describe(&of_scenario, &settings)
            );
            print!("{}", report::render_text(&report::table(&of_scenario)));
            println!();
        }
    }

    write_outputs(&out, &results, &settings)?;
    let scenarios: Vec<&'static str> = Scenario::ALL
        .iter()
        .filter(|scenario| {
            results
                .iter()
                .any(|result| result.spec.scenario == **scenario)
        })
        .map(|scenario| scenario.name())
        .collect();
    record::write_readme(
        &out,
        &record::Circumstances {
            command: command_line(),
            load_before,
            load_after: record::load_average(),
            commit,
            elapsed_s: started.elapsed().as_secs_f64(),
            scenarios,
            other_cpu_percent: results
                .iter()
                .filter_map(|result| result.other_cpu_percent)
                .collect(),
        },
    )?;
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
    let unanswered: Vec<String> = results
        .iter()
        .filter(|result| result.spec.scenario != Scenario::SlowClients && result.ok == 0)
        .map(|result| {
            format!(
                "{} {} ({})",
                result.spec.scenario.name(),
                result.spec.long_label(),
                result.errors
            )
        })
        .collect();
    if unanswered.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "no 2xx response at all in: {}",
            unanswered.join("; ")
        ))
    }
}

/// Where the stage binaries are by default: next to this program when it
/// was built with `--release` (as `cargo run --release -p bench` does, and
/// wherever `CARGO_TARGET_DIR` points), else in the `release` folder beside
/// its own, else `target/release` of the checkout it was built from.
fn default_bin_dir() -> PathBuf {
    if let Some(dir) = env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        if dir.file_name().is_some_and(|name| name == "release") {
            return dir;
        }
        if let Some(release) = dir.parent().map(|target| target.join("release")) {
            if release.is_dir() {
                return release;
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release")
}

/// Says what is about to happen and how long it will take.
fn announce(runs: &[RunSpec], settings: &Settings, load: &str) {
    // Per run: warm-up and window, plus about 0.3 s to start and stop.
    let mut per_run = settings.warmup + settings.duration + Duration::from_millis(300);
    if settings.wrk {
        per_run += settings.duration.max(Duration::from_secs(1));
    }
    let total = per_run.as_secs_f64() * runs.len() as f64;
    eprintln!(
        "{} runs of {:.0} s warm-up + {:.0} s measured: about {:.0} s. \
         Stages run with --quiet: no access log, we measure the server, not the terminal.",
        runs.len(),
        settings.warmup.as_secs_f64(),
        settings.duration.as_secs_f64(),
        total
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

/// One line per finished run, on stderr while the benchmark goes on.
fn summary_line(label: &str, result: &RunResult) -> String {
    let spec = &result.spec;
    let mut line = format!(
        "{label}: {} req/s",
        stats::format_count(result.requests_per_second.round() as u64)
    );
    if let Some(latency) = result.latency {
        line.push_str(&format!(
            ", p50 {} ms, p99 {} ms",
            stats::format_ms(latency.p50_us),
            stats::format_ms(latency.p99_us)
        ));
    }
    line.push_str(&format!(", errors {}", result.errors));
    if let Some(peaks) = result.peaks {
        line.push_str(&format!(", {} threads", peaks.threads));
    }
    line.push_str(&format!(" ({} conns", spec.connections));
    if let Some(pool) = spec.pool {
        line.push_str(&format!(", pool {pool}"));
    }
    if spec.slow_clients > 0 {
        line.push_str(&format!(
            ", {} slow clients cut off {} times",
            spec.slow_clients,
            result.slow_cut_off.unwrap_or(0)
        ));
    }
    line.push(')');
    if let Some(wrk) = result.wrk {
        line.push_str(&format!(
            "; wrk: {} req/s",
            stats::format_count(wrk.requests_per_second.round() as u64)
        ));
    }
    line
}

/// The load of a scenario in words, for the table's heading: `results`
/// are its runs.
fn describe(results: &[RunResult], settings: &Settings) -> String {
    let spec = &results[0].spec;
    let has = |mode: Mode| {
        results
            .iter()
            .any(|result| result.spec.mode == mode && !result.spec.is_spawn_ceiling())
    };
    let modes = match (has(Mode::Close), has(Mode::KeepAlive)) {
        (true, true) => {
            "one request per connection (close) or request after request on \
             persistent connections (keep-alive)"
        }
        (false, true) => "request after request on persistent connections (keep-alive)",
        _ => "one request per connection",
    };
    let mut text = format!(
        "GET {}, closed loop, {modes}, {} s measured after {} s warm-up",
        spec.path(),
        settings.duration.as_secs_f64(),
        settings.warmup.as_secs_f64()
    );
    match spec.scenario {
        Scenario::SlowClients => {
            text.push_str(", while K slow clients dribble half-sent requests");
        }
        Scenario::IdleConnections => {
            text.push_str(
                ", first alone (quiet), then while the idle persistent connections \
                 are held open",
            );
        }
        Scenario::Health | Scenario::CacheSim => {}
    }
    if results.iter().any(|result| result.spec.is_spawn_ceiling()) {
        text.push_str(
            "; spawn.c only spawns cache-audit and waits, without HTTP: its req/s are \
             spawns/s",
        );
    }
    text
}

/// results.csv, and SCENARIO.md and SCENARIO.svg for each scenario run.
fn write_outputs(out: &Path, results: &[RunResult], settings: &Settings) -> Result<(), String> {
    let write = |name: &str, text: &str| {
        let path = out.join(name);
        fs::write(&path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))
    };
    write(
        "results.csv",
        &report::csv(results, settings.duration.as_secs_f64()),
    )?;
    for scenario in Scenario::ALL {
        let of_scenario: Vec<RunResult> = results
            .iter()
            .filter(|result| result.spec.scenario == scenario)
            .cloned()
            .collect();
        if of_scenario.is_empty() {
            continue;
        }
        let heading = describe(&of_scenario, settings);
        let markdown = format!(
            "<!-- Written by `bench`: run it again rather than editing. -->\n\n\
             *{heading}.*\n\n{}",
            report::render_markdown(&report::table(&of_scenario))
        );
        write(&format!("{}.md", scenario.name()), &markdown)?;
        let title = chart_title(&of_scenario, settings);
        chart::write_svg(
            &out.join(format!("{}.svg", scenario.name())),
            &title,
            &of_scenario,
        )?;
    }
    Ok(())
}

/// The chart's title: scenario, request, connections, window.
fn chart_title(results: &[RunResult], settings: &Settings) -> String {
    let spec = &results[0].spec;
    let (low, high) = results.iter().fold((u32::MAX, 0), |(low, high), result| {
        (
            low.min(result.spec.connections),
            high.max(result.spec.connections),
        )
    });
    let connections = if low == high {
        format!("{low} connections")
    } else {
        format!("{low}-{high} connections")
    };
    let idle = results
        .iter()
        .map(|result| result.spec.idle)
        .max()
        .unwrap_or(0);
    let slow = match spec.scenario {
        Scenario::SlowClients => " + K slow clients".to_owned(),
        Scenario::IdleConnections => {
            format!(" (i: + {} idle)", stats::format_count(u64::from(idle)))
        }
        Scenario::Health | Scenario::CacheSim => String::new(),
    };
    let keep_alive = if results
        .iter()
        .any(|result| result.spec.mode == Mode::KeepAlive)
    {
        "; ka = keep-alive"
    } else {
        ""
    };
    format!(
        "{}: GET {}, {connections}{slow}, {} s per run{keep_alive}",
        spec.scenario.name(),
        spec.path(),
        settings.duration.as_secs_f64()
    )
}

/// This program's command line as typed, for the record.
fn command_line() -> String {
    let mut words = vec!["cargo run --release -p bench --".to_owned()];
    words.extend(env::args().skip(1));
    words.join(" ")
}
