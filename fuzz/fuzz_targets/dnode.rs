//! Fuzzes dnode decoding (including large dnodes, bonus and spill
//! pointers) in both byte orders, and object-set headers built around the
//! dnode: never a panic, and a decoded dnode's parts stay inside it.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::dnode::run(data));
