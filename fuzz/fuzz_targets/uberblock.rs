//! Fuzzes uberblock ring decoding and the choice of the active uberblock.
//! The input fills a 128 KiB ring (repeated); slots whose first word is the
//! uberblock magic (either byte order) are optionally re-sealed so that they
//! verify. Any input must decode without panicking, every slot must lie in
//! the ring, and the chosen uberblock must be a checksum-valid one with
//! txg > 0 that no other valid slot beats.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::uberblock::run(data));
