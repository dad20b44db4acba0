//! Login/text key=value parsing, SendTargets grouping, CHAP and negotiation.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::iscsi_text::run(data));
