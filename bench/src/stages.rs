//! The seven stages: which binary each one is, which cargo package builds
//! it, and what it can serve.

use std::fmt;
use std::path::{Path, PathBuf};

/// One NetServe stage, as the benchmark runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stage {
    /// 1 to 7.
    pub number: u8,
    /// The binary in `target/release`, e.g. `03-thread-pool`.
    pub binary: &'static str,
    /// The cargo package that builds it, e.g. `stage03-thread-pool` (a
    /// package name cannot start with a digit).
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

/// The simulator binary that stages 05-07 run as a child process, found
/// next to them by default.
pub const CACHE_AUDIT_BINARY: &str = "cache-audit";

/// The package that builds [`CACHE_AUDIT_BINARY`].
pub const CACHE_AUDIT_PACKAGE: &str = "cache-audit";

impl Stage {
    const fn new(number: u8, binary: &'static str, package: &'static str) -> Stage {
        Stage {
            number,
            binary,
            package,
        }
    }

    /// Whether the stage has a pool of worker threads, so that THREADS
    /// changes it (stages 01 and 02 accept THREADS and ignore it).
    pub fn has_pool(self) -> bool {
        self.number >= 3
    }

    /// Whether the stage runs the simulator behind `/run-cache-sim`
    /// (stage 04 only validates the query and answers 501).
    pub fn runs_simulations(self) -> bool {
        self.number >= 5
    }

    /// Whether the stage keeps a connection open after a response
    /// (persistent connections, RFC 9112 §9.3): stage 07 onwards. Stages
    /// 01-06 answer every request with `Connection: close` and close.
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

/// Parses `--stages`: `all`, or numbers separated by commas, with or without
/// the leading zero (`01,3,06`). The result is sorted and without repeats.
///
/// # Errors
/// A message naming the item that is not a stage number from 1 to 7.
pub fn parse_list(text: &str) -> Result<Vec<Stage>, String> {
    if text.trim() == "all" {
        return Ok(ALL.to_vec());
    }
    let mut stages = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        let stage = item
            .parse::<u8>()
            .ok()
            .and_then(|number| ALL.iter().copied().find(|stage| stage.number == number))
            .ok_or_else(|| format!("'{item}' is not a stage (expected all, or 01 to 07)"))?;
        stages.push(stage);
    }
    stages.sort();
    stages.dedup();
    Ok(stages)
}

/// The command that builds what is missing from `bin_dir`, if anything:
/// each stage of `stages` and, when `needs_cache_audit`, the simulator.
///
/// Returns `None` when every binary is there, otherwise a message listing
/// the missing paths and the `cargo build` that makes them.
pub fn missing_build(stages: &[Stage], needs_cache_audit: bool, bin_dir: &Path) -> Option<String> {
    let mut missing: Vec<(PathBuf, &str)> = stages
        .iter()
        .map(|stage| (stage.path(bin_dir), stage.package))
        .collect();
    if needs_cache_audit {
        missing.push((bin_dir.join(CACHE_AUDIT_BINARY), CACHE_AUDIT_PACKAGE));
    }
    missing.retain(|(path, _)| !path.is_file());
    if missing.is_empty() {
        return None;
    }
    let mut message = String::from("missing binaries:\n");
    for (path, _) in &missing {
        message.push_str(&format!("  {}\n", path.display()));
    }
    let packages: Vec<String> = missing
        .iter()
        .map(|(_, package)| format!("-p {package}"))
        .collect();
    message.push_str(&format!(
        "build them with:\n  cargo build --release --workspace\nor only these:\n  cargo build --release {}",
        packages.join(" ")
    ));
    Some(message)
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
        assert!(parse_list("08").unwrap_err().contains("'08'"));
        assert!(parse_list("1,,2").is_err());
        assert!(parse_list("three").is_err());
    }

    #[test]
    fn displays_two_digits() {
        assert_eq!(ALL[2].to_string(), "03");
        assert!(ALL[2].has_pool() && !ALL[1].has_pool());
        assert!(ALL[4].runs_simulations() && !ALL[3].runs_simulations());
        assert!(ALL[6].keeps_alive() && !ALL[5].keeps_alive());
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
