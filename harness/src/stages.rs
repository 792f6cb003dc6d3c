//! The seven stages: which binary each one is, which cargo package builds it, what it can
//! serve, and the command line every stage takes (DESIGN "Command line").
//!
//! This is the one list of stages; the conformance suite, the benchmark and the reliability
//! suite all read it.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One NetServe stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stage {
    /// 1 to 7.
    pub number: u8,
    /// The binary in `target/<profile>/`, e.g. `03-thread-pool`.
    pub binary: &'static str,
    /// The cargo package that builds it, e.g. `stage03-thread-pool` (a package name cannot
    /// start with a digit).
    pub package: &'static str,
}

/// Every stage, in order.
pub const ALL: [Stage; 7] = [
    Stage::new(1, "01-iterative", "stage01-iterative"),
    Stage::new(2, "02-thread-per-conn", "stage02-thread-per-conn"),
    Stage::new(3, "03-thread-pool", "stage03-thread-pool"),
    Stage::new(4, "04-routing", "stage04-routing"),
    Stage::new(5, "05-subprocess", "stage05-subprocess"),
    Stage::new(6, "06-graceful-shutdown", "stage06-graceful-shutdown"),
    Stage::new(7, "07-event-loop", "stage07-event-loop"),
];

/// The last stage: the full server (also built as `netserve`).
pub const LAST: Stage = ALL[6];

/// The simulator that stages 05-07 run as a child process, found next to them by default;
/// the binary and its package have the same name.
pub const CACHE_AUDIT: &str = "cache-audit";

impl Stage {
    const fn new(number: u8, binary: &'static str, package: &'static str) -> Stage {
        Stage {
            number,
            binary,
            package,
        }
    }

    /// The stage numbered `number`, if there is one.
    pub fn numbered(number: u8) -> Option<Stage> {
        ALL.iter().copied().find(|stage| stage.number == number)
    }

    /// Parses a stage number as a person types it: `3` or `03`.
    ///
    /// # Errors
    /// A message saying which stages exist.
    pub fn parse(text: &str) -> Result<Stage, String> {
        text.trim()
            .parse::<u8>()
            .ok()
            .and_then(Stage::numbered)
            .ok_or_else(|| format!("no stage {text:?}: stages are 1 to 7 (01 to 07 also work)"))
    }

    /// Whether the stage has a pool of worker threads, so that THREADS changes it (stages 01
    /// and 02 accept THREADS and ignore it).
    pub fn has_pool(self) -> bool {
        self.number >= 3
    }

    /// Whether the stage runs the simulator behind `/run-cache-sim` and so takes
    /// `--cache-audit` and `--traces-dir` (stage 04 only validates the query and answers 501).
    pub fn runs_simulations(self) -> bool {
        self.number >= 5
    }

    /// Whether the stage keeps a connection open after a response (persistent connections,
    /// RFC 9112 §9.3): stage 07 onwards. Stages 01-06 answer with `Connection: close`.
    pub fn keeps_alive(self) -> bool {
        self.number >= 7
    }

    /// Where the binary is in `bin_dir`.
    pub fn path(self, bin_dir: &Path) -> PathBuf {
        bin_dir.join(self.binary)
    }
}

impl fmt::Display for Stage {
    /// The two-digit number, as the folders are named: `03`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}", self.number)
    }
}

/// The arguments a server of stage `stage` takes after its program name: `0 [THREADS]
/// [extra…]`, and from stage 05 on `--cache-audit PATH --traces-dir PATH`. Port 0 lets the
/// kernel choose a free port, which the readiness line then names.
pub fn arguments(
    stage: u8,
    threads: Option<u32>,
    extra: &[OsString],
    cache_audit: &Path,
    traces_dir: &Path,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["0".into()];
    args.extend(threads.map(|threads| threads.to_string().into()));
    args.extend(extra.iter().cloned());
    if stage >= 5 {
        args.extend([
            "--cache-audit".into(),
            cache_audit.into(),
            "--traces-dir".into(),
            traces_dir.into(),
        ]);
    }
    args
}

/// Parses a list of stages: `all`, or numbers separated by commas, with or without the
/// leading zero (`01,3,06`). The result is sorted and without repeats.
///
/// # Errors
/// A message naming the item that is not a stage number from 1 to 7.
pub fn parse_list(text: &str) -> Result<Vec<Stage>, String> {
    if text.trim() == "all" {
        return Ok(ALL.to_vec());
    }
    let mut stages = text
        .split(',')
        .map(Stage::parse)
        .collect::<Result<Vec<_>, _>>()?;
    stages.sort();
    stages.dedup();
    Ok(stages)
}

/// The command that builds what is missing from `bin_dir`, if anything: each stage of
/// `stages` and, when `needs_cache_audit`, the simulator.
///
/// Returns `None` when every binary is there, otherwise a message listing the missing paths
/// and the `cargo build` that makes them.
pub fn missing_build(stages: &[Stage], needs_cache_audit: bool, bin_dir: &Path) -> Option<String> {
    let mut missing: Vec<(PathBuf, &str)> = stages
        .iter()
        .map(|stage| (stage.path(bin_dir), stage.package))
        .collect();
    if needs_cache_audit {
        missing.push((bin_dir.join(CACHE_AUDIT), CACHE_AUDIT));
    }
    let (mut paths, mut packages) = (String::new(), String::new());
    for (path, package) in missing.iter().filter(|(path, _)| !path.is_file()) {
        paths.push_str(&format!("  {}\n", path.display()));
        packages.push_str(&format!(" -p {package}"));
    }
    if paths.is_empty() {
        return None;
    }
    Some(format!(
        "missing binaries:\n{paths}build them with:\n  cargo build --release --workspace\n\
         or only these:\n  cargo build --release{packages}"
    ))
}

/// The directory the stage binaries were built into, by default: the one holding the running
/// program (`cargo build --workspace` puts every binary in `target/<profile>/`), or its parent
/// for a test or example binary, which lives in `deps/` or `examples/` below it.
pub fn default_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map_or_else(PathBuf::new, Path::to_path_buf);
    match dir.file_name().and_then(|name| name.to_str()) {
        Some("deps" | "examples") => dir.parent().map_or(dir.clone(), Path::to_path_buf),
        _ => dir,
    }
}

/// Builds `cache-audit` into `bin_dir` if it is not there: `cargo test -p stage05-…` builds
/// only the package under test. The profile follows the directory (`release` or not). A
/// failure is reported by whatever then needs the binary.
pub fn build_cache_audit(bin_dir: &Path) {
    if bin_dir.join(CACHE_AUDIT).is_file() {
        return;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "-p", CACHE_AUDIT, "--bin", CACHE_AUDIT]);
    if bin_dir.ends_with("release") {
        command.arg("--release");
    }
    eprintln!("building cache-audit for stages 05-07: {command:?}");
    if let Err(error) = command.status() {
        eprintln!("could not run cargo: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(stages: &[Stage]) -> Vec<u8> {
        stages.iter().map(|stage| stage.number).collect()
    }

    #[test]
    fn parses_stage_lists() {
        assert_eq!(numbers(&parse_list("all").unwrap()), [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(numbers(&parse_list("06,1, 03,3").unwrap()), [1, 3, 6]);
        assert!(parse_list("08").unwrap_err().contains("\"08\""));
        assert!(parse_list("1,,2").is_err());
        assert!(parse_list("three").is_err());
    }

    #[test]
    fn names_the_missing_build() {
        let nowhere = Path::new("/nonexistent/target/release");
        let message = missing_build(&ALL[4..5], true, nowhere).unwrap();
        assert!(message.contains("/nonexistent/target/release/05-subprocess"));
        assert!(message.contains("cargo build --release --workspace"));
        assert!(message.contains("cargo build --release -p stage05-subprocess -p cache-audit"));
    }
}
