//! Sun disk labels with a VTOC ("SMI labels").
//!
//! Two layouts share the 512-byte `dk_label` frame (magic `0xDABE` at byte
//! 508, an XOR checksum at byte 510 that makes the XOR of all 256 16-bit words
//! zero) and the VTOC sanity word `0x600DDEEE`:
//!
//! * **VTOC_8** (SPARC): in sector 0 of the disk, big-endian. 8 slices, each a
//!   starting *cylinder* and a block count; tags and flags sit in the VTOC part.
//! * **VTOC_16** (x86): in sector 1 of the Solaris fdisk partition,
//!   little-endian. 16 slices with tag, flag, start sector and size, the start
//!   counted from the beginning of the fdisk partition.
//!
//! Offsets below are byte offsets inside the 512-byte label.

use super::{Partition, mbr::FdiskEntry, solaris};
use crate::error::{Error, Result};
use serde::Serialize;

/// Size of a disk label, and the sector unit of VTOC slices.
pub const LABEL_SIZE: usize = 512;
/// `DKL_MAGIC`, at byte 508 in the label's byte order.
pub const DKL_MAGIC: u16 = 0xdabe;
/// `VTOC_SANE`, the VTOC sanity word.
pub const VTOC_SANE: u32 = 0x600d_deee;
/// Byte offset of the magic.
pub const MAGIC_OFFSET: usize = 508;
/// Byte offset of the VTOC_8 sanity word.
pub const SMI_SANITY_OFFSET: usize = 188;
/// Byte offset of the VTOC_16 sanity word.
pub const X86_SANITY_OFFSET: usize = 12;
/// Sector of the fdisk partition holding the VTOC_16 label.
pub const X86_LABEL_SECTOR: u64 = 1;

/// What a Sun label says besides its slices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VtocInfo {
    /// Byte offset of the label on the disk.
    pub label_offset: u64,
    /// The ASCII label (`format` writes the disk model and geometry there).
    pub ascii_label: String,
    /// Volume name.
    pub volume: String,
    /// VTOC layout version (1).
    pub version: u32,
    /// Whether the VTOC sanity word is present (labels older than the VTOC lack it).
    pub sane: bool,
    /// Slice count the VTOC declares.
    pub nparts: u16,
    /// Cylinders usable for data.
    pub ncyl: u32,
    /// Alternate cylinders.
    pub acyl: u32,
    /// Physical cylinders.
    pub pcyl: u32,
    /// Heads.
    pub nhead: u32,
    /// Sectors per track.
    pub nsect: u32,
    /// The fdisk partition holding an x86 VTOC.
    pub fdisk: Option<FdiskEntry>,
}

/// Whether sector 0 carries a SPARC (big-endian) Sun label magic.
pub fn is_smi(sector0: &[u8]) -> bool {
    sector0.get(MAGIC_OFFSET..MAGIC_OFFSET + 2) == Some(&DKL_MAGIC.to_be_bytes()[..])
}

/// Whether a sector carries an x86 VTOC sanity word.
pub fn is_x86_vtoc(sector: &[u8]) -> bool {
    sector.get(X86_SANITY_OFFSET..X86_SANITY_OFFSET + 4) == Some(&VTOC_SANE.to_le_bytes()[..])
}

/// Byte order of a label.
#[derive(Clone, Copy)]
enum Order {
    Big,
    Little,
}

/// A label buffer read in one byte order.
struct Label<'a> {
    b: &'a [u8; LABEL_SIZE],
    order: Order,
}

impl Label<'_> {
    fn u16(&self, off: usize) -> u16 {
        let v = [self.b[off], self.b[off + 1]];
        match self.order {
            Order::Big => u16::from_be_bytes(v),
            Order::Little => u16::from_le_bytes(v),
        }
    }
    fn u32(&self, off: usize) -> u32 {
        let v = [
            self.b[off],
            self.b[off + 1],
            self.b[off + 2],
            self.b[off + 3],
        ];
        match self.order {
            Order::Big => u32::from_be_bytes(v),
            Order::Little => u32::from_le_bytes(v),
        }
    }
    fn text(&self, off: usize, len: usize) -> String {
        let raw = &self.b[off..off + len];
        let end = raw.iter().position(|&c| c == 0).unwrap_or(len);
        String::from_utf8_lossy(&raw[..end]).trim_end().to_string()
    }
    /// Checks the magic and that the XOR of all 16-bit words is zero.
    fn check_frame(&self, structure: &str, base: u64) -> Result<()> {
        let magic = self.u16(MAGIC_OFFSET);
        if magic != DKL_MAGIC {
            return Err(Error::corrupt(
                structure,
                base + MAGIC_OFFSET as u64,
                format!("magic is {magic:#06x}, not {DKL_MAGIC:#06x}"),
            ));
        }
        let xor = self
            .b
            .chunks_exact(2)
            .fold(0u16, |acc, w| acc ^ u16::from_be_bytes([w[0], w[1]]));
        if xor != 0 {
            return Err(Error::corrupt(
                structure,
                base + 510,
                format!(
                    "checksum {:#06x} does not match the label (XOR of all words is {xor:#06x}, not 0)",
                    self.u16(510)
                ),
            ));
        }
        Ok(())
    }
}

/// Decodes the SPARC VTOC_8 label in `sector0` (from byte 0 of the disk).
pub fn decode_smi(
    sector0: &[u8; LABEL_SIZE],
    disk_size: u64,
    notes: &mut Vec<String>,
) -> Result<(VtocInfo, Vec<Partition>)> {
    const S: &str = "SMI disk label";
    let l = Label {
        b: sector0,
        order: Order::Big,
    };
    l.check_frame(S, 0)?;
    let sane = l.u32(SMI_SANITY_OFFSET) == VTOC_SANE;
    let nhead = u32::from(l.u16(436));
    let nsect = u32::from(l.u16(438));
    let info = VtocInfo {
        label_offset: 0,
        ascii_label: l.text(0, 128),
        volume: if sane { l.text(132, 8) } else { String::new() },
        version: if sane { l.u32(128) } else { 0 },
        sane,
        nparts: if sane { l.u16(140) } else { 8 },
        ncyl: u32::from(l.u16(432)),
        acyl: u32::from(l.u16(434)),
        pcyl: u32::from(l.u16(422)),
        nhead,
        nsect,
        fdisk: None,
    };
    if !sane {
        notes.push(format!(
            "SMI label has no VTOC (sanity at byte {SMI_SANITY_OFFSET} is {:#010x}): slice tags are unknown",
            l.u32(SMI_SANITY_OFFSET)
        ));
    } else if info.version != 1 {
        notes.push(format!("SMI VTOC version is {} (expected 1)", info.version));
    }
    let spc = u64::from(nhead) * u64::from(nsect);
    let mut parts = Vec::new();
    for slice in 0..8u32 {
        let map = 444 + 8 * slice as usize;
        let cyl = u64::from(l.u32(map));
        let blocks = u64::from(l.u32(map + 4));
        if blocks == 0 {
            continue;
        }
        if spc == 0 {
            return Err(Error::corrupt(
                S,
                436,
                format!(
                    "geometry has {nhead} heads × {nsect} sectors, but slice {slice} is not empty"
                ),
            ));
        }
        let (tag, flag) = if sane {
            let t = 142 + 4 * slice as usize;
            (l.u16(t), l.u16(t + 2))
        } else {
            (solaris::TAG_UNASSIGNED, 0)
        };
        let len = blocks * LABEL_SIZE as u64;
        let Some(start) = cyl
            .checked_mul(spc)
            .and_then(|s| s.checked_mul(LABEL_SIZE as u64))
            .filter(|s| s.checked_add(len).is_some())
        else {
            return Err(Error::corrupt(
                S,
                map as u64,
                format!("slice {slice} starts at cylinder {cyl}, beyond any byte offset"),
            ));
        };
        if start + len > disk_size {
            notes.push(format!(
                "slice {slice} ends at byte {:#x}, past the end of the device ({disk_size:#x})",
                start + len
            ));
        }
        parts.push(vtoc_partition(slice, tag, flag, start, len));
    }
    Ok((info, parts))
}

/// Decodes the x86 VTOC_16 label `label`, read from sector 1 of the Solaris
/// fdisk partition `fdisk` (sector numbers in `LABEL_SIZE` units).
pub fn decode_x86(
    label: &[u8; LABEL_SIZE],
    fdisk: &FdiskEntry,
    disk_size: u64,
    notes: &mut Vec<String>,
) -> Result<(VtocInfo, Vec<Partition>)> {
    const S: &str = "x86 VTOC label";
    let base = (u64::from(fdisk.start_lba) + X86_LABEL_SECTOR) * LABEL_SIZE as u64;
    let l = Label {
        b: label,
        order: Order::Little,
    };
    let sanity = l.u32(X86_SANITY_OFFSET);
    if sanity != VTOC_SANE {
        return Err(Error::corrupt(
            S,
            base + X86_SANITY_OFFSET as u64,
            format!("VTOC sanity is {sanity:#010x}, not {VTOC_SANE:#010x}"),
        ));
    }
    l.check_frame(S, base)?;
    let info = VtocInfo {
        label_offset: base,
        ascii_label: l.text(328, 128),
        volume: l.text(20, 8),
        version: l.u32(16),
        sane: true,
        nparts: l.u16(30),
        ncyl: l.u32(460),
        acyl: u32::from(l.u16(464)),
        pcyl: l.u32(456),
        nhead: l.u32(468),
        nsect: l.u32(472),
        fdisk: Some(fdisk.clone()),
    };
    if info.version != 1 {
        notes.push(format!("x86 VTOC version is {} (expected 1)", info.version));
    }
    let sectorsz = l.u16(28);
    if sectorsz != 512 && sectorsz != 0 {
        notes.push(format!(
            "x86 VTOC declares {sectorsz}-byte sectors; slices are read in 512-byte units"
        ));
    }
    let part_base = u64::from(fdisk.start_lba);
    let part_end = part_base + u64::from(fdisk.sectors);
    let mut parts = Vec::new();
    for slice in 0..16u32 {
        let e = 72 + 12 * slice as usize;
        let (tag, flag) = (l.u16(e), l.u16(e + 2));
        let start = u64::from(l.u32(e + 4));
        let size = u64::from(l.u32(e + 8));
        if size == 0 {
            continue;
        }
        let first = part_base + start;
        if first + size > part_end {
            notes.push(format!(
                "slice {slice} (sectors {first}..{}) reaches past its fdisk partition p{} (ends at sector {part_end})",
                first + size,
                fdisk.number
            ));
        }
        let (start_b, len_b) = (first * LABEL_SIZE as u64, size * LABEL_SIZE as u64);
        if start_b + len_b > disk_size {
            notes.push(format!(
                "slice {slice} ends at byte {:#x}, past the end of the device ({disk_size:#x})",
                start_b + len_b
            ));
        }
        parts.push(vtoc_partition(slice, tag, flag, start_b, len_b));
    }
    Ok((info, parts))
}

fn vtoc_partition(slice: u32, tag: u16, flag: u16, start: u64, len: u64) -> Partition {
    Partition {
        index: slice,
        slice,
        letter: solaris::slice_letter(slice),
        start,
        len,
        type_guid: None,
        unique_guid: None,
        tag,
        flags: u64::from(flag),
        type_name: solaris::tag_name(tag),
        name: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sealed big-endian SMI label with one slice at `cyl` of `blocks`.
    fn smi(nhead: u16, nsect: u16, cyl: u32, blocks: u32) -> [u8; LABEL_SIZE] {
        let mut b = [0u8; LABEL_SIZE];
        b[436..438].copy_from_slice(&nhead.to_be_bytes());
        b[438..440].copy_from_slice(&nsect.to_be_bytes());
        b[444..448].copy_from_slice(&cyl.to_be_bytes());
        b[448..452].copy_from_slice(&blocks.to_be_bytes());
        b[508..510].copy_from_slice(&DKL_MAGIC.to_be_bytes());
        let mut x = [0u8; 2];
        for w in b[..510].chunks(2) {
            x[0] ^= w[0];
            x[1] ^= w[1];
        }
        b[510..512].copy_from_slice(&x);
        b
    }

    #[test]
    fn slice_offsets_beyond_u64_are_errors() {
        let mut notes = Vec::new();
        // 2^32-1 cylinders of 2^23 sectors: the byte offset is just under
        // 2^64, and adding the slice length would overflow.
        let b = smi(0x8000, 0x100, u32::MAX, u32::MAX);
        let e = decode_smi(&b, 1 << 20, &mut notes).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{e}");
        assert!(e.detail().unwrap().contains("slice 0"), "{e}");
        let b = smi(u16::MAX, u16::MAX, u32::MAX, 1);
        assert!(decode_smi(&b, 1 << 20, &mut notes).is_err());
    }

    #[test]
    fn old_label_without_vtoc_is_read_with_a_note() {
        let mut notes = Vec::new();
        let b = smi(16, 32, 2, 1024);
        let (info, parts) = decode_smi(&b, 1 << 30, &mut notes).unwrap();
        assert!(!info.sane);
        assert_eq!(parts.len(), 1);
        assert_eq!((parts[0].start, parts[0].len), (2 * 512 * 512, 1024 * 512));
        assert!(notes[0].contains("no VTOC"), "{notes:?}");
    }
}
