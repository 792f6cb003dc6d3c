//! `netserve`: stage 06, the full NetServe spec, under the name of the
//! original C++ server, so `./target/release/netserve 8080` is a drop-in.

#[path = "../main.rs"]
mod stage06;

fn main() {
    stage06::main();
}
