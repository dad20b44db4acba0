//! Fuzzes the zone XML parser (the `/etc/zones/<zone>.xml` form) and the
//! sniffing front door `zone::parse_config`. Any text must give a
//! configuration or a one-line error, never a panic.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::zone_xml::run(data));
