//! Slow clients: slowloris (a request head sent one line at a time, never
//! finished) and slow read (a request sent at once, its answer read a few
//! bytes at a time through a tiny TCP window), 500 connections at once, while
//! a normal client asks for `/health`.
//!
//! The attacks come from `slowhttptest` (the Debian package of that name)
//! when it is installed, or from a built-in slowloris that needs nothing but
//! this crate (what CI uses).

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use conformance::client::Connection;

use crate::observe::{self, ProbeStats, Sampler};
use crate::stages::Stage;

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

/// Who attacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attacker {
    /// `slowhttptest`, which must be on `PATH`.
    Slowhttptest,
    /// [`builtin_slowloris`]: slowloris only, no external tool.
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
    stage.check_built(bin_dir)?;
    let target = stage.target(bin_dir);
    let mut server = target.launch().arg("--quiet").start()?;
    let addr = server.addr();
    let sampler = Sampler::start(server.pid());

    let stop_probe = Arc::new(AtomicBool::new(false));
    let probe = {
        let stop = Arc::clone(&stop_probe);
        thread::spawn(move || observe::probe_health(addr, &stop))
    };

    let attacked = match attack.attacker {
        Attacker::Slowhttptest => {
            let log = log_dir.join(format!(
                "slowhttptest-{}-{}.log",
                stage.label(),
                attack.mode.name().replace(' ', "-")
            ));
            slowhttptest(addr, attack, &log)
        }
        Attacker::Builtin => builtin_slowloris(addr, attack.connections, attack.length),
    };

    stop_probe.store(true, Ordering::SeqCst);
    let probe = probe
        .join()
        .map_err(|_| "the normal client's thread panicked".to_string())?;
    let peaks = sampler.stop();
    let peak_rss_kib = server.peak_rss_kib().unwrap_or(0);
    // Still running = waiting for its exit times out.
    let alive = server.wait_exit(Duration::from_millis(1)).is_err();
    attacked?;
    // Dropping the handle kills the server.
    drop(server);

    Ok(SlowResult {
        stage,
        attack,
        probe,
        peak_threads: peaks.threads,
        peak_fds: peaks.fds,
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
    let mut child: Child = command
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        .spawn()
        .map_err(|e| {
            format!("cannot run slowhttptest ({e}): install it (`apt-get install slowhttptest`) or use --attacker builtin")
        })?;
    let bound = attack.length + Duration::from_secs(15);
    let mut finished = None;
    conformance::wait_until(bound, || {
        finished = child.try_wait().ok().flatten();
        finished.is_some()
    });
    if finished.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    Ok(())
}

/// The start of the head every slowloris connection sends.
const SLOWLORIS_START: &[u8] = b"GET /health HTTP/1.1\r\nHost: localhost\r\n";

/// How long one slowloris connection may take to connect; a full listen
/// backlog drops the attempt, which is retried on the next tick.
const SLOWLORIS_CONNECT_TIMEOUT: Duration = Duration::from_millis(100);

/// The pause between two header lines of a slowloris connection.
const SLOWLORIS_TICK: Duration = Duration::from_secs(1);

/// A slowloris attack without external tools: keeps `connections`
/// connections open to `addr` for `length`, each sending a partial head and
/// then one header line a second; a connection the server answered or
/// closed (408, 503) is replaced by a new one, so the pressure never lets up.
pub fn builtin_slowloris(
    addr: SocketAddr,
    connections: usize,
    length: Duration,
) -> Result<(), String> {
    let began = Instant::now();
    let mut open: Vec<Option<Connection>> = (0..connections).map(|_| None).collect();
    let mut line = 0u64;
    while began.elapsed() < length {
        for slot in open.iter_mut() {
            // A server that stopped accepting (stage 01) leaves connects to
            // time out one by one: stop on time even in the middle of a tick.
            if began.elapsed() >= length {
                break;
            }
            let replace = match slot {
                None => true,
                Some(connection) => connection.has_answered().unwrap_or(true),
            };
            if replace {
                *slot = TcpStream::connect_timeout(&addr, SLOWLORIS_CONNECT_TIMEOUT)
                    .ok()
                    .map(Connection::from_stream)
                    .and_then(|mut connection| {
                        connection.send(SLOWLORIS_START).ok().map(|()| connection)
                    });
            } else if let Some(connection) = slot {
                let header = format!("X-Slow-{line}: {line}\r\n");
                if connection.send(header.as_bytes()).is_err() {
                    *slot = None;
                }
            }
        }
        line += 1;
        // The attacker's pace, not a synchronisation.
        thread::sleep(SLOWLORIS_TICK);
    }
    Ok(())
}
