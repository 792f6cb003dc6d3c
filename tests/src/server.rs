//! A server process started for one case: spawn, readiness, signals, exit, and `/proc` views.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::proc::{self, ProcInfo};
use crate::wait_until;

/// How long a server may take to print its readiness line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The first line every stage prints on stdout once its socket listens (DESIGN "Readiness").
const READY_PREFIX: &str = "listening on http://";

/// How much of a server's stderr is kept (the newest bytes), so a chatty server cannot exhaust
/// the suite's memory.
const STDERR_KEEP_BYTES: usize = 64 * 1024;

/// A server's stderr, drained continuously by a thread (so the server never blocks on a full
/// pipe) and kept, newest bytes last, for failure messages.
#[derive(Clone, Default)]
pub struct StderrLog {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl StderrLog {
    fn append(&self, chunk: &[u8]) {
        let mut bytes = match self.bytes.lock() {
            Ok(bytes) => bytes,
            Err(poisoned) => poisoned.into_inner(),
        };
        bytes.extend_from_slice(chunk);
        if bytes.len() > 2 * STDERR_KEEP_BYTES {
            let excess = bytes.len() - STDERR_KEEP_BYTES;
            bytes.drain(..excess);
        }
    }

    /// The first panic the server reported (`thread '…' panicked at FILE:LINE:COL:` and the
    /// message on the next line), if the kept bytes still hold it. A backtrace after it is
    /// what pushes it out of the last lines, so a failure shows it separately.
    pub fn first_panic(&self) -> Option<String> {
        let bytes = match self.bytes.lock() {
            Ok(bytes) => bytes.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut lines = text.lines();
        let at = lines.find(|line| line.contains(" panicked at "))?;
        let message = lines.next().unwrap_or("");
        Some(format!("{at} {message}"))
    }

    /// The last `lines` lines logged so far.
    pub fn tail(&self, lines: usize) -> Vec<String> {
        let bytes = match self.bytes.lock() {
            Ok(bytes) => bytes.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let text = String::from_utf8_lossy(&bytes);
        let all: Vec<&str> = text.lines().collect();
        let start = all.len().saturating_sub(lines);
        all[start..].iter().map(|line| line.to_string()).collect()
    }
}

/// A running server process. Dropping it kills (SIGKILL) and reaps the process, whether the
/// case passed or failed, so no server outlives its case.
pub struct Server {
    child: Child,
    /// The address from the readiness line; `None` until [`Server::wait_ready`] succeeded.
    addr: Option<SocketAddr>,
    /// Stdout lines, forwarded by the stdout thread as they are printed.
    stdout_lines: Receiver<String>,
    /// Every stdout line received so far.
    stdout_seen: Vec<String>,
    stderr: StderrLog,
    /// The exit status once reaped.
    exit: Option<ExitStatus>,
}

impl Server {
    /// Spawns `program args…` with stdout and stderr piped and a thread draining each.
    pub fn spawn(program: &OsString, args: &[OsString]) -> Result<Server, String> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.to_string_lossy()))?;

        let (line_sender, stdout_lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line_sender.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = StderrLog::default();
        if let Some(mut pipe) = child.stderr.take() {
            let log = stderr.clone();
            thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    log.append(&chunk[..n]);
                }
            });
        }
        Ok(Server {
            child,
            addr: None,
            stdout_lines,
            stdout_seen: Vec::new(),
            stderr,
            exit: None,
        })
    }

    /// Waits (at most [`READY_TIMEOUT`]) for the first stdout line, which must be exactly
    /// `listening on http://ADDR:PORT`, and returns that address.
    ///
    /// Errors: the process exited first, printed something else first, or stayed silent.
    pub fn wait_ready(&mut self) -> Result<SocketAddr, String> {
        if let Some(addr) = self.addr {
            return Ok(addr);
        }
        let line = match self.stdout_lines.recv_timeout(READY_TIMEOUT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "no readiness line on stdout within {READY_TIMEOUT:?}"
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.wait_exit(Duration::from_secs(2));
                return Err(format!(
                    "the server closed stdout without a readiness line (exit: {})",
                    describe_exit(&status)
                ));
            }
        };
        self.stdout_seen.push(line.clone());
        let addr = line
            .strip_prefix(READY_PREFIX)
            .and_then(|rest| rest.parse::<SocketAddr>().ok())
            .ok_or_else(|| {
                format!("first stdout line is {line:?}, expected \"{READY_PREFIX}ADDR:PORT\"")
            })?;
        self.addr = Some(addr);
        Ok(addr)
    }

    /// The address the server listens on (from its readiness line).
    ///
    /// Only meaningful after [`Server::wait_ready`]; before that it is `127.0.0.1:0`, which no
    /// connection reaches.
    pub fn addr(&self) -> SocketAddr {
        self.addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A handle on the server's stderr log.
    pub fn stderr_log(&self) -> StderrLog {
        self.stderr.clone()
    }

    /// Every stdout line seen so far, after draining whatever is ready within `bound`
    /// (stops early when the server closes stdout).
    pub fn stdout_lines(&mut self, bound: Duration) -> Vec<String> {
        let deadline = Instant::now() + bound;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout_lines.recv_timeout(left) {
                Ok(line) => self.stdout_seen.push(line),
                Err(_) => break,
            }
        }
        self.stdout_seen.clone()
    }

    /// Sends signal `signal` (e.g. `libc::SIGTERM`) to the server process.
    pub fn signal(&self, signal: libc::c_int) -> Result<(), String> {
        let pid = libc::pid_t::try_from(self.pid()).map_err(|e| format!("pid: {e}"))?;
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child, which
        // cannot have been reused by another process because we have not reaped it yet.
        let result = unsafe { libc::kill(pid, signal) };
        if result == 0 {
            Ok(())
        } else {
            Err(format!(
                "kill({pid}, {signal}) failed: {}",
                std::io::Error::last_os_error()
            ))
        }
    }

    /// Waits at most `bound` for the process to exit, reaps it and returns its exit status.
    ///
    /// A child exit has no event we can wait on with a timeout in std, so this polls
    /// `try_wait` with [`wait_until`].
    pub fn wait_exit(&mut self, bound: Duration) -> Result<ExitStatus, String> {
        if let Some(status) = self.exit {
            return Ok(status);
        }
        let mut outcome = Ok(None);
        wait_until(bound, || {
            outcome = self.child.try_wait();
            !matches!(outcome, Ok(None))
        });
        match outcome {
            Ok(Some(status)) => {
                self.exit = Some(status);
                Ok(status)
            }
            Ok(None) => Err(format!("the server was still running after {bound:?}")),
            Err(e) => Err(format!("waiting for the server: {e}")),
        }
    }

    /// Threads of the server process (`/proc/PID/status`).
    pub fn threads(&self) -> Result<u64, String> {
        proc::threads(self.pid())
    }

    /// Resident memory of the server now, KiB.
    pub fn rss_kib(&self) -> Result<u64, String> {
        proc::rss_kib(self.pid())
    }

    /// Peak resident memory of the server since it started, KiB.
    pub fn peak_rss_kib(&self) -> Result<u64, String> {
        proc::peak_rss_kib(self.pid())
    }

    /// Sockets the server holds: its listener plus every accepted, not yet closed connection.
    pub fn sockets(&self) -> Result<usize, String> {
        proc::socket_count(self.pid())
    }

    /// Descriptors the server holds open, of every kind (`/proc/PID/fd`).
    pub fn descriptors(&self) -> Result<usize, String> {
        proc::descriptor_count(self.pid())
    }

    /// Child processes of the server, zombies included.
    pub fn children(&self) -> Vec<ProcInfo> {
        proc::children(self.pid())
    }

    /// Child processes of the server that are still running (not zombies).
    pub fn live_children(&self) -> usize {
        self.children().iter().filter(|c| !c.is_zombie()).count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exit.is_none() {
            // Errors are ignored: the process may have exited on its own in the meantime.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Describes an exit status for a message: `status 2`, `killed by signal 9`.
pub fn describe_exit(status: &Result<ExitStatus, String>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("status {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => format!("{status}"),
        },
        Err(e) => e.clone(),
    }
}
