//! The server under test: its command, the stage it claims, and how to start it.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use harness::server::{Server, StderrLog};
use harness::stages;

/// How many trailing lines of each server's stderr a failure message shows.
const STDERR_LINES_ON_FAILURE: usize = 8;

/// The server under test, as every case sees it.
///
/// A case never builds a command line by hand: it asks the target for a server
/// ([`Target::launch`]), so that the stage-specific arguments (`--cache-audit`, `--traces-dir`
/// from stage 05 on) are added in one place.
pub struct Target {
    /// The stage (1..=[`crate::cases::MAX_STAGE`]) the server is graded as.
    pub stage: u8,
    /// The command that starts the server: program, then any leading arguments. The suite
    /// appends the port (`0`), THREADS when a case needs it, and the case's flags.
    pub command: Vec<OsString>,
    /// The simulator passed as `--cache-audit` to stages 05–07.
    pub cache_audit: PathBuf,
    /// The trace directory passed as `--traces-dir` to stages 05–07.
    pub traces_dir: PathBuf,
    /// The stderr of every server started for the current case, so that a failure message
    /// can show what the server logged even after it has been killed.
    logs: Mutex<Vec<StderrLog>>,
}

impl Target {
    /// Describes a server: the stage it claims, its command, and the backend paths used from
    /// stage 05 on (ignored before).
    pub fn new(
        stage: u8,
        command: Vec<OsString>,
        cache_audit: PathBuf,
        traces_dir: PathBuf,
    ) -> Self {
        Target {
            stage,
            command,
            cache_audit,
            traces_dir,
            logs: Mutex::new(Vec::new()),
        }
    }

    /// A copy for running one case: same server, its own record of started servers.
    pub fn for_case(&self) -> Target {
        Target::new(
            self.stage,
            self.command.clone(),
            self.cache_audit.clone(),
            self.traces_dir.clone(),
        )
    }

    /// Starts describing a server process to launch (see [`Launch`]).
    pub fn launch(&self) -> Launch<'_> {
        Launch {
            target: self,
            threads: None,
            args: Vec::new(),
            cache_audit: None,
            traces_dir: None,
        }
    }

    /// Starts a server with the default command line and waits for its readiness line.
    pub fn start(&self) -> Result<Server, String> {
        self.launch().start()
    }

    /// The last lines of stderr of every server started for this case, to append to a failure.
    pub fn failure_context(&self) -> String {
        let logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        let mut context = String::new();
        for (index, log) in logs.iter().enumerate() {
            if let Some(panic) = log.first_panic() {
                context.push_str(&format!("\n--- server #{} panicked: {panic}", index + 1));
                if let Some(milestone) = unfinished_milestone(&panic) {
                    context.push_str(&format!(
                        "\n--- that is the todo!() of unfinished milestone {milestone}: \
                         see its TODO(milestone {milestone}) comment and the starter's HINTS.md"
                    ));
                }
            }
            let tail = log.tail(STDERR_LINES_ON_FAILURE);
            if tail.is_empty() {
                continue;
            }
            context.push_str(&format!(
                "\n--- stderr of server #{} (last lines) ---",
                index + 1
            ));
            for line in tail {
                context.push_str("\n  ");
                context.push_str(&line);
            }
        }
        context
    }
}

/// The milestone number in the message of a starter's `todo!("milestone 3.2: …")`.
fn unfinished_milestone(panic: &str) -> Option<&str> {
    let rest = panic.split("not yet implemented: milestone ").nth(1)?;
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    Some(rest[..end].trim_end_matches('.')).filter(|number| !number.is_empty())
}

/// A server command line being put together: `<command…> 0 [THREADS] [args…]`, plus
/// `--cache-audit PATH --traces-dir PATH` for stages 05 to 07.
pub struct Launch<'t> {
    target: &'t Target,
    threads: Option<u32>,
    args: Vec<OsString>,
    cache_audit: Option<PathBuf>,
    traces_dir: Option<PathBuf>,
}

impl Launch<'_> {
    /// Passes THREADS (the pool size; stages 01 and 02 accept and ignore it).
    pub fn threads(mut self, threads: u32) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Appends arguments, e.g. `["--header-timeout", "1"]`.
    pub fn args<A: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = A>) -> Self {
        let args = args.into_iter().map(|arg| arg.as_ref().to_os_string());
        self.args.extend(args);
        self
    }

    /// Uses `path` as `--cache-audit` instead of the target's simulator (a test backend script,
    /// or a path that does not exist).
    pub fn cache_audit(mut self, path: impl Into<PathBuf>) -> Self {
        self.cache_audit = Some(path.into());
        self
    }

    /// Uses `path` as `--traces-dir` instead of the target's.
    pub fn traces_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.traces_dir = Some(path.into());
        self
    }

    /// The full argument list after the program name: the command's leading arguments, then
    /// every stage's command line (`harness::stages::arguments`).
    fn arguments(&self) -> Result<Vec<OsString>, String> {
        let target = self.target;
        let cache_audit = self.cache_audit.as_ref().unwrap_or(&target.cache_audit);
        // The default simulator is a workspace binary; name the fix, not the symptom.
        if target.stage >= 5 && self.cache_audit.is_none() && !cache_audit.is_file() {
            return Err(format!(
                "no cache-audit at {}: build it first: cargo build -p cache-audit",
                cache_audit.display()
            ));
        }
        let traces_dir = self.traces_dir.as_ref().unwrap_or(&target.traces_dir);
        if target.stage >= 5 && self.traces_dir.is_none() && !traces_dir.is_dir() {
            return Err(format!(
                "the trace directory {} does not exist (pass --traces-dir)",
                traces_dir.display()
            ));
        }
        let mut args: Vec<OsString> = target.command.iter().skip(1).cloned().collect();
        args.extend(stages::arguments(
            target.stage,
            self.threads,
            &self.args,
            cache_audit,
            traces_dir,
        ));
        Ok(args)
    }

    /// Spawns the server without waiting for it to be ready (for cases about startup itself).
    pub fn spawn(self) -> Result<Server, String> {
        let Some(program) = self.target.command.first() else {
            return Err("empty server command".to_string());
        };
        let mut command = Command::new(program);
        command.args(self.arguments()?);
        let server = Server::spawn(command)?;
        let mut logs = self
            .target
            .logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        logs.push(server.stderr());
        Ok(server)
    }

    /// Spawns the server and waits (bounded) for its readiness line `listening on http://…`.
    pub fn start(self) -> Result<Server, String> {
        let mut server = self.spawn()?;
        server.wait_ready()?;
        Ok(server)
    }
}

#[cfg(test)]
mod tests {
    use super::unfinished_milestone;

    #[test]
    fn a_starter_todo_names_its_milestone() {
        let panic = "thread 'worker-0' panicked at common/pool.rs:9:5: \
                     not yet implemented: milestone 3.3: take the oldest item";
        assert_eq!(unfinished_milestone(panic), Some("3.3"));
        assert_eq!(
            unfinished_milestone("thread 'main' panicked at x: boom"),
            None
        );
    }
}
