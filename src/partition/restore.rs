//! Rebuilding a lost partition table: the exact byte edits, planned from what
//! survives on the disk.
//!
//! Three sources (see `formats/scan.md` §4):
//! * **the backup GPT** (header in the last LBA, array before it) → the
//!   primary header at LBA 1 and its array at LBA 2, with `my_lba`,
//!   `alternate_lba`, `entries_lba` and the header CRC rewritten, and a
//!   protective MBR in LBA 0 when LBA 0 holds none;
//! * **the primary GPT** → the backup array and header at the end;
//! * **a scan** → a fresh Solaris-style GPT around the vdev found: 9 entries,
//!   the ZFS (`usr`) slice where the vdev starts (s0 at LBA 256 on the SPARC
//!   layout, else s1 with the boot slice s0 before it), the 8 MiB reserved
//!   slice s8 ending at the last usable LBA, the entry array padded to
//!   16 KiB, both headers and arrays with their CRCs, and a protective MBR;
//!   512- or 4096-byte sectors;
//! * for Sun (SMI) disks, **a backup Sun label** from the last track of the
//!   last cylinder → sector 0;
//! * for x86 VTOC disks, **a backup x86 VTOC** from the last track of the
//!   last cylinder of the Solaris fdisk partition → the partition's sector 1,
//!   and, when the MBR is gone too, a fresh MBR naming that partition.
//!
//! Every plan is checked against the vdevs a scan found: a write that would
//! land on a vdev (other than the first 8 KiB of a label 0, which ZFS leaves
//! to the disk label) is refused.

use crate::error::{Error, Result};
use crate::partition::{gpt, mbr, solaris, vtoc};
pub mod sunlabel;

use crate::source::{Source, read_vec};
use sha2::{Digest, Sha256};
pub use sunlabel::SunLabel;

/// First LBA of the first slice on a Solaris GPT disk (`NEW_START_BLOCK`).
pub const SOLARIS_FIRST_LBA: u64 = 256;

/// A vdev found on the disk (by a scan of its labels), as much of it as a
/// restore needs: where it lies, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VdevExtent {
    /// Absolute byte offset of the vdev's start.
    pub start: u64,
    /// Its size rounded down to 256 KiB, when known.
    pub psize: Option<u64>,
    /// `start + psize`, when known.
    pub end: Option<u64>,
    /// Pool name.
    pub pool: Option<String>,
    /// Pool guid (`None`: a label without a pool, e.g. a spare).
    pub pool_guid: Option<u64>,
    /// Vdev guid.
    pub guid: Option<u64>,
}

/// One write of a restore plan (absolute device offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableWrite {
    /// Byte offset on the device.
    pub offset: u64,
    /// What it is ("primary GPT header (LBA 1)" …).
    pub what: String,
    /// The bytes there now.
    pub old: Vec<u8>,
    /// The bytes to write.
    pub new: Vec<u8>,
}

/// A planned restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePlan {
    /// What is restored, one line.
    pub summary: String,
    /// The entries the restored table will hold, one line each.
    pub entries: Vec<String>,
    /// Things to know (guesses made, areas replaced).
    pub notes: Vec<String>,
    /// The writes, in order: table areas first, the primary header last
    /// (so that an interrupted restore leaves no header pointing at a
    /// half-written array).
    pub writes: Vec<TableWrite>,
}

/// Size of the GPT entry area Solaris reserves (and pads to).
pub const ENTRY_AREA: u64 = 16 * 1024;
/// Solaris's reserved slice s8: 8 MiB.
pub const RESERVED_SIZE: u64 = 8 << 20;
/// Entries Solaris writes.
pub const SOLARIS_ENTRIES: u32 = 9;

/// A GPT header's fields, as stored (little-endian, 92 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHeader {
    /// Revision word.
    pub revision: u32,
    /// This header's LBA.
    pub my_lba: u64,
    /// The other header's LBA.
    pub alternate_lba: u64,
    /// First usable LBA.
    pub first_usable: u64,
    /// Last usable LBA.
    pub last_usable: u64,
    /// Disk GUID bytes (on-disk order).
    pub disk_guid: [u8; 16],
    /// First LBA of the entry array.
    pub entries_lba: u64,
    /// Number of entries.
    pub num_entries: u32,
    /// Entry size.
    pub entry_size: u32,
    /// CRC32 of the entry array.
    pub entries_crc: u32,
}

impl RawHeader {
    /// Decodes a header sector whose signature, size and CRC are right.
    pub fn parse(b: &[u8]) -> Option<RawHeader> {
        if b.len() < 92 || &b[..8] != gpt::SIGNATURE {
            return None;
        }
        let u32_ = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]));
        let u64_ = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
        let hsize = u32_(12) as usize;
        if !(92..=b.len()).contains(&hsize) {
            return None;
        }
        let mut h = b[..hsize].to_vec();
        h[16..20].fill(0);
        if crc32fast::hash(&h) != u32_(16) {
            return None;
        }
        let mut disk_guid = [0u8; 16];
        disk_guid.copy_from_slice(&b[56..72]);
        Some(RawHeader {
            revision: u32_(8),
            my_lba: u64_(24),
            alternate_lba: u64_(32),
            first_usable: u64_(40),
            last_usable: u64_(48),
            disk_guid,
            entries_lba: u64_(72),
            num_entries: u32_(80),
            entry_size: u32_(84),
            entries_crc: u32_(88),
        })
    }

    /// Encodes the header into a sector of `ss` bytes with its CRC.
    pub fn encode(&self, ss: usize) -> Vec<u8> {
        let mut b = vec![0u8; ss];
        b[..8].copy_from_slice(gpt::SIGNATURE);
        b[8..12].copy_from_slice(&self.revision.to_le_bytes());
        b[12..16].copy_from_slice(&92u32.to_le_bytes());
        b[24..32].copy_from_slice(&self.my_lba.to_le_bytes());
        b[32..40].copy_from_slice(&self.alternate_lba.to_le_bytes());
        b[40..48].copy_from_slice(&self.first_usable.to_le_bytes());
        b[48..56].copy_from_slice(&self.last_usable.to_le_bytes());
        b[56..72].copy_from_slice(&self.disk_guid);
        b[72..80].copy_from_slice(&self.entries_lba.to_le_bytes());
        b[80..84].copy_from_slice(&self.num_entries.to_le_bytes());
        b[84..88].copy_from_slice(&self.entry_size.to_le_bytes());
        b[88..92].copy_from_slice(&self.entries_crc.to_le_bytes());
        let crc = crc32fast::hash(&b[..92]);
        b[16..20].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Bytes of the entry array (`num_entries × entry_size`), if sane.
    fn array_bytes(&self) -> Option<u64> {
        (self.entry_size == gpt::ENTRY_SIZE && (1..=gpt::MAX_ENTRIES).contains(&self.num_entries))
            .then(|| u64::from(self.num_entries) * u64::from(self.entry_size))
    }
}

/// A protective MBR for a disk of `sectors` sectors: one entry of type 0xEE
/// from LBA 1 over the disk (capped at 2³²−1 sectors), signature 0x55AA.
pub fn protective_mbr(sectors: u64) -> [u8; 512] {
    let mut b = [0u8; 512];
    let e = &mut b[mbr::TABLE_OFFSET..mbr::TABLE_OFFSET + mbr::ENTRY_SIZE];
    e[1..4].copy_from_slice(&[0x00, 0x02, 0x00]);
    e[4] = mbr::TYPE_GPT_PROTECTIVE;
    e[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
    e[8..12].copy_from_slice(&1u32.to_le_bytes());
    let n = u32::try_from(sectors.saturating_sub(1)).unwrap_or(u32::MAX);
    e[12..16].copy_from_slice(&n.to_le_bytes());
    b[510] = 0x55;
    b[511] = 0xaa;
    b
}

/// Whether sector 0 is a protective MBR (an 0xEE entry and the signature).
pub fn is_protective_mbr(sector0: &[u8]) -> bool {
    mbr::parse(sector0).is_some_and(|es| es.iter().any(|e| e.kind == mbr::TYPE_GPT_PROTECTIVE))
}

/// A GUID in on-disk (mixed-endian) order from its text form.
pub fn guid_bytes(text: &str) -> [u8; 16] {
    let mut h = [0u8; 16];
    let hex: Vec<u8> = text.bytes().filter(|c| *c != b'-').collect();
    for (i, pair) in hex.chunks(2).take(16).enumerate() {
        let s = std::str::from_utf8(pair).unwrap_or("00");
        h[i] = u8::from_str_radix(s, 16).unwrap_or(0);
    }
    [
        h[3], h[2], h[1], h[0], h[5], h[4], h[7], h[6], h[8], h[9], h[10], h[11], h[12], h[13],
        h[14], h[15],
    ]
}

/// A version-4-style GUID derived from `seed` (restores are reproducible:
/// the dry run shows the very bytes `--write` writes).
pub fn derived_guid(seed: &str) -> [u8; 16] {
    let d = Sha256::digest(seed.as_bytes());
    let mut g = [0u8; 16];
    g.copy_from_slice(&d[..16]);
    g[7] = (g[7] & 0x0f) | 0x40;
    g[8] = (g[8] & 0x3f) | 0x80;
    g
}

fn write(src: &dyn Source, offset: u64, new: Vec<u8>, what: String) -> Result<TableWrite> {
    let old = read_vec(src, offset, new.len())?;
    Ok(TableWrite {
        offset,
        what,
        old,
        new,
    })
}

/// Refuses writes that land on a found vdev (its first 8 KiB excepted).
pub fn check_accounted(plan: &RestorePlan, vdevs: &[VdevExtent]) -> Result<()> {
    for w in &plan.writes {
        if w.old == w.new {
            continue;
        }
        let (a, b) = (w.offset, w.offset + w.new.len() as u64);
        for v in vdevs {
            let vs = v.start + 8 * 1024;
            let ve = v.end.unwrap_or(v.start + 4 * crate::zfs::label::LABEL_SIZE);
            if a < ve && vs < b {
                return Err(Error::Refused(format!(
                    "the {} ({:#x}..{b:#x}) would overwrite the vdev of pool {} found at {:#x}..{ve:#x}; nothing written",
                    w.what,
                    a,
                    v.pool.as_deref().unwrap_or("?"),
                    v.start
                )));
            }
        }
    }
    Ok(())
}

fn last_lba(src: &dyn Source, ss: u64) -> Result<u64> {
    gpt::last_lba(src, ss as u32).ok_or_else(|| {
        Error::Refused(format!(
            "{} bytes is too small for a GPT with {ss}-byte sectors",
            src.size()
        ))
    })
}

/// The primary GPT from the backup: header at LBA 1, array at LBA 2 padded to
/// the first usable LBA, a protective MBR when sector 0 has none.
pub fn from_backup(src: &dyn Source, ss: u64) -> Result<RestorePlan> {
    let last = last_lba(src, ss)?;
    let bh = read_vec(src, last * ss, ss as usize)?;
    let b = RawHeader::parse(&bh).ok_or_else(|| {
        Error::corrupt(
            "backup GPT header",
            last * ss,
            format!("no valid backup header in the last LBA ({last}) for {ss}-byte sectors"),
        )
    })?;
    let n = b.array_bytes().ok_or_else(|| {
        Error::corrupt(
            "backup GPT header",
            last * ss,
            "entry size or count out of range",
        )
    })?;
    if b.my_lba != last || b.entries_lba <= b.last_usable || b.entries_lba >= last {
        return Err(Error::corrupt(
            "backup GPT header",
            last * ss,
            format!(
                "says it is at LBA {} with its array at LBA {} (usable up to {}); not a backup header for this device",
                b.my_lba, b.entries_lba, b.last_usable
            ),
        ));
    }
    let array = read_vec(src, b.entries_lba * ss, n as usize)?;
    if crc32fast::hash(&array) != b.entries_crc {
        return Err(Error::corrupt(
            "backup GPT entry array",
            b.entries_lba * ss,
            "CRC32 does not match the backup header",
        ));
    }
    let area_lbas = b
        .first_usable
        .checked_sub(2)
        .filter(|&l| l * ss >= n)
        .ok_or_else(|| {
            Error::corrupt(
                "backup GPT header",
                last * ss,
                format!(
                    "first usable LBA {} leaves no room for the primary array",
                    b.first_usable
                ),
            )
        })?;
    let mut area = array.clone();
    area.resize((area_lbas * ss) as usize, 0);
    let p = RawHeader {
        my_lba: 1,
        alternate_lba: last,
        entries_lba: 2,
        ..b.clone()
    };
    let mut plan = RestorePlan {
        summary: format!(
            "primary GPT from the backup at LBA {last} ({} entries, {ss}-byte sectors)",
            b.num_entries
        ),
        entries: entry_lines(&array),
        notes: Vec::new(),
        writes: Vec::new(),
    };
    let s0 = read_vec(src, 0, 512)?;
    if !is_protective_mbr(&s0) {
        if s0.iter().any(|&x| x != 0) {
            plan.notes.push(
                "sector 0 holds something other than a protective MBR (another table or boot code); it is replaced"
                    .into(),
            );
        }
        plan.writes.push(write(
            src,
            0,
            protective_mbr(src.size() / ss).to_vec(),
            "protective MBR (LBA 0)".into(),
        )?);
    }
    plan.writes.push(write(
        src,
        2 * ss,
        area,
        format!("primary GPT entry array (LBAs 2..{})", b.first_usable - 1),
    )?);
    plan.writes.push(write(
        src,
        ss,
        p.encode(ss as usize),
        "primary GPT header (LBA 1)".into(),
    )?);
    Ok(plan)
}

/// The backup GPT from the primary: array after the last usable LBA, header
/// in the last LBA.
pub fn from_primary(src: &dyn Source, ss: u64) -> Result<RestorePlan> {
    let last = last_lba(src, ss)?;
    let ph = read_vec(src, ss, ss as usize)?;
    let p = RawHeader::parse(&ph).ok_or_else(|| {
        Error::corrupt(
            "primary GPT header",
            ss,
            format!("no valid primary header at LBA 1 for {ss}-byte sectors"),
        )
    })?;
    let n = p.array_bytes().ok_or_else(|| {
        Error::corrupt("primary GPT header", ss, "entry size or count out of range")
    })?;
    if p.my_lba != 1 {
        return Err(Error::corrupt(
            "primary GPT header",
            ss,
            format!("says it is at LBA {}", p.my_lba),
        ));
    }
    if p.alternate_lba != last {
        return Err(Error::Refused(format!(
            "the primary GPT names LBA {} for the backup but the device's last LBA is {last} (grown or truncated device); nothing planned",
            p.alternate_lba
        )));
    }
    let array = read_vec(src, p.entries_lba * ss, n as usize)?;
    if crc32fast::hash(&array) != p.entries_crc {
        return Err(Error::corrupt(
            "primary GPT entry array",
            p.entries_lba * ss,
            "CRC32 does not match the primary header",
        ));
    }
    let start = p.last_usable + 1;
    if start >= last || (last - start) * ss < n {
        return Err(Error::corrupt(
            "primary GPT header",
            ss,
            format!(
                "last usable LBA {} leaves no room for the backup array",
                p.last_usable
            ),
        ));
    }
    let mut area = array.clone();
    area.resize(((last - start) * ss) as usize, 0);
    let b = RawHeader {
        my_lba: last,
        alternate_lba: 1,
        entries_lba: start,
        ..p.clone()
    };
    Ok(RestorePlan {
        summary: format!(
            "backup GPT from the primary ({} entries, {ss}-byte sectors)",
            p.num_entries
        ),
        entries: entry_lines(&array),
        notes: Vec::new(),
        writes: vec![
            write(
                src,
                start * ss,
                area,
                format!("backup GPT entry array (LBAs {start}..{})", last - 1),
            )?,
            write(
                src,
                last * ss,
                b.encode(ss as usize),
                format!("backup GPT header (LBA {last})"),
            )?,
        ],
    })
}

/// One entry of a fresh table.
struct NewEntry {
    slot: usize,
    type_guid: &'static str,
    first: u64,
    last: u64,
    name: &'static str,
}

/// The LBAs of a fresh Solaris GPT on a disk whose last LBA is `last`.
struct GptFrame {
    ss: u64,
    last: u64,
    first_usable: u64,
    last_usable: u64,
}

impl GptFrame {
    fn new(src: &dyn Source, ss: u64) -> Result<GptFrame> {
        let last = last_lba(src, ss)?;
        let area_lbas = ENTRY_AREA / ss;
        Ok(GptFrame {
            ss,
            last,
            first_usable: 2 + area_lbas,
            last_usable: last - 1 - area_lbas,
        })
    }

    /// The writes of both headers, both arrays and a protective MBR, in
    /// the order they are made: the backup first, the primary header last.
    fn writes(
        &self,
        src: &dyn Source,
        area: &[u8],
        disk_guid: [u8; 16],
    ) -> Result<Vec<TableWrite>> {
        let (ss, last) = (self.ss, self.last);
        let n = (SOLARIS_ENTRIES * gpt::ENTRY_SIZE) as usize;
        let primary = RawHeader {
            revision: 0x0001_0000,
            my_lba: 1,
            alternate_lba: last,
            first_usable: self.first_usable,
            last_usable: self.last_usable,
            disk_guid,
            entries_lba: 2,
            num_entries: SOLARIS_ENTRIES,
            entry_size: gpt::ENTRY_SIZE,
            entries_crc: crc32fast::hash(&area[..n]),
        };
        let backup = RawHeader {
            my_lba: last,
            alternate_lba: 1,
            entries_lba: self.last_usable + 1,
            ..primary.clone()
        };
        Ok(vec![
            write(
                src,
                (self.last_usable + 1) * ss,
                area.to_vec(),
                format!(
                    "backup GPT entry array (LBAs {}..{})",
                    self.last_usable + 1,
                    last - 1
                ),
            )?,
            write(
                src,
                last * ss,
                backup.encode(ss as usize),
                format!("backup GPT header (LBA {last})"),
            )?,
            write(
                src,
                0,
                protective_mbr(src.size() / ss).to_vec(),
                "protective MBR (LBA 0)".into(),
            )?,
            write(
                src,
                2 * ss,
                area.to_vec(),
                format!(
                    "primary GPT entry array (LBAs 2..{})",
                    self.first_usable - 1
                ),
            )?,
            write(
                src,
                ss,
                primary.encode(ss as usize),
                "primary GPT header (LBA 1)".into(),
            )?,
        ])
    }
}

/// The LBAs the vdev `v` spans for `ss`-byte sectors, refused when its size
/// is unknown or it does not sit on a sector.
fn vdev_lbas(v: &VdevExtent, ss: u64) -> Result<(u64, u64)> {
    let psize = v.psize.ok_or_else(|| {
        Error::Refused(format!(
            "the vdev at {:#x} has no surviving back label and no asize: its size is unknown, so its slice cannot be laid out",
            v.start
        ))
    })?;
    if !v.start.is_multiple_of(ss) {
        return Err(Error::Refused(format!(
            "the vdev starts at {:#x}, not on a {ss}-byte sector: try the other --sector-size",
            v.start
        )));
    }
    Ok((v.start / ss, (v.start + psize) / ss - 1))
}

/// Slice 0 in front of a ZFS slice that starts after LBA 256: the EFI
/// System slice when it holds a FAT file system, else BIOS boot.
fn boot_entry(src: &dyn Source, ss: u64, zfirst: u64, notes: &mut Vec<String>) -> Result<NewEntry> {
    let boot = read_vec(src, SOLARIS_FIRST_LBA * ss, 512)?;
    let fat = boot[510] == 0x55
        && boot[511] == 0xaa
        && (boot[54..57] == *b"FAT" || boot[82..87] == *b"FAT32");
    let (ty, name) = if fat {
        (solaris::GUID_EFI_SYSTEM, "loader")
    } else {
        notes.push(
            "s0 holds no FAT file system: typed BIOS_boot (an EFI System slice would hold one)"
                .into(),
        );
        (solaris::GUID_BIOS_BOOT, "")
    };
    Ok(NewEntry {
        slot: 0,
        type_guid: ty,
        first: SOLARIS_FIRST_LBA,
        last: zfirst - 1,
        name,
    })
}

/// The entry array of a fresh table: `entries`, their unique GUIDs derived
/// from `seed`.
fn entry_area(entries: &[NewEntry], seed: &str) -> Vec<u8> {
    let mut area = vec![0u8; ENTRY_AREA as usize];
    for e in entries {
        let b = &mut area[e.slot * 128..e.slot * 128 + 128];
        b[..16].copy_from_slice(&guid_bytes(e.type_guid));
        b[16..32].copy_from_slice(&derived_guid(&format!("{seed} slice {}", e.slot)));
        b[32..40].copy_from_slice(&e.first.to_le_bytes());
        b[40..48].copy_from_slice(&e.last.to_le_bytes());
        for (j, c) in e.name.encode_utf16().enumerate() {
            b[56 + 2 * j..58 + 2 * j].copy_from_slice(&c.to_le_bytes());
        }
    }
    area
}

/// A fresh Solaris GPT around the vdev `v` found by a scan, for
/// `ss`-byte sectors.
pub fn from_scan(src: &dyn Source, ss: u64, v: &VdevExtent) -> Result<RestorePlan> {
    let f = GptFrame::new(src, ss)?;
    let (zfirst, zend) = vdev_lbas(v, ss)?;
    let rfirst = f.last_usable + 1 - RESERVED_SIZE / ss;
    if zfirst < f.first_usable || zend >= rfirst {
        return Err(Error::Refused(format!(
            "the vdev (LBAs {zfirst}..{zend}) does not fit between the table (first usable LBA {}) and the 8 MiB reserved slice (LBA {rfirst}); nothing planned",
            f.first_usable
        )));
    }
    let mut notes = Vec::new();
    // The ZFS slice ends where s8 begins unless that is ≥ 256 KiB more than
    // the labels say (the labels' place depends on the size rounded down to
    // 256 KiB, so the slice can only have been that much larger).
    let gap = (rfirst - 1 - zend) * ss;
    let zlast = if gap < crate::zfs::label::LABEL_SIZE {
        rfirst - 1
    } else {
        notes.push(format!(
            "{gap} bytes between the vdev's end and s8 stay unallocated (the vdev ended there)"
        ));
        zend
    };
    let mut entries = Vec::new();
    if zfirst > SOLARIS_FIRST_LBA {
        entries.push(boot_entry(src, ss, zfirst, &mut notes)?);
    }
    entries.push(NewEntry {
        slot: entries.len(),
        type_guid: solaris::GUID_USR_ZFS,
        first: zfirst,
        last: zlast,
        name: "zfs",
    });
    entries.push(NewEntry {
        slot: 8,
        type_guid: solaris::GUID_RESERVED,
        first: rfirst,
        last: f.last_usable,
        name: "",
    });
    let seed = format!(
        "kzrescue restore {} {} {}",
        v.pool_guid.unwrap_or(0),
        v.guid.unwrap_or(0),
        v.start
    );
    let area = entry_area(&entries, &seed);
    let n = (SOLARIS_ENTRIES * gpt::ENTRY_SIZE) as usize;
    Ok(RestorePlan {
        summary: format!(
            "a fresh Solaris GPT ({SOLARIS_ENTRIES} entries, {ss}-byte sectors) around the vdev of pool {} at {:#x}",
            v.pool.as_deref().unwrap_or("?"),
            v.start
        ),
        entries: entry_lines(&area[..n]),
        notes,
        writes: f.writes(src, &area, derived_guid(&format!("{seed} disk")))?,
    })
}

/// Sector 0 of an SMI disk from a backup Sun label found by a scan (one at a
/// position Solaris writes backups to, for its own geometry).
pub fn vtoc_from_backup(src: &dyn Source, labels: &[SunLabel]) -> Result<RestorePlan> {
    let backups: Vec<&SunLabel> = labels
        .iter()
        .filter(|l| l.backup_position && !l.primary)
        .collect();
    let Some(first) = backups.first() else {
        return Err(Error::Refused(
            "no backup Sun label on the last track of the last cylinder: nothing to restore the VTOC from"
                .into(),
        ));
    };
    if backups.iter().any(|l| l.bytes != first.bytes) {
        return Err(Error::Refused(
            "the backup Sun labels differ from each other; nothing planned".into(),
        ));
    }
    let mut notes = Vec::new();
    let s0 = read_vec(src, 0, 512)?;
    if s0.iter().any(|&b| b != 0) && s0 != first.bytes {
        notes.push("sector 0 is not blank; it is replaced".into());
    }
    Ok(RestorePlan {
        summary: format!(
            "the Sun label (VTOC) in sector 0 from the backup at {:#x} ({} cylinders × {} heads × {} sectors)",
            first.at, first.pcyl, first.nhead, first.nsect
        ),
        entries: Vec::new(),
        notes,
        writes: vec![write(
            src,
            0,
            first.bytes.clone(),
            "Sun label (sector 0)".into(),
        )?],
    })
}

/// Where an x86 VTOC's fdisk partition starts, as its backup labels show
/// it: each backup sits at `start + backup_label_sectors(…)[k]`, so every
/// surviving copy names candidate starts; the start the most copies agree
/// on wins (all five agree on the true one, at most four on any other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X86Backups {
    /// First sector of the Solaris fdisk partition.
    pub start: u64,
    /// The label (one copy; all the agreeing copies are identical).
    pub label: Vec<u8>,
    /// Byte offsets of the copies found at this start's backup positions.
    pub copies: Vec<u64>,
    /// Cylinders (`ncyl + acyl`) × sectors per cylinder (`nhead × nsect − apc`):
    /// the sectors of the partition the label describes.
    pub sectors: u64,
    /// Heads and sectors per track (for the MBR's CHS fields).
    pub nhead: u32,
    /// Sectors per track.
    pub nsect: u32,
}

/// Infers the Solaris fdisk partition of an x86 VTOC disk from the backup
/// labels a scan found (see [`X86Backups`]). `known_start`: the start an
/// intact MBR names (then only that start is considered). `Ok(None)` when
/// no copy is at a backup position of any admissible start.
pub fn x86_backups(labels: &[SunLabel], known_start: Option<u64>) -> Result<Option<X86Backups>> {
    let ls = vtoc::LABEL_SIZE as u64;
    let x86: Vec<&SunLabel> = labels.iter().filter(|l| l.x86 && l.at % ls == 0).collect();
    // (start, label bytes) → copies.
    let mut votes: Vec<(u64, &[u8], Vec<u64>)> = Vec::new();
    for l in &x86 {
        let Some(rel) = sunlabel::backup_label_sectors(l.ncyl, l.acyl, l.nhead, l.nsect, l.apc)
        else {
            continue;
        };
        for r in rel {
            let Some(start) = (l.at / ls).checked_sub(r) else {
                continue;
            };
            if known_start.is_some_and(|k| k != start) {
                continue;
            }
            match votes
                .iter_mut()
                .find(|(s, b, _)| *s == start && *b == &l.bytes[..])
            {
                Some(v) => v.2.push(l.at),
                None => votes.push((start, &l.bytes, vec![l.at])),
            }
        }
    }
    let Some(best) = votes.iter().map(|v| v.2.len()).max() else {
        return Ok(None);
    };
    let top: Vec<&(u64, &[u8], Vec<u64>)> = votes.iter().filter(|v| v.2.len() == best).collect();
    if top.len() > 1 {
        return Err(Error::Refused(format!(
            "the x86 VTOC backup labels fit {} different fdisk partition starts equally well (sectors {}); nothing planned",
            top.len(),
            top.iter()
                .map(|v| v.0.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let (start, bytes, copies) = top[0];
    let l = x86
        .iter()
        .find(|l| l.at == copies[0])
        .ok_or_else(|| Error::Refused("internal: backup copy vanished".into()))?;
    let spc = u64::from(l.nhead) * u64::from(l.nsect) - u64::from(l.apc);
    Ok(Some(X86Backups {
        start: *start,
        label: bytes.to_vec(),
        copies: copies.clone(),
        sectors: (u64::from(l.ncyl) + u64::from(l.acyl)).saturating_mul(spc),
        nhead: l.nhead,
        nsect: l.nsect,
    }))
}

/// The CHS triple of an MBR entry for `lba` under a geometry; `FE FF FF`
/// (cylinder 1023, the customary "use the LBA" marker) past what CHS holds.
fn chs(lba: u64, nhead: u32, nsect: u32) -> [u8; 3] {
    if nhead == 0 || nhead > 255 || nsect == 0 || nsect > 63 {
        return [0xfe, 0xff, 0xff];
    }
    let (h, s) = (u64::from(nhead), u64::from(nsect));
    let c = lba / (h * s);
    if c > 1023 {
        return [0xfe, 0xff, 0xff];
    }
    let head = (lba / s) % h;
    let sec = lba % s + 1;
    [head as u8, (sec as u8) | (((c >> 8) as u8) << 6), c as u8]
}

/// An MBR with one active Solaris2 (0xBF) partition and no boot code.
pub fn solaris_mbr(start: u64, sectors: u64, nhead: u32, nsect: u32) -> Result<[u8; 512]> {
    let (Ok(s32), Ok(n32)) = (u32::try_from(start), u32::try_from(sectors)) else {
        return Err(Error::Refused(format!(
            "an fdisk partition at sector {start} of {sectors} sectors does not fit an MBR entry (32-bit); nothing planned"
        )));
    };
    let mut m = [0u8; 512];
    let e = &mut m[mbr::TABLE_OFFSET..mbr::TABLE_OFFSET + mbr::ENTRY_SIZE];
    e[0] = 0x80;
    e[1..4].copy_from_slice(&chs(start, nhead, nsect));
    e[4] = mbr::TYPE_SOLARIS2;
    e[5..8].copy_from_slice(&chs(start + sectors - 1, nhead, nsect));
    e[8..12].copy_from_slice(&s32.to_le_bytes());
    e[12..16].copy_from_slice(&n32.to_le_bytes());
    m[510] = 0x55;
    m[511] = 0xaa;
    Ok(m)
}

/// The backups an x86 VTOC is restored from, and the MBR's Solaris
/// partition they belong to (`None`: no MBR; the start is inferred from
/// where the backups sit). An intact MBR's Solaris partition(s) fix the
/// start; a foreign MBR is refused.
fn x86_source(
    labels: &[SunLabel],
    mbr_entries: &[mbr::FdiskEntry],
    solaris: &[&mbr::FdiskEntry],
) -> Result<(X86Backups, Option<mbr::FdiskEntry>)> {
    for e in solaris {
        if let Some(b) = x86_backups(labels, Some(u64::from(e.start_lba)))? {
            return Ok((b, Some((*e).clone())));
        }
    }
    if !mbr_entries.is_empty() {
        return Err(Error::Refused(format!(
            "sector 0 holds an fdisk table (types {}) but no backup x86 VTOC sits at the backup positions of a Solaris partition in it; nothing planned (a foreign MBR is not replaced)",
            mbr_entries
                .iter()
                .map(|e| format!("p{}={:#04x}@{}", e.number, e.kind, e.start_lba))
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    match x86_backups(labels, None)? {
        Some(b) => Ok((b, None)),
        None => Err(Error::Refused(
            "no x86 VTOC backup label on the last track of a Solaris fdisk partition: nothing to restore the VTOC from".into(),
        )),
    }
}

/// The Solaris fdisk partition the backups `b` imply on a disk of
/// `disk_sectors`: from their start, as long as the label describes, or to
/// the end of the disk when less than one cylinder is left over (what a
/// "100 %" Solaris partition leaves).
fn inferred_partition(b: &X86Backups, disk_sectors: u64) -> Result<mbr::FdiskEntry> {
    let spc = u64::from(b.nhead) * u64::from(b.nsect);
    let rest = disk_sectors.saturating_sub(b.start);
    if rest < b.sectors {
        return Err(Error::Refused(format!(
            "the x86 VTOC backups imply a Solaris partition at sector {} of {} sectors, past the end of the device ({disk_sectors} sectors); nothing planned",
            b.start, b.sectors
        )));
    }
    let len = if rest - b.sectors < spc {
        rest
    } else {
        b.sectors
    };
    let (Ok(start_lba), Ok(sectors)) = (u32::try_from(b.start), u32::try_from(len)) else {
        return Err(Error::Refused(format!(
            "the x86 VTOC backups imply a Solaris partition at sector {} of {len} sectors, which an MBR entry (32-bit) cannot hold; nothing planned",
            b.start
        )));
    };
    Ok(mbr::FdiskEntry {
        number: 1,
        active: true,
        kind: mbr::TYPE_SOLARIS2,
        start_lba,
        sectors,
    })
}

/// Without an MBR the partition start is an inference: a vdev the scan
/// found must sit exactly at the start of a slice of the restored VTOC.
fn confirm_inferred_start(
    b: &X86Backups,
    parts: &[crate::partition::Partition],
    vdevs: &[VdevExtent],
    notes: &mut Vec<String>,
) -> Result<()> {
    let confirmed = parts.iter().find(|p| {
        vdevs
            .iter()
            .any(|v| v.pool_guid.is_some() && v.start == p.start)
    });
    let Some(p) = confirmed else {
        return Err(Error::Refused(format!(
            "the x86 VTOC backups imply a Solaris partition at sector {}, but no vdev the scan found starts at a slice of that VTOC: the start is not confirmed; nothing planned",
            b.start
        )));
    };
    notes.push(format!(
        "the fdisk partition start (sector {}) is inferred from {} backup label(s); a scan found a vdev exactly at slice {}'s start ({:#x})",
        b.start,
        b.copies.len(),
        p.slice,
        p.start
    ));
    Ok(())
}

/// An x86 VTOC disk's label from its backups (illumos cmlb keeps five on
/// the last track of the last cylinder *of the Solaris fdisk partition*):
/// when the MBR still names a Solaris partition, only the VTOC in its
/// sector 1 is written; when the MBR is gone too, the partition start is
/// inferred from where the backups sit, confirmed by a vdev the scan found
/// exactly at a slice's start, and a fresh MBR with that one partition is
/// written as well (its other entries and boot code cannot be known).
pub fn x86_vtoc_from_backup(
    src: &dyn Source,
    labels: &[SunLabel],
    vdevs: &[VdevExtent],
) -> Result<RestorePlan> {
    let ls = vtoc::LABEL_SIZE as u64;
    let s0 = read_vec(src, 0, 512)?;
    let mbr_entries = mbr::parse(&s0).unwrap_or_default();
    let solaris: Vec<&mbr::FdiskEntry> = mbr_entries
        .iter()
        .filter(|e| e.kind == mbr::TYPE_SOLARIS2 || e.kind == mbr::TYPE_SOLARIS_LEGACY)
        .collect();
    let (b, entry) = x86_source(labels, &mbr_entries, &solaris)?;
    let mut label = [0u8; vtoc::LABEL_SIZE];
    label.copy_from_slice(&b.label);
    let entry = match entry {
        Some(e) => e,
        None => inferred_partition(&b, src.size() / ls)?,
    };
    let mut notes = Vec::new();
    let (_, parts) = vtoc::decode_x86(&label, &entry, src.size(), &mut notes)?;
    let rebuild_mbr = solaris.is_empty();
    if rebuild_mbr {
        confirm_inferred_start(&b, &parts, vdevs, &mut notes)?;
        if s0.iter().any(|&x| x != 0) {
            notes.push("sector 0 is not blank and holds no fdisk table; it is replaced".into());
        }
        notes.push(
            "the MBR is rebuilt with the Solaris partition only: other fdisk partitions and the boot code of the lost MBR cannot be known (reinstall the boot loader before booting from this disk)".into(),
        );
    }
    let vtoc_at = (u64::from(entry.start_lba) + vtoc::X86_LABEL_SECTOR) * ls;
    let old = read_vec(src, vtoc_at, vtoc::LABEL_SIZE)?;
    if old.iter().any(|&x| x != 0) && old != b.label {
        notes.push(format!(
            "sector {} (the VTOC's place) is not blank; it is replaced",
            vtoc_at / ls
        ));
    }
    let entries = parts
        .iter()
        .map(|p| {
            format!(
                "s{} {} sectors {}..{}",
                p.slice,
                p.type_name,
                p.start / ls,
                (p.start + p.len) / ls - 1
            )
        })
        .collect();
    // The VTOC first, the MBR (which makes the disk an x86 VTOC disk to
    // every reader) last.
    let mut writes = vec![write(
        src,
        vtoc_at,
        b.label.clone(),
        format!("x86 VTOC label (sector {})", vtoc_at / ls),
    )?];
    if rebuild_mbr {
        let m = solaris_mbr(
            u64::from(entry.start_lba),
            u64::from(entry.sectors),
            b.nhead,
            b.nsect,
        )?;
        writes.push(write(
            src,
            0,
            m.to_vec(),
            format!(
                "MBR (p1 Solaris2 0xBF, active, sectors {}+{})",
                entry.start_lba, entry.sectors
            ),
        )?);
    }
    Ok(RestorePlan {
        summary: format!(
            "the x86 VTOC of fdisk partition p{} (sector {}) from its backup label{} at {}{}",
            entry.number,
            entry.start_lba,
            if b.copies.len() == 1 { "" } else { "s" },
            b.copies
                .iter()
                .map(|c| format!("{c:#x}"))
                .collect::<Vec<_>>()
                .join(", "),
            if rebuild_mbr { ", and the MBR" } else { "" }
        ),
        entries,
        notes,
        writes,
    })
}

/// One line per used entry of a GPT array.
fn entry_lines(array: &[u8]) -> Vec<String> {
    array
        .chunks_exact(128)
        .enumerate()
        .filter(|(_, e)| e[..16].iter().any(|&b| b != 0))
        .map(|(i, e)| {
            let f = u64::from_le_bytes(e[32..40].try_into().unwrap_or([0; 8]));
            let l = u64::from_le_bytes(e[40..48].try_into().unwrap_or([0; 8]));
            let g = &e[..16];
            let text = format!(
                "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{}",
                g[3],
                g[2],
                g[1],
                g[0],
                g[5],
                g[4],
                g[7],
                g[6],
                g[8],
                g[9],
                g[10..]
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<String>()
            );
            let (_, name) = solaris::guid_type(&text);
            format!("s{i} {name} LBAs {f}..{l}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemSource;

    fn vdev(start: u64, psize: u64) -> VdevExtent {
        VdevExtent {
            start,
            psize: Some(psize),
            end: Some(start + psize),
            pool: Some("rpool".into()),
            pool_guid: Some(1),
            guid: Some(2),
        }
    }

    fn apply(disk: &mut [u8], p: &RestorePlan) {
        for w in &p.writes {
            let o = w.offset as usize;
            assert_eq!(&disk[o..o + w.old.len()], &w.old[..]);
            disk[o..o + w.new.len()].copy_from_slice(&w.new);
        }
    }

    #[test]
    fn fresh_table_reads_back_and_restores_both_ways() {
        for ss in [512u64, 4096] {
            let size = 96u64 << 20;
            let mut disk = vec![0u8; size as usize];
            let start = 2 << 20;
            let v = vdev(start, 72 << 20);
            let p = from_scan(&MemSource::new(&disk), ss, &v).unwrap();
            apply(&mut disk, &p);
            let src = MemSource::new(&disk);
            let t = crate::partition::read(&src, Some(ss as u32)).unwrap();
            assert!(t.notes.is_empty(), "{:?}", t.notes);
            let z = t.zfs_slice().unwrap();
            assert_eq!((z.slice, z.start), (1, start));
            assert_eq!(t.reserved().unwrap().len, RESERVED_SIZE);
            // Zero the primary, restore it from the backup: same bytes.
            let good = disk.clone();
            // The primary areas at either sector size (34 × 512 < 6 × 4096).
            disk[..6 * 4096].fill(0);
            let p = from_backup(&MemSource::new(&disk), ss).unwrap();
            apply(&mut disk, &p);
            assert_eq!(disk, good);
            // And the backup from the primary.
            let n = disk.len();
            disk[n - 33 * ss as usize..].fill(0);
            let p = from_primary(&MemSource::new(&disk), ss).unwrap();
            apply(&mut disk, &p);
            assert_eq!(disk, good);
        }
    }

    #[test]
    fn a_table_over_a_vdev_is_refused() {
        let disk = vec![0u8; 32 << 20];
        let v = vdev(0, 16 << 20);
        let p = from_backup(&MemSource::new(&disk), 512);
        assert!(p.is_err());
        let p = RestorePlan {
            summary: String::new(),
            entries: vec![],
            notes: vec![],
            writes: vec![TableWrite {
                offset: 8192 + 512,
                what: "x".into(),
                old: vec![0],
                new: vec![1],
            }],
        };
        assert!(matches!(check_accounted(&p, &[v]), Err(Error::Refused(_))));
    }

    fn x86_label(at: u64) -> SunLabel {
        SunLabel {
            at,
            x86: true,
            pcyl: 4,
            ncyl: 3,
            acyl: 1,
            nhead: 2,
            nsect: 16,
            apc: 0,
            backup_position: false,
            primary: false,
            bytes: vec![7; 512],
        }
    }

    #[test]
    fn x86_partition_start_is_the_one_every_backup_agrees_on() {
        // Partition at sector 100; backups at 100 + 3×32 + 16 + k.
        let copies: Vec<SunLabel> = [1u64, 3, 5, 7, 9]
            .iter()
            .map(|k| x86_label((100 + 112 + k) * 512))
            .collect();
        let b = x86_backups(&copies, None).unwrap().unwrap();
        assert_eq!((b.start, b.copies.len(), b.sectors), (100, 5, 128));
        // A known start admits only its own positions.
        assert_eq!(
            x86_backups(&copies, Some(98))
                .unwrap()
                .unwrap()
                .copies
                .len(),
            4
        );
        // One copy alone fits five starts equally: refused.
        assert!(matches!(
            x86_backups(&copies[..1], None),
            Err(Error::Refused(_))
        ));
    }
}
