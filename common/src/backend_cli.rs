//! The backend's part of the command line (stage 05 on): where the
//! cache-audit executable and the trace files are, and how long one
//! simulation may run.
//!
//! Together with [`crate::cli::ServerArgs`] it accepts the original C++
//! NetServe's form `netserve <port> [thread_count] --cache-audit <path>
//! --traces-dir <path>` as it is. The paths are checked before the socket is
//! bound, so a misconfigured server never prints its readiness line.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process;
use std::time::Duration;

use crate::backend::Backend;
use crate::cli;
use crate::sim;

/// The bundled traces of the checkout this binary was built from.
const BUNDLED_TRACES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../cache-audit/traces/synthetic"
);

/// `--cache-audit`, `--traces-dir` and `--backend-timeout`. Flattened into
/// the `Cli` of stages 05-07 with `#[command(flatten)]`.
#[derive(clap::Args, Debug, Clone)]
pub struct BackendArgs {
    /// The cache-audit executable [default: `cache-audit` next to this binary]
    #[arg(long, value_name = "PATH")]
    pub cache_audit: Option<PathBuf>,

    /// Directory of the trace files (`loop.txt`, `scan.txt`, ...) [default: the bundled traces]
    #[arg(long, value_name = "PATH")]
    pub traces_dir: Option<PathBuf>,

    /// Time one simulation may run before it is killed (504), in seconds
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = cli::seconds)]
    pub backend_timeout: Duration,
}

impl BackendArgs {
    // ANCHOR: backend_or_exit
    /// Resolves the defaults of `--cache-audit` and `--traces-dir`, checks
    /// both paths, and builds the [`Backend`]. Called before the socket is
    /// bound, so a misconfigured server never appears to be ready.
    ///
    /// On a bad path, prints one line and exits with status 2: the program
    /// is missing, not a file or not executable; the directory is missing or
    /// not a directory.
    pub fn backend_or_exit(&self) -> Backend {
        let program = self.cache_audit.clone().unwrap_or_else(sibling_cache_audit);
        let traces_dir = self
            .traces_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(BUNDLED_TRACES));

        let checked = check_program(&program).and_then(|()| check_directory(&traces_dir));
        if let Err(message) = checked {
            eprintln!("error: {message}");
            process::exit(2);
        }
        // Absolute paths from here on. `Command` looks a bare name such as
        // `cache-audit` up in PATH, not in the directory it was checked in;
        // and `.../common/../cache-audit/...` reads badly in messages. Both
        // were just shown to exist.
        let program = fs::canonicalize(&program).unwrap_or(program);
        let traces_dir = fs::canonicalize(&traces_dir).unwrap_or(traces_dir);
        Backend::new(program, traces_dir, self.backend_timeout)
    }
    // ANCHOR_END: backend_or_exit
}

/// `cache-audit` in the directory of the running executable, which is where
/// `cargo build` puts both binaries.
fn sibling_cache_audit() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("cache-audit")))
        .unwrap_or_else(|| PathBuf::from("cache-audit"))
}

fn check_program(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let metadata = fs::metadata(path).map_err(|error| {
        format!("--cache-audit {shown}: {error} (build it with `cargo build --release -p cache-audit` or pass --cache-audit PATH)")
    })?;
    if !metadata.is_file() {
        return Err(format!("--cache-audit {shown}: not a file"));
    }
    if metadata.permissions().mode() & 0o111 == 0 {
        return Err(format!("--cache-audit {shown}: not executable"));
    }
    Ok(())
}

/// The directory must exist and hold `<trace>.txt` for every trace a
/// request may name, so that no valid request can fail for a missing file.
fn check_directory(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let metadata = fs::metadata(path).map_err(|error| format!("--traces-dir {shown}: {error}"))?;
    if !metadata.is_dir() {
        return Err(format!("--traces-dir {shown}: not a directory"));
    }
    for trace in sim::TRACES {
        let file = path.join(format!("{trace}.txt"));
        if !file.is_file() {
            return Err(format!("--traces-dir {shown}: no {trace}.txt in it"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ServerArgs;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        backend: BackendArgs,
    }

    #[test]
    fn accepts_the_original_command_line() {
        let parsed = Cli::try_parse_from([
            "netserve",
            "9000",
            "4",
            "--cache-audit",
            "/bin/true",
            "--traces-dir",
            "/tmp",
        ])
        .expect("the original's form parses");
        assert_eq!(parsed.server.port, 9000);
        assert_eq!(parsed.server.args().threads, 4);
        assert_eq!(
            parsed.backend.cache_audit.as_deref(),
            Some(Path::new("/bin/true"))
        );
        assert_eq!(parsed.backend.backend_timeout, Duration::from_secs(10));
    }

    #[test]
    fn checks_paths() {
        assert!(check_program(Path::new("/bin/sh")).is_ok());
        assert!(check_program(Path::new("/nonexistent/cache-audit")).is_err());
        assert!(check_program(Path::new("/tmp")).is_err());
        assert!(
            check_program(Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/Cargo.toml"
            )))
            .is_err()
        );
        assert!(
            check_directory(Path::new("/tmp")).is_err(),
            "no trace files in /tmp"
        );
        assert!(check_directory(Path::new("/bin/sh")).is_err());
        assert!(check_directory(Path::new(BUNDLED_TRACES)).is_ok());
    }

    #[test]
    fn rejects_a_bad_backend_timeout() {
        assert!(Cli::try_parse_from(["netserve", "--backend-timeout", "-1"]).is_err());
    }
}
