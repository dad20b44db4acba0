//! Fuzzes the XDR nvlist decoder (byte 0 forced to 1 so the body is
//! reached). Whatever decodes must re-encode, and the re-encoding must be a
//! fixed point of decode → encode.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::nvlist_xdr::run(data));
