//! Fuzz target `engine_frames`: see `harness::engine_frames`.
#![no_main]

#[allow(dead_code)]
#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::engine_frames(data));
