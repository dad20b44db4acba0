//! Fuzzes the host-data container reader: arbitrary slot bytes, and the same
//! bytes with the magic set and both CRCs recomputed so that the framing
//! checks, the key-id check and AES-CCM verification behind them are reached.
//! It must never panic, and a copy that opens must re-serialize to its input.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::hostdata_container::run(data));
