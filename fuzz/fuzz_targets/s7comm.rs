//! Fuzz target `s7comm`: see `harness::s7comm`.
#![no_main]

#[allow(dead_code)]
#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::s7comm(data));
