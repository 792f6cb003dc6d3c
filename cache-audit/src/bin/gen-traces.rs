//! `gen-traces [DIR]`: write the bundled synthetic traces.
//!
//! Writes `loop.txt`, `scan.txt`, `skewed.txt` and `hot_cold.txt` (see
//! `cache_audit::synthetic`) into DIR, by default this crate's
//! `traces/synthetic/`. Run it with `cargo run -p cache-audit --bin gen-traces`
//! after changing a generator, and commit the result.
//!
//! Exit status: 0 on success (also for `--help` and `--version`); 2 for a
//! usage error (an unknown option, more than one DIR), reported by clap before
//! anything is written; 1, with one line on stderr, if a file cannot be
//! written.

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use cache_audit::synthetic;
use clap::Parser;

/// This crate's `traces/synthetic/`, where the bundled traces are committed.
const DEFAULT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/traces/synthetic");

/// Write the bundled synthetic traces (loop, scan, skewed, hot_cold).
#[derive(Debug, Parser)]
#[command(name = "gen-traces", version)]
struct Cli {
    /// Directory to write the traces into, created if missing [default: this
    /// crate's traces/synthetic/]
    // Parsed by clap, not taken from `env::args` by hand, so that `--help` is
    // help, not a directory name, and an extra argument is an error.
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    // On a usage error clap prints it and exits with status 2; on `--help`
    // and `--version` it prints them and exits with 0.
    let cli = Cli::parse();
    let dir = cli.dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    let result = fs::create_dir_all(&dir).and_then(|()| {
        for trace in synthetic::ALL {
            let path = dir.join(format!("{}.txt", trace.name));
            fs::write(&path, trace.render())?;
            println!("wrote {}", path.display());
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:?}` quotes the path and escapes control characters, so the
            // message stays on one line whatever the directory is called.
            let _ = writeln!(io::stderr(), "gen-traces: cannot write to {dir:?}: {err}");
            ExitCode::FAILURE
        }
    }
}
