//! Runs the shared conformance suite against this stage's binary: every case
//! the stage claims is a named test; later stages' cases are listed as ignored.

fn main() -> std::process::ExitCode {
    conformance::test_main(6, env!("CARGO_BIN_EXE_06-graceful-shutdown"))
}
