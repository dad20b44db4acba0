//! Fuzzes the label recogniser of `kzrescue scan` (a sealed or unsealed
//! vdev_phys at a chosen sector, or everywhere) and the label rebuild
//! planner; see `harness::scan`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::scan::run(data));
