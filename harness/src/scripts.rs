//! Fake simulators: small `#!/bin/sh` scripts a test passes as `--cache-audit`, to make
//! the child process misbehave in exactly one way (exit non-zero, print garbage, hang…).
//!
//! The server runs them as `<script> <trace path> <policy> <cache_size>`, as it runs the real
//! cache-audit (DESIGN "cache-audit").

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::proc;
use crate::wait_until;

/// A temporary directory of backend scripts.
///
/// Its path is unique, and every process a script starts has it in its command line (the script
/// itself, and `sleep` run through [`ScriptDir::sleep_command`]), so the case can find leftover
/// processes wherever they were re-parented. Dropping it kills any such leftover (they were
/// started by this case) and removes the directory.
pub struct ScriptDir {
    dir: tempfile::TempDir,
}

impl ScriptDir {
    /// Creates an empty script directory.
    pub fn new() -> Result<ScriptDir, String> {
        let dir = tempfile::Builder::new()
            .prefix("netserve-backend-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        Ok(ScriptDir { dir })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes an executable script `name` whose body (after `#!/bin/sh`) is `body`.
    pub fn script(&self, name: &str, body: &str) -> Result<PathBuf, String> {
        let path = self.dir.path().join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}"))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot chmod {}: {e}", path.display()))?;
        Ok(path)
    }

    /// A shell command that sleeps `seconds` as a separate process whose command line names this
    /// directory: it runs `sleep` through a symbolic link `<dir>/sleep`. (The link keeps the
    /// name `sleep`, so a multi-call binary that dispatches on its name still works.)
    pub fn sleep_command(&self, seconds: u32) -> Result<String, String> {
        let link = self.dir.path().join("sleep");
        if !link.exists() {
            let real = ["/usr/bin/sleep", "/bin/sleep"]
                .into_iter()
                .find(|candidate| Path::new(candidate).exists())
                .ok_or("no sleep binary in /usr/bin or /bin")?;
            std::os::unix::fs::symlink(real, &link)
                .map_err(|e| format!("cannot link {}: {e}", link.display()))?;
        }
        Ok(format!("'{}' {seconds}", link.display()))
    }

    /// Waits at most `bound` until no process but `server` (whose own command line names the
    /// script) mentions this directory, and lists any left.
    pub fn leftovers_after(&self, bound: Duration, server: Option<u32>) -> Vec<proc::ProcInfo> {
        let mut left = Vec::new();
        wait_until(bound, || {
            left = proc::processes_mentioning(&self.path().to_string_lossy());
            left.retain(|process| Some(process.pid) != server);
            left.is_empty()
        });
        left
    }
}

impl Drop for ScriptDir {
    fn drop(&mut self) {
        // These processes were started for this case (by the server, on our request); a failed
        // case must not leave a `sleep 30` behind for the next one to trip over. The server
        // itself has been killed already: every case drops its `Server` before its `ScriptDir`.
        for leftover in proc::processes_mentioning(&self.path().to_string_lossy()) {
            if let Ok(pid) = libc::pid_t::try_from(leftover.pid) {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// Shell lines printing a successful cache-audit answer with these numbers, in its 11-line
/// format (DESIGN "cache-audit"), echoing the script's arguments as trace, policy and cache size.
pub fn answer_lines(hits: u64, misses: u64) -> String {
    let total = hits + misses;
    let percent = if total == 0 {
        0.0
    } else {
        100.0 * hits as f64 / total as f64
    };
    answer_lines_with(&hits.to_string(), misses, &format!("{percent:.2}%"))
}

/// Like [`answer_lines`], with the `Hits:` value and the hit rate given as shell text, so a
/// script can substitute a value it computed (`$n`).
pub fn answer_lines_with(hits: &str, misses: u64, hit_rate: &str) -> String {
    format!(
        "cat <<EOF\n\
         Trace:       $1\n\
         Requests:    $(({hits} + {misses}))\n\
         Unique keys: {misses}\n\
         Policy:      $2\n\
         Cache size:  $3\n\
         \n\
         --- Results ---\n\
         Hit Rate:   {hit_rate}\n\
         Hits:       {hits}\n\
         Misses:     {misses}\n\
         Runtime:    0 ms\n\
         EOF\n"
    )
}
