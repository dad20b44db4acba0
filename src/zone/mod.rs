//! Kernel-zone configuration and naming.

// --- zone: physpath (zvblk, the leaf paths in the labels)
pub mod physpath;
pub mod zvblk;

// --- zone: the zvol route (COMSTAR/iSCSI host commands)
pub mod comstar;

// --- zone: configuration (zonecfg export text, XML)
pub mod xml;
pub mod zonecfg;

use crate::error::Result;
pub use zonecfg::{Device, ZoneConfig};

/// Parses a zone configuration given as export text or XML (sniffed from the
/// first non-blank character).
pub fn parse_config(text: &str, name: Option<&str>) -> Result<ZoneConfig> {
    if text.trim_start().starts_with('<') {
        let mut cfg = xml::parse_xml(text)?;
        if cfg.name.is_none() {
            cfg.name = name.map(str::to_string);
        }
        Ok(cfg)
    } else {
        zonecfg::parse_export(text, name)
    }
}

/// Reads the zone configuration in `path` (export text or XML, at most
/// [`crate::input::MAX_CONFIG`] bytes) and parses it ([`parse_config`]).
pub fn read_config(path: &std::path::Path, name: Option<&str>) -> Result<ZoneConfig> {
    let text = crate::input::read_text(path, "zone configuration", crate::input::MAX_CONFIG, true)?;
    parse_config(&text, name)
}
