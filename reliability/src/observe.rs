//! Watching a server from outside: its descriptors, threads, memory and CPU
//! time from `/proc`, and what a normal client experiences.

use std::fs;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use conformance::client::{Connection, get_request};
use conformance::proc;

/// How often a [`Sampler`] reads `/proc`.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// The number of open file descriptors of process `pid`: entries of
/// `/proc/PID/fd` (sockets, pipes, files, the terminal).
pub fn fd_count(pid: u32) -> Result<usize, String> {
    let dir = format!("/proc/{pid}/fd");
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot list {dir}: {e}"))?;
    Ok(entries.count())
}

/// CPU time process `pid` has used so far, user plus system, in clock ticks
/// (`utime` + `stime` of `/proc/PID/stat`; a tick is 10 ms on Linux).
pub fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after_name = stat
        .rfind(')')
        .map(|end| &stat[end + 1..])
        .ok_or_else(|| format!("{path}: no ')'"))?;
    // After the name: state(3) ppid(4) … utime(14) stime(15), 1-based in proc(5).
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |index: usize| -> Result<u64, String> {
        fields
            .get(index)
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| format!("{path}: field {} missing", index + 3))
    };
    Ok(field(11)? + field(12)?)
}

/// What a [`Sampler`] saw.
#[derive(Clone, Debug, Default)]
pub struct Peaks {
    /// The most threads the server ran at one sample.
    pub threads: u64,
    /// The most file descriptors it held at one sample.
    pub fds: usize,
    /// Resident memory at each sample, KiB, oldest first, with the time
    /// since sampling began.
    pub rss_kib: Vec<(Duration, u64)>,
}

/// A thread that reads a process's thread count, descriptors and resident
/// memory every [`SAMPLE_INTERVAL`] until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Peaks>,
}

impl Sampler {
    /// Starts sampling process `pid`.
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let began = Instant::now();
            let mut peaks = Peaks::default();
            while !flag.load(Ordering::SeqCst) {
                // A process that exited stops being sampled, without an error.
                let (Ok(threads), Ok(fds), Ok(rss)) =
                    (proc::threads(pid), fd_count(pid), proc::rss_kib(pid))
                else {
                    break;
                };
                peaks.threads = peaks.threads.max(threads);
                peaks.fds = peaks.fds.max(fds);
                peaks.rss_kib.push((began.elapsed(), rss));
                // The sampling period, not a synchronisation.
                thread::sleep(SAMPLE_INTERVAL);
            }
            peaks
        });
        Sampler { stop, thread }
    }

    /// Stops sampling and returns what was seen.
    pub fn stop(self) -> Peaks {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_default()
    }
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
    /// Successful requests, in percent of those sent (0 when none was sent).
    pub fn success_percent(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            100.0 * self.successes as f64 / self.attempts as f64
        }
    }

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
            Ok(response) if response.status == 200 && response.is_complete() => {
                stats.successes += 1;
                stats
                    .latencies_ms
                    .push(began.elapsed().as_secs_f64() * 1000.0);
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

    #[test]
    fn this_process_is_observable() {
        let me = std::process::id();
        assert!(fd_count(me).expect("own fds") >= 3);
        assert!(cpu_ticks(me).is_ok());
    }
}
