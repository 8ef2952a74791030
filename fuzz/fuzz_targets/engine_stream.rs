//! Fuzz target `engine_stream`: see `harness::engine_stream`.
#![no_main]

#[allow(dead_code)]
#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::engine_stream(data));
