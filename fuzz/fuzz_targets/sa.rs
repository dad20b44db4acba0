//! Fuzzes system-attribute (SA) parsing with a registry and layouts taken
//! from the input; see `harness::sa`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::sa::run(data));
