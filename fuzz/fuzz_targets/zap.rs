//! Fuzzes ZAP block decoding: the input is used as a micro-ZAP block and,
//! with the leaf block type and magic stamped on, as a fat-ZAP leaf of the
//! next power-of-two size, in both byte orders. Errors are fine, panics and
//! unbounded loops are not.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::zap::run(data));
