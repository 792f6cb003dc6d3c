//! A server run as a child process: start, wait until it is ready (a
//! stage's readiness line, or for a reference server a connection that
//! succeeds), stop with SIGTERM.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to print its readiness line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a server may take to exit after SIGTERM before it is killed.
/// Stages 01-05 die at once (SIGTERM's default action); stage 06 first
/// finishes its requests in flight, of which there are none by then.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Lines of the server's stderr kept for error messages.
const STDERR_KEEP_LINES: usize = 20;

/// The readiness line every stage prints first on stdout (DESIGN.md).
const READY_PREFIX: &str = "listening on http://";

/// Reads the address from a readiness line, `listening on http://ADDR:PORT`.
pub fn parse_ready_line(line: &str) -> Option<SocketAddr> {
    line.trim_end().strip_prefix(READY_PREFIX)?.parse().ok()
}

/// The end of a server's stderr, drained by a thread so that the server
/// never blocks on a full pipe.
#[derive(Default)]
struct StderrTail {
    /// The last [`STDERR_KEEP_LINES`] lines.
    lines: VecDeque<String>,
    /// Every line seen since the last [`Server::take_stderr`].
    count: u64,
}

/// A running server process. Dropping it kills (SIGKILL) and reaps it, so no
/// server outlives the benchmark even when a run fails half-way.
pub struct Server {
    child: Child,
    /// Where it listens, from its readiness line.
    pub addr: SocketAddr,
    stderr: Arc<Mutex<StderrTail>>,
    /// Whether the server runs in a process group of its own, led by
    /// `child`, whose other members (nginx's workers) are killed with it.
    group: bool,
}

/// How a stopped server ended.
#[derive(Debug)]
pub struct Stopped {
    /// Its exit status (a signal for stages 01-05, 0 for a drained 06).
    pub status: ExitStatus,
    /// Whether it had to be killed after [`STOP_TIMEOUT`].
    pub killed: bool,
}

impl Server {
    /// Starts `binary args…` with stdout and stderr piped and waits (at most
    /// [`READY_TIMEOUT`]) for its readiness line.
    ///
    /// # Errors
    /// A message if it cannot be started, exits first, or prints something
    /// else; it includes the end of the server's stderr.
    pub fn start(binary: &Path, args: &[String]) -> Result<Server, String> {
        let mut child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;

        let stderr = drain_stderr(child.stderr.take());

        // The first stdout line goes to us; the rest is drained and dropped.
        let (first_line, ready) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            thread::spawn(move || {
                let mut lines = BufReader::new(pipe).lines();
                if let Some(Ok(line)) = lines.next() {
                    let _ = first_line.send(line);
                }
                for _ in lines {}
            });
        }

        let mut server = Server {
            child,
            // Replaced below once the readiness line has arrived.
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
            group: false,
        };
        let name = binary.display();
        match ready.recv_timeout(READY_TIMEOUT) {
            Ok(line) => match parse_ready_line(&line) {
                Some(addr) => server.addr = addr,
                None => {
                    return Err(format!(
                        "{name} printed {line:?} instead of its readiness line{}",
                        server.stderr_excerpt()
                    ));
                }
            },
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "{name} printed no readiness line within {READY_TIMEOUT:?}{}",
                    server.stderr_excerpt()
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                // Give the exit status a moment to be collected: stdout
                // closed because the process is exiting.
                let status = wait_bounded(&mut server.child, Duration::from_secs(1));
                let how =
                    status.map_or("closed its stdout".to_owned(), |s| format!("exited ({s})"));
                // Let the stderr thread catch the last lines.
                thread::sleep(Duration::from_millis(50));
                return Err(format!(
                    "{name} {how} before its readiness line{}",
                    server.stderr_excerpt()
                ));
            }
        }
        Ok(server)
    }

    /// Starts `command`, a server that prints no readiness line (nginx,
    /// ka.c), in a process group of its own, and waits (at most
    /// [`READY_TIMEOUT`]) until a TCP connection to `addr` succeeds. Its
    /// stdout is dropped, its stderr drained as a stage's.
    ///
    /// # Errors
    /// A message if it cannot be started, exits first, or does not accept
    /// a connection in time; it includes the end of the server's stderr.
    pub fn start_listening_on(mut command: Command, addr: SocketAddr) -> Result<Server, String> {
        let name = format!("{:?}", command.get_program());
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own group: nginx's master forks workers, and a SIGKILL
            // to the whole group leaves none of them behind.
            .process_group(0)
            .spawn()
            .map_err(|error| format!("cannot start {name}: {error}"))?;
        let stderr = drain_stderr(child.stderr.take());
        let mut server = Server {
            child,
            addr,
            stderr,
            group: true,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                // Let the stderr thread catch the last lines.
                thread::sleep(Duration::from_millis(50));
                return Err(format!(
                    "{name} exited ({status}) before accepting a connection{}",
                    server.stderr_excerpt()
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{name} accepted no connection on {addr} within {READY_TIMEOUT:?}{}",
                    server.stderr_excerpt()
                ));
            }
            // Refused: it is not listening yet. Try again shortly.
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The stderr lines logged since the last call: how many, and the last
    /// few. With `--quiet` a healthy stage logs nothing, so any line is worth
    /// showing (e.g. `cannot spawn a thread`).
    pub fn take_stderr(&self) -> (u64, Vec<String>) {
        let mut tail = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        let count = tail.count;
        tail.count = 0;
        (count, tail.lines.drain(..).collect())
    }

    /// Sends SIGTERM and waits at most [`STOP_TIMEOUT`] for the process to
    /// exit, then SIGKILLs it.
    ///
    /// # Errors
    /// A message if it could be neither signalled nor reaped.
    pub fn stop(mut self) -> Result<Stopped, String> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Ok(Stopped {
                status,
                killed: false,
            });
        }
        let pid = libc::pid_t::try_from(self.child.id())
            .map_err(|_| "process id out of range".to_owned())?;
        // SAFETY: kill(2) takes plain integers. `pid` is our child and has not
        // been reaped (try_wait above saw it running), so it is still ours.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(format!(
                "cannot send SIGTERM: {}",
                std::io::Error::last_os_error()
            ));
        }
        if let Some(status) = wait_bounded(&mut self.child, STOP_TIMEOUT) {
            return Ok(Stopped {
                status,
                killed: false,
            });
        }
        self.kill();
        self.child
            .wait()
            .map(|status| Stopped {
                status,
                killed: true,
            })
            .map_err(|error| format!("cannot reap the server: {error}"))
    }

    fn stderr_excerpt(&self) -> String {
        let (_, lines) = self.take_stderr();
        if lines.is_empty() {
            String::new()
        } else {
            format!("; its stderr ends with:\n  {}", lines.join("\n  "))
        }
    }
}

impl Server {
    /// SIGKILL to the server, and to its whole process group if it has one.
    fn kill(&mut self) {
        match libc::pid_t::try_from(self.child.id()) {
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
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts a thread that reads a server's stderr line by line, so that the
/// server never blocks on a full pipe, and keeps the last lines.
fn drain_stderr(pipe: Option<ChildStderr>) -> Arc<Mutex<StderrTail>> {
    let stderr = Arc::new(Mutex::new(StderrTail::default()));
    if let Some(pipe) = pipe {
        let tail = Arc::clone(&stderr);
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                if tail.lines.len() == STDERR_KEEP_LINES {
                    tail.lines.pop_front();
                }
                tail.lines.push_back(line);
                tail.count += 1;
            }
        });
    }
    stderr
}

/// Polls `child` for an exit for at most `limit`. std has no wait with a
/// timeout; a 10 ms poll is plenty for a process we have just signalled.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_line() {
        assert_eq!(
            parse_ready_line("listening on http://127.0.0.1:40123\n"),
            Some(SocketAddr::from(([127, 0, 0, 1], 40123)))
        );
        assert_eq!(
            parse_ready_line("listening on http://[::1]:8080"),
            "[::1]:8080".parse().ok()
        );
        assert_eq!(parse_ready_line("listening on 127.0.0.1:8080"), None);
        assert_eq!(parse_ready_line("error: cannot listen"), None);
    }
}
