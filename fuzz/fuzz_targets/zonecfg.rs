//! Fuzzes the `zonecfg export` text parser and what is derived from a parsed
//! configuration (devices, boot devices). Any text must give a configuration
//! or a one-line error, never a panic.
#![no_main]

use kzrescue::zone::zonecfg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match zonecfg::parse_export(&text, Some("fuzz")) {
        Ok(cfg) => {
            let _ = cfg.brand();
            let _ = cfg.is_kernel_zone();
            let _ = cfg.devices();
            let _ = cfg.boot_devices();
        }
        Err(e) => assert_eq!(e.to_string().lines().count(), 1),
    }
});
