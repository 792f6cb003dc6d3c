//! The results as a Markdown table, aligned, for the terminal and the book,
//! and as CSV for everything else.

use crate::cli::{Mode, RunSpec, Scenario, ServerSpec};
use crate::runner::RunResult;
use crate::stats::{Latency, format_count, format_mib, format_ms};
use harness::load::Failure;

/// A table of strings, one row per run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Column headings.
    pub headers: Vec<&'static str>,
    /// Cells, each row as long as `headers`.
    pub rows: Vec<Vec<String>>,
}

/// A column: its heading and how a row's cell is written.
type Column<'a> = (&'static str, Box<dyn Fn(&RunResult) -> String + 'a>);

/// The results' table. Columns that would be empty in every row (the
/// ratio to stage 02 without a stage 02, the ratio to nginx without nginx,
/// the slow clients or idle connections outside their scenario, the
/// connection mode when every run closes, wrk without `--wrk`) are left
/// out.
pub fn table(results: &[RunResult]) -> Table {
    let dash = || "-".to_owned();
    let any = |test: &dyn Fn(&RunResult) -> bool| results.iter().any(test);
    let scenario = |scenario| move |result: &RunResult| result.spec.scenario == scenario;
    // The rate of another row under the same load, for a ratio.
    let rate_of = |spec: &RunSpec, other: &dyn Fn(&RunSpec) -> bool| {
        let same = |o: &RunSpec| o.scenario == spec.scenario && o.connections == spec.connections;
        (results.iter())
            .find(|r| same(&r.spec) && r.spec.slow_clients == spec.slow_clients && other(&r.spec))
            .map(|r| r.requests_per_second)
            .filter(|&rate| rate > 0.0)
    };
    // Stage 02 (which only closes, so whatever the mode), and nginx in the
    // same mode with as many idle connections.
    let vs_02 = |spec: &RunSpec| rate_of(spec, &|o| o.stage().is_some_and(|s| s.number == 2));
    let vs_nginx = |spec: &RunSpec| {
        rate_of(spec, &|o| {
            o.server == ServerSpec::Nginx && o.mode == spec.mode && o.idle == spec.idle
        })
    };
    // The same server's p99 without idle connections.
    let quiet_p99 = |spec: &RunSpec| {
        (results.iter())
            .find(|o| {
                o.spec
                    == RunSpec {
                        idle: 0,
                        ..spec.clone()
                    }
            })
            .and_then(|o| o.latency)
            .map(|latency| latency.p99_us)
            .filter(|&p99| p99 > 0)
    };
    let ms = |pick: fn(Latency) -> u64| {
        move |r: &RunResult| r.latency.map_or_else(dash, |l| format_ms(pick(l)))
    };
    let percent = |pick: fn(&RunResult) -> Option<f64>| {
        move |r: &RunResult| pick(r).map_or_else(dash, |p| format!("{p:.0}"))
    };
    let first = if any(&|r| r.spec.stage().is_none()) {
        "server"
    } else {
        "stage"
    };
    let wrk = any(&|r| r.wrk.is_some());
    let mut t = Columns(Vec::new());
    t.add(true, first, |r| r.spec.server.label());
    let closes = |r: &RunResult| r.spec.mode == Mode::Close && !r.spec.is_spawn_ceiling();
    t.add(!results.iter().all(closes), "conn", |r| {
        r.spec.mode_label().to_owned()
    });
    t.add(true, "pool", |r| {
        r.spec.pool.map_or_else(dash, |pool| pool.to_string())
    });
    let connections = |r: &RunResult| r.spec.connections.to_string();
    t.add(true, "conns", move |r| {
        if r.spec.is_spawn_ceiling() {
            dash()
        } else {
            connections(r)
        }
    });
    t.add(any(&scenario(Scenario::SlowClients)), "slow", |r| {
        r.spec.slow_clients.to_string()
    });
    let idle = any(&scenario(Scenario::IdleConnections));
    t.add(idle, "idle", |r| format_count(r.spec.idle.into()));
    t.add(true, "req/s", |r| {
        format_count(r.requests_per_second.round() as u64)
    });
    let vs = |base: Option<f64>, r: &RunResult| {
        base.map_or_else(dash, |base| ratio(r.requests_per_second, base))
    };
    t.add(any(&|r| vs_02(&r.spec).is_some()), "vs 02", move |r| {
        vs(vs_02(&r.spec), r)
    });
    t.add(
        any(&|r| vs_nginx(&r.spec).is_some()),
        "vs nginx",
        move |r| vs(vs_nginx(&r.spec), r),
    );
    t.add(true, "p50 ms", ms(|l| l.p50_us));
    t.add(true, "p90 ms", ms(|l| l.p90_us));
    t.add(true, "p99 ms", ms(|l| l.p99_us));
    t.add(true, "max ms", ms(|l| l.max_us));
    t.add(idle, "p99 vs quiet", move |r| {
        let quiet = quiet_p99(&r.spec).zip(r.latency);
        quiet.map_or_else(dash, |(quiet, l)| ratio(l.p99_us as f64, quiet as f64))
    });
    let probe = any(&scenario(Scenario::CacheSim));
    t.add(probe, "/health p99 ms", |r| {
        r.probe_p99_us.map_or_else(dash, format_ms)
    });
    t.add(true, "errors", |r| r.errors.to_string());
    t.add(true, "threads", |r| {
        r.peaks.map_or_else(dash, |p| p.threads.to_string())
    });
    t.add(true, "RSS MiB", |r| {
        r.peaks.map_or_else(dash, |p| format_mib(p.rss_kib))
    });
    t.add(true, "srv CPU%", percent(|r| r.server_cpu_percent));
    t.add(true, "cli CPU%", percent(|r| r.client_cpu_percent));
    t.add(true, "other CPU%", percent(|r| r.other_cpu_percent));
    let wrk_rate = |r: &RunResult| r.wrk.map(|wrk| wrk.requests_per_second);
    t.add(wrk, "wrk req/s", move |r| {
        wrk_rate(r).map_or_else(dash, |w| format_count(w.round() as u64))
    });
    t.add(wrk, "wrk/ours", move |r| {
        wrk_rate(r).map_or_else(dash, |w| ratio(w, r.requests_per_second))
    });
    t.add(wrk, "wrk p99 ms", |r| {
        r.wrk.and_then(|w| w.p99_us).map_or_else(dash, format_ms)
    });
    Table {
        headers: t.0.iter().map(|(header, _)| *header).collect(),
        rows: (results.iter())
            .map(|result| t.0.iter().map(|(_, cell)| cell(result)).collect())
            .collect(),
    }
}

/// A table's columns, as they are added.
struct Columns<'a>(Vec<Column<'a>>);

impl<'a> Columns<'a> {
    /// Adds a column, if it is `shown`.
    fn add(&mut self, shown: bool, header: &'static str, cell: impl Fn(&RunResult) -> String + 'a) {
        if shown {
            self.0.push((header, Box::new(cell)));
        }
    }
}

/// `value / base` as `0.97×`.
fn ratio(value: f64, base: f64) -> String {
    if base > 0.0 {
        format!("{:.2}×", value / base)
    } else {
        "-".to_owned()
    }
}

/// The table in GitHub-flavoured Markdown, as mdBook renders it, every
/// column padded to its widest cell so that it reads as plain text in a
/// terminal too: the first column left-aligned, the numbers right-aligned.
pub fn render(table: &Table) -> String {
    let rows = table
        .rows
        .iter()
        .map(|row| row.iter().map(String::as_str).collect());
    let lines: Vec<Vec<&str>> = [table.headers.clone()].into_iter().chain(rows).collect();
    let widths: Vec<usize> = (0..table.headers.len())
        .map(|column| {
            lines
                .iter()
                .map(|cells| cells[column].chars().count())
                .max()
                .unwrap_or(0)
                .max(3)
        })
        .collect();
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let pad = |cells: &Vec<&str>| -> Vec<String> {
        (cells.iter().zip(&widths).enumerate())
            .map(|(column, (cell, &width))| match column {
                0 => format!("{cell:<width$}"),
                _ => format!("{cell:>width$}"),
            })
            .collect()
    };
    let rule = (widths.iter().enumerate())
        .map(|(column, &width)| match column {
            0 => "-".repeat(width),
            _ => format!("{}:", "-".repeat(width - 1)),
        })
        .collect();
    let mut text = line(pad(&lines[0])) + &line(rule);
    for cells in &lines[1..] {
        text.push_str(&line(pad(cells)));
    }
    text
}

/// The header of `results.csv`. Latencies in µs, memory in KiB, CPU in
/// percent of one core, durations in seconds.
pub const CSV_HEADER: &str = "scenario,server,path,mode,pool_threads,connections,slow_clients,\
idle_connections,duration_s,responses_2xx,requests_per_s,p50_us,p90_us,p99_us,max_us,\
errors_refused,errors_reset,errors_timeout,errors_non_2xx,errors_client,errors_other,\
peak_threads,peak_rss_kib,server_cpu_percent,client_cpu_percent,other_cpu_percent,\
idle_closed,probe_p99_us,wrk_requests_per_s,wrk_p99_us";

/// Every result as one CSV line under [`CSV_HEADER`] (RFC 4180; empty cells
/// for values not measured; no field holds a comma, a quote or a line
/// break, so none is quoted). `duration` is the window length in seconds.
pub fn csv(results: &[RunResult], duration_s: f64) -> String {
    let mut text = String::from(CSV_HEADER);
    text.push('\n');
    for result in results {
        let spec = &result.spec;
        let optional =
            |value: Option<u64>| value.map_or_else(String::new, |value| value.to_string());
        let percent =
            |value: Option<f64>| value.map_or_else(String::new, |value| format!("{value:.1}"));
        let latency = result.latency;
        let errors = &result.errors;
        let fields = [
            spec.scenario.name().to_owned(),
            spec.server.label(),
            spec.scenario.path().to_owned(),
            spec.mode_label().to_owned(),
            optional(spec.pool.map(u64::from)),
            spec.connections.to_string(),
            spec.slow_clients.to_string(),
            spec.idle.to_string(),
            format!("{duration_s}"),
            result.ok.to_string(),
            format!("{:.1}", result.requests_per_second),
            optional(latency.map(|l| l.p50_us)),
            optional(latency.map(|l| l.p90_us)),
            optional(latency.map(|l| l.p99_us)),
            optional(latency.map(|l| l.max_us)),
            errors.of(&[Failure::Refused]).to_string(),
            // No whole response: reset, closed, or cut short.
            errors
                .of(&[Failure::Reset, Failure::Closed, Failure::Incomplete])
                .to_string(),
            errors.of(&[Failure::Timeout]).to_string(),
            errors.non_2xx().to_string(),
            errors.of(&[Failure::Client]).to_string(),
            errors.of(&[Failure::Other]).to_string(),
            optional(result.peaks.map(|peaks| peaks.threads)),
            optional(result.peaks.map(|peaks| peaks.rss_kib)),
            percent(result.server_cpu_percent),
            percent(result.client_cpu_percent),
            percent(result.other_cpu_percent),
            optional(result.idle_closed),
            optional(result.probe_p99_us),
            result
                .wrk
                .map_or_else(String::new, |wrk| format!("{:.1}", wrk.requests_per_second)),
            optional(result.wrk.and_then(|wrk| wrk.p99_us)),
        ];
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ServerSpec;
    use crate::stats::Latency;
    use harness::load::{Errors, Outcome};
    use harness::proc::Peaks;
    use harness::stages;

    fn result(stage: usize, rate: f64, latency: Option<Latency>) -> RunResult {
        let stage = stages::ALL[stage - 1];
        RunResult {
            spec: RunSpec {
                scenario: Scenario::Health,
                server: ServerSpec::Stage(stage),
                connections: 64,
                pool: stage.has_pool().then_some(2),
                slow_clients: 0,
                idle: 0,
                mode: Mode::Close,
            },
            requests_per_second: rate,
            ok: (rate * 5.0) as u64,
            latency,
            errors: Errors(
                latency
                    .is_none()
                    .then_some((Outcome::Failed(Failure::Timeout), 7))
                    .into_iter()
                    .collect(),
            ),
            peaks: Some(Peaks {
                threads: 3,
                rss_kib: 2560,
                samples: 10,
            }),
            server_cpu_percent: Some(120.4),
            client_cpu_percent: None,
            other_cpu_percent: Some(3.0),
            slow_cut_off: None,
            idle_closed: None,
            probe_p99_us: None,
            wrk: None,
            notes: Vec::new(),
        }
    }

    fn sample() -> Vec<RunResult> {
        let latency = Latency {
            p50_us: 1_234,
            p90_us: 2_000,
            p99_us: 15_500,
            max_us: 120_000,
        };
        vec![
            result(2, 20_000.0, Some(latency)),
            result(3, 19_000.0, Some(latency)),
            result(1, 0.0, None),
        ]
    }

    #[test]
    fn aligned_markdown_table() {
        let expected = "\
| stage | pool | conns |  req/s | vs 02 | p50 ms | p90 ms | p99 ms | max ms |    errors | threads | RSS MiB | srv CPU% | cli CPU% | other CPU% |
| ----- | ---: | ----: | -----: | ----: | -----: | -----: | -----: | -----: | --------: | ------: | ------: | -------: | -------: | ---------: |
| 02    |    - |    64 | 20,000 | 1.00× |   1.23 |   2.00 |   15.5 |    120 |         0 |       3 |     2.5 |      120 |        - |          3 |
| 03    |    2 |    64 | 19,000 | 0.95× |   1.23 |   2.00 |   15.5 |    120 |         0 |       3 |     2.5 |      120 |        - |          3 |
| 01    |    - |    64 |      0 | 0.00× |      - |      - |      - |      - | 7 timeout |       3 |     2.5 |      120 |        - |          3 |
";
        assert_eq!(render(&table(&sample())), expected);
    }

    #[test]
    fn csv_rows() {
        let text = csv(&sample(), 5.0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(
            lines[1],
            "health,02,/health,close,,64,0,0,5,100000,20000.0,1234,2000,15500,120000,0,0,0,0,0,0,3,2560,120.4,,3.0,,,,"
        );
        assert_eq!(
            lines[3],
            "health,01,/health,close,,64,0,0,5,0,0.0,,,,,0,0,7,0,0,0,3,2560,120.4,,3.0,,,,"
        );
        assert_eq!(lines[0].split(',').count(), lines[1].split(',').count());
    }
}
