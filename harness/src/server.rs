//! A server run as a child process: spawn it, read its readiness line, keep its stderr,
//! signal it, wait for its exit with a bound, stop it.
//!
//! Every stage prints `listening on http://ADDR:PORT` as its first stdout line once its socket
//! listens (DESIGN "Readiness"); [`parse_ready_line`] is the one place that reads it. A
//! reference server that prints no such line (nginx, `ka.c`) is ready once a connection to it
//! succeeds ([`Server::start_listening_on`]).

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::proc::{self, ProcInfo, Status};
use crate::wait_until;

/// How long a server may take to print its readiness line (or accept a first connection).
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Server::stop`] waits after SIGTERM before it kills. Stages 01-05 die at once
/// (SIGTERM's default action); 06 and 07 first finish the requests in flight.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What the readiness line starts with; the address follows.
pub const READY_PREFIX: &str = "listening on http://";

/// How much of a server's stderr is kept (the newest bytes), so a chatty server cannot
/// exhaust memory.
const STDERR_KEEP_BYTES: usize = 64 * 1024;

/// How many stderr lines an error message of [`Server::start`] quotes.
const STDERR_EXCERPT_LINES: usize = 20;

/// Reads the address from a readiness line, exactly `listening on http://ADDR:PORT` (an IPv6
/// address in brackets); `None` for any other line. The one place the line is parsed.
pub fn parse_ready_line(line: &str) -> Option<SocketAddr> {
    line.strip_prefix(READY_PREFIX)?.parse().ok()
}

/// A server's stderr, drained continuously by a thread (so the server never blocks on a full
/// pipe) and kept, newest bytes last, for failure messages. Clones share the same log.
#[derive(Clone, Default)]
pub struct StderrLog {
    kept: Arc<Mutex<Kept>>,
}

#[derive(Default)]
struct Kept {
    /// The newest bytes.
    bytes: Vec<u8>,
    /// Every line ended so far, including those no longer kept.
    lines: u64,
    /// Whether the pipe has reached its end (the server exited or closed stderr).
    closed: bool,
}

impl StderrLog {
    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the thread that drains `pipe` into a new log.
    fn drain(pipe: Option<impl Read + Send + 'static>) -> StderrLog {
        let log = StderrLog::default();
        let Some(mut pipe) = pipe else {
            log.lock().closed = true;
            return log;
        };
        let writer = log.clone();
        thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                let mut kept = writer.lock();
                kept.lines += chunk[..n].iter().filter(|&&byte| byte == b'\n').count() as u64;
                kept.bytes.extend_from_slice(&chunk[..n]);
                if kept.bytes.len() > 2 * STDERR_KEEP_BYTES {
                    let excess = kept.bytes.len() - STDERR_KEEP_BYTES;
                    kept.bytes.drain(..excess);
                }
            }
            writer.lock().closed = true;
        });
        log
    }

    /// How many lines the server has logged so far. With `--quiet` a healthy stage logs
    /// nothing, so any line is worth showing (e.g. `cannot spawn a thread`).
    pub fn lines(&self) -> u64 {
        self.lock().lines
    }

    /// The first panic the server reported (`thread '…' panicked at FILE:LINE:COL:` and the
    /// message on the next line), if the kept bytes still hold it. A backtrace after it is
    /// what pushes it out of the last lines, so a failure shows it separately.
    pub fn first_panic(&self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.lock().bytes).into_owned();
        let mut lines = text.lines();
        let at = lines.find(|line| line.contains(" panicked at "))?;
        Some(format!("{at} {}", lines.next().unwrap_or("")))
    }

    /// The last `lines` lines kept.
    pub fn tail(&self, lines: usize) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.lock().bytes).into_owned();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..]
            .iter()
            .map(|line| line.to_string())
            .collect()
    }

    /// `; its stderr ends with: …` for an error message, once the pipe has closed (waiting at
    /// most a second, for a server that is exiting); empty if nothing was logged.
    fn excerpt(&self) -> String {
        wait_until(Duration::from_secs(1), || self.lock().closed);
        let lines = self.tail(STDERR_EXCERPT_LINES);
        if lines.is_empty() {
            return String::new();
        }
        format!("; its stderr ends with:\n  {}", lines.join("\n  "))
    }
}

/// A running server process. Dropping it kills (SIGKILL) and reaps the process, so no server
/// outlives the test or run that started it, even one that failed half-way.
pub struct Server {
    child: Child,
    /// The address it listens on; `None` until [`Server::wait_ready`] succeeded.
    addr: Option<SocketAddr>,
    /// Stdout lines, forwarded by the stdout thread as they are printed.
    stdout_lines: Receiver<String>,
    stderr: StderrLog,
    /// The exit status once reaped.
    exit: Option<ExitStatus>,
    /// Whether the server leads a process group of its own, whose other members (nginx's
    /// workers) are killed with it.
    group: bool,
}

/// How a stopped server ended.
#[derive(Debug)]
pub struct Stopped {
    /// Its exit status (a signal for stages 01-05, 0 for a drained 06 or 07).
    pub status: ExitStatus,
    /// Whether it had to be killed after [`STOP_TIMEOUT`].
    pub killed: bool,
}

impl Server {
    /// Spawns `command` with stdin empty and stdout and stderr piped, without waiting for it
    /// to be ready (for tests about startup itself).
    pub fn spawn(mut command: Command) -> Result<Server, String> {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
        Ok(Server::adopt(child))
    }

    /// Takes charge of a child the caller spawned: a thread forwards its stdout lines and one
    /// drains its stderr, for whichever of the two is a pipe still in `child`.
    pub fn adopt(mut child: Child) -> Server {
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
        Server {
            stderr: StderrLog::drain(child.stderr.take()),
            child,
            addr: None,
            stdout_lines,
            exit: None,
            group: false,
        }
    }

    /// Spawns `command` and waits for its readiness line.
    ///
    /// # Errors
    /// As [`Server::wait_ready`], followed by the end of the server's stderr.
    pub fn start(command: Command) -> Result<Server, String> {
        let mut server = Server::spawn(command)?;
        match server.wait_ready() {
            Ok(_) => Ok(server),
            Err(error) => Err(format!("{error}{}", server.stderr.excerpt())),
        }
    }

    /// Starts `command`, a server that prints no readiness line (nginx, `ka.c`), in a process
    /// group of its own, and waits (at most [`READY_TIMEOUT`]) until a TCP connection to `addr`
    /// succeeds. Its stdout is dropped.
    ///
    /// # Errors
    /// It cannot be started, exits first, or accepts no connection in time; the message ends
    /// with the end of its stderr.
    pub fn start_listening_on(mut command: Command, addr: SocketAddr) -> Result<Server, String> {
        let name = format!("{:?}", command.get_program());
        // Its own group: nginx's master forks workers, and a SIGKILL to the whole group leaves
        // none of them behind.
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|error| format!("cannot start {name}: {error}"))?;
        let mut server = Server::adopt(child);
        server.group = true;
        let mut exited = None;
        let accepted = wait_until(READY_TIMEOUT, || {
            exited = server.child.try_wait().ok().flatten();
            exited.is_some()
                || TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
        });
        let failure = match (exited, accepted) {
            (Some(status), _) => format!("{name} exited ({status}) before accepting a connection"),
            (None, false) => {
                format!("{name} accepted no connection on {addr} in {READY_TIMEOUT:?}")
            }
            (None, true) => {
                server.addr = Some(addr);
                return Ok(server);
            }
        };
        Err(format!("{failure}{}", server.stderr.excerpt()))
    }

    /// Waits (at most [`READY_TIMEOUT`]) for the first stdout line, which must be the
    /// readiness line, and returns its address.
    ///
    /// # Errors
    /// The process exited first, printed something else first, or stayed silent.
    pub fn wait_ready(&mut self) -> Result<SocketAddr, String> {
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
        let addr = parse_ready_line(&line).ok_or_else(|| {
            format!("first stdout line is {line:?}, expected \"{READY_PREFIX}ADDR:PORT\"")
        })?;
        self.addr = Some(addr);
        Ok(addr)
    }

    /// The address the server listens on. Only meaningful once it is ready; before that it is
    /// `127.0.0.1:0`, which no connection reaches.
    pub fn addr(&self) -> SocketAddr {
        self.addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A handle on the server's stderr log.
    pub fn stderr(&self) -> StderrLog {
        self.stderr.clone()
    }

    /// The stdout lines not yet read (the readiness line is, by [`Server::wait_ready`]) and
    /// whatever arrives within `bound` (stops early when the server closes stdout).
    pub fn stdout_lines(&mut self, bound: Duration) -> Vec<String> {
        let deadline = Instant::now() + bound;
        let left = || deadline.saturating_duration_since(Instant::now());
        let mut lines = Vec::new();
        while let Ok(line) = self.stdout_lines.recv_timeout(left()) {
            lines.push(line);
        }
        lines
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the server process.
    pub fn signal(&self, signal: libc::c_int) -> Result<(), String> {
        let pid = libc::pid_t::try_from(self.pid()).map_err(|e| format!("pid: {e}"))?;
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child, which
        // cannot have been reused by another process because we have not reaped it yet.
        if unsafe { libc::kill(pid, signal) } == 0 {
            Ok(())
        } else {
            let error = std::io::Error::last_os_error();
            Err(format!("kill({pid}, {signal}) failed: {error}"))
        }
    }

    /// Waits at most `bound` for the process to exit, reaps it and returns its exit status.
    /// std has no wait with a timeout, so this polls `try_wait` with [`wait_until`].
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

    /// Whether the process is still running (not exited, or exited but not yet reaped).
    pub fn is_running(&mut self) -> bool {
        self.wait_exit(Duration::ZERO).is_err()
    }

    /// Sends SIGTERM and waits at most [`STOP_TIMEOUT`] for the process to exit, then kills
    /// it.
    ///
    /// # Errors
    /// It could be neither signalled nor reaped.
    pub fn stop(mut self) -> Result<Stopped, String> {
        if self.is_running() {
            self.signal(libc::SIGTERM)?;
        }
        if let Ok(status) = self.wait_exit(STOP_TIMEOUT) {
            let killed = false;
            return Ok(Stopped { status, killed });
        }
        self.kill();
        let status = self.wait_exit(STOP_TIMEOUT)?;
        let killed = true;
        Ok(Stopped { status, killed })
    }

    /// SIGKILL to the server, and to its whole process group if it has one.
    fn kill(&mut self) {
        match libc::pid_t::try_from(self.pid()) {
            // SAFETY: kill(2) takes plain integers; the group is the one
            // `start_listening_on` created, led by our unreaped child.
            Ok(pid) if self.group => unsafe {
                libc::kill(-pid, libc::SIGKILL);
            },
            _ => {
                let _ = self.child.kill();
            }
        }
    }

    /// Threads, resident and peak memory of the server now (`/proc/PID/status`).
    pub fn status(&self) -> Result<Status, String> {
        proc::status(self.pid())
    }

    /// Sockets the server holds: its listener plus every accepted, not yet closed connection.
    pub fn sockets(&self) -> Result<usize, String> {
        proc::sockets(self.pid())
    }

    /// Descriptors the server holds open, of every kind (`/proc/PID/fd`).
    pub fn descriptors(&self) -> Result<usize, String> {
        proc::descriptors(self.pid())
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
            self.kill();
            let _ = self.child.wait();
        }
    }
}

/// Describes an exit status for a message: `status 2`, `killed by signal 9`.
pub fn describe_exit(status: &Result<ExitStatus, String>) -> String {
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("status {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => format!("{status}"),
        },
        Err(e) => e.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_line() {
        assert_eq!(
            parse_ready_line("listening on http://127.0.0.1:40123"),
            Some(SocketAddr::from(([127, 0, 0, 1], 40123)))
        );
        assert_eq!(
            parse_ready_line("listening on http://[::1]:8080"),
            "[::1]:8080".parse().ok()
        );
        assert_eq!(parse_ready_line("listening on 127.0.0.1:8080"), None);
        assert_eq!(parse_ready_line("error: cannot listen"), None);
        // Exactly the line (DESIGN "Readiness"): a stray carriage return is not an address.
        assert_eq!(parse_ready_line("listening on http://127.0.0.1:80\r"), None);
    }

    #[test]
    fn a_silent_exit_is_reported_with_its_stderr() {
        let mut command = Command::new("/bin/sh");
        command.args(["-c", "echo broken >&2; exit 3"]);
        let error = Server::start(command).err().expect("no readiness line");
        assert!(
            error.contains("status 3") && error.contains("broken"),
            "{error}"
        );
    }
}
