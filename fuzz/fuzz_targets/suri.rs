//! Storage URI parsing: never panics; normalizing is idempotent.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::suri::run(data));
