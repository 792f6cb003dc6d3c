//! Slow clients: slowloris (a request head sent one line at a time, never
//! finished) and slow read (a request sent at once, its answer read a few
//! bytes at a time through a tiny TCP window), 500 connections at once, while
//! a normal client asks for `/health`.
//!
//! The attacks come from `slowhttptest` (the Debian package of that name)
//! when it is installed, or from the harness's slow clients, which need
//! nothing but this workspace (what CI uses).

use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use harness::client::{Connection, get_request};
use harness::proc::{Sampler, Watched};
use harness::slow::SlowClients;
use harness::stages::Stage;
use harness::wait_until;

use crate::Setup;

/// How often the server is sampled in `/proc` during an attack.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// Which slow-client attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Slow headers: each connection sends a partial head, then one more
    /// header line every few seconds, never the empty line.
    Slowloris,
    /// Slow read: each connection sends a whole request, then reads the
    /// answer a few bytes a second through a receive window of a few bytes.
    SlowRead,
}

impl Mode {
    /// The name used in tables.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Slowloris => "slowloris",
            Mode::SlowRead => "slow read",
        }
    }
}

/// Who attacks (also the values of `--attacker`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Attacker {
    /// slowhttptest (apt-get install slowhttptest): slowloris and slow read.
    Slowhttptest,
    /// The harness's slow clients (slowloris only), which keep every connection open by
    /// reconnecting.
    Builtin,
}

/// The settings of one attack.
#[derive(Clone, Copy, Debug)]
pub struct Attack {
    /// Slowloris or slow read.
    pub mode: Mode,
    /// Who sends it.
    pub attacker: Attacker,
    /// Attacking connections (500 by default).
    pub connections: usize,
    /// How long the attack, and the normal client's measurement, last.
    pub length: Duration,
}

/// What one stage did under one attack.
#[derive(Clone, Debug)]
pub struct SlowResult {
    /// The stage attacked.
    pub stage: Stage,
    /// The attack.
    pub attack: Attack,
    /// The normal client's view.
    pub probe: ProbeStats,
    /// The most threads the server ran.
    pub peak_threads: u64,
    /// The most file descriptors it held.
    pub peak_fds: usize,
    /// Its peak resident memory (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// Whether the server process was still running at the end.
    pub alive: bool,
}

/// Starts `stage` with its defaults (THREADS = CPUs, queue 128, header
/// timeout 10 s, access log off), attacks it, and measures a normal client
/// and the server's threads and memory meanwhile.
pub fn run(
    stage: Stage,
    bin_dir: &Path,
    attack: Attack,
    log_dir: &Path,
) -> Result<SlowResult, String> {
    let setup = Setup {
        args: &["--quiet"],
        ..Setup::default()
    };
    let mut server = crate::start(stage, bin_dir, setup)?;
    let addr = server.addr();
    let sampler = Sampler::start(Watched::alone(server.pid()), SAMPLE_INTERVAL);

    let stop_probe = Arc::new(AtomicBool::new(false));
    let probe = {
        let stop = Arc::clone(&stop_probe);
        thread::spawn(move || probe_health(addr, &stop))
    };

    let attacked = match attack.attacker {
        Attacker::Slowhttptest => {
            let mode = attack.mode.name().replace(' ', "-");
            let log = log_dir.join(format!("slowhttptest-{stage}-{mode}.log"));
            slowhttptest(addr, attack, &log)
        }
        Attacker::Builtin => {
            let slow = SlowClients::start(addr, "localhost", attack.connections);
            // The attack's length: the slow clients and the probe run meanwhile.
            thread::sleep(attack.length);
            slow.stop();
            Ok(())
        }
    };

    stop_probe.store(true, Ordering::SeqCst);
    let probe = probe
        .join()
        .map_err(|_| "the normal client's thread panicked".to_string())?;
    let samples = sampler.stop();
    let peak_rss_kib = server.status().map_or(0, |status| status.peak_rss_kib);
    let alive = server.is_running();
    attacked?;
    Ok(SlowResult {
        stage,
        attack,
        probe,
        peak_threads: samples.peaks.threads,
        peak_fds: samples.descriptors,
        peak_rss_kib,
        alive,
    })
}

/// Runs `slowhttptest` against `addr` for `attack.length`, its output in
/// `log`. It ends by itself at `-l` seconds; if it is still running a few
/// seconds later, it is killed.
fn slowhttptest(addr: SocketAddr, attack: Attack, log: &Path) -> Result<(), String> {
    let url = format!("http://{addr}/health");
    let seconds = attack.length.as_secs().max(1).to_string();
    let connections = attack.connections.to_string();
    let mut command = Command::new("slowhttptest");
    // 250 new connections a second: all 500 within 2 s.
    command.args(["-c", &connections, "-r", "250", "-l", &seconds, "-u", &url]);
    match attack.mode {
        // A new header line every 5 s, each at most 16 bytes of name and value.
        Mode::Slowloris => command.args(["-H", "-i", "5", "-x", "16"]),
        // Windows of 1 to 16 bytes, 1 byte read every second.
        Mode::SlowRead => {
            command.args(["-X", "-w", "1", "-y", "16", "-n", "1", "-z", "1", "-k", "1"])
        }
    };
    let output = File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let errors = output
        .try_clone()
        .map_err(|e| format!("cannot share {}: {e}", log.display()))?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        .spawn()
        .map_err(|e| {
            format!("cannot run slowhttptest ({e}): install it (`apt-get install slowhttptest`) or use --attacker builtin")
        })?;
    let bound = attack.length + Duration::from_secs(15);
    let mut finished = None;
    wait_until(bound, || {
        finished = child.try_wait().ok().flatten();
        finished.is_some()
    });
    if finished.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    Ok(())
}

/// How long a normal client waits for a whole answer before counting the
/// request as failed.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The pause between a normal client's requests.
pub const PROBE_PAUSE: Duration = Duration::from_millis(100);

/// What a normal client saw: one `GET /health` at a time.
#[derive(Clone, Debug, Default)]
pub struct ProbeStats {
    /// Requests sent.
    pub attempts: usize,
    /// Requests answered `200` with a complete body within [`PROBE_TIMEOUT`].
    pub successes: usize,
    /// Requests answered `503` (the queue was full).
    pub busy: usize,
    /// Requests with no complete answer: refused, reset, timed out.
    pub failures: usize,
    /// Time to the complete answer of every successful request, in ms.
    pub latencies_ms: Vec<f64>,
}

impl ProbeStats {
    /// The 99th percentile of successful requests' latency, in ms.
    pub fn p99_ms(&self) -> Option<f64> {
        percentile(&self.latencies_ms, 99.0)
    }
}

/// The `percent`th percentile of `values` (nearest rank), `None` if empty.
pub fn percentile(values: &[f64], percent: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// A normal client: sends `GET /health` to `addr`, one request at a time
/// with a [`PROBE_PAUSE`] between them, until `stop` is set.
pub fn probe_health(addr: SocketAddr, stop: &AtomicBool) -> ProbeStats {
    let mut stats = ProbeStats::default();
    while !stop.load(Ordering::SeqCst) {
        stats.attempts += 1;
        let began = Instant::now();
        let answer = Connection::open(addr).and_then(|mut connection| {
            connection.send(&get_request("/health"))?;
            connection.read_response_within(PROBE_TIMEOUT)
        });
        match answer {
            Ok(response) if response.status == 200 && response.expect_complete().is_ok() => {
                stats.successes += 1;
                let ms = began.elapsed().as_secs_f64() * 1000.0;
                stats.latencies_ms.push(ms);
            }
            Ok(response) if response.status == 503 => stats.busy += 1,
            _ => stats.failures += 1,
        }
        // The client's own pace, not a synchronisation.
        thread::sleep(PROBE_PAUSE);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 99.0), Some(99.0));
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 99.0), None);
    }
}
