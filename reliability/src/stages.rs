//! The stage binaries under test, and how to start one.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use conformance::Target;
use conformance::server::Server;

/// One stage binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage {
    /// 1..=7.
    pub number: u8,
    /// The binary's file name, e.g. `03-thread-pool`.
    pub binary: &'static str,
}

/// Every stage, in order.
pub const STAGES: [Stage; 7] = [
    Stage {
        number: 1,
        binary: "01-iterative",
    },
    Stage {
        number: 2,
        binary: "02-thread-per-conn",
    },
    Stage {
        number: 3,
        binary: "03-thread-pool",
    },
    Stage {
        number: 4,
        binary: "04-routing",
    },
    Stage {
        number: 5,
        binary: "05-subprocess",
    },
    Stage {
        number: 6,
        binary: "06-graceful-shutdown",
    },
    Stage {
        number: 7,
        binary: "07-event-loop",
    },
];

/// The last stage: the full spec (also built as `netserve`).
pub const FULL: Stage = STAGES[6];

impl Stage {
    /// The stage with this number, if there is one.
    pub fn numbered(number: u8) -> Option<Stage> {
        STAGES.iter().copied().find(|stage| stage.number == number)
    }

    /// `01`, `02`, … for tables.
    pub fn label(&self) -> String {
        format!("{:02}", self.number)
    }

    /// The conformance suite's view of this stage built in `bin_dir`: the
    /// binary, and from stage 05 on the `cache-audit` next to it and the
    /// bundled traces.
    pub fn target(&self, bin_dir: &Path) -> Target {
        Target::new(
            self.number,
            vec![bin_dir.join(self.binary).into_os_string()],
            bin_dir.join("cache-audit"),
            conformance::default_traces_dir(),
        )
    }

    /// Checks that the binary (and from stage 05 on, `cache-audit`) exists
    /// in `bin_dir`, with a message that says how to build them.
    pub fn check_built(&self, bin_dir: &Path) -> Result<(), String> {
        let mut needed = vec![bin_dir.join(self.binary)];
        if self.number >= 5 {
            needed.push(bin_dir.join("cache-audit"));
        }
        for path in needed {
            if !path.is_file() {
                return Err(format!(
                    "{} is missing: build the workspace first (`cargo build --release --workspace`) \
                     and pass its directory as --bin-dir",
                    path.display()
                ));
            }
        }
        Ok(())
    }
}

/// The directory the stage binaries were built into, by default: the one
/// holding this program. `cargo build --release --workspace` puts
/// `reliability` and every stage binary in `target/release/`.
pub fn default_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("."));
    let dir = exe
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    // A test or example binary lives one level down, in `deps/` or `examples/`.
    match dir.file_name().and_then(|name| name.to_str()) {
        Some("deps" | "examples") => dir.parent().map_or(dir.clone(), Path::to_path_buf),
        _ => dir,
    }
}

/// Starts `stage` under `/bin/sh` with `shell_setup` run first (for example
/// `ulimit -n 64`), then `exec`s the server with its usual arguments plus
/// `args`, so the process the returned [`Server`] watches *is* the server.
/// Waits for the readiness line.
pub fn start_under_shell(
    stage: Stage,
    bin_dir: &Path,
    shell_setup: &str,
    threads: Option<u32>,
    args: &[&str],
) -> Result<Server, String> {
    let target = stage.target(bin_dir);
    let mut launch_args: Vec<OsString> = Vec::new();
    launch_args.push("-c".into());
    launch_args.push(format!("{shell_setup} && exec \"$0\" \"$@\"").into());
    launch_args.push(bin_dir.join(stage.binary).into_os_string());
    launch_args.push("0".into());
    if let Some(threads) = threads {
        launch_args.push(threads.to_string().into());
    }
    launch_args.extend(args.iter().map(OsString::from));
    if stage.number >= 5 {
        launch_args.push("--cache-audit".into());
        launch_args.push(target.cache_audit.clone().into_os_string());
        launch_args.push("--traces-dir".into());
        launch_args.push(target.traces_dir.clone().into_os_string());
    }
    let mut server = Server::spawn(&OsString::from("/bin/sh"), &launch_args)?;
    server.wait_ready()?;
    Ok(server)
}
