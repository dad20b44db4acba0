//! Fuzzes the undo-journal reader: arbitrary bytes, and arbitrary bodies
//! re-sealed with a valid SHA-256 so that the parser behind the checksum is
//! reached. It must return an error or a journal that re-encodes to itself.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::journal::run(data));
