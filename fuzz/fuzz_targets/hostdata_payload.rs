//! Fuzzes the host-data payload decoder (XDR nvlist → typed fields): it must
//! return an error or host data that encodes and decodes back to itself.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::hostdata_payload::run(data));
