//! The reference servers: nginx, and the ceilings of `../shared/perf`.
//!
//! A stage's figure means little alone. Beside it, under the same load in
//! the same run, the benchmark shows what a mature server does (nginx, from
//! the Debian package, with a generated configuration) and what this
//! machine allows at all: `ka.c`, the smallest epoll keep-alive server, for
//! `/health`, and `spawn.c`, threads that only spawn cache-audit and wait,
//! for `/run-cache-sim`. Both C programs are compiled with gcc into
//! `target/` at start.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use harness::server::Server;
use tempfile::TempDir;

/// Where nginx is looked for first: Debian installs it in `/usr/sbin`,
/// which is not on a normal user's `PATH`.
const NGINX_PATHS: [&str; 2] = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"];

/// The nginx binary: `/usr/sbin/nginx`, else `nginx` on `PATH`; `None`
/// when neither runs `nginx -v`.
pub fn find_nginx() -> Option<PathBuf> {
    NGINX_PATHS
        .iter()
        .map(PathBuf::from)
        .chain([PathBuf::from("nginx")])
        .find(|path| runs(Command::new(path).arg("-v")))
}

/// `../shared/perf` beside the checkout (`repo` is its root), or beside
/// the main checkout when `repo` is a linked git worktree; `None` unless it
/// holds both C programs.
pub fn find_perf_dir(repo: &Path) -> Option<PathBuf> {
    let main_checkout = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| {
            let common = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
            common.parent().map(Path::to_path_buf)
        });
    [Some(repo.to_path_buf()), main_checkout]
        .into_iter()
        .flatten()
        .map(|checkout| checkout.join("../shared/perf"))
        .find(|dir| dir.join("ka.c").is_file() && dir.join("spawn.c").is_file())
}

/// Whether gcc is installed.
pub fn have_gcc() -> bool {
    runs(Command::new("gcc").arg("--version"))
}

/// Whether `command` starts and exits 0, its output thrown away.
fn runs(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The two ceilings, compiled.
#[derive(Clone, Debug)]
pub struct Ceilings {
    /// `ka`, built from `ka.c`.
    pub ka: PathBuf,
    /// `spawn`, built from `spawn.c`.
    pub spawn: PathBuf,
}

/// Compiles `ka.c` and `spawn.c` of `perf_dir` into `target_dir` with
/// `gcc -O2 -pthread`, as `../shared/perf/README.md` says.
///
/// # Errors
/// gcc's message if a compilation fails.
pub fn build_ceilings(perf_dir: &Path, target_dir: &Path) -> Result<Ceilings, String> {
    fs::create_dir_all(target_dir)
        .map_err(|error| format!("cannot create {}: {error}", target_dir.display()))?;
    let ceilings = Ceilings {
        ka: target_dir.join("ka"),
        spawn: target_dir.join("spawn"),
    };
    for (source, binary) in [("ka.c", &ceilings.ka), ("spawn.c", &ceilings.spawn)] {
        let source = perf_dir.join(source);
        output(
            Command::new("gcc")
                .args(["-O2", "-pthread"])
                .arg(&source)
                .arg("-o")
                .arg(binary),
        )
        .map_err(|error| format!("compiling {}: {error}", source.display()))?;
    }
    Ok(ceilings)
}

/// A loopback port that is free now: bound with port 0, read, released.
/// Another process could take it before the server binds it; the server
/// then fails to start and says so.
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// nginx's configuration for a run: `workers` worker processes, no access
/// log, `return 200 "OK\n"` on `/health` (as the stages answer), on
/// `127.0.0.1:port`. With `keep_alive`, nginx's default keep-alive (75 s
/// idle timeout, 1,000 requests per connection, then `Connection: close`);
/// without, keep-alive off (`keepalive_timeout 0`).
/// Every path nginx writes is relative to its prefix, the run's temporary
/// folder, so it needs no write access to `/var`. `worker_connections` is
/// the number of connections one worker may hold (RFC-free: nginx's own
/// limit), enough for every connection of the run in one worker.
pub fn nginx_config(port: u16, workers: u32, keep_alive: bool, worker_connections: u32) -> String {
    let keepalive = if keep_alive {
        "keepalive_timeout 75s;"
    } else {
        "keepalive_timeout 0;"
    };
    format!(
        "# Written by the NetServe benchmark for one run.\n\
         worker_processes {workers};\n\
         pid nginx.pid;\n\
         error_log stderr;\n\
         events {{ worker_connections {worker_connections}; }}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   {keepalive}\n\
         \x20   client_body_temp_path body;\n\
         \x20   proxy_temp_path proxy;\n\
         \x20   fastcgi_temp_path fastcgi;\n\
         \x20   uwsgi_temp_path uwsgi;\n\
         \x20   scgi_temp_path scgi;\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port};\n\
         \x20       location = /health {{\n\
         \x20           default_type text/plain;\n\
         \x20           return 200 \"OK\\n\";\n\
         \x20       }}\n\
         \x20   }}\n\
         }}\n"
    )
}

/// Starts nginx on a free loopback port from a configuration written to a
/// new temporary folder (its prefix, `-p`), in the foreground (`daemon
/// off`), and waits until it accepts a connection. The folder is removed
/// when the returned [`TempDir`] is dropped: drop it after the server.
///
/// # Errors
/// A message if the folder, the port or nginx fails.
pub fn start_nginx(
    binary: &Path,
    workers: u32,
    keep_alive: bool,
    worker_connections: u32,
) -> Result<(Server, TempDir), String> {
    let dir = tempfile::Builder::new()
        .prefix("bench-nginx-")
        .tempdir()
        .map_err(|error| format!("cannot create a temporary folder: {error}"))?;
    let port = free_port().map_err(|error| format!("no free port: {error}"))?;
    let config = dir.path().join("nginx.conf");
    fs::write(
        &config,
        nginx_config(port, workers, keep_alive, worker_connections),
    )
    .map_err(|error| format!("cannot write {}: {error}", config.display()))?;
    let mut command = Command::new(binary);
    // -e: the error log before the configuration is read (nginx ≥ 1.19.5);
    // otherwise nginx first opens its compiled-in path under /var/log.
    command
        .arg("-c")
        .arg(&config)
        .arg("-p")
        .arg(dir.path())
        .args(["-e", "stderr", "-g", "daemon off;"]);
    let server =
        Server::start_listening_on(command, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    Ok((server, dir))
}

/// Starts ka.c (`binary PORT THREADS`) on a free loopback port and waits
/// until it accepts a connection.
///
/// # Errors
/// A message if the port or the program fails.
pub fn start_ka(binary: &Path, threads: u32) -> Result<Server, String> {
    let port = free_port().map_err(|error| format!("no free port: {error}"))?;
    let mut command = Command::new(binary);
    command.arg(port.to_string()).arg(threads.to_string());
    Server::start_listening_on(command, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// Runs spawn.c (`binary CACHE_AUDIT TRACE THREADS`): `threads` threads
/// each spawn cache-audit on `trace` (LRU, 32 entries, as the stages'
/// `/run-cache-sim?policy=lru&trace=loop`) and wait for it, for 5 s (its
/// own bound). Returns the spawns per second it reports.
///
/// # Errors
/// A message if it cannot run, fails, or prints no rate.
pub fn run_spawn(
    binary: &Path,
    cache_audit: &Path,
    trace: &Path,
    threads: u32,
) -> Result<f64, String> {
    let mut command = Command::new(binary);
    command.arg(cache_audit).arg(trace).arg(threads.to_string());
    let stdout = output(&mut command)?;
    parse_spawn_output(&stdout).ok_or_else(|| format!("spawn.c printed no rate: {stdout:?}"))
}

/// Runs `command` to its end and returns what it printed on stdout.
///
/// # Errors
/// A message if it cannot start or exits with a failure, with its stderr.
pub fn output(command: &mut Command) -> Result<String, String> {
    let name = command.get_program().to_string_lossy().into_owned();
    let output = (command.stdin(Stdio::null()).output())
        .map_err(|error| format!("cannot run {name}: {error}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "{name} failed ({}): {}",
            output.status,
            stderr.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Reads `2 threads: 1790 spawns/s`.
pub fn parse_spawn_output(text: &str) -> Option<f64> {
    let (_, rest) = text.trim().split_once(": ")?;
    rest.strip_suffix(" spawns/s")?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_output() {
        assert_eq!(
            parse_spawn_output("2 threads: 1790 spawns/s\n"),
            Some(1790.0)
        );
        assert_eq!(parse_spawn_output("spawn: No such file"), None);
    }

    #[test]
    fn nginx_configurations() {
        let on = nginx_config(8080, 2, true, 1024);
        assert!(on.contains("worker_processes 2;"));
        assert!(on.contains("listen 127.0.0.1:8080;"));
        assert!(on.contains("keepalive_timeout 75s;"));
        assert!(on.contains("access_log off;"));
        assert!(on.contains("return 200 \"OK\\n\";"));
        assert!(on.contains("worker_connections 1024;"));
        assert!(nginx_config(8080, 2, false, 1024).contains("keepalive_timeout 0;"));
    }
}
