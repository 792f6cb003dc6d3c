//! What the server process uses, read from Linux's `/proc` (proc(5)).
//!
//! The parsers are pure functions over the file's text, so they are tested
//! without a process; the readers return `None` when the file cannot be read
//! or parsed (the process may exit between two samples).

use std::fs;
use std::time::Duration;

/// The fields of `/proc/PID/status` the benchmark samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// `Threads:` — threads in the process now.
    pub threads: u64,
    /// `VmRSS:` — resident memory now, in KiB.
    pub rss_kib: u64,
    /// `VmHWM:` — the peak resident memory since the process started, in
    /// KiB ("high water mark"). Unlike sampled `VmRSS`, it misses no spike.
    pub peak_rss_kib: u64,
}

/// Parses the text of `/proc/PID/status`. The `Vm*` lines end in `kB`,
/// which the kernel means as KiB (1024 bytes).
///
/// Returns `None` if a field is missing or not a number: a kernel thread or
/// a zombie has no `Vm*` lines.
pub fn parse_status(text: &str) -> Option<Status> {
    Some(Status {
        threads: status_field(text, "Threads")?,
        rss_kib: status_field(text, "VmRSS")?,
        peak_rss_kib: status_field(text, "VmHWM")?,
    })
}

/// The number after `NAME:` on its line of `/proc/PID/status`.
fn status_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Reads `/proc/PID/status`.
pub fn read_status(pid: u32) -> Option<Status> {
    parse_status(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// Parses the CPU time from the text of `/proc/PID/stat`, in clock ticks:
/// `utime + stime` of the process (every thread, living or exited) plus
/// `cutime + cstime` of its children that it has reaped (for stages 05-07,
/// the cache-audit processes).
///
/// The second field, the command name, is in parentheses and may itself
/// contain spaces and parentheses, so fields are counted from the *last*
/// `)`. After it come field 3 (state) onwards; utime is field 14.
pub fn parse_stat_cpu_ticks(text: &str) -> Option<u64> {
    let after_name = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 of proc(5), so field N is fields[N - 3].
    let field = |number: usize| -> Option<u64> { fields.get(number - 3)?.parse().ok() };
    Some(field(14)? + field(15)? + field(16)? + field(17)?)
}

/// Reads the CPU time of process `pid` and its reaped children (see
/// [`parse_stat_cpu_ticks`]).
pub fn read_cpu_time(pid: u32) -> Option<Duration> {
    let ticks = parse_stat_cpu_ticks(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    Some(ticks_to_duration(ticks))
}

/// The CPU time this process (the load generator) has used, user plus
/// system, from getrusage(2).
pub fn own_cpu_time() -> Option<Duration> {
    // SAFETY: `usage` is a plain C struct that getrusage fills in; zeroed is
    // a valid value for it, and the pointer does not outlive the call.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return None;
        }
        usage
    };
    let micros = |time: libc::timeval| -> Option<u64> {
        let seconds = u64::try_from(time.tv_sec).ok()?;
        let micros = u64::try_from(time.tv_usec).ok()?;
        Some(seconds * 1_000_000 + micros)
    };
    Some(Duration::from_micros(
        micros(usage.ru_utime)? + micros(usage.ru_stime)?,
    ))
}

/// Parses the first line of `/proc/stat` (`cpu  user nice system idle
/// iowait irq softirq steal ...`, in clock ticks, summed over every CPU)
/// into the ticks spent busy: everything but `idle` and `iowait`.
pub fn parse_busy_ticks(text: &str) -> Option<u64> {
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // guest and guest_nice (fields 9 and 10) are already counted in user
    // and nice, so only the first eight are added up.
    let counted = ticks.get(..8)?;
    Some(counted.iter().sum::<u64>() - counted[3] - counted[4])
}

/// The CPU time the whole machine has spent busy since boot, every core
/// and every process (ours, the server, and anything else) together.
pub fn read_machine_busy_time() -> Option<Duration> {
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

/// The processes whose use counts as the server's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watched {
    /// The server's process.
    pub pid: u32,
    /// Whether its child processes count too: nginx's workers serve the
    /// requests while the master only watches them. A stage's children
    /// (cache-audit) do not count in its threads and memory; their CPU time
    /// is added once they are reaped (see [`parse_stat_cpu_ticks`]).
    pub children: bool,
}

impl Watched {
    /// `pid`, then its children (from `/proc/PID/task/PID/children`, which
    /// lists the children of that thread) when they count.
    fn pids(self) -> Vec<u32> {
        let mut pids = vec![self.pid];
        if self.children {
            if let Ok(text) =
                fs::read_to_string(format!("/proc/{pid}/task/{pid}/children", pid = self.pid))
            {
                pids.extend(
                    text.split_whitespace()
                        .filter_map(|pid| pid.parse::<u32>().ok()),
                );
            }
        }
        pids
    }

    /// `/proc/PID/status` of every watched process, added up: threads, RSS
    /// and each process's own peak RSS (whose sum bounds their peak
    /// together from above).
    pub fn status(self) -> Option<Status> {
        let mut total = read_status(self.pid)?;
        for pid in self.pids().into_iter().skip(1) {
            if let Some(status) = read_status(pid) {
                total.threads += status.threads;
                total.rss_kib += status.rss_kib;
                total.peak_rss_kib += status.peak_rss_kib;
            }
        }
        Some(total)
    }

    /// The CPU time of every watched process, added up (see
    /// [`read_cpu_time`]).
    pub fn cpu_time(self) -> Option<Duration> {
        let mut total = read_cpu_time(self.pid)?;
        for pid in self.pids().into_iter().skip(1) {
            total += read_cpu_time(pid).unwrap_or_default();
        }
        Some(total)
    }
}

/// The highest values seen over repeated samples of `/proc/PID/status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Peaks {
    /// The most threads seen in one sample. Threads that live shorter than
    /// the sampling interval (stage 02's) can be missed, so this is a lower
    /// bound of the true peak.
    pub threads: u64,
    /// The peak resident memory in KiB: the largest `VmHWM` seen, which the
    /// kernel tracks between samples too.
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

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\t03-thread-pool\nUmask:\t0022\nState:\tS (sleeping)\n\
        Tgid:\t4242\nVmPeak:\t  150000 kB\nVmHWM:\t    2560 kB\nVmRSS:\t    2048 kB\n\
        RssAnon:\t     512 kB\nThreads:\t3\nSigQ:\t0/95000\n";

    #[test]
    fn parses_status() {
        assert_eq!(
            parse_status(STATUS),
            Some(Status {
                threads: 3,
                rss_kib: 2048,
                peak_rss_kib: 2560,
            })
        );
        // A zombie has no Vm* lines.
        assert_eq!(
            parse_status("Name:\tx\nState:\tZ (zombie)\nThreads:\t1\n"),
            None
        );
        assert_eq!(
            parse_status("Threads:\tmany\nVmRSS:\t1 kB\nVmHWM:\t1 kB\n"),
            None
        );
    }

    #[test]
    fn field_names_must_match_whole() {
        // `VmRSS` must not be read from a line starting `VmRSSx:`.
        let text = "VmRSSx:\t9 kB\nVmRSS:\t7 kB\nVmHWM:\t8 kB\nThreads:\t1\n";
        assert_eq!(parse_status(text).map(|status| status.rss_kib), Some(7));
    }

    #[test]
    fn parses_stat_after_a_tricky_command_name() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime cutime cstime ...
        let stat = "4242 (a) b) (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 50 7 3 20 0 3 0 12345 1000 500";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(250 + 50 + 7 + 3));
        assert_eq!(parse_stat_cpu_ticks("4242 (cut short) S 1 2"), None);
        assert_eq!(parse_stat_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn parses_machine_busy_time() {
        let stat = "cpu  100 5 50 1000 20 3 7 1 40 0\ncpu0 50 2 25 500 10 1 3 0 20 0\n";
        assert_eq!(parse_busy_ticks(stat), Some(100 + 5 + 50 + 3 + 7 + 1));
        assert_eq!(parse_busy_ticks("cpu0 1 2 3\n"), None);
        assert_eq!(parse_busy_ticks("cpu  1 2 x 4 5 6 7 8\n"), None);
        assert!(read_machine_busy_time().is_some());
    }

    #[test]
    fn peaks_keep_the_maximum() {
        let mut peaks = Peaks::default();
        peaks.add(Status {
            threads: 5,
            rss_kib: 100,
            peak_rss_kib: 300,
        });
        peaks.add(Status {
            threads: 2,
            rss_kib: 400,
            peak_rss_kib: 400,
        });
        assert_eq!(
            peaks,
            Peaks {
                threads: 5,
                rss_kib: 400,
                samples: 2
            }
        );
    }

    #[test]
    fn reads_our_own_process() {
        let status = read_status(std::process::id()).expect("own /proc status");
        assert!(status.threads >= 1 && status.rss_kib > 0);
        assert!(read_cpu_time(std::process::id()).is_some());
        assert!(own_cpu_time().is_some());
        let watched = Watched {
            pid: std::process::id(),
            children: true,
        };
        assert!(watched.status().is_some_and(|status| status.threads >= 1));
        assert!(watched.cpu_time().is_some());
    }
}
