//! Runs the shared conformance suite against this stage's binary: every case
//! the stage claims is a named test; later stages' cases are listed as ignored.

fn main() -> std::process::ExitCode {
    conformance::test_main(7, env!("CARGO_BIN_EXE_07-event-loop"))
}
