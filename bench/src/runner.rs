//! One run from start to finish: start the server, hold the slow clients,
//! apply the load while sampling the server in `/proc`, stop everything.

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{RunSpec, ServerSpec};
use crate::load::{self, Load, Schedule, Target};
use crate::procfs::{self, Peaks};
use crate::server::Server;
use crate::slow::SlowClients;
use crate::stats::{self, Errors, Latency};
use crate::wrk::{self, WrkResult};

/// How often the server's `/proc/PID/status` is sampled (50 ms): often
/// enough to see stage 02's thread count climb, rarely enough to cost
/// nothing measurable.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(50);

/// What every run shares.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where the stage binaries are.
    pub bin_dir: PathBuf,
    /// Warm-up, window length, connections' timeout.
    pub warmup: Duration,
    /// Length of the measurement window.
    pub duration: Duration,
    /// Longest wait for a connect, write or response.
    pub timeout: Duration,
    /// With `--url`: the server's pid, to sample it.
    pub url_pid: Option<u32>,
    /// Also run wrk against the same server, once before and once after
    /// each run, and average the two.
    pub wrk: bool,
    /// wrk's threads (the number of CPUs).
    pub wrk_threads: u32,
}

/// The results of one run: one row of every table.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// What was run.
    pub spec: RunSpec,
    /// 2xx responses per second in the window.
    pub requests_per_second: f64,
    /// 2xx responses in the window.
    pub ok: u64,
    /// Latency percentiles of the 2xx responses; `None` if there were none.
    pub latency: Option<Latency>,
    /// Everything that was not a 2xx response.
    pub errors: Errors,
    /// Peak threads and memory of the server; `None` when it could not be
    /// sampled (`--url` without `--pid`).
    pub peaks: Option<Peaks>,
    /// Server CPU time in the window as a percentage of one core (200 % =
    /// both cores of this machine), children included.
    pub server_cpu_percent: Option<f64>,
    /// This program's CPU time in the window, same unit: the load generator
    /// competes with the server for the same cores.
    pub client_cpu_percent: Option<f64>,
    /// CPU time used in the window by everything else on the machine (other
    /// processes, and kernel work charged to no process), same unit. Near 0
    /// on a quiet machine; when it is not, the run was disturbed.
    pub other_cpu_percent: Option<f64>,
    /// How often the server cut a slow client off (slow-clients only).
    pub slow_cut_off: Option<u64>,
    /// wrk's figures for the same load, with `--wrk`.
    pub wrk: Option<WrkResult>,
    /// Anything worth saying about the run: lines the server logged, an
    /// unexpected exit.
    pub notes: Vec<String>,
}

/// A point in time with the CPU time used so far by the server and by us.
struct CpuSnapshot {
    at: Instant,
    server: Option<Duration>,
    client: Option<Duration>,
    machine: Option<Duration>,
}

impl CpuSnapshot {
    fn take(pid: Option<u32>) -> CpuSnapshot {
        CpuSnapshot {
            at: Instant::now(),
            server: pid.and_then(procfs::read_cpu_time),
            client: procfs::own_cpu_time(),
            machine: procfs::read_machine_busy_time(),
        }
    }
}

/// CPU used between two readings as a percentage of one core over `wall`.
fn cpu_percent(start: Option<Duration>, end: Option<Duration>, wall: Duration) -> Option<f64> {
    let used = end?.checked_sub(start?)?;
    (wall > Duration::ZERO).then(|| used.as_secs_f64() / wall.as_secs_f64() * 100.0)
}

/// Performs one run. `label` prefixes the progress bar.
///
/// # Errors
/// A message if the server cannot be started or the load cannot be applied.
pub fn execute(spec: &RunSpec, settings: &Settings, label: &str) -> Result<RunResult, String> {
    let mut notes = Vec::new();
    let (server, addr, pid) = match &spec.server {
        ServerSpec::Stage(stage) => {
            // Every stage takes `PORT [THREADS] --quiet`; see DESIGN.md.
            let mut args = vec!["0".to_owned()];
            if let Some(pool) = spec.pool {
                args.push(pool.to_string());
            }
            args.push("--quiet".to_owned());
            let server = Server::start(&stage.path(&settings.bin_dir), &args)?;
            let (addr, pid) = (server.addr, server.pid());
            (Some(server), addr, Some(pid))
        }
        ServerSpec::Url(url) => (None, url.resolve()?, settings.url_pid),
    };
    let host = match &spec.server {
        ServerSpec::Url(url) => url.authority.clone(),
        ServerSpec::Stage(_) => addr.to_string(),
    };

    let slow = if spec.slow_clients > 0 {
        let count = usize::try_from(spec.slow_clients).unwrap_or(usize::MAX);
        Some(SlowClients::start(addr, &host, count)?)
    } else {
        None
    };

    let target = Target {
        addr,
        request: load::get_request(&host, spec.path()),
    };
    let schedule = Schedule {
        connections: usize::try_from(spec.connections).unwrap_or(usize::MAX),
        warmup: settings.warmup,
        duration: settings.duration,
        timeout: settings.timeout,
    };
    // wrk loads the same server once before our run and once after, and the
    // two are averaged. Whichever load runs second meets a kernel still full
    // of the first one's TIME_WAIT sockets (about 100,000 after 5 s at
    // 20,000 requests/s); running wrk on both sides cancels that order.
    let url = format!("http://{host}{}", spec.path());
    let wrk_args = wrk::command_line(
        &url,
        spec.connections,
        settings.wrk_threads,
        settings.duration,
        settings.timeout,
    );
    let wrk_before = settings.wrk.then(|| wrk::run(&wrk_args));

    let load = Load::start(&target, schedule)
        .map_err(|error| format!("cannot start the client threads: {error}"))?;

    let (peaks, start_cpu, end_cpu) = monitor(&load, pid, label);
    let result = load.finish();
    let slow_cut_off = slow.map(SlowClients::stop);

    let wrk_after = settings.wrk.then(|| wrk::run(&wrk_args));
    let wrk = match (wrk_before, wrk_after) {
        (Some(Ok(before)), Some(Ok(after))) => Some(before.mean(&after)),
        (Some(Err(error)), _) | (_, Some(Err(error))) => {
            notes.push(error);
            None
        }
        _ => None,
    };

    if let Some(server) = server {
        let (lines, tail) = server.take_stderr();
        if lines > 0 {
            notes.push(format!(
                "the server logged {lines} line(s) on stderr; the last: {}",
                tail.last().map_or("", String::as_str)
            ));
        }
        let stopped = server.stop()?;
        if stopped.killed {
            notes.push("the server did not exit within 5 s of SIGTERM and was killed".to_owned());
        } else if spec.stage().is_some_and(|stage| stage.number >= 6) && !stopped.status.success() {
            notes.push(format!(
                "stages 06-07 should drain and exit 0 on SIGTERM, but {}",
                stopped.status
            ));
        }
    }

    let wall = end_cpu.at - start_cpu.at;
    let server_cpu_percent = cpu_percent(start_cpu.server, end_cpu.server, wall);
    let client_cpu_percent = cpu_percent(start_cpu.client, end_cpu.client, wall);
    // Without the server's pid (--url alone) its CPU is part of "other".
    let other_cpu_percent = cpu_percent(start_cpu.machine, end_cpu.machine, wall).map(|machine| {
        (machine - server_cpu_percent.unwrap_or(0.0) - client_cpu_percent.unwrap_or(0.0)).max(0.0)
    });
    Ok(RunResult {
        spec: spec.clone(),
        requests_per_second: result.requests_per_second(),
        ok: result.ok,
        latency: Latency::from_histogram(&result.latency),
        errors: result.errors,
        peaks: pid.and(peaks),
        server_cpu_percent,
        client_cpu_percent,
        other_cpu_percent,
        slow_cut_off,
        wrk,
        notes,
    })
}

/// Watches a load until its window closes: samples the server's
/// `/proc/PID/status` every [`SAMPLE_INTERVAL`], reads CPU times as the
/// window opens and closes, and moves a progress bar (drawn on stderr, and
/// only when stderr is a terminal).
fn monitor(
    load: &Load,
    pid: Option<u32>,
    label: &str,
) -> (Option<Peaks>, CpuSnapshot, CpuSnapshot) {
    let started = Instant::now();
    let total = load.window_end.saturating_duration_since(started);
    let bar = ProgressBar::new(u64::try_from(total.as_millis()).unwrap_or(u64::MAX));
    if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label.to_owned());

    let mut peaks: Option<Peaks> = None;
    let mut start_cpu = None;
    loop {
        let now = Instant::now();
        if start_cpu.is_none() && now >= load.window_start {
            start_cpu = Some(CpuSnapshot::take(pid));
        }
        if now >= load.window_end {
            break;
        }
        if let Some(status) = pid.and_then(procfs::read_status) {
            peaks.get_or_insert_with(Peaks::default).add(status);
        }
        bar.set_position(u64::try_from((now - started).as_millis()).unwrap_or(0));
        if now < load.window_start {
            bar.set_message("warming up");
        } else {
            let seconds = (now - load.window_start).as_secs_f64().max(0.001);
            let rate = load.ok_so_far() as f64 / seconds;
            bar.set_message(format!(
                "{} req/s",
                stats::format_count(rate.round() as u64)
            ));
        }
        // Wake for the next sample, or exactly when the window opens or closes.
        let boundary = if start_cpu.is_none() {
            load.window_start
        } else {
            load.window_end
        };
        let wake = (now + SAMPLE_INTERVAL).min(boundary);
        thread::sleep(wake.saturating_duration_since(Instant::now()));
    }
    let end_cpu = CpuSnapshot::take(pid);
    // One last sample, for VmHWM at the very end.
    if let Some(status) = pid.and_then(procfs::read_status) {
        peaks.get_or_insert_with(Peaks::default).add(status);
    }
    bar.finish_and_clear();
    let start_cpu = start_cpu.unwrap_or_else(|| CpuSnapshot::take(pid));
    (peaks, start_cpu, end_cpu)
}
