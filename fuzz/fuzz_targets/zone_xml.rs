//! Fuzzes the zone XML parser (the `/etc/zones/<zone>.xml` form) and the
//! sniffing front door `zone::parse_config`. Any text must give a
//! configuration or a one-line error, never a panic.
#![no_main]

use kzrescue::zone;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for r in [zone::xml::parse_xml(&text), zone::parse_config(&text, None)] {
        match r {
            Ok(cfg) => {
                let _ = cfg.devices();
                let _ = cfg.boot_devices();
            }
            Err(e) => assert_eq!(e.to_string().lines().count(), 1),
        }
    }
});
