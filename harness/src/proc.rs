//! What a process is doing, read from Linux's `/proc` (proc(5)): threads, memory,
//! descriptors, CPU time, children; and the machine's busy time.
//!
//! The parsers are pure functions over a file's text, tested without a process. The readers
//! return an error message rather than panicking: the process may exit at any moment.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The fields of `/proc/PID/status` the tools read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// `Threads:` — threads in the process now.
    pub threads: u64,
    /// `VmRSS:` — resident memory now, in KiB.
    pub rss_kib: u64,
    /// `VmHWM:` — the peak resident memory since the process started, in KiB ("high water
    /// mark"). Unlike sampled `VmRSS`, it misses no spike between two samples.
    pub peak_rss_kib: u64,
}

/// Parses the text of `/proc/PID/status`. The `Vm*` lines end in `kB`, which the kernel means
/// as KiB. `None` if a field is missing or not a number: a zombie has no `Vm*` lines.
pub fn parse_status(text: &str) -> Option<Status> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(':')?;
            value.split_whitespace().next()?.parse().ok()
        })
    };
    Some(Status {
        threads: field("Threads")?,
        rss_kib: field("VmRSS")?,
        peak_rss_kib: field("VmHWM")?,
    })
}

/// Reads `/proc/PID/status`.
pub fn status(pid: u32) -> Result<Status, String> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    parse_status(&text).ok_or_else(|| format!("{path}: no Threads, VmRSS or VmHWM"))
}

/// The links of `/proc/PID/fd`, one per open descriptor.
fn descriptor_links(pid: u32) -> Result<Vec<String>, String> {
    let dir = format!("/proc/{pid}/fd");
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot list {dir}: {e}"))?;
    // A descriptor can be closed between listing and reading its link: it reads as empty.
    Ok(entries
        .flatten()
        .map(|entry| fs::read_link(entry.path()).unwrap_or_default())
        .map(|link| link.to_string_lossy().into_owned())
        .collect())
}

/// The number of descriptors process `pid` holds open, of every kind (sockets, pipes, pidfds,
/// files).
pub fn descriptors(pid: u32) -> Result<usize, String> {
    Ok(descriptor_links(pid)?.len())
}

/// The number of sockets process `pid` holds open: descriptors whose link reads
/// `socket:[inode]`. For a server, its listener plus every accepted connection.
pub fn sockets(pid: u32) -> Result<usize, String> {
    let links = descriptor_links(pid)?;
    Ok(links
        .iter()
        .filter(|link| link.starts_with("socket:"))
        .count())
}

/// The fields of `/proc/PID/stat` the tools read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The state letter: `R` running, `S` sleeping, `Z` zombie (exited, not yet reaped)…
    pub state: char,
    /// The parent's pid.
    pub ppid: u32,
    /// CPU time in clock ticks: `utime + stime` of the process (every thread, living or
    /// exited) plus `cutime + cstime` of the children it has reaped (for stages 05-07, the
    /// cache-audit processes).
    pub cpu_ticks: u64,
}

/// Parses `/proc/PID/stat`: `pid (comm) state ppid …`. The command name may itself contain
/// spaces and parentheses, so fields are counted from the *last* `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    // fields[0] is field 3 of proc(5), so field N is fields[N - 3].
    let number = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: u32::try_from(number(4)?).ok()?,
        cpu_ticks: number(14)? + number(15)? + number(16)? + number(17)?,
    })
}

/// Reads `/proc/PID/stat`.
pub fn stat(pid: u32) -> Result<Stat, String> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    parse_stat(&text).ok_or_else(|| format!("{path}: cannot parse {text:?}"))
}

/// The CPU time process `pid` and its reaped children have used (see [`Stat::cpu_ticks`]).
pub fn cpu_time(pid: u32) -> Result<Duration, String> {
    Ok(ticks_to_duration(stat(pid)?.cpu_ticks))
}

/// The CPU time this process has used, user plus system, from getrusage(2).
pub fn own_cpu_time() -> Option<Duration> {
    // SAFETY: `usage` is a plain C struct that getrusage fills in; zeroed is a valid value
    // for it, and the pointer does not outlive the call.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return None;
        }
        usage
    };
    let micros = |time: libc::timeval| -> Option<u64> {
        Some(u64::try_from(time.tv_sec).ok()? * 1_000_000 + u64::try_from(time.tv_usec).ok()?)
    };
    Some(Duration::from_micros(
        micros(usage.ru_utime)? + micros(usage.ru_stime)?,
    ))
}

/// Parses the first line of `/proc/stat` (`cpu  user nice system idle iowait irq softirq steal
/// …`, in clock ticks, summed over every CPU) into the ticks spent busy: all but `idle` and
/// `iowait`.
pub fn parse_busy_ticks(text: &str) -> Option<u64> {
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // guest and guest_nice (fields 9 and 10) are already counted in user and nice.
    let counted = ticks.get(..8)?;
    Some(counted.iter().sum::<u64>() - counted[3] - counted[4])
}

/// The CPU time the whole machine has spent busy since boot, every core and every process.
pub fn machine_busy_time() -> Option<Duration> {
    let ticks = parse_busy_ticks(&fs::read_to_string("/proc/stat").ok()?)?;
    Some(ticks_to_duration(ticks))
}

/// Converts clock ticks (`USER_HZ`, almost always 100 a second) to time.
fn ticks_to_duration(ticks: u64) -> Duration {
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second)
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or(100);
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

/// A process seen in `/proc`.
#[derive(Debug, Clone)]
pub struct ProcInfo {
    /// Its process id.
    pub pid: u32,
    /// Its parent's process id.
    pub ppid: u32,
    /// Its state letter (see [`Stat::state`]).
    pub state: char,
    /// Its command line, arguments separated by spaces (empty for a zombie).
    pub cmdline: String,
}

impl ProcInfo {
    /// Whether the process has exited and waits for its parent to reap it.
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// Every process currently in `/proc`. A process that is gone by the
/// time its files are read is simply not listed.
fn all_processes() -> Vec<ProcInfo> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let processes = entries.flatten().filter_map(|entry| {
        let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
        let stat = stat(pid).ok()?;
        // `/proc/PID/cmdline` separates the arguments with NULs.
        let bytes = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let args: Vec<&str> = text.split('\0').filter(|arg| !arg.is_empty()).collect();
        let (state, ppid, cmdline) = (stat.state, stat.ppid, args.join(" "));
        Some(ProcInfo {
            pid,
            ppid,
            state,
            cmdline,
        })
    });
    processes.collect()
}

/// The child processes of `parent`, zombies included.
pub fn children(parent: u32) -> Vec<ProcInfo> {
    let mut processes = all_processes();
    processes.retain(|info| info.ppid == parent);
    processes
}

/// Every live (non-zombie) process whose command line contains `needle`, wherever it was
/// re-parented.
pub fn processes_mentioning(needle: &str) -> Vec<ProcInfo> {
    let mut processes = all_processes();
    processes.retain(|info| !info.is_zombie() && info.cmdline.contains(needle));
    processes
}

/// Raises this process's soft limit on descriptors (`RLIMIT_NOFILE`, getrlimit(2)) to its
/// hard limit, so that thousands of client connections fit (the usual soft limit is 1,024).
/// Servers started later inherit it. Returns the new soft limit.
pub fn raise_descriptor_limit() -> Result<u64, String> {
    let failed = |call: &str| format!("{call}: {}", std::io::Error::last_os_error());
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct, which `limit` is.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(failed("getrlimit"));
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads one valid rlimit struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(failed("setrlimit"));
        }
    }
    Ok(limit.rlim_cur)
}

/// The processes whose use counts as the server's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watched {
    /// The server's process.
    pub pid: u32,
    /// Whether its child processes count too: nginx's workers serve the requests while the
    /// master only watches them. A stage's children (cache-audit) do not count in its threads
    /// and memory; their CPU time is added once they are reaped (see [`Stat::cpu_ticks`]).
    pub children: bool,
}

impl Watched {
    /// Process `pid` alone, without its children.
    pub fn alone(pid: u32) -> Watched {
        let children = false;
        Watched { pid, children }
    }

    /// `pid`, then its children when they count.
    fn pids(self) -> Vec<u32> {
        let mut pids = vec![self.pid];
        if self.children {
            pids.extend(children(self.pid).iter().map(|child| child.pid));
        }
        pids
    }

    /// `/proc/PID/status` of every watched process, added up: threads, RSS, and each
    /// process's own peak RSS (whose sum bounds their peak together from above).
    pub fn status(self) -> Result<Status, String> {
        let mut total = status(self.pid)?;
        for other in self
            .pids()
            .into_iter()
            .skip(1)
            .filter_map(|pid| status(pid).ok())
        {
            total.threads += other.threads;
            total.rss_kib += other.rss_kib;
            total.peak_rss_kib += other.peak_rss_kib;
        }
        Ok(total)
    }

    /// The CPU time of every watched process, added up (see [`cpu_time`]).
    pub fn cpu_time(self) -> Result<Duration, String> {
        let others = self.pids().into_iter().skip(1);
        Ok(cpu_time(self.pid)? + others.filter_map(|pid| cpu_time(pid).ok()).sum())
    }
}

/// The highest values seen over repeated samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Peaks {
    /// The most threads seen in one sample. Threads that live shorter than the sampling
    /// interval (stage 02's) can be missed, so this is a lower bound of the true peak.
    pub threads: u64,
    /// The peak resident memory in KiB: the largest `VmHWM` seen, which the kernel tracks
    /// between samples too.
    pub rss_kib: u64,
    /// How many samples were taken.
    pub samples: u32,
}

impl Peaks {
    /// Takes one sample into account.
    pub fn add(&mut self, status: Status) {
        self.threads = self.threads.max(status.threads);
        self.rss_kib = self.rss_kib.max(status.peak_rss_kib).max(status.rss_kib);
        self.samples += 1;
    }
}

/// What a [`Sampler`] saw.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Peak threads and memory.
    pub peaks: Peaks,
    /// The most descriptors open at one sample.
    pub descriptors: usize,
    /// Resident memory at each sample, KiB, with the time since sampling began.
    pub rss_kib: Vec<(Duration, u64)>,
}

/// A thread that reads the watched processes' status, and the server's descriptors, every
/// `interval` until stopped (or until the server is gone).
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Samples>,
}

impl Sampler {
    /// Starts sampling `watched`.
    pub fn start(watched: Watched, interval: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let began = Instant::now();
            let mut samples = Samples::default();
            while !flag.load(Ordering::SeqCst) {
                let (Ok(status), Ok(open)) = (watched.status(), descriptors(watched.pid)) else {
                    break;
                };
                samples.peaks.add(status);
                samples.descriptors = samples.descriptors.max(open);
                samples.rss_kib.push((began.elapsed(), status.rss_kib));
                // The sampling period, not a synchronisation.
                thread::sleep(interval);
            }
            samples
        });
        Sampler { stop, thread }
    }

    /// Stops sampling and returns what was seen.
    pub fn stop(self) -> Samples {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\t03-thread-pool\nUmask:\t0022\nState:\tS (sleeping)\n\
        Tgid:\t4242\nVmPeak:\t  150000 kB\nVmHWM:\t    2560 kB\nVmRSS:\t    2048 kB\n\
        RssAnon:\t     512 kB\nThreads:\t3\nSigQ:\t0/95000\n";

    #[test]
    fn parses_status() {
        let expected = Status {
            threads: 3,
            rss_kib: 2048,
            peak_rss_kib: 2560,
        };
        assert_eq!(parse_status(STATUS), Some(expected));
        // A zombie has no Vm* lines; `VmRSSx:` is not `VmRSS:`.
        assert_eq!(parse_status("State:\tZ (zombie)\nThreads:\t1\n"), None);
        let text = "VmRSSx:\t9 kB\nVmRSS:\t7 kB\nVmHWM:\t8 kB\nThreads:\t1\n";
        assert_eq!(parse_status(text).map(|status| status.rss_kib), Some(7));
    }

    #[test]
    fn parses_stat_after_a_tricky_command_name() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime ...
        let stat = "4242 (a) b) (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 50 7 3 20 0 3 0 12345 1000 500";
        let expected = Stat {
            state: 'S',
            ppid: 1,
            cpu_ticks: 250 + 50 + 7 + 3,
        };
        assert_eq!(parse_stat(stat), Some(expected));
        assert_eq!(parse_stat("4242 (cut short) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn parses_machine_busy_time() {
        let stat = "cpu  100 5 50 1000 20 3 7 1 40 0\ncpu0 50 2 25 500 10 1 3 0 20 0\n";
        assert_eq!(parse_busy_ticks(stat), Some(100 + 5 + 50 + 3 + 7 + 1));
        assert_eq!(parse_busy_ticks("cpu0 1 2 3\n"), None);
        assert_eq!(parse_busy_ticks("cpu  1 2 x 4 5 6 7 8\n"), None);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(status(me).is_ok_and(|status| status.threads >= 1 && status.rss_kib > 0));
        assert!(descriptors(me).is_ok_and(|open| open >= 3));
        assert!(cpu_time(me).is_ok() && own_cpu_time().is_some());
        assert!(machine_busy_time().is_some());
        let watched = Watched {
            pid: me,
            children: true,
        };
        assert!(watched.status().is_ok() && watched.cpu_time().is_ok());
    }
}
