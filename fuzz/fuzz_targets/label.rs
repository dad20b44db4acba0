//! Fuzzes label decoding. The input is the start of a 112 KiB vdev_phys
//! (zero-filled after it); it is decoded as given, and again sealed with a
//! correct embedded checksum so that the nvlist decoder behind the checksum
//! is reached. It is also read as a whole (tiny) vdev through `read_labels`.
//! Any input must give a verdict per label, never a panic; problems are one
//! line; a valid label re-encodes to a vdev_phys that decodes to the same
//! config.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::label::run(data));
