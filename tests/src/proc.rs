//! What a process is doing, read from Linux's `/proc` (proc(5)).
//!
//! The cases use these to observe a server from the outside: how many threads it runs, how much
//! memory it holds, how many sockets it has accepted, which child processes it has. Every
//! function returns an error message rather than panicking: the process may exit at any moment.

use std::fs;
use std::path::Path;

/// One line of `/proc/PID/status` such as `Threads:  5` or `VmRSS:  1234 kB`, as a number
/// (the unit, if any, is dropped: kB for the `Vm*` fields).
fn status_number(pid: u32, field: &str) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(field).and_then(|r| r.strip_prefix(':')) {
            let number = rest.split_whitespace().next().unwrap_or("");
            return number
                .parse()
                .map_err(|_| format!("{path}: cannot parse {field}: {rest:?}"));
        }
    }
    Err(format!("{path} has no {field} line"))
}

/// The number of threads of process `pid` (`Threads:` in `/proc/PID/status`).
pub fn threads(pid: u32) -> Result<u64, String> {
    status_number(pid, "Threads")
}

/// The resident memory of process `pid` now, in KiB (`VmRSS:`).
pub fn rss_kib(pid: u32) -> Result<u64, String> {
    status_number(pid, "VmRSS")
}

/// The peak resident memory of process `pid` since it started, in KiB (`VmHWM:`, the
/// "high water mark"). Unlike [`rss_kib`] it cannot miss a short spike between two samples.
pub fn peak_rss_kib(pid: u32) -> Result<u64, String> {
    status_number(pid, "VmHWM")
}

/// The number of sockets process `pid` holds open: entries of `/proc/PID/fd` whose link reads
/// `socket:[inode]`. For a server that is its listening socket plus every accepted connection.
pub fn socket_count(pid: u32) -> Result<usize, String> {
    let dir = format!("/proc/{pid}/fd");
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot list {dir}: {e}"))?;
    let mut sockets = 0;
    for entry in entries.flatten() {
        // A descriptor can be closed between listing and reading its link: skip it.
        if let Ok(link) = fs::read_link(entry.path()) {
            if link.to_string_lossy().starts_with("socket:") {
                sockets += 1;
            }
        }
    }
    Ok(sockets)
}

/// The number of descriptors process `pid` holds open, of every kind (sockets, pipes, pidfds,
/// files): the entries of `/proc/PID/fd`.
pub fn descriptor_count(pid: u32) -> Result<usize, String> {
    let dir = format!("/proc/{pid}/fd");
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot list {dir}: {e}"))?;
    Ok(entries.count())
}

/// A process seen in `/proc`.
#[derive(Debug, Clone)]
pub struct ProcInfo {
    /// Its process id.
    pub pid: u32,
    /// Its state letter from `/proc/PID/stat`: `R` running, `S` sleeping, `Z` zombie (exited but
    /// not yet reaped by its parent with `wait`), …
    pub state: char,
    /// Its command line, arguments separated by spaces.
    pub cmdline: String,
}

impl ProcInfo {
    /// Whether the process has exited and waits for its parent to reap it.
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// Every process currently in `/proc`, with its parent's pid.
fn all_processes() -> Vec<(ProcInfo, u32)> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // The process may be gone already; that is not an error, it just is not listed.
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((state, ppid)) = parse_stat(&stat) else {
            continue;
        };
        let cmdline = read_cmdline(&entry.path());
        found.push((
            ProcInfo {
                pid,
                state,
                cmdline,
            },
            ppid,
        ));
    }
    found
}

/// Extracts (state, ppid) from `/proc/PID/stat`: `pid (comm) state ppid …`. The command name
/// may itself contain spaces and parentheses, so the fields are read after the *last* `)`.
fn parse_stat(stat: &str) -> Option<(char, u32)> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// `/proc/PID/cmdline` with its NUL separators turned into spaces (empty for a zombie).
fn read_cmdline(proc_dir: &Path) -> String {
    match fs::read(proc_dir.join("cmdline")) {
        Ok(bytes) => String::from_utf8_lossy(&bytes)
            .split('\0')
            .filter(|arg| !arg.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => String::new(),
    }
}

/// The child processes of `parent` (every process whose parent pid is `parent`), zombies
/// included.
pub fn children(parent: u32) -> Vec<ProcInfo> {
    all_processes()
        .into_iter()
        .filter(|(_, ppid)| *ppid == parent)
        .map(|(info, _)| info)
        .collect()
}

/// Every live (non-zombie) process whose command line contains `needle`. The backend cases put
/// a unique temporary directory in the command line of everything they start, so this finds
/// their leftovers wherever they were re-parented.
pub fn processes_mentioning(needle: &str) -> Vec<ProcInfo> {
    all_processes()
        .into_iter()
        .map(|(info, _)| info)
        .filter(|info| !info.is_zombie() && info.cmdline.contains(needle))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_parentheses_in_the_name() {
        assert_eq!(
            parse_stat("42 (a) b (c)) S 7 42 42 0"),
            Some(('S', 7)),
            "fields are read after the last ')'"
        );
    }

    #[test]
    fn this_process_is_visible() {
        let me = std::process::id();
        assert!(threads(me).expect("own status") >= 1);
        assert!(rss_kib(me).expect("own status") > 0);
        assert!(peak_rss_kib(me).expect("own status") > 0);
    }
}
