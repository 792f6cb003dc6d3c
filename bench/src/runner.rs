//! One run from start to finish: start the server, hold the slow clients or
//! the idle connections, apply the load while sampling the server in
//! `/proc`, stop everything.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::cli::{Mode, RunSpec, Scenario, ServerSpec};
use crate::reference::{self, Ceilings};
use crate::stats::Latency;
use crate::wrk::{self, WrkResult};
use harness::load::{Errors, Load, Pace, Plan, Target};
use harness::proc::{self, Peaks, Sampler, Watched};
use harness::server::Server;
use harness::slow::{IdleConnections, SlowClients};
use harness::stages;

/// How often the server's `/proc/PID/status` is sampled (50 ms): often
/// enough to see stage 02's thread count climb, rarely enough to cost
/// nothing measurable.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(50);

/// Longest wait for a connection, a write or each read; longer counts as a
/// timeout error.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The `/health` probe's rate beside the simulations: 100 requests a
/// second, too few to load the server, enough for a p99 over a few seconds.
const PROBE_RATE: u32 = 100;

/// What every run shares.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where the stage binaries are.
    pub bin_dir: PathBuf,
    /// Warm-up, window length, connections' timeout.
    pub warmup: Duration,
    /// Length of the measurement window.
    pub duration: Duration,
    /// Also run wrk against the same server, once before and once after
    /// each run, and average the two.
    pub wrk: bool,
    /// wrk's threads (the number of CPUs).
    pub wrk_threads: u32,
    /// The nginx binary, when nginx rows are planned.
    pub nginx: Option<PathBuf>,
    /// The compiled ceilings, when their rows are planned.
    pub ceilings: Option<Ceilings>,
    /// The trace spawn.c gives cache-audit: the one behind `trace=loop`.
    pub loop_trace: PathBuf,
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
    /// Peak threads and memory of the server; `None` for spawn.c.
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
    /// Idle connections the server closed during the run, of those opened
    /// (idle-connections only).
    pub idle_closed: Option<u64>,
    /// p99 of the paced `/health` probe, in µs (cache-sim only).
    pub probe_p99_us: Option<u64>,
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
    fn take(watched: Watched) -> CpuSnapshot {
        CpuSnapshot {
            at: Instant::now(),
            server: watched.cpu_time().ok(),
            client: proc::own_cpu_time(),
            machine: proc::machine_busy_time(),
        }
    }
}

/// CPU used between two readings as a percentage of one core over `wall`.
fn cpu_percent(start: Option<Duration>, end: Option<Duration>, wall: Duration) -> Option<f64> {
    let used = end?.checked_sub(start?)?;
    (wall > Duration::ZERO).then(|| used.as_secs_f64() / wall.as_secs_f64() * 100.0)
}

/// Performs one run.
///
/// # Errors
/// A message if the server cannot be started or the load cannot be applied.
pub fn execute(spec: &RunSpec, settings: &Settings) -> Result<RunResult, String> {
    if spec.is_spawn_ceiling() {
        return spawn_ceiling(spec, settings);
    }
    let mut notes = Vec::new();
    // Every connection of the run, and some to spare, for the servers that
    // bound them (stage 07's --max-connections, nginx's worker_connections).
    let all_connections = spec.connections + spec.slow_clients + spec.idle + 64;
    // nginx's temporary folder lives until the end of the run.
    let (server, _nginx_dir) = match &spec.server {
        ServerSpec::Stage(stage) => {
            // Every stage takes `PORT [THREADS] --quiet`; see DESIGN.md.
            let mut args = vec!["--quiet".to_owned()];
            if spec.scenario == Scenario::IdleConnections {
                // Hold the idle connections for the whole run (stage 07's
                // default idle timeout, 5 s, is shorter), and let them in.
                let hold = settings.warmup + settings.duration + Duration::from_secs(60);
                args.extend([
                    "--idle-timeout".to_owned(),
                    hold.as_secs().to_string(),
                    "--max-connections".to_owned(),
                    all_connections.to_string(),
                ]);
            }
            let args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
            let (bin_dir, traces) = (&settings.bin_dir, harness::default_traces_dir());
            let cache_audit = bin_dir.join(stages::CACHE_AUDIT);
            let mut command = Command::new(stage.path(bin_dir));
            command.args(stages::arguments(
                stage.number,
                spec.pool,
                &args,
                &cache_audit,
                &traces,
            ));
            (Server::start(command)?, None)
        }
        ServerSpec::Nginx => {
            let binary = settings
                .nginx
                .as_deref()
                .ok_or("nginx rows planned without an nginx binary")?;
            let workers = spec.pool.unwrap_or(settings.wrk_threads);
            // Keep-alive off for one request per connection, except when
            // idle persistent connections must be held.
            let keep_alive =
                spec.mode == Mode::KeepAlive || spec.scenario == Scenario::IdleConnections;
            let (server, dir) =
                reference::start_nginx(binary, workers, keep_alive, all_connections)?;
            (server, Some(dir))
        }
        ServerSpec::Ka | ServerSpec::Spawn => {
            let ceilings = settings
                .ceilings
                .as_ref()
                .ok_or("ceiling rows planned without the compiled ceilings")?;
            let threads = spec.pool.unwrap_or(settings.wrk_threads);
            (reference::start_ka(&ceilings.ka, threads)?, None)
        }
    };
    let (addr, host) = (server.addr(), server.addr().to_string());
    let watched = Watched {
        pid: server.pid(),
        // nginx's workers do the work; its master only watches.
        children: spec.server == ServerSpec::Nginx,
    };

    let idle = (spec.idle > 0).then(|| IdleConnections::open(addr, &host, spec.idle as usize));
    if let Some(failed) = idle.as_ref().map(|idle| idle.failed).filter(|&n| n > 0) {
        notes.push(format!(
            "{failed} of {} idle connections could not be opened",
            spec.idle
        ));
    }
    let slow = (spec.slow_clients > 0)
        .then(|| SlowClients::start(addr, &host, spec.slow_clients as usize));

    let target = Target::get(addr, &host, &[spec.scenario.path()], spec.mode);
    let plan = Plan {
        connections: usize::try_from(spec.connections).unwrap_or(usize::MAX),
        pace: Pace::Closed,
        warmup: settings.warmup,
        duration: settings.duration,
        timeout: TIMEOUT,
        stop_when_refused: false,
    };
    // wrk loads the same server once before our run and once after, and the
    // two are averaged. Whichever load runs second meets a kernel still full
    // of the first one's TIME_WAIT sockets (about 100,000 after 5 s at
    // 20,000 requests/s); running wrk on both sides cancels that order.
    let url = format!("http://{host}{}", spec.scenario.path());
    let wrk_args = wrk::command_line(
        &url,
        spec.connections,
        settings.wrk_threads,
        settings.duration,
        TIMEOUT,
        spec.mode,
    );
    let wrk_before = settings.wrk.then(|| wrk::run(&wrk_args));

    // While simulations run, a /health probe on a connection of its own, at
    // PROBE_RATE: does the server still answer a cheap request quickly?
    let probe = (spec.scenario == Scenario::CacheSim).then(|| {
        let target = Target::get(addr, &host, &[Scenario::Health.path()], spec.mode);
        let plan = Plan {
            connections: 1,
            pace: Pace::Rate(PROBE_RATE),
            ..plan
        };
        Load::start(&target, plan)
    });
    let load = Load::start(&target, plan)
        .map_err(|error| format!("cannot start the client threads: {error}"))?;
    let sampler = Sampler::start(watched, SAMPLE_INTERVAL);
    let (start_cpu, end_cpu) = monitor(&load, watched);
    let peaks = Some(sampler.stop().peaks);
    let result = load.finish();
    let probe_p99_us = probe.and_then(|probe| match probe {
        Ok(probe) => {
            let probe = probe.finish();
            if probe.errors.total() > 0 {
                notes.push(format!("the /health probe failed: {}", probe.errors));
            }
            Latency::from_histogram(&probe.latency).map(|latency| latency.p99_us)
        }
        Err(error) => {
            notes.push(format!("no /health probe: {error}"));
            None
        }
    });
    let slow_cut_off = slow.map(SlowClients::stop);
    let idle_closed = idle.as_ref().map(|idle| {
        let closed = idle.closed_by_server();
        if closed > 0 {
            notes.push(format!(
                "the server closed {closed} of {} idle connections during the run",
                idle.len()
            ));
        }
        closed as u64
    });
    drop(idle);

    let wrk_after = settings.wrk.then(|| wrk::run(&wrk_args));
    let wrk = match (wrk_before, wrk_after) {
        (Some(Ok(before)), Some(Ok(after))) => Some(before.mean(&after)),
        (Some(Err(error)), _) | (_, Some(Err(error))) => {
            notes.push(error);
            None
        }
        _ => None,
    };

    let stderr = server.stderr();
    if stderr.lines() > 0 {
        notes.push(format!(
            "the server logged {} line(s) on stderr; the last: {}",
            stderr.lines(),
            stderr.tail(1).join("")
        ));
    }
    let stopped = server.stop()?;
    if stopped.killed {
        notes.push("the server did not exit within 5 s of SIGTERM and was killed".to_owned());
    } else if spec.stage().is_some_and(|stage| stage.number >= 6) && !stopped.status.success() {
        notes.push(format!(
            "stage {} should drain and exit 0 on SIGTERM, but {}",
            spec.server.label(),
            stopped.status
        ));
    }

    let wall = end_cpu.at - start_cpu.at;
    let server_cpu_percent = cpu_percent(start_cpu.server, end_cpu.server, wall);
    let client_cpu_percent = cpu_percent(start_cpu.client, end_cpu.client, wall);
    let other_cpu_percent = cpu_percent(start_cpu.machine, end_cpu.machine, wall).map(|machine| {
        (machine - server_cpu_percent.unwrap_or(0.0) - client_cpu_percent.unwrap_or(0.0)).max(0.0)
    });
    Ok(RunResult {
        spec: spec.clone(),
        requests_per_second: result.ok as f64 / settings.duration.as_secs_f64(),
        ok: result.ok,
        latency: Latency::from_histogram(&result.latency),
        errors: result.errors,
        peaks,
        server_cpu_percent,
        client_cpu_percent,
        other_cpu_percent,
        slow_cut_off,
        idle_closed,
        probe_p99_us,
        wrk,
        notes,
    })
}

/// spawn.c's run: no server and no load, only its rate of spawns, filed as
/// requests/s so that it stands beside the stages' `/run-cache-sim`.
fn spawn_ceiling(spec: &RunSpec, settings: &Settings) -> Result<RunResult, String> {
    let ceilings = settings
        .ceilings
        .as_ref()
        .ok_or("ceiling rows planned without the compiled ceilings")?;
    let threads = spec.pool.unwrap_or(settings.wrk_threads);
    let cache_audit = settings.bin_dir.join(stages::CACHE_AUDIT);
    let rate = reference::run_spawn(&ceilings.spawn, &cache_audit, &settings.loop_trace, threads)?;
    Ok(RunResult {
        spec: spec.clone(),
        requests_per_second: rate,
        ok: (rate * 5.0).round() as u64,
        latency: None,
        errors: Errors::default(),
        peaks: None,
        server_cpu_percent: None,
        client_cpu_percent: None,
        other_cpu_percent: None,
        slow_cut_off: None,
        idle_closed: None,
        probe_p99_us: None,
        wrk: None,
        notes: vec![format!(
            "spawn.c: {threads} threads spawn cache-audit on {} and wait, for 5 s, no HTTP",
            settings.loop_trace.display()
        )],
    })
}

/// Waits for a load's window to open and close, and reads the CPU times at
/// both ends.
fn monitor(load: &Load, watched: Watched) -> (CpuSnapshot, CpuSnapshot) {
    thread::sleep(load.window_start.saturating_duration_since(Instant::now()));
    let start = CpuSnapshot::take(watched);
    thread::sleep(load.window_end.saturating_duration_since(Instant::now()));
    (start, CpuSnapshot::take(watched))
}
