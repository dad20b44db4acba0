//! The kernel zone's side of things: how the guest names its disks.

// --- modules: physpath (zvblk)
pub mod zvblk;

// --- modules: zone config (zonecfg, xml)
