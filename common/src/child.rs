//! One child process, supervised without helper threads.
//!
//! A [`Child`] is a state machine over three descriptors: the read ends of
//! the child's stdout and stderr pipes, both non-blocking, and a pidfd
//! (`pidfd_open(2)`, Linux ≥ 5.3) that becomes readable when the child
//! exits. Whoever drives it waits for any of the three to be readable, or
//! for [`Child::next_deadline`], then calls [`Child::step`], which does all
//! the work possible without blocking and says whether the child is done:
//!
//! ```text
//!               readable, or next_deadline passed
//!        ┌───────────────────────────────────────────┐
//!        ▼                                           │
//! spawn ─► step: read both pipes (keep 64 KiB each) ─┤ Running
//!              pidfd readable? kill the group, reap  │
//!              deadline passed? kill the group       │
//!              exited 100 ms ago? close the pipes    │
//!              reaped and both pipes closed ─────────┴─► Done(Outcome)
//! ```
//!
//! Stages 05-06 drive it from the worker with a blocking `poll(2)` (see
//! [`Child::wait`]); an event loop registers [`Child::fds`] in its epoll
//! interest list and steps every child whose descriptor is ready.
//!
//! What it guarantees:
//!
//! - **Spawn** directly (no shell), with separate arguments, stdin closed, in
//!   a process group of its own (so a terminal's Ctrl-C reaches only the
//!   server, and one signal reaches everything the child started), inheriting
//!   no socket (Rust opens every descriptor close-on-exec).
//! - **Capture** both pipes at once, each bounded to [`CAPTURE_LIMIT`]: past
//!   the limit, output is read and thrown away, so a chatty child neither
//!   blocks on a full pipe nor fills our memory.
//! - **Deadline.** Past it, the whole process group is killed (SIGKILL).
//! - **Reap** every child, on every path: [`Step::Done`] only comes after
//!   the reap, and dropping a child that is not done kills and reaps it.
//!   No zombie.
//! - **Descendants cannot hold the request.** When the child exits, the rest
//!   of its group is killed. A descendant that left the group (`setsid`) and
//!   still holds a pipe gets [`EXIT_GRACE`] to finish writing; then the pipes
//!   are closed and the outcome is what arrived.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{self, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Bytes of stdout, and separately of stderr, kept from a child (64 KiB).
/// A real cache-audit report is about 250 bytes.
pub const CAPTURE_LIMIT: usize = 64 * 1024;

/// How long output may still arrive after the child has exited (or been
/// killed): what a descendant that escaped the process group writes in that
/// time is kept, then the pipes are closed.
pub const EXIT_GRACE: Duration = Duration::from_millis(100);

/// Bytes read from a pipe per `read(2)`. A report fits in one read; a
/// pipe's full 64 KiB buffer takes four.
const READ_CHUNK: usize = 16 * 1024;

/// Why a child could not be started.
#[derive(Debug)]
pub enum SpawnError {
    /// Out of processes, descriptors or memory (`EAGAIN`, `EMFILE`,
    /// `ENFILE`, `ENOMEM`): a passing condition of the server, worth a retry
    /// (503).
    Exhausted(io::Error),
    /// The program could not be started (`exec` failed: missing, not
    /// executable, a bad interpreter) or its pidfd could not be opened (500).
    Failed(io::Error),
    /// [`Children::kill_all`] has run: no child may start any more (503).
    Stopped,
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// It exited, or died by a signal, before its deadline.
    Exited(ExitStatus),
    /// It ran past its deadline; its group was killed and it was reaped.
    TimedOut,
}

/// Everything a finished child left behind.
#[derive(Debug)]
pub struct Outcome {
    /// How it ended.
    pub end: End,
    /// The first [`CAPTURE_LIMIT`] bytes of its stdout.
    pub stdout: Vec<u8>,
    /// The first [`CAPTURE_LIMIT`] bytes of its stderr.
    pub stderr: Vec<u8>,
}

/// What [`Child::step`] found.
#[derive(Debug)]
pub enum Step {
    /// Still running, or its pipes are still within [`EXIT_GRACE`]: wait for
    /// [`Child::fds`] or [`Child::next_deadline`] and step again.
    Running,
    /// Reaped, both pipes closed. Step no more; drop the child.
    Done(Outcome),
}

/// The children spawned through it and not yet reaped, so that all of them
/// can be killed at once (a shutdown's drain deadline).
///
/// A pid stays reserved by the kernel until its process is reaped, and so
/// does the process group id of a group leader: while a pid is in this set,
/// signalling its group cannot hit an unrelated process that reused the
/// number. A child leaves the set under the lock, in the same critical
/// section as its reaping `waitpid`.
#[derive(Debug, Default)]
pub struct Children {
    state: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    groups: HashSet<u32>,
    stopped: bool,
}

impl Children {
    /// An empty set.
    pub fn new() -> Children {
        Children::default()
    }

    /// Kills the process group of every child in the set (SIGKILL), and
    /// refuses every later spawn with [`SpawnError::Stopped`]. Their drivers
    /// then see them die by a signal and reap them as usual.
    pub fn kill_all(&self) {
        let mut registry = self.lock();
        registry.stopped = true;
        for &pgid in &registry.groups {
            kill_group(pgid);
        }
    }

    /// Whether [`Children::kill_all`] has run.
    pub fn stopped(&self) -> bool {
        self.lock().stopped
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // The set stays consistent even if a holder panicked: every
        // operation on it is a single insert, remove or read.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One pipe from the child and what was kept of it.
#[derive(Debug)]
struct Capture {
    /// The read end, non-blocking; `None` once closed.
    pipe: Option<File>,
    kept: Vec<u8>,
}

/// A running child: its pid, pidfd, non-blocking stdout and stderr pipes,
/// bounded captures and a deadline. No helper threads.
#[derive(Debug)]
pub struct Child {
    /// Reaped through std (`waitpid`), which also keeps its pid.
    process: process::Child,
    /// Readable once the child has exited; `None` once it is reaped.
    pidfd: Option<OwnedFd>,
    stdout: Capture,
    stderr: Capture,
    /// When the group is killed if the child still runs.
    deadline: Instant,
    /// When the group was last killed for the deadline.
    killed_at: Option<Instant>,
    /// How it ended, once reaped, and until when its pipes may stay open.
    ended: Option<(End, Instant)>,
    children: Arc<Children>,
}

impl Child {
    // ANCHOR: spawn
    /// Spawns `program args...` directly (no shell) with stdin closed, in a
    /// process group of its own, its stdout and stderr as pipes, and opens
    /// its pidfd. The child joins `children` until it is reaped, and is
    /// killed past `deadline`.
    ///
    /// # Errors
    /// [`SpawnError::Exhausted`] when processes, descriptors or memory run
    /// out, [`SpawnError::Failed`] when `exec` or `pidfd_open` fails,
    /// [`SpawnError::Stopped`] after [`Children::kill_all`].
    pub fn spawn(
        program: &Path,
        args: &[&OsStr],
        deadline: Instant,
        children: &Arc<Children>,
    ) -> Result<Child, SpawnError> {
        // ANCHOR: milestone_5_1
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: Ctrl-C in the terminal signals the
            // foreground group, which is now the server alone.
            .process_group(0);

        if children.stopped() {
            return Err(SpawnError::Stopped);
        }
        let mut process = command.spawn().map_err(spawn_error)?;
        // Registered after the spawn rather than around it, so that workers
        // spawn in parallel. A `kill_all` that ran in between did not see
        // this child, so it is stopped here instead.
        let stopped = {
            let mut registry = children.lock();
            registry.groups.insert(process.id());
            registry.stopped
        };
        if stopped {
            kill_group(process.id());
            reap_blocking(children, &mut process);
            return Err(SpawnError::Stopped);
        }
        let started = (|| {
            let pidfd = pidfd_open(process.id())?;
            let stdout = nonblocking(process.stdout.take().map(OwnedFd::from))?;
            let stderr = nonblocking(process.stderr.take().map(OwnedFd::from))?;
            Ok((pidfd, stdout, stderr))
        })();
        let (pidfd, stdout, stderr) = match started {
            Ok(parts) => parts,
            Err(error) => {
                // Without its pidfd or pipes we cannot supervise it: stop it
                // and reap it, like any child.
                kill_group(process.id());
                reap_blocking(children, &mut process);
                return Err(spawn_error(error));
            }
        };
        Ok(Child {
            process,
            pidfd: Some(pidfd),
            stdout: Capture::new(stdout),
            stderr: Capture::new(stderr),
            deadline,
            killed_at: None,
            ended: None,
            children: Arc::clone(children),
        })
        // ANCHOR_END: milestone_5_1
    }
    // ANCHOR_END: spawn

    /// The child's process id (also its process group id).
    pub fn id(&self) -> u32 {
        self.process.id()
    }

    /// The descriptors still worth waiting on, each for readability: the
    /// pipes not yet closed, and the pidfd until the child is reaped. A
    /// closed descriptor leaves an epoll interest list by itself.
    pub fn fds(&self) -> Vec<RawFd> {
        [
            self.stdout.pipe.as_ref().map(AsRawFd::as_raw_fd),
            self.stderr.pipe.as_ref().map(AsRawFd::as_raw_fd),
            self.pidfd.as_ref().map(AsRawFd::as_raw_fd),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// When [`Child::step`] must run again even if no descriptor becomes
    /// readable: the deadline while the child runs; once it has exited, the
    /// end of [`EXIT_GRACE`] for pipes still open; after a kill for the
    /// deadline, [`EXIT_GRACE`] later, to kill again if it has not died.
    pub fn next_deadline(&self) -> Instant {
        match (self.ended, self.killed_at) {
            (Some((_, pipes_close_at)), _) => pipes_close_at,
            (None, Some(killed_at)) => killed_at + EXIT_GRACE,
            (None, None) => self.deadline,
        }
    }

    // ANCHOR: step
    /// Does all the work possible now without blocking: reaps the child if
    /// it has exited (after killing what is left of its group), kills the
    /// group past the deadline, reads whatever the pipes hold, and closes
    /// pipes left open [`EXIT_GRACE`] after the end. Every pipe is read until
    /// it is empty, so an edge-triggered driver misses nothing.
    pub fn step(&mut self, now: Instant) -> Step {
        // ANCHOR: milestone_5_2
        if self.ended.is_none() {
            if self.has_exited() {
                // The simulation is over. Anything it left running in its
                // group is not: stop it while the child, unreaped, still
                // reserves the group id.
                kill_group(self.id());
                if let Some(status) = reap(&self.children, &mut self.process) {
                    let end = match self.killed_at {
                        Some(_) => End::TimedOut,
                        None => End::Exited(status),
                    };
                    self.pidfd = None;
                    self.ended = Some((end, now + EXIT_GRACE));
                }
            } else if now >= self.next_deadline() {
                kill_group(self.id());
                self.killed_at = Some(now);
            }
        }

        self.stdout.read_available();
        self.stderr.read_available();

        let Some((end, pipes_close_at)) = self.ended else {
            return Step::Running;
        };
        if now >= pipes_close_at {
            // A descendant that left the group holds them: stop listening.
            self.stdout.pipe = None;
            self.stderr.pipe = None;
        }
        if self.stdout.pipe.is_some() || self.stderr.pipe.is_some() {
            return Step::Running;
        }
        Step::Done(Outcome {
            end,
            stdout: std::mem::take(&mut self.stdout.kept),
            stderr: std::mem::take(&mut self.stderr.kept),
        })
        // ANCHOR_END: milestone_5_2
    }
    // ANCHOR_END: step

    // ANCHOR: wait
    /// Drives the child to the end from the calling thread: `poll(2)` on
    /// [`Child::fds`] until [`Child::next_deadline`], then [`Child::step`],
    /// until it is done. Blocks at most until the deadline plus twice
    /// [`EXIT_GRACE`], whatever the child and its descendants do.
    pub fn wait(&mut self) -> Outcome {
        // ANCHOR: milestone_5_3
        loop {
            let now = Instant::now();
            if let Step::Done(outcome) = self.step(now) {
                return outcome;
            }
            let wait = self.next_deadline().saturating_duration_since(now);
            // An error just steps again.
            let _ = wait_readable(&self.fds(), wait);
        }
        // ANCHOR_END: milestone_5_3
    }
    // ANCHOR_END: wait

    /// Whether the child has exited, *without* reaping it (`waitid(2)` with
    /// `WNOHANG` and `WNOWAIT`): an unreaped child keeps its pid and group id
    /// reserved, so the group can still be signalled safely. By pid rather
    /// than `P_PIDFD`, which needs Linux 5.4 where `pidfd_open` needs 5.3.
    /// If `waitid` fails, the child is reported exited, so that the reap
    /// (which then fails the same way) ends the supervision.
    fn has_exited(&self) -> bool {
        if self.pidfd.is_none() {
            return true;
        }
        let id = libc::id_t::from(self.id());
        // SAFETY: `info` is a plain C struct that waitid fills in; zeroed is
        // a valid initial state. No pointer outlives the call.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
            // With WNOHANG, a child still running leaves si_pid at 0.
            libc::waitid(libc::P_PID, id, &mut info, flags) != 0 || info.si_pid() != 0
        }
    }
}

impl Drop for Child {
    /// A child dropped before it is done (its client vanished, a driver gave
    /// up) is killed with its group and reaped: no zombie on any path.
    fn drop(&mut self) {
        if self.pidfd.is_some() {
            kill_group(self.id());
            reap_blocking(&self.children, &mut self.process);
        }
    }
}

impl Capture {
    fn new(pipe: File) -> Capture {
        Capture {
            pipe: Some(pipe),
            kept: Vec::new(),
        }
    }

    // ANCHOR: read_available
    /// Reads the pipe until it is empty, keeping at most [`CAPTURE_LIMIT`]
    /// bytes and discarding the rest. Reading on past the limit matters: a
    /// child blocked on a full pipe would never exit. At end of file (every
    /// writer closed it), or on an error, the pipe is closed.
    fn read_available(&mut self) {
        let Some(pipe) = &mut self.pipe else {
            return;
        };
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(read) => {
                    let room = CAPTURE_LIMIT - self.kept.len();
                    self.kept.extend_from_slice(&chunk[..read.min(room)]);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        self.pipe = None;
    }
    // ANCHOR_END: read_available
}

/// Classifies a failed spawn: exhaustion is worth a retry, the rest is not.
fn spawn_error(error: io::Error) -> SpawnError {
    match error.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::EAGAIN | libc::ENOMEM) => {
            SpawnError::Exhausted(error)
        }
        _ => SpawnError::Failed(error),
    }
}

/// `pidfd_open(2)`: a descriptor that becomes readable when process `pid`
/// exits. It is opened close-on-exec. `libc` has no wrapper, hence the raw
/// system call.
fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or
    // -1; it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: `fd` was just returned by the kernel and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets `O_NONBLOCK` on a pipe from `Command` (which opens it `O_CLOEXEC`).
fn nonblocking(pipe: Option<OwnedFd>) -> io::Result<File> {
    let pipe = pipe.ok_or_else(|| io::Error::other("child pipe was not captured"))?;
    // SAFETY: fcntl(2) on a descriptor we own, with integer arguments only.
    // F_SETFL replaces the file status flags; a fresh pipe has none set.
    if unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(File::from(pipe))
}

/// Reaps `process`, which has exited (`waitpid` with `WNOHANG`), and takes
/// it out of `children` in the same critical section, so `kill_all` sees its
/// pid either still reserved or not at all. `None` if it is not reaped yet.
fn reap(children: &Children, process: &mut process::Child) -> Option<ExitStatus> {
    let mut registry = children.lock();
    let status = match process.try_wait() {
        Ok(status) => status,
        // Only possible if someone else reaped it (SIGCHLD ignored reaps
        // children automatically): it is gone, report it as killed.
        Err(_) => Some(ExitStatus::from_raw(libc::SIGKILL)),
    };
    if status.is_some() {
        registry.groups.remove(&process.id());
    }
    status
}

/// Reaps a child that was just killed, waiting for it to die.
fn reap_blocking(children: &Children, process: &mut process::Child) {
    // Forgotten first, then reaped: `kill_all` either sees the pid while it
    // is still reserved, or not at all.
    children.lock().groups.remove(&process.id());
    let _ = process.wait();
}

// ANCHOR: kill_group
/// Sends SIGKILL to every process in the group `pgid`. Errors are ignored:
/// the only one possible here is "no such group" (all already exited).
fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers; a negative pid names a process
    // group. `pgid` is a child we spawned in a group of its own and have not
    // reaped, so the group is ours.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}
// ANCHOR_END: kill_group

/// Sleeps in `poll(2)` until one of `fds` is readable or `timeout` passes,
/// whichever comes first. Which one happened does not matter: the caller
/// looks again. Used by a worker waiting for its child here, and for a
/// request head or the drain in `shutdown`.
///
/// # Errors
/// The OS error of `poll`, other than `EINTR` (a signal: treated as a wake-up).
pub fn wait_readable(fds: &[RawFd], timeout: Duration) -> io::Result<()> {
    let mut fds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // Rounded up, so a wait never ends a moment before the deadline and spins.
    let millis = timeout.as_micros().div_ceil(1000);
    let millis = libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures that
    // outlives the call.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
    if ready < 0 {
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `sh -c script` to the end with `deadline` from now.
    fn run_shell(script: &str, deadline: Duration) -> Outcome {
        let children = Arc::new(Children::new());
        let args = [OsStr::new("-c"), OsStr::new(script)];
        let mut child = Child::spawn(
            Path::new("/bin/sh"),
            &args,
            Instant::now() + deadline,
            &children,
        )
        .expect("spawn /bin/sh");
        let outcome = child.wait();
        assert!(child.fds().is_empty(), "done with descriptors still open");
        assert!(children.lock().groups.is_empty(), "reaped but still listed");
        outcome
    }

    #[test]
    fn captures_both_pipes_and_the_exit_status() {
        let outcome = run_shell("echo out; echo err >&2; exit 3", Duration::from_secs(10));
        assert!(matches!(outcome.end, End::Exited(status) if status.code() == Some(3)));
        assert_eq!(outcome.stdout, b"out\n");
        assert_eq!(outcome.stderr, b"err\n");
    }

    #[test]
    fn keeps_a_bounded_prefix_of_a_flood() {
        let outcome = run_shell(
            "echo first; head -c 1048576 /dev/zero",
            Duration::from_secs(10),
        );
        assert!(matches!(outcome.end, End::Exited(status) if status.success()));
        assert_eq!(outcome.stdout.len(), CAPTURE_LIMIT);
        assert!(outcome.stdout.starts_with(b"first\n"));
    }

    #[test]
    fn kills_the_group_past_the_deadline() {
        let outcome = run_shell("sleep 30; echo late", Duration::from_millis(100));
        assert_eq!(outcome.end, End::TimedOut);
        assert!(outcome.stdout.is_empty());
    }

    #[test]
    fn an_escaped_descendant_cannot_hold_the_pipes() {
        // The grandchild leaves the group with setsid and keeps both pipes
        // for 2 s; the child's report is still the outcome, at once.
        let outcome = run_shell("setsid sleep 2 & echo report", Duration::from_secs(10));
        assert!(matches!(outcome.end, End::Exited(status) if status.success()));
        assert_eq!(outcome.stdout, b"report\n");
    }

    #[test]
    fn dropping_a_running_child_kills_and_reaps_it() {
        let children = Arc::new(Children::new());
        let args = [OsStr::new("-c"), OsStr::new("sleep 30")];
        let child = Child::spawn(
            Path::new("/bin/sh"),
            &args,
            Instant::now() + Duration::from_secs(60),
            &children,
        )
        .expect("spawn /bin/sh");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
        drop(child);
        // SAFETY: signal 0 only checks that the process exists.
        let exists = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!exists, "child {pid} still exists (running or a zombie)");
        assert!(children.lock().groups.is_empty());
    }

    #[test]
    fn nothing_starts_after_kill_all() {
        let children = Arc::new(Children::new());
        children.kill_all();
        let spawned = Child::spawn(Path::new("/bin/true"), &[], Instant::now(), &children);
        assert!(matches!(spawned, Err(SpawnError::Stopped)));
    }
}
