//! Fuzzes the native nvlist decoder in both byte orders (byte 0 forced to 0,
//! byte 1 to 0 or 1). Whatever decodes must re-encode to a fixed point.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::nvlist_native::run(data));
