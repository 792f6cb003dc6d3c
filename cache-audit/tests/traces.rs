//! The committed traces under `traces/synthetic/` are exactly what the
//! generator command writes, and the generator's command line.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

#[test]
fn regenerating_the_bundled_traces_is_byte_identical() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("regenerated-traces");
    let _ = fs::remove_dir_all(&out);
    let status = Command::new(env!("CARGO_BIN_EXE_gen-traces"))
        .arg(&out)
        .output()
        .expect("gen-traces runs");
    assert!(status.status.success(), "{status:?}");

    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/synthetic");
    for name in ["loop", "scan", "skewed", "hot_cold"] {
        let file = format!("{name}.txt");
        let fresh = fs::read(out.join(&file)).expect("generated trace");
        let kept = fs::read(committed.join(&file)).expect("committed trace");
        assert!(
            fresh == kept,
            "{file} differs from the generator's output: run `cargo run -p cache-audit --bin gen-traces`"
        );
    }
    // Nothing else is generated, and nothing else is committed there.
    let listing = |dir: &Path| {
        let mut names: Vec<_> = fs::read_dir(dir)
            .expect("list dir")
            .map(|entry| entry.expect("dir entry").file_name())
            .collect();
        names.sort();
        names
    };
    assert_eq!(listing(&out), listing(&committed));
}

/// Run `gen-traces` with `args` in a fresh, empty directory; its output and
/// the names of what it left in that directory.
fn gen_traces_in_empty_dir(test: &str, args: &[&str]) -> (Output, Vec<String>) {
    let cwd = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("gen-traces-{test}"));
    let _ = fs::remove_dir_all(&cwd);
    fs::create_dir_all(&cwd).expect("create scratch dir");
    let output = Command::new(env!("CARGO_BIN_EXE_gen-traces"))
        .args(args)
        .current_dir(&cwd)
        .output()
        .expect("gen-traces runs");
    let left: Vec<String> = fs::read_dir(&cwd)
        .expect("list scratch dir")
        .map(|entry| {
            let entry = entry.expect("dir entry");
            entry.file_name().to_string_lossy().into_owned()
        })
        .collect();
    (output, left)
}

#[test]
fn gen_traces_help_is_help_not_a_directory() {
    for flag in ["--help", "-h"] {
        let (output, left) = gen_traces_in_empty_dir("help", &[flag]);
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("Usage: gen-traces [DIR]"), "{stdout}");
        assert!(left.is_empty(), "{flag} wrote {left:?}");
    }
}

#[test]
fn gen_traces_usage_errors_exit_2_and_write_nothing() {
    for (args, message) in [
        (&["a", "b"][..], "unexpected argument 'b'"),
        (&["--bogus"][..], "unexpected argument '--bogus'"),
    ] {
        let (output, left) = gen_traces_in_empty_dir("usage", args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(left.is_empty(), "{args:?} wrote {left:?}");
    }
}

#[test]
fn gen_traces_writes_into_a_directory_given_after_double_dash() {
    // A directory whose name starts with `-` is still reachable.
    let (output, left) = gen_traces_in_empty_dir("dash", &["--", "--odd"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(left, ["--odd"]);
}
