//! The PC master boot record's partition table ("fdisk table").
//!
//! On disk: sector 0 holds four 16-byte entries at byte 446 and the boot
//! signature `55 AA` at byte 510. kzrescue reads it to find the Solaris fdisk
//! partition of an x86 VTOC disk and to recognise the protective MBR of a GPT.

use serde::Serialize;

/// Byte offset of the first entry.
pub const TABLE_OFFSET: usize = 446;
/// Size of one entry.
pub const ENTRY_SIZE: usize = 16;
/// fdisk type of a Solaris partition ("Solaris2").
pub const TYPE_SOLARIS2: u8 = 0xbf;
/// fdisk type of a pre-Solaris-10 Solaris partition (shared with Linux swap).
pub const TYPE_SOLARIS_LEGACY: u8 = 0x82;
/// fdisk type of the protective entry of a GPT disk.
pub const TYPE_GPT_PROTECTIVE: u8 = 0xee;

/// One primary fdisk entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FdiskEntry {
    /// Entry number, 1–4 (Solaris calls the partitions p1–p4).
    pub number: u8,
    /// Whether the boot indicator is 0x80.
    pub active: bool,
    /// System type byte.
    pub kind: u8,
    /// First sector.
    pub start_lba: u32,
    /// Number of sectors.
    pub sectors: u32,
}

/// The non-empty primary entries of `sector0`, or `None` when it has no
/// `55 AA` boot signature or is shorter than a sector.
pub fn parse(sector0: &[u8]) -> Option<Vec<FdiskEntry>> {
    if sector0.get(510..512)? != [0x55, 0xaa] {
        return None;
    }
    let mut entries = Vec::new();
    for i in 0..4 {
        let off = TABLE_OFFSET + i * ENTRY_SIZE;
        let e = sector0.get(off..off + ENTRY_SIZE)?;
        let kind = e[4];
        let start_lba = u32::from_le_bytes([e[8], e[9], e[10], e[11]]);
        let sectors = u32::from_le_bytes([e[12], e[13], e[14], e[15]]);
        if kind == 0 || sectors == 0 {
            continue;
        }
        entries.push(FdiskEntry {
            number: i as u8 + 1,
            active: e[0] == 0x80,
            kind,
            start_lba,
            sectors,
        });
    }
    Some(entries)
}
