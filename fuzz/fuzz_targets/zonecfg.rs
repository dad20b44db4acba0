//! Fuzzes the `zonecfg export` text parser and what is derived from a parsed
//! configuration (devices, boot devices). Any text must give a configuration
//! or a one-line error, never a panic.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::zonecfg::run(data));
