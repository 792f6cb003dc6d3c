//! The circumstances of a benchmark run — command, date, machine, commit,
//! load average — written next to the results, because a number without
//! them cannot be checked or reproduced.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Instant, SystemTime};

use crate::cli::Scenario;
use crate::runner::RunResult;

/// The 1-, 5- and 15-minute load averages, the first three fields of
/// `/proc/loadavg`, e.g. `0.12 0.30 0.41`; `unknown` if it cannot be read.
pub fn load_average() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_else(|_| "unknown".to_owned());
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The 1-minute load average, if it can be read.
pub fn load_average_1min() -> Option<f64> {
    load_average().split_whitespace().next()?.parse().ok()
}

/// The value of the first `KEY: value` line of `path` (`/proc/cpuinfo`,
/// `/proc/meminfo`) whose key is `key`.
fn proc_field(path: &str, key: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name.trim() == key).then(|| value.trim().to_owned())
    })
}

/// The commit checked out in `dir`, with `(uncommitted changes)` when
/// tracked files differ from it; `unknown` without git. Ask before the runs:
/// writing the results changes tracked files.
pub fn git_commit(dir: &Path) -> String {
    let git = |args: &[&str]| {
        let mut command = Command::new("git");
        crate::reference::output(command.arg("-C").arg(dir).args(args)).ok()
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).map(|commit| commit.trim().to_owned());
    match (
        commit,
        git(&["status", "--porcelain", "--untracked-files=no"]),
    ) {
        (Some(commit), Some(changes)) if !changes.trim().is_empty() => {
            format!("{commit} (uncommitted changes)")
        }
        (Some(commit), _) => commit,
        (None, _) => "unknown".to_owned(),
    }
}

/// `median X %, highest Y %` of the other processes' CPU use per run.
pub fn describe_other_cpu(percents: &[f64]) -> String {
    if percents.is_empty() {
        return "not measured".to_owned();
    }
    let mut sorted = percents.to_vec();
    sorted.sort_by(f64::total_cmp);
    format!(
        "median {:.0} %, highest {:.0} % of one core",
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    )
}

/// Writes `README.md` in `out`: this program's command line, the date, the
/// machine, the `commit` measured ([`git_commit`] before the first run), the
/// load average `load_before` the first run and now, the time since
/// `started`, how quiet the machine was (the CPU used by everything but the
/// server and the benchmark in each of `results`), and which file is which.
///
/// # Errors
/// The message of a failed write.
pub fn write_readme(
    out: &Path,
    commit: &str,
    load_before: &str,
    started: Instant,
    results: &[RunResult],
) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    let memory_kib = proc_field("/proc/meminfo", "MemTotal")
        .and_then(|value| value.split_whitespace().next()?.parse::<f64>().ok());
    let memory = memory_kib.map_or("unknown".to_owned(), |kib| {
        format!("{:.0} GiB", kib / 1048576.0)
    });
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |text| text.trim().to_owned());
    let mut files =
        String::from("- `results.csv`: every run, raw numbers (µs, KiB, % of one core)\n");
    let ran = |scenario: &Scenario| results.iter().any(|r| r.spec.scenario == *scenario);
    for scenario in Scenario::ALL.iter().filter(|s| ran(s)).map(|s| s.name()) {
        files.push_str(&format!(
            "- `{scenario}.md`, `{scenario}.svg`: the {scenario} table and chart\n"
        ));
    }
    let text = format!(
        "# Measurements\n\n\
         Written by the benchmark (`bench/`); do not edit by hand, run it again.\n\n\
         - Command: `{command}`\n\
         - Date: {date}\n\
         - Machine: {cores} cores ({cpu}), {memory} of memory, Linux {kernel}\n\
         - Commit: {commit}\n\
         - Load average (1, 5, 15 min) before: {load_before}; after: {after} (the benchmark's \
         own client threads count in the second)\n\
         - CPU used during the runs by everything except the server and the benchmark: \
         {other}\n\
         - Duration of the whole benchmark: {elapsed:.0} s\n\n\
         The servers ran with `--quiet` (no access log: we measure the server, not the \
         terminal), on the same machine as the load generator, which competes with them \
         for the same cores.\n\n\
         {files}",
        command = std::iter::once("cargo run --release -p bench --".to_owned())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
        date = common::date::http_date(SystemTime::now()),
        cpu = proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown CPU".to_owned()),
        after = load_average(),
        other = describe_other_cpu(
            &results
                .iter()
                .filter_map(|r| r.other_cpu_percent)
                .collect::<Vec<_>>()
        ),
        elapsed = started.elapsed().as_secs_f64(),
    );
    let path = out.join("README.md");
    fs::write(&path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_cpu_summary() {
        assert_eq!(describe_other_cpu(&[]), "not measured");
        assert_eq!(
            describe_other_cpu(&[9.0, 1.0, 2.0]),
            "median 2 %, highest 9 % of one core"
        );
    }

    #[test]
    fn load_average_fields() {
        assert_eq!(load_average().split(' ').count(), 3);
        assert!(load_average_1min().is_some());
    }
}
