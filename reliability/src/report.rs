//! The results as Markdown tables, for the terminal and for the book
//! (`book/src/measurements/reliability.md`, included by the last chapter).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::faults::FaultResult;
use crate::load::LoadResult;
use crate::slow::SlowResult;
use harness::load::Tally;

/// KiB as MiB with one decimal.
fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// `passed` as a table cell.
fn verdict(passed: bool) -> &'static str {
    if passed { "ok" } else { "**FAIL**" }
}

/// The slow-client table: one row per stage and attack.
pub fn slow_table(results: &[SlowResult]) -> String {
    let mut out = String::from(
        "| stage | attack | connections | attacker | normal client: 200 | 503 | no answer | p99 of 200s (ms) | peak threads | peak RSS (MiB) | alive |\n\
         |---|---|---:|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for result in results {
        let probe = &result.probe;
        let share = |count: usize| {
            if probe.attempts == 0 {
                "-".to_string()
            } else {
                format!("{:.0} %", 100.0 * count as f64 / probe.attempts as f64)
            }
        };
        let p99 = probe
            .p99_ms()
            .map_or("-".to_string(), |ms| format!("{ms:.1}"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} of {} ({}) | {} | {} | {} | {} | {} | {} |",
            result.stage,
            result.attack.mode.name(),
            result.attack.connections,
            match result.attack.attacker {
                crate::slow::Attacker::Slowhttptest => "slowhttptest",
                crate::slow::Attacker::Builtin => "built-in (sustained)",
            },
            probe.successes,
            probe.attempts,
            share(probe.successes),
            share(probe.busy),
            share(probe.failures),
            p99,
            result.peak_threads,
            mib(result.peak_rss_kib),
            if result.alive { "yes" } else { "**no**" },
        );
    }
    out
}

/// The fault table: one row per stage and fault.
pub fn fault_table(results: &[FaultResult]) -> String {
    let mut out = String::from(
        "| stage | fault | answer | descriptors before → after | zombies | result |\n\
         |---|---|---|---|---:|---|\n",
    );
    for result in results {
        let fds = if result.fds == (0, 0) {
            "-".to_string()
        } else {
            format!("{} → {}", result.fds.0, result.fds.1)
        };
        let outcome = if result.passed() {
            "ok".to_string()
        } else {
            format!("**FAIL**: {}", crate::failures(&result.checks))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            result.stage, result.fault, result.answer, fds, result.zombies, outcome
        );
    }
    out
}

/// The outcomes of a load by name, sorted: `2xx: 123, HTTP 503: 4, refused: 2`.
fn tally(tally: &Tally) -> String {
    let ok = (tally.ok > 0).then(|| ("2xx".to_owned(), tally.ok));
    let errors = (tally.errors.0.iter()).map(|(outcome, &n)| (outcome.to_string(), n));
    let by_name: BTreeMap<String, u64> = ok.into_iter().chain(errors).collect();
    if by_name.is_empty() {
        return "none".to_string();
    }
    let parts: Vec<String> = (by_name.iter())
        .map(|(name, n)| format!("{name}: {n}"))
        .collect();
    parts.join(", ")
}

/// The load and shutdown results: the outcome counts, then every check.
pub fn load_table(result: &LoadResult) -> String {
    let settings = &result.settings;
    let mut out = format!(
        "{} connections, {:?} of load ({:?} warm-up), then {:?} of load and SIGTERM.\n\n\
         | measure | value |\n|---|---|\n",
        settings.connections, settings.duration, settings.warmup, settings.before_signal
    );
    let rows = [
        (
            "requests during the load",
            result.load.requests().to_string(),
        ),
        ("outcomes during the load", tally(&result.load)),
        (
            "RSS at the end of warm-up → most after it",
            format!("{} → {} MiB", mib(result.rss_kib.0), mib(result.rss_kib.1)),
        ),
        (
            "descriptors before → peak → after the load",
            format!("{} → {} → {}", result.fds.0, result.fds.1, result.fds.2),
        ),
        ("outcomes around SIGTERM", tally(&result.shutdown)),
        (
            "answers logged by the server / received whole by clients",
            format!("{} / {}", result.server_answered, result.clients_answered),
        ),
        ("exit after SIGTERM", result.exit.clone()),
    ];
    for (measure, value) in rows {
        let _ = writeln!(out, "| {measure} | {value} |");
    }
    out.push_str("\n| check | observed | result |\n|---|---|---|\n");
    for check in &result.checks {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            check.what,
            check.observed,
            verdict(check.passed)
        );
    }
    out
}
