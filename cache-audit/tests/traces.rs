//! The committed traces under `traces/synthetic/` are exactly what the
//! generator command writes.

use std::fs;
use std::path::Path;
use std::process::Command;

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
