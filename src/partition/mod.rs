//! Partition tables: GPT, the Sun SMI/VTOC labels, or none.
//!
//! [`read`] finds which table a disk carries and returns it as one
//! [`PartitionTable`] whose entries carry their Solaris slice number and
//! minor-node letter, so that `disk.img --slice 1`, `c1d0s1` and the
//! phys_path suffix `:b` all name the same partition.
//!
//! The order of detection: a GPT header ("EFI PART") in LBA 1 or the last LBA
//! for the logical sector size (the one given, else the one the device reports
//! tried first, then the other of 512/4096); then a Sun label in sector 0
//! (SPARC VTOC_8); then an fdisk table with a Solaris partition holding a
//! VTOC_16 (x86). Nothing of these: the whole device is one vdev.

pub mod gpt;
pub mod mbr;
pub mod report;
pub mod restore;
pub mod solaris;
pub mod vtoc;

use crate::error::{Error, Result};
use crate::source::{Source, read_vec};
use serde::Serialize;

/// Which kind of partition table a disk carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TableKind {
    /// GUID Partition Table (Solaris "EFI label").
    #[serde(rename = "gpt")]
    Gpt,
    /// SPARC Sun label with VTOC_8, in sector 0.
    #[serde(rename = "smi-vtoc")]
    SmiVtoc,
    /// x86 VTOC_16 inside a Solaris fdisk partition.
    #[serde(rename = "x86-vtoc")]
    X86Vtoc,
    /// No table: the whole device is the vdev (file vdevs, whole-LUN pools).
    #[serde(rename = "none")]
    None,
}

impl TableKind {
    /// The kind as JSON spells it (`gpt`, `smi-vtoc`, `x86-vtoc`, `none`):
    /// the serde name, for documents that carry it as a plain string.
    pub fn json_name(self) -> &'static str {
        match self {
            TableKind::Gpt => "gpt",
            TableKind::SmiVtoc => "smi-vtoc",
            TableKind::X86Vtoc => "x86-vtoc",
            TableKind::None => "none",
        }
    }
}

impl std::fmt::Display for TableKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TableKind::Gpt => "GPT (EFI)",
            TableKind::SmiVtoc => "SMI VTOC (SPARC)",
            TableKind::X86Vtoc => "x86 VTOC in fdisk partition",
            TableKind::None => "none",
        })
    }
}

/// One partition (slice) of a disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// Entry number in the table: GPT entries count from 1 (as sgdisk shows
    /// them); VTOC entries are the slice number.
    pub index: u32,
    /// Solaris slice number: GPT entry *i* is slice *i − 1*; VTOC slice *n* is *n*.
    pub slice: u32,
    /// Minor-node letter: s0 → `a` … s8 → `i` … s15 → `p` (`-` above 15).
    pub letter: char,
    /// First byte on the disk.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// GPT type GUID (upper-case, hyphenated); `None` on VTOC labels.
    pub type_guid: Option<String>,
    /// GPT unique partition GUID; `None` on VTOC labels.
    pub unique_guid: Option<String>,
    /// Solaris tag: stored on VTOC labels, derived from the type GUID on GPT
    /// (0xff for GUIDs Solaris does not know).
    pub tag: u16,
    /// GPT attribute bits, or the VTOC permission flags (0x01 unmountable,
    /// 0x10 read-only).
    pub flags: u64,
    /// Type name as Solaris `format` prints it ("usr", "reserved",
    /// "BIOS_boot", "EFI System" …).
    pub type_name: &'static str,
    /// GPT partition name (empty on VTOC labels).
    pub name: String,
}

impl Partition {
    /// First sector for `sector_size`-byte sectors.
    pub fn first_lba(&self, sector_size: u32) -> u64 {
        self.start / u64::from(sector_size)
    }
    /// Last sector (inclusive) for `sector_size`-byte sectors.
    pub fn last_lba(&self, sector_size: u32) -> u64 {
        (self.start + self.len).div_ceil(u64::from(sector_size)) - 1
    }
    /// Short name used in messages and windows, e.g. "s1".
    pub fn label(&self) -> String {
        format!("s{}", self.slice)
    }
}

/// A disk's partition table, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionTable {
    /// Which table was found.
    pub kind: TableKind,
    /// Logical sector size the table was read with.
    pub sector_size: u32,
    /// Size of the device in bytes.
    pub disk_size: u64,
    /// The used entries, in table order.
    pub partitions: Vec<Partition>,
    /// Damage that was worked around and oddities worth a look, one line each
    /// (e.g. "primary GPT is bad, used the backup …").
    pub notes: Vec<String>,
    /// GPT header details (GPT only).
    pub gpt: Option<gpt::GptInfo>,
    /// Sun label details (VTOC only).
    pub vtoc: Option<vtoc::VtocInfo>,
}

impl PartitionTable {
    /// The partition holding the ZFS pool: the one partition of the Solaris
    /// `usr` type (the ZFS type GUID) on GPT; on VTOC labels the one slice
    /// tagged `usr` or `root`. Errors when there is none or several (then the
    /// user names one with `--slice`), or when there is no table at all.
    pub fn zfs_slice(&self) -> Result<&Partition> {
        let found: Vec<&Partition> = match self.kind {
            TableKind::Gpt => self
                .partitions
                .iter()
                .filter(|p| p.tag == solaris::TAG_USR)
                .collect(),
            TableKind::SmiVtoc | TableKind::X86Vtoc => self
                .partitions
                .iter()
                .filter(|p| p.tag == solaris::TAG_USR || p.tag == solaris::TAG_ROOT)
                .collect(),
            TableKind::None => {
                return Err(Error::Usage(
                    "the device has no partition table; it is used whole".into(),
                ));
            }
        };
        let what = match self.kind {
            TableKind::Gpt => "ZFS (usr type 6A898CC3-…) partition",
            _ => "slice tagged usr or root",
        };
        match found.as_slice() {
            [one] => Ok(one),
            [] => Err(Error::Usage(format!(
                "the {} has no {what}; name the pool's slice with --slice N (slices: {})",
                self.kind,
                self.slice_list()
            ))),
            many => Err(Error::Usage(format!(
                "the {} has {} candidate pool slices, each a {what} ({}); choose one with --slice N",
                self.kind,
                many.len(),
                many.iter()
                    .map(|p| p.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The partition with Solaris slice number `slice`.
    pub fn slice(&self, slice: u32) -> Result<&Partition> {
        self.partitions
            .iter()
            .find(|p| p.slice == slice)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "the {} has no slice {slice} (slices: {})",
                    self.kind,
                    self.slice_list()
                ))
            })
    }

    /// The Solaris reserved partition (GPT slice 8, type 6A945A3B-…), where
    /// kernel zones keep host data.
    pub fn reserved(&self) -> Option<&Partition> {
        self.partitions
            .iter()
            .find(|p| p.tag == solaris::TAG_RESERVED)
    }

    fn slice_list(&self) -> String {
        if self.partitions.is_empty() {
            return "none".into();
        }
        self.partitions
            .iter()
            .map(|p| format!("{} {}", p.label(), p.type_name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The logical sector sizes kzrescue reads and writes tables at.
pub const SECTOR_SIZES: [u32; 2] = [512, 4096];

/// Parses a `--sector-size` as a command line gives it: one of
/// [`SECTOR_SIZES`].
pub fn parse_sector_size(s: &str) -> Result<u32> {
    match s.parse::<u32>() {
        Ok(n) if SECTOR_SIZES.contains(&n) => Ok(n),
        _ => Err(Error::Usage(format!(
            "{s} is not a supported sector size (512 or 4096)"
        ))),
    }
}

/// Reads the partition table of `src`. `sector_size` forces the logical
/// sector size (512 or 4096); otherwise it comes from the device, or from where
/// the GPT header is found.
pub fn read(src: &dyn Source, sector_size: Option<u32>) -> Result<PartitionTable> {
    if let Some(ss) = sector_size.filter(|s| *s != 512 && *s != 4096) {
        return Err(Error::Usage(format!(
            "--sector-size {ss}: only 512 and 4096 are supported"
        )));
    }
    let reported = src
        .logical_sector_size()
        .filter(|s| *s == 512 || *s == 4096);
    let mut notes = Vec::new();
    let disk_size = src.size();
    let table = |kind, sector_size, partitions, notes, gpt, vtoc| PartitionTable {
        kind,
        sector_size,
        disk_size,
        partitions,
        notes,
        gpt,
        vtoc,
    };

    // GPT: the forced size only; else the reported size first.
    let order: &[u32] = match (sector_size, reported) {
        (Some(512), _) => &[512],
        (Some(_), _) => &[4096],
        (None, Some(4096)) => &[4096, 512],
        (None, _) => &[512, 4096],
    };
    // Primary headers for each size first, then backups only.
    let found = order
        .iter()
        .copied()
        .find(|&ss| gpt::signature_at(src, ss, 1))
        .or_else(|| order.iter().copied().find(|&ss| gpt::probe(src, ss)));
    if let Some(ss) = found {
        if let Some(r) = reported.filter(|&r| r != ss) {
            notes.push(format!(
                "the device reports {r}-byte sectors but its GPT is laid out for {ss}-byte sectors"
            ));
        }
        let (info, parts) = gpt::read(src, ss, &mut notes)?;
        return Ok(table(TableKind::Gpt, ss, parts, notes, Some(info), None));
    }
    if let Some(ss) = sector_size {
        let other = if ss == 512 { 4096 } else { 512 };
        if gpt::probe(src, other) {
            return Err(Error::corrupt(
                "GPT header",
                u64::from(ss),
                format!(
                    "no \"EFI PART\" signature for {ss}-byte sectors, but a GPT laid out for {other}-byte sectors (try --sector-size {other})"
                ),
            ));
        }
    }

    // Sector 0: SMI label or fdisk table.
    let ss = sector_size.or(reported).unwrap_or(512);
    if disk_size < vtoc::LABEL_SIZE as u64 {
        return Ok(table(TableKind::None, ss, Vec::new(), notes, None, None));
    }
    let mut sector0 = [0u8; vtoc::LABEL_SIZE];
    src.read_at(0, &mut sector0)?;
    if vtoc::is_smi(&sector0) {
        let (info, parts) = vtoc::decode_smi(&sector0, disk_size, &mut notes)?;
        return Ok(table(
            TableKind::SmiVtoc,
            vtoc::LABEL_SIZE as u32,
            parts,
            notes,
            None,
            Some(info),
        ));
    }
    if let Some(entries) = mbr::parse(&sector0) {
        if entries.iter().any(|e| e.kind == mbr::TYPE_GPT_PROTECTIVE) {
            let tried = match sector_size {
                Some(s) => format!("{s}-byte sectors"),
                None => "512- or 4096-byte sectors".to_string(),
            };
            return Err(Error::corrupt(
                "GPT header",
                u64::from(ss),
                format!(
                    "the MBR is a GPT protective MBR (type 0xEE), but no \"EFI PART\" header is in LBA 1 or the last LBA for {tried}"
                ),
            ));
        }
        if let Some((e, buf)) = solaris_partition(src, &entries, &mut notes)? {
            let mut label = [0u8; vtoc::LABEL_SIZE];
            label.copy_from_slice(&buf);
            let (info, parts) = vtoc::decode_x86(&label, e, disk_size, &mut notes)?;
            return Ok(table(
                TableKind::X86Vtoc,
                vtoc::LABEL_SIZE as u32,
                parts,
                notes,
                None,
                Some(info),
            ));
        }
        if !entries.is_empty() {
            notes.push(format!(
                "sector 0 holds an fdisk table without a Solaris partition (types {}); the whole device is used",
                entries
                    .iter()
                    .map(|e| format!("p{}={:#04x}", e.number, e.kind))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
    }
    Ok(table(TableKind::None, ss, Vec::new(), notes, None, None))
}

/// The fdisk partition Solaris would take its x86 VTOC from, as cmlb does
/// (the last active Solaris partition, else the first), with the label
/// sector read from it.
fn solaris_partition<'a>(
    src: &dyn Source,
    entries: &'a [mbr::FdiskEntry],
    notes: &mut Vec<String>,
) -> Result<Option<(&'a mbr::FdiskEntry, Vec<u8>)>> {
    let solaris = entries
        .iter()
        .filter(|e| e.kind == mbr::TYPE_SOLARIS2 || e.kind == mbr::TYPE_SOLARIS_LEGACY);
    let mut candidates = Vec::new();
    for e in solaris {
        let off = (u64::from(e.start_lba) + vtoc::X86_LABEL_SECTOR) * vtoc::LABEL_SIZE as u64;
        let Ok(buf) = read_vec(src, off, vtoc::LABEL_SIZE) else {
            if e.kind == mbr::TYPE_SOLARIS2 {
                return Err(Error::corrupt(
                    "x86 VTOC label",
                    off,
                    format!(
                        "fdisk partition p{} (Solaris) starts past the end of the device",
                        e.number
                    ),
                ));
            }
            continue;
        };
        // A legacy 0x82 partition is Linux swap unless a VTOC is in it.
        if e.kind == mbr::TYPE_SOLARIS2 || vtoc::is_x86_vtoc(&buf) {
            candidates.push((e, buf));
        }
    }
    let n = candidates.len();
    let chosen = match candidates.iter().rposition(|(e, _)| e.active) {
        Some(i) => Some(candidates.swap_remove(i)),
        None if n > 0 => Some(candidates.swap_remove(0)),
        None => None,
    };
    if let Some((e, _)) = &chosen
        && n > 1
    {
        notes.push(format!("{n} Solaris fdisk partitions; used p{}", e.number));
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_512_and_4096_are_sector_sizes() {
        assert_eq!(super::parse_sector_size("512").ok(), Some(512));
        assert_eq!(super::parse_sector_size("4096").ok(), Some(4096));
        for bad in ["1024", "0", "abc", " 512"] {
            let e = super::parse_sector_size(bad).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::Usage, "{bad}");
        }
    }
}
