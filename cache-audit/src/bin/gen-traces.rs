//! `gen-traces [DIR]`: write the bundled synthetic traces.
//!
//! Writes `loop.txt`, `scan.txt`, `skewed.txt` and `hot_cold.txt` (see
//! `cache_audit::synthetic`) into DIR, by default this crate's
//! `traces/synthetic/`. Run it with `cargo run -p cache-audit --bin gen-traces`
//! after changing a generator, and commit the result. Exit status 1, with one
//! line on stderr, if a file cannot be written.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::{env, fs};

use cache_audit::synthetic;

fn main() -> ExitCode {
    let dir = env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/traces/synthetic")));
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
            let _ = writeln!(
                io::stderr(),
                "gen-traces: cannot write to {}: {err}",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}
