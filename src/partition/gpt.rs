//! GUID Partition Table (GPT, "EFI label" in Solaris terms), read through the
//! `gpt` crate.
//!
//! On disk: a protective MBR in LBA 0, the primary header in LBA 1, its entry
//! array from the LBA the header names, and a backup entry array and header at
//! the end of the disk (the backup header in the last LBA). Solaris writes
//! only 9 entries (slices s0–s8) where other systems write 128; the header
//! says how many there are and the array CRC covers just those.
//!
//! The crate decodes headers and entries and checks the header CRC; this
//! module checks the entry array CRC itself (so a mismatch is typed, not
//! read from the crate's message),
//! checks the header fields the crate trusts (entry size, entry count, array
//! bounds) *before* handing a header to it, reads the backup header itself
//! through the crate's header API when the primary is bad, and turns the
//! entries into [`Partition`]s with Solaris slice numbers.

use super::{Partition, solaris};
use crate::error::{Error, Result};
use crate::source::{Source, read_vec};
use gpt::disk::LogicalBlockSize;
use gpt::header::{Header, HeaderError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// The header signature, "EFI PART".
pub const SIGNATURE: &[u8; 8] = b"EFI PART";
/// Size of one partition entry as Solaris and everybody else write it.
pub const ENTRY_SIZE: u32 = 128;
/// The most entries we accept in a header (UEFI's usual 128 times 128).
pub const MAX_ENTRIES: u32 = 16384;

/// What the GPT header that was used says about the disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GptInfo {
    /// Disk GUID, upper-case and hyphenated.
    pub disk_guid: String,
    /// Whether the entries came from the backup header and array.
    pub used_backup: bool,
    /// LBA of the header that was used.
    pub header_lba: u64,
    /// LBA of the other header, as the used header names it.
    pub alternate_lba: u64,
    /// First LBA a partition may use (34 for Solaris at 512 bytes, 6 at 4096).
    pub first_usable_lba: u64,
    /// Last LBA a partition may use.
    pub last_usable_lba: u64,
    /// First LBA of the entry array that was used.
    pub entries_lba: u64,
    /// Number of entries in the array (9 for Solaris, 128 elsewhere).
    pub num_entries: u32,
    /// Size of one entry in bytes.
    pub entry_size: u32,
    /// Header revision as (major, minor).
    pub revision: (u16, u16),
}

/// Whether `src` has a GPT header signature at `lba` for `sector_size`.
pub fn signature_at(src: &dyn Source, sector_size: u32, lba: u64) -> bool {
    let mut sig = [0u8; 8];
    match lba.checked_mul(u64::from(sector_size)) {
        Some(off) => src.read_at(off, &mut sig).is_ok() && &sig == SIGNATURE,
        None => false,
    }
}

/// The last LBA of `src` for `sector_size`, if the source holds at least 3.
pub fn last_lba(src: &dyn Source, sector_size: u32) -> Option<u64> {
    let n = src.size() / u64::from(sector_size);
    (n >= 3).then(|| n - 1)
}

/// Whether `src` looks like a GPT disk with `sector_size`-byte sectors: a
/// header signature in LBA 1 or in the last LBA.
pub fn probe(src: &dyn Source, sector_size: u32) -> bool {
    signature_at(src, sector_size, 1)
        || last_lba(src, sector_size).is_some_and(|l| signature_at(src, sector_size, l))
}

/// Reads the GPT of `src` with `sector_size`-byte logical blocks. Notes about
/// damage that was worked around go to `notes`.
pub fn read(
    src: &dyn Source,
    sector_size: u32,
    notes: &mut Vec<String>,
) -> Result<(GptInfo, Vec<Partition>)> {
    let lb = match sector_size {
        512 => LogicalBlockSize::Lb512,
        4096 => LogicalBlockSize::Lb4096,
        other => {
            return Err(Error::unsupported(
                "GPT sector size",
                format!("{other} bytes (512 and 4096 are supported)"),
            ));
        }
    };
    let ss = u64::from(sector_size);
    let last = last_lba(src, sector_size).ok_or_else(|| {
        Error::corrupt(
            "GPT",
            0,
            format!(
                "{} bytes is too small for a GPT with {sector_size}-byte sectors",
                src.size()
            ),
        )
    })?;

    let primary = read_copy(src, lb, 1, last);
    // The backup header's place: where a good primary says, else the last LBA.
    let backup_lba = match &primary {
        Ok(c) if c.header.backup_lba > 1 && c.header.backup_lba <= last => c.header.backup_lba,
        _ => last,
    };
    let backup = read_copy(src, lb, backup_lba, last);
    let (used, used_backup) = choose(primary, backup, backup_lba, ss, notes)?;
    let h = &used.header;
    note_header(h, last, notes);
    let info = GptInfo {
        disk_guid: h.disk_guid.to_string().to_uppercase(),
        used_backup,
        header_lba: h.current_lba,
        alternate_lba: h.backup_lba,
        first_usable_lba: h.first_usable,
        last_usable_lba: h.last_usable,
        entries_lba: h.part_start,
        num_entries: h.num_parts,
        entry_size: h.part_size,
        revision: h.revision,
    };
    let parts = partitions(src, &used, ss, notes)?;
    Ok((info, parts))
}

/// The copy to use, primary first; notes what differs or was bad.
fn choose(
    primary: Result<Copy>,
    backup: Result<Copy>,
    backup_lba: u64,
    ss: u64,
    notes: &mut Vec<String>,
) -> Result<(Copy, bool)> {
    Ok(match (primary, backup) {
        (Ok(p), Ok(b)) => {
            if p.entries != b.entries {
                notes.push(format!(
                    "primary and backup GPT entry arrays differ; used the primary (backup header at LBA {backup_lba})"
                ));
            }
            if p.header.backup_lba != backup_lba || b.header.backup_lba != 1 {
                notes.push(format!(
                    "GPT headers do not point at each other (primary names LBA {}, backup at LBA {backup_lba} names LBA {})",
                    p.header.backup_lba, b.header.backup_lba
                ));
            }
            (p, false)
        }
        (Ok(p), Err(e)) => {
            notes.push(format!("backup GPT is bad, used the primary: {e}"));
            (p, false)
        }
        (Err(e), Ok(b)) => {
            notes.push(format!(
                "primary GPT is bad, used the backup at LBA {backup_lba} (byte {:#x}): {e}",
                backup_lba * ss
            ));
            (b, true)
        }
        (Err(pe), Err(be)) => {
            return Err(Error::corrupt(
                "GPT",
                ss,
                format!("primary and backup are both bad: primary: {pe}; backup: {be}"),
            ));
        }
    })
}

/// Notes header fields that are odd but not fatal.
fn note_header(h: &Header, last: u64, notes: &mut Vec<String>) {
    if h.last_usable > last || h.backup_lba.max(h.current_lba) > last {
        notes.push(format!(
            "the GPT describes a disk of at least {} LBAs but the device has {}: truncated image or wrong device?",
            h.last_usable.max(h.backup_lba).max(h.current_lba).saturating_add(1),
            last + 1
        ));
    }
    if h.revision != (1, 0) {
        notes.push(format!(
            "GPT header revision is {}.{} (expected 1.0)",
            h.revision.0, h.revision.1
        ));
    }
}

/// The used entries of `used` as partitions with Solaris slice numbers.
fn partitions(
    src: &dyn Source,
    used: &Copy,
    ss: u64,
    notes: &mut Vec<String>,
) -> Result<Vec<Partition>> {
    let h = &used.header;
    let mut parts = Vec::new();
    for (&number, e) in &used.entries {
        if !e.is_used() {
            continue;
        }
        // The crate numbers entries from 1; Solaris slice = entry index.
        let slice = number - 1;
        let entry_off = h.part_start * ss + u64::from(slice) * u64::from(ENTRY_SIZE);
        let structure = || format!("GPT partition entry {number}");
        if e.last_lba < e.first_lba {
            return Err(Error::corrupt(
                structure(),
                entry_off,
                format!(
                    "last LBA {} is before first LBA {}",
                    e.last_lba, e.first_lba
                ),
            ));
        }
        let sectors = (e.last_lba - e.first_lba).checked_add(1);
        let (start, len) = match (
            e.first_lba.checked_mul(ss),
            sectors.and_then(|n| n.checked_mul(ss)),
        ) {
            (Some(s), Some(l)) if s.checked_add(l).is_some() => (s, l),
            _ => {
                return Err(Error::corrupt(
                    structure(),
                    entry_off,
                    format!(
                        "LBAs {}..{} overflow a byte offset",
                        e.first_lba, e.last_lba
                    ),
                ));
            }
        };
        if e.first_lba < h.first_usable || e.last_lba > h.last_usable {
            notes.push(format!(
                "GPT entry {number} (LBA {}..{}) lies outside the usable LBAs {}..{}",
                e.first_lba, e.last_lba, h.first_usable, h.last_usable
            ));
        }
        if start + len > src.size() {
            notes.push(format!(
                "GPT entry {number} ends at byte {:#x}, past the end of the device ({:#x})",
                start + len,
                src.size()
            ));
        }
        if slice == 7 {
            notes.push(
                "GPT entry 8 (slice 7) is in use: Solaris has no slice node for it (minor 7 is the whole-disk node 'wd')"
                    .to_string(),
            );
        }
        let type_guid = e.part_type_guid.guid.to_string().to_uppercase();
        let (tag, type_name) = solaris::guid_type(&type_guid);
        parts.push(Partition {
            index: number,
            slice,
            letter: solaris::slice_letter(slice),
            start,
            len,
            type_guid: Some(type_guid),
            unique_guid: Some(e.part_guid.to_string().to_uppercase()),
            tag,
            flags: e.flags,
            type_name,
            name: e.name.clone(),
        });
    }
    Ok(parts)
}

/// One header with its entry array, both checked.
struct Copy {
    header: Header,
    entries: BTreeMap<u32, gpt::partition::Partition>,
}

/// Reads and checks the header at `lba` and its entry array.
fn read_copy(src: &dyn Source, lb: LogicalBlockSize, lba: u64, last: u64) -> Result<Copy> {
    let ss = lb.as_u64();
    let offset = lba * ss;
    let structure = if lba == 1 {
        "primary GPT header"
    } else {
        "backup GPT header"
    };
    if !signature_at(src, ss as u32, lba) {
        return Err(Error::corrupt(
            structure,
            offset,
            format!("no \"EFI PART\" signature at LBA {lba}"),
        ));
    }
    // The crate reads "the primary header" at byte `ss`; a device view whose
    // origin is one LBA before `lba` makes it read the header at `lba`.
    let mut dev = Device::new(src, offset - ss);
    let header = gpt::header::read_header_from_arbitrary_device(&mut dev, lb).map_err(|e| {
        Error::corrupt(
            structure,
            offset,
            match e {
                HeaderError::InvalidCRC32Checksum => "header CRC32 does not match".to_string(),
                other => other.to_string(),
            },
        )
    })?;
    check_header(&header, structure, lba, last, src.size(), ss)?;
    // The array's CRC is checked here, before the crate decodes it, so that
    // a mismatch is told from other damage by where it is found, not by the
    // crate's message.
    let array_structure = || format!("GPT entry array of the {structure}");
    let array_at = header.part_start * ss;
    let array = read_vec(
        src,
        array_at,
        header.num_parts as usize * ENTRY_SIZE as usize,
    )?;
    if crc32fast::hash(&array) != header.crc32_parts {
        return Err(Error::corrupt(
            array_structure(),
            array_at,
            format!(
                "CRC32 of {} entries does not match the header's {:#010x}",
                header.num_parts, header.crc32_parts
            ),
        ));
    }
    let mut dev = Device::new(src, 0);
    let entries = gpt::partition::file_read_partitions(&mut dev, &header, lb)
        .map_err(|e| Error::corrupt(array_structure(), array_at, e))?;
    Ok(Copy { header, entries })
}

/// Checks the header fields the crate uses without checking: its own LBA, the
/// entry size (the crate asserts 128), and that the array and the usable
/// range lie on the device.
fn check_header(
    h: &Header,
    structure: &str,
    lba: u64,
    last: u64,
    size: u64,
    ss: u64,
) -> Result<()> {
    let offset = lba * ss;
    let bad = |detail: String| Err(Error::corrupt(structure, offset, detail));
    if h.current_lba != lba {
        return bad(format!(
            "says it is at LBA {}, found at LBA {lba}",
            h.current_lba
        ));
    }
    if h.header_size_le < 92 || u64::from(h.header_size_le) > ss {
        return bad(format!("header size {} is not 92..={ss}", h.header_size_le));
    }
    if h.part_size != ENTRY_SIZE {
        return Err(Error::unsupported(
            "GPT entry size",
            format!(
                "{} bytes in the {structure} at byte {offset:#x} (only 128 is supported)",
                h.part_size
            ),
        ));
    }
    if h.num_parts == 0 || h.num_parts > MAX_ENTRIES {
        return bad(format!(
            "entry count {} is not 1..={MAX_ENTRIES}",
            h.num_parts
        ));
    }
    let array_bytes = u64::from(h.num_parts) * u64::from(ENTRY_SIZE);
    let array_lbas = array_bytes.div_ceil(ss);
    let array_ok = h
        .part_start
        .checked_add(array_lbas)
        .is_some_and(|end| h.part_start >= 1 && end <= last + 1)
        && !(h.part_start..h.part_start + array_lbas).contains(&lba);
    if !array_ok {
        return bad(format!(
            "entry array at LBA {} ({} entries) does not fit between the headers of a {size}-byte device",
            h.part_start, h.num_parts
        ));
    }
    if h.first_usable > h.last_usable.saturating_add(1) {
        return bad(format!(
            "first usable LBA {} is after the last usable LBA {}",
            h.first_usable, h.last_usable
        ));
    }
    Ok(())
}

/// A `Read + Seek` view of a [`Source`] for the `gpt` crate, starting at
/// `origin`. Writing is refused: the read path never writes.
struct Device<'a> {
    src: &'a dyn Source,
    origin: u64,
    pos: u64,
}

impl<'a> Device<'a> {
    fn new(src: &'a dyn Source, origin: u64) -> Self {
        Device {
            src,
            origin,
            pos: 0,
        }
    }
    fn len(&self) -> u64 {
        self.src.size().saturating_sub(self.origin)
    }
}

impl std::fmt::Debug for Device<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} from byte {:#x}", self.src.name(), self.origin)
    }
}

impl Read for Device<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.len().saturating_sub(self.pos);
        let n = (buf.len() as u64).min(avail) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.src
            .read_at(self.origin + self.pos, &mut buf[..n])
            .map_err(io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Device<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| io::Error::other("seek out of range"))?;
        Ok(self.pos)
    }
}

impl Write for Device<'_> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other("the GPT reader never writes"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
