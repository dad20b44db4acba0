//! Fuzzes the Sun label readers. The input becomes, in turn: sector 0 of a
//! SPARC disk with the SMI magic and a valid checksum, and the label sector
//! of an x86 Solaris fdisk partition (MBR type 0xBF or 0x82 at a start the
//! input chooses) with the VTOC sanity word and a valid checksum. Any input
//! must give a table or an error, never a panic.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::vtoc::run(data));
