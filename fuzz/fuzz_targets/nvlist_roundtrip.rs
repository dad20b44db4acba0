//! Fuzzes the round trip between encodings: any list that decodes (either
//! encoding) is re-encoded in every XDR style and both native byte orders,
//! and each result must decode to the same list (compared through its
//! canonical XDR bytes, so NaN doubles compare by their bits).
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::nvlist_roundtrip::run(data));
