//! Fuzzes partition-table detection and the GPT reader. The input is a small
//! disk image; it is read as given, and again with "EFI PART" headers at LBA 1
//! and the last LBA whose entry-array and header CRCs are re-sealed, so that
//! the checks behind the CRCs are reached. Any input must give a table or an
//! error, never a panic, and a table's partitions must lie within u64.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::gpt::run(data));
