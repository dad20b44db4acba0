//! iSCSI PDU decoding: BHS checks, AHS, padding, digests.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::iscsi_pdu::run(data));
