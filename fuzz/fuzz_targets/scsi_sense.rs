//! SCSI answers: sense data, INQUIRY, VPD 0x83, READ CAPACITY(16), REPORT LUNS,
//! the MODE SENSE parameter header.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::scsi_sense::run(data));
