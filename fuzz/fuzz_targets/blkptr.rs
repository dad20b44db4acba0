//! Fuzzes block-pointer decoding in both byte orders: any 128 bytes must
//! decode to a pointer whose summary prints, never a panic.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::blkptr::run(data));
