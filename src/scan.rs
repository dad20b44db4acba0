//! Finding ZFS vdevs on a device without trusting its partition table.
//!
//! A vdev's four labels each carry a 112 KiB `vdev_phys`: a packed XDR
//! nvlist sealed by an embedded SHA-256 checksum whose verifier is the
//! block's offset *within the vdev*. [`scan`] reads the device once,
//! sequentially, in large chunks, and at every 512-byte boundary applies a
//! cheap test ([`prefilter`]: the XDR nvlist header at the start, the
//! `zio_eck` magic at the end). Only candidates that pass are hashed. The
//! verifier that makes a candidate's checksum match tells where its vdev
//! starts: 16 KiB (label 0) or 272 KiB (label 1) from the vdev start, or
//! `psize − 496 KiB` / `psize − 240 KiB` (labels 2 and 3), which the scan
//! finds by trying the offsets the config's `asize` implies, then every
//! 256 KiB step (cheap: the hash of the block is computed once and only the
//! 32-byte verifier is hashed per try).
//!
//! Verified labels are grouped per vdev (pool guid, vdev guid, start); pairs
//! 0/1 and 2/3 and `asize` give the vdev's size. Each vdev is compared with
//! the partition table the device carries, and the Solaris GPT slice that
//! would describe it is proposed. Sun (SMI) labels found on the way are
//! recorded for the VTOC restore (backup labels on the last cylinders).
//!
//! Hostile input (a header at every sector, labels of many pools) is bounded:
//! at most [`MAX_HASHED`] candidates are hashed, [`MAX_TRIES`] verifier tries
//! made and [`MAX_LABELS`] labels kept; the report says when a bound was hit.

use crate::error::Result;
pub use crate::partition::restore::sunlabel::{
    SunLabel, backup_label_sectors, is_sun_label, is_x86_sun_label, sun_label,
};
use crate::partition::restore::{SOLARIS_FIRST_LBA, VdevExtent};
use crate::partition::{self, PartitionTable, TableKind, solaris, vtoc};
use crate::source::Source;
use crate::zfs::ByteOrder;
use crate::zfs::eck;
use crate::zfs::label::{LABEL_SIZE, NVLIST_MAX, VDEV_PHYS_OFFSET, VDEV_PHYS_SIZE};
use crate::zfs::nvlist::{NvList, xdr};
use crate::zfs::vdev_tree;
use serde::Serialize;
use sha2::{Digest, Sha256};

mod text;

/// The `schema` of a scan's JSON document ([`ScanReport::json`]).
pub const SCHEMA: &str = "kzrescue.scan/2";

/// Granularity of the search: every vdev starts on a 512-byte boundary.
pub const STEP: u64 = 512;
/// Bytes read per chunk: small enough that the kernel's copy into the
/// (recycled) buffer stays in the CPU cache, as `cat`'s does; the few
/// candidates whose vdev_phys runs past a chunk are read whole on their own.
pub const CHUNK: usize = 256 << 10;
/// Most candidates whose checksum is computed in one scan.
pub const MAX_HASHED: usize = 16_384;
/// Most verifier tries (one 32-byte hash finalisation each) in one scan.
pub const MAX_TRIES: u64 = 16_000_000;
/// Most verified labels kept.
pub const MAX_LABELS: usize = 4096;
/// Most Sun labels kept.
pub const MAX_SUN_LABELS: usize = 64;
/// ZFS's reserved space per vdev: two labels and the 3.5 MiB boot block at
/// the front, two labels at the back (`asize = psize − this`).
pub const LABEL_OVERHEAD: u64 = 4 * LABEL_SIZE + (7 << 19);

/// The first bytes of an XDR-packed nvlist as ZFS writes labels: encoding 1
/// (XDR), the writer's byte order (0 big, 1 little), two zero bytes, then the
/// XDR words `nvl_version` = 0 and `nvl_nvflag` (1, `NV_UNIQUE_NAME`).
///
/// The cheap test applied at every sector: the 12-byte header above (flag
/// 0–3 accepted), a first pair whose encoded size is 16.. bytes and fits the
/// label, and the `zio_eck` magic in either byte order in the trailer.
pub fn prefilter(phys: &[u8]) -> bool {
    phys.len() >= VDEV_PHYS_SIZE
        && header_plausible(phys)
        && eck::trailer_endian(&phys[..VDEV_PHYS_SIZE]).is_some()
}

/// The first half of [`prefilter`]: the 16 header bytes alone.
fn header_plausible(phys: &[u8]) -> bool {
    if phys.len() < 16 {
        return false;
    }
    let h = &phys[..16];
    if h[0] != 1 || h[1] > 1 || h[2] != 0 || h[3] != 0 {
        return false;
    }
    if h[4..8] != [0, 0, 0, 0] || h[8..11] != [0, 0, 0] || h[11] > 3 {
        return false;
    }
    let first = u32::from_be_bytes([h[12], h[13], h[14], h[15]]) as usize;
    (16..=NVLIST_MAX).contains(&first)
}

/// The label fields the scan reports, taken from a verified `vdev_phys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct LabelFacts {
    /// Pool name.
    pub name: Option<String>,
    /// `pool_guid`.
    pub pool_guid: Option<u64>,
    /// This leaf's `guid`.
    pub guid: Option<u64>,
    /// `top_guid`.
    pub top_guid: Option<u64>,
    /// `txg` of the label.
    pub txg: Option<u64>,
    /// Pool `state` (0 active, 1 exported, 2 destroyed, …).
    pub state: Option<u64>,
    /// SPA `version`.
    pub version: Option<u64>,
    /// `hostid`.
    pub hostid: Option<u64>,
    /// `hostname`.
    pub hostname: Option<String>,
    /// Top-level vdev type (`disk`, `mirror`, …).
    pub vdev_type: Option<String>,
    /// Top-level `asize`.
    pub asize: Option<u64>,
    /// Top-level `ashift`.
    pub ashift: Option<u64>,
    /// The leaf's `path`.
    pub path: Option<String>,
    /// The leaf's `phys_path`.
    pub phys_path: Option<String>,
    /// The leaf's `devid`.
    pub devid: Option<String>,
}

impl LabelFacts {
    /// Reads the reported fields of a label config.
    pub fn of(config: &NvList) -> LabelFacts {
        let s = |k: &str| config.get_str(k).map(str::to_string);
        let tree = config.get_list("vdev_tree");
        let guid = config.get_u64("guid");
        let leaf = tree.zip(guid).and_then(|(t, g)| vdev_tree::find_guid(t, g));
        let ls = |k: &str| {
            leaf.as_ref()
                .and_then(|n| n.list.get_str(k))
                .map(str::to_string)
        };
        LabelFacts {
            name: s("name"),
            pool_guid: config.get_u64("pool_guid"),
            guid,
            top_guid: config.get_u64("top_guid"),
            txg: config.get_u64("txg"),
            state: config.get_u64("state"),
            version: config.get_u64("version"),
            hostid: config.get_u64("hostid"),
            hostname: s("hostname"),
            vdev_type: tree.and_then(|t| t.get_str("type")).map(str::to_string),
            asize: tree.and_then(|t| t.get_u64("asize")),
            ashift: tree.and_then(|t| t.get_u64("ashift")),
            path: ls("path"),
            phys_path: ls("phys_path"),
            devid: ls("devid"),
        }
    }
}

/// Where in its vdev a verified label lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelSlot {
    /// Label 0 or 1 (offset 0 or 256 KiB): the slot is known.
    Front(usize),
    /// A back label (2 or 3) whose vdev size is not yet known: its
    /// `vdev_phys` lies `verifier` bytes into the vdev.
    Back,
}

/// A `vdev_phys` whose checksum verified.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoundLabel {
    /// Absolute device offset of the `vdev_phys` block.
    pub phys_at: u64,
    /// The checksum verifier: the block's offset within its vdev.
    pub verifier: u64,
    /// The vdev start this implies (`phys_at − verifier`).
    pub vdev_start: u64,
    /// Label 0/1, or a back label.
    pub slot: LabelSlot,
    /// Byte order of the checksum.
    pub endian: &'static str,
    /// What the config says.
    pub facts: LabelFacts,
    /// SHA-256 of the packed nvlist (labels of one txg carry the same one).
    #[serde(skip)]
    pub packed_digest: [u8; 32],
}

/// What one candidate `vdev_phys` is, once recognised ([`recognise`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Recognised {
    /// The prefilter does not pass.
    NotALabel,
    /// It looks like a label, but no verifier tried makes its checksum
    /// match (a stale copy, damage, or the try budget ran out).
    Unverified,
    /// The checksum verifies with this verifier (offset within the vdev).
    Verified {
        /// The verifier.
        verifier: u64,
        /// The decoded config, when it decodes.
        config: Option<NvList>,
        /// SHA-256 of the packed nvlist bytes.
        digest: [u8; 32],
        /// Byte order of the trailer.
        endian: ByteOrder,
    },
}

/// Recognises one candidate: `phys` (at least 112 KiB) is the block at
/// absolute device offset `at`. Verifiers tried, in order: 16 KiB and
/// 272 KiB (labels 0 and 1), `hints` (offsets within the vdev suggested by
/// other labels), the back-label offsets implied by the config's `asize`,
/// then — while `budget` lasts — every `k × 256 KiB + 16 KiB` up to `at`.
/// `budget` is decremented per try.
pub fn recognise(phys: &[u8], at: u64, hints: &[u64], budget: &mut u64) -> Recognised {
    if !prefilter(phys) {
        return Recognised::NotALabel;
    }
    let block = &phys[..VDEV_PHYS_SIZE];
    let Some(endian) = eck::trailer_endian(block) else {
        return Recognised::NotALabel;
    };
    let n = VDEV_PHYS_SIZE - 32;
    let mut stored = [0u8; 32];
    for i in 0..4 {
        let w = endian.u64(block, n + 8 * i).unwrap_or(0);
        stored[8 * i..8 * i + 8].copy_from_slice(&w.to_be_bytes());
    }
    let mut prefix = Sha256::new();
    prefix.update(&block[..n]);
    let matches = |v: u64, budget: &mut u64| -> bool {
        *budget = budget.saturating_sub(1);
        let mut h = prefix.clone();
        h.update(endian.put_u64(v));
        h.update([0u8; 24]);
        h.finalize()[..] == stored[..]
    };
    let decoded = xdr::decode(&block[..NVLIST_MAX]).ok();
    let verified = |verifier: u64| {
        let digest: [u8; 32] = match &decoded {
            Some(p) => Sha256::digest(&block[..p.len]).into(),
            None => [0; 32],
        };
        Recognised::Verified {
            verifier,
            config: decoded.as_ref().map(|p| p.list.clone()),
            digest,
            endian,
        }
    };
    let front = [VDEV_PHYS_OFFSET, LABEL_SIZE + VDEV_PHYS_OFFSET];
    let mut tried: Vec<u64> = Vec::with_capacity(8);
    let mut asize_hints = Vec::new();
    if let Some(asize) = decoded
        .as_ref()
        .and_then(|p| p.list.get_list("vdev_tree"))
        .and_then(|t| t.get_u64("asize"))
        && let Some(ps) = asize.checked_add(LABEL_OVERHEAD)
    {
        asize_hints.push(ps - 2 * LABEL_SIZE + VDEV_PHYS_OFFSET);
        asize_hints.push(ps - LABEL_SIZE + VDEV_PHYS_OFFSET);
    }
    for &v in front.iter().chain(hints).chain(&asize_hints) {
        if v > at || tried.contains(&v) || *budget == 0 {
            continue;
        }
        tried.push(v);
        if matches(v, budget) {
            return verified(v);
        }
    }
    // Every back-label position: k × 256 KiB + 16 KiB for k ≥ 2, up to `at`.
    let mut v = 2 * LABEL_SIZE + VDEV_PHYS_OFFSET;
    while v <= at && *budget > 0 {
        if !tried.contains(&v) && matches(v, budget) {
            return verified(v);
        }
        v += LABEL_SIZE;
    }
    Recognised::Unverified
}

impl FoundVdev {
    /// What a partition-table restore needs to know of this vdev.
    pub fn extent(&self) -> VdevExtent {
        VdevExtent {
            start: self.start,
            psize: self.psize,
            end: self.end,
            pool: self.facts.name.clone(),
            pool_guid: self.facts.pool_guid,
            guid: self.facts.guid,
        }
    }
}

/// One vdev the scan found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoundVdev {
    /// Absolute byte offset of the vdev's start.
    pub start: u64,
    /// Its size rounded down to 256 KiB (`psize`), when labels 2/3 or the
    /// config's `asize` tell it.
    pub psize: Option<u64>,
    /// How `psize` is known: `labels 2+3`, `label 2`, `label 3`, `asize`.
    pub size_from: Option<String>,
    /// `start + psize`.
    pub end: Option<u64>,
    /// Labels 0–3 whose checksum verified here.
    pub labels: Vec<usize>,
    /// Back labels whose slot (2 or 3) could not be told apart.
    pub back_labels_unplaced: usize,
    /// Absolute offsets of the verified `vdev_phys` blocks.
    pub label_offsets: Vec<u64>,
    /// The facts of the label with the highest txg.
    pub facts: LabelFacts,
    /// Whether all verified labels carry the same packed config.
    pub labels_agree: bool,
    /// What the device's partition table says about this vdev.
    pub table: TableMatch,
    /// The GPT slice Solaris would have described it with.
    pub proposed_gpt: Option<ProposedSlice>,
}

/// How the partition table relates to a found vdev.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum TableMatch {
    /// A slice starts at the vdev's start and is as large as the vdev.
    Matches {
        /// Slice number.
        slice: u32,
        /// Slice length in bytes.
        len: u64,
    },
    /// A slice starts there but is too small or too large for `psize`.
    SizeDiffers {
        /// Slice number.
        slice: u32,
        /// Slice length in bytes.
        len: u64,
    },
    /// No slice starts at the vdev's start (wrong or disagreeing table).
    NoSliceHere {
        /// Slices overlapping the vdev, as `s1 @ 0x…+0x…`.
        overlapping: Vec<String>,
    },
    /// The device has no readable partition table.
    NoTable,
}

/// A partition entry proposed for a found vdev.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposedSlice {
    /// Solaris slice number (0 on the SPARC layout, 1 on x86).
    pub slice: u32,
    /// Sector size the LBAs count in.
    pub sector_size: u32,
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA (inclusive).
    pub last_lba: u64,
    /// Type name (`usr`, the ZFS type).
    pub type_name: &'static str,
    /// Type GUID.
    pub type_guid: &'static str,
    /// Why this slice number.
    pub why: String,
}

/// The whole result of a scan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanReport {
    /// Device size in bytes.
    pub device_size: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Candidates that passed the prefilter.
    pub candidates: u64,
    /// Candidates hashed.
    pub hashed: u64,
    /// Candidates that looked like labels but did not verify anywhere.
    pub unverified: u64,
    /// Labels whose checksum verified.
    pub labels: Vec<FoundLabel>,
    /// Vdevs, by start.
    pub vdevs: Vec<FoundVdev>,
    /// Sun labels found (primary and backups).
    pub sun_labels: Vec<SunLabel>,
    /// The device's partition table as read (kind and notes), or the error.
    pub table_kind: Option<TableKind>,
    /// Error reading the table, one line.
    pub table_error: Option<String>,
    /// Notes of the table reader, and the scan's own.
    pub notes: Vec<String>,
    /// Bounds hit (hostile or unusual input): what was left unexamined.
    pub limits_hit: Vec<String>,
    /// Sector size used for proposals.
    pub sector_size: u32,
}

impl ScanReport {
    /// Whether the report shows something to repair: a bound hit, no vdev,
    /// or a vdev with fewer than four labels, labels that disagree, or a
    /// table that does not describe it.
    pub fn needs_work(&self) -> bool {
        !self.limits_hit.is_empty()
            || self.vdevs.is_empty()
            || self.vdevs.iter().any(|v| {
                v.labels.len() < 4
                    || !matches!(v.table, TableMatch::Matches { .. })
                    || !v.labels_agree
            })
    }
}

/// Options of [`scan`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOptions {
    /// Sector size for proposed entries (else the device's, else the GPT's,
    /// else 512).
    pub sector_size: Option<u32>,
}

/// Opens `spec` read-only for a whole-device scan: a regular image file is
/// read with positioned reads (not a memory map), so that reading it all
/// leaves the data in the page cache without counting in resident memory;
/// anything else as [`crate::target::open_source`] opens it.
pub fn open_for_scan(
    spec: &str,
    access: &crate::target::AccessOptions,
) -> Result<crate::source::SharedSource> {
    let path = std::path::Path::new(spec);
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && !crate::source::uri::is_uri(spec) => {
            Ok(std::sync::Arc::new(crate::source::PreadFile::open(path)?))
        }
        _ => crate::target::open_source(spec, false, access),
    }
}

/// Opens `spec` ([`open_for_scan`]) and scans it; `progress(done, total)`
/// is called after each chunk.
pub fn scan_spec(
    spec: &str,
    opts: ScanOptions,
    access: &crate::target::AccessOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ScanReport> {
    let src = open_for_scan(spec, access)?;
    scan(src.as_ref(), opts, progress)
}

/// Scans `src` for vdev labels and Sun labels. `progress(done, total)` is
/// called after each chunk.
pub fn scan(
    src: &dyn Source,
    opts: ScanOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ScanReport> {
    let size = src.size();
    let mut s = Scanner::new(size);
    let read = read_chunks(src, &mut |base, chunk| {
        s.examine(src, base, chunk);
        progress(base + chunk.len() as u64, size);
    })?;
    s.rep.bytes_read = read;
    let mut rep = s.finish();
    place(src, opts, &mut rep);
    Ok(rep)
}

/// Reads `src` once, sequentially, in [`CHUNK`]-byte reads into one reused,
/// page-aligned buffer (as `cat` does; the kernel's read-ahead keeps the
/// device busy),
/// and hands `f(base, chunk)` each chunk with its device offset. Returns
/// the number of bytes read.
fn read_chunks(src: &dyn Source, f: &mut dyn FnMut(u64, &[u8])) -> Result<u64> {
    let size = src.size();
    // Page-aligned: the kernel copies into an unaligned buffer several
    // times slower (`rep movsb` with a misaligned destination).
    let mut raw = vec![0u8; CHUNK + 4096];
    let skip = raw.as_ptr().align_offset(4096).min(4096);
    let buf = &mut raw[skip..skip + CHUNK];
    let mut pos = 0u64;
    while pos < size {
        let n = (CHUNK as u64).min(size - pos) as usize;
        src.read_at(pos, &mut buf[..n])?;
        f(pos, &buf[..n]);
        pos += n as u64;
    }
    Ok(pos)
}

/// The state of one scan while the device streams past.
struct Scanner {
    rep: ScanReport,
    /// Verifier tries left.
    budget: u64,
    skipped_hash: u64,
    skipped_labels: u64,
    /// Verified vdev_phys regions end here: a candidate inside one is skipped.
    covered_until: u64,
    /// Device bytes from an offset, read for candidates that straddle a
    /// chunk's end.
    extra: Option<(u64, Vec<u8>)>,
}

impl Scanner {
    fn new(size: u64) -> Scanner {
        Scanner {
            rep: ScanReport {
                device_size: size,
                bytes_read: 0,
                candidates: 0,
                hashed: 0,
                unverified: 0,
                labels: Vec::new(),
                vdevs: Vec::new(),
                sun_labels: Vec::new(),
                table_kind: None,
                table_error: None,
                notes: Vec::new(),
                limits_hit: Vec::new(),
                sector_size: 512,
            },
            budget: MAX_TRIES,
            skipped_hash: 0,
            skipped_labels: 0,
            covered_until: 0,
            extra: None,
        }
    }

    /// Examines every sector start in `chunk` (device offset `base` of
    /// `src`): a Sun label? a vdev_phys?
    fn examine(&mut self, src: &dyn Source, base: u64, chunk: &[u8]) {
        let mut off = 0usize;
        while off < chunk.len() {
            let at = base + off as u64;
            let sector = &chunk[off..];
            if sector.len() >= vtoc::LABEL_SIZE
                && matches!(
                    (sector[vtoc::MAGIC_OFFSET], sector[vtoc::MAGIC_OFFSET + 1]),
                    (0xda, 0xbe) | (0xbe, 0xda)
                )
            {
                self.sun(sector, at);
            }
            if sector[0] == 1 && at >= self.covered_until {
                if sector.len() >= VDEV_PHYS_SIZE {
                    if prefilter(sector) {
                        self.candidate(sector, at);
                    }
                } else if header_plausible(sector) {
                    self.straddling(src, at);
                }
            }
            off += STEP as usize;
        }
    }

    /// A candidate whose vdev_phys runs past the chunk: the bytes from
    /// `at` are read on their own, two vdev_phys long, and kept for the
    /// chunk's other such candidates (so hostile input costs at most one
    /// such read per chunk). Unreadable or past the device's end: not a
    /// label.
    fn straddling(&mut self, src: &dyn Source, at: u64) {
        let n = VDEV_PHYS_SIZE as u64;
        if at + n > src.size() {
            return;
        }
        let covered = |e: &(u64, Vec<u8>)| e.0 <= at && at + n <= e.0 + e.1.len() as u64;
        if !self.extra.as_ref().is_some_and(covered) {
            let len = (2 * n).min(src.size() - at) as usize;
            let mut b = vec![0u8; len];
            if src.read_at(at, &mut b).is_err() {
                return;
            }
            self.extra = Some((at, b));
        }
        let Some((start, b)) = self.extra.take() else {
            return;
        };
        let phys = &b[(at - start) as usize..];
        if prefilter(phys) {
            self.candidate(phys, at);
        }
        self.extra = Some((start, b));
    }

    /// Keeps the Sun label at `at`, if `sector` is one.
    fn sun(&mut self, sector: &[u8], at: u64) {
        let Some(l) = sun_label(sector, at) else {
            return;
        };
        let rep = &mut self.rep;
        if rep.sun_labels.len() < MAX_SUN_LABELS {
            rep.sun_labels.push(l);
        } else if rep.sun_labels.len() == MAX_SUN_LABELS {
            rep.limits_hit.push(format!(
                "more than {MAX_SUN_LABELS} Sun labels; the rest ignored"
            ));
            rep.sun_labels.push(l);
        }
    }

    /// Verifies the candidate vdev_phys at `at` (it passed the prefilter).
    fn candidate(&mut self, sector: &[u8], at: u64) {
        self.rep.candidates += 1;
        if self.rep.hashed as usize >= MAX_HASHED {
            self.skipped_hash += 1;
            return;
        }
        self.rep.hashed += 1;
        let hints: Vec<u64> = self
            .rep
            .labels
            .iter()
            .filter(|l| matches!(l.slot, LabelSlot::Front(_)))
            .map(|l| at - l.vdev_start)
            .filter(|v| v % LABEL_SIZE == VDEV_PHYS_OFFSET)
            .take(16)
            .collect();
        match recognise(sector, at, &hints, &mut self.budget) {
            Recognised::Verified {
                verifier,
                config,
                digest,
                endian,
            } => {
                self.covered_until = at + VDEV_PHYS_SIZE as u64;
                if self.rep.labels.len() >= MAX_LABELS {
                    self.skipped_labels += 1;
                    return;
                }
                let slot = if verifier == VDEV_PHYS_OFFSET {
                    LabelSlot::Front(0)
                } else if verifier == LABEL_SIZE + VDEV_PHYS_OFFSET {
                    LabelSlot::Front(1)
                } else {
                    LabelSlot::Back
                };
                self.rep.labels.push(FoundLabel {
                    phys_at: at,
                    verifier,
                    vdev_start: at - verifier,
                    slot,
                    endian: endian.name(),
                    facts: config.as_ref().map(LabelFacts::of).unwrap_or_default(),
                    packed_digest: digest,
                });
            }
            Recognised::Unverified => self.rep.unverified += 1,
            Recognised::NotALabel => {}
        }
    }

    /// The report, with the bounds that were hit.
    fn finish(mut self) -> ScanReport {
        let rep = &mut self.rep;
        if self.skipped_hash > 0 {
            rep.limits_hit.push(format!(
                "{} further label-like candidates were not checked (limit of {MAX_HASHED} checksums per scan)",
                self.skipped_hash
            ));
        }
        if self.skipped_labels > 0 {
            rep.limits_hit.push(format!(
                "{} further verified labels were not kept (limit {MAX_LABELS})",
                self.skipped_labels
            ));
        }
        if self.budget == 0 {
            rep.limits_hit.push(format!(
                "the budget of {MAX_TRIES} checksum verifier tries ran out: some back labels may be reported as unverified"
            ));
        }
        self.rep
    }
}

/// Reads the table the device carries, settles the sector size, groups the
/// labels into vdevs and sets each against the table.
fn place(src: &dyn Source, opts: ScanOptions, rep: &mut ScanReport) {
    let size = src.size();
    let table = match partition::read(src, opts.sector_size) {
        Ok(t) => {
            rep.table_kind = Some(t.kind);
            rep.notes.extend(t.notes.iter().cloned());
            Some(t)
        }
        Err(e) => {
            rep.table_error = Some(e.to_string());
            None
        }
    };
    rep.sector_size = opts
        .sector_size
        .or(src.logical_sector_size())
        .or_else(|| {
            table
                .as_ref()
                .filter(|t| t.kind == TableKind::Gpt)
                .map(|t| t.sector_size)
        })
        .or_else(|| {
            [4096u32, 512]
                .into_iter()
                .find(|&ss| partition::gpt::probe(src, ss))
        })
        .unwrap_or(512);
    rep.vdevs = group(&rep.labels, size);
    for v in &mut rep.vdevs {
        v.table = match &table {
            Some(t) if t.kind != TableKind::None => table_match(t, v),
            _ => TableMatch::NoTable,
        };
        v.proposed_gpt = propose_gpt(v, rep.sector_size, size);
    }
}

/// Groups verified labels into vdevs by (pool guid, guid, start) and works
/// out each one's size.
pub fn group(labels: &[FoundLabel], device_size: u64) -> Vec<FoundVdev> {
    let mut keys: Vec<(Option<u64>, Option<u64>, u64)> = Vec::new();
    for l in labels {
        let k = (l.facts.pool_guid, l.facts.guid, l.vdev_start);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.sort_by_key(|k| k.2);
    let mut out = Vec::new();
    for k in keys {
        let mine: Vec<&FoundLabel> = labels
            .iter()
            .filter(|l| (l.facts.pool_guid, l.facts.guid, l.vdev_start) == k)
            .collect();
        let start = k.2;
        let mut slots: Vec<usize> = Vec::new();
        for l in &mine {
            if let LabelSlot::Front(i) = l.slot {
                slots.push(i);
            }
        }
        let mut backs: Vec<u64> = mine
            .iter()
            .filter(|l| l.slot == LabelSlot::Back)
            .map(|l| l.verifier)
            .collect();
        backs.sort_unstable();
        backs.dedup();
        let best = mine
            .iter()
            .max_by_key(|l| l.facts.txg.unwrap_or(0))
            .map(|l| l.facts.clone());
        let Some(facts) = best else { continue };
        let asize_psize = facts.asize.and_then(|a| a.checked_add(LABEL_OVERHEAD));
        // psize from the back labels: L2's vdev_phys is psize − 496 KiB in.
        let l2_psize = |v: u64| v + 2 * LABEL_SIZE - VDEV_PHYS_OFFSET;
        let l3_psize = |v: u64| v + LABEL_SIZE - VDEV_PHYS_OFFSET;
        let (mut psize, mut size_from, mut unplaced) = (None, None, 0usize);
        if let [a, b] = backs[..]
            && b == a + LABEL_SIZE
        {
            psize = Some(l2_psize(a));
            size_from = Some("labels 2+3".to_string());
            slots.extend([2, 3]);
        } else if let [v] = backs[..] {
            // One back label: label 2 or 3? The smaller size that still holds
            // `asize` (mirror children of equal size); else the one that
            // ends on the device.
            let (p2, p3) = (l2_psize(v), l3_psize(v));
            let pick = match asize_psize {
                Some(ap) if p3 >= ap => Some(3),
                Some(ap) if p2 >= ap => Some(2),
                Some(_) => None,
                None if start + p2 > device_size => Some(3),
                None => None,
            };
            match pick {
                Some(2) => {
                    psize = Some(p2);
                    size_from = Some("label 2".into());
                    slots.push(2);
                }
                Some(_) => {
                    psize = Some(p3);
                    size_from = Some("label 3".into());
                    slots.push(3);
                }
                None => unplaced = 1,
            }
        } else {
            unplaced = backs.len();
        }
        if psize.is_none()
            && let Some(ap) = asize_psize
        {
            psize = Some(ap);
            size_from = Some("asize".into());
        }
        slots.sort_unstable();
        slots.dedup();
        let first = mine.first().map(|l| l.packed_digest);
        out.push(FoundVdev {
            start,
            psize,
            size_from,
            end: psize.map(|p| start + p),
            labels: slots,
            back_labels_unplaced: unplaced,
            label_offsets: mine.iter().map(|l| l.phys_at).collect(),
            labels_agree: mine.iter().all(|l| Some(l.packed_digest) == first),
            facts,
            table: TableMatch::NoTable,
            proposed_gpt: None,
        });
    }
    out
}

fn table_match(t: &PartitionTable, v: &FoundVdev) -> TableMatch {
    if let Some(p) = t.partitions.iter().find(|p| p.start == v.start) {
        let ok = v
            .psize
            .is_none_or(|ps| crate::zfs::label::psize(p.len) == ps);
        return if ok {
            TableMatch::Matches {
                slice: p.slice,
                len: p.len,
            }
        } else {
            TableMatch::SizeDiffers {
                slice: p.slice,
                len: p.len,
            }
        };
    }
    let end = v.end.unwrap_or(v.start + 4 * LABEL_SIZE);
    TableMatch::NoSliceHere {
        overlapping: t
            .partitions
            .iter()
            .filter(|p| p.start < end && v.start < p.start + p.len)
            .map(|p| format!("{} @ {:#x}+{:#x}", p.label(), p.start, p.len))
            .collect(),
    }
}

/// The GPT slice that would describe `v` on a Solaris disk: slice 0 when
/// the vdev starts at LBA 256 (the SPARC layout), else slice 1 (x86: s0 is
/// the boot partition before it). Its last LBA ends the vdev's `psize`.
pub fn propose_gpt(v: &FoundVdev, ss: u32, device_size: u64) -> Option<ProposedSlice> {
    let ssz = u64::from(ss);
    let psize = v.psize?;
    if !v.start.is_multiple_of(ssz) || v.start + psize > device_size {
        return None;
    }
    let first = v.start / ssz;
    let (slice, why) = if first == SOLARIS_FIRST_LBA {
        (
            0,
            "starts at LBA 256, where Solaris puts s0 (SPARC layout)".to_string(),
        )
    } else if first > SOLARIS_FIRST_LBA {
        (
            1,
            format!(
                "starts after LBA 256: s1 of the x86 layout (s0, the boot partition, is LBAs 256..{})",
                first - 1
            ),
        )
    } else {
        (
            0,
            "starts before LBA 256: not a Solaris layout, given as s0".to_string(),
        )
    };
    Some(ProposedSlice {
        slice,
        sector_size: ss,
        first_lba: first,
        last_lba: (v.start + psize) / ssz - 1,
        type_name: "usr",
        type_guid: solaris::GUID_USR_ZFS,
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::label::encode_vdev_phys;
    use crate::zfs::nvlist::NvValue;

    fn config(asize: u64) -> NvList {
        let mut tree = NvList::new();
        tree.set("type", NvValue::String("disk".into()));
        tree.set("guid", NvValue::UInt64(7));
        tree.set("asize", NvValue::UInt64(asize));
        let mut c = NvList::new();
        c.set("version", NvValue::UInt64(23));
        c.set("name", NvValue::String("rpool".into()));
        c.set("txg", NvValue::UInt64(44));
        c.set("pool_guid", NvValue::UInt64(9));
        c.set("guid", NvValue::UInt64(7));
        c.set("vdev_tree", NvValue::NvList(tree));
        c
    }

    /// A device with a 4 MiB + 4.5 MiB vdev at `start`, all four labels.
    fn device(start: u64, asize: u64) -> Vec<u8> {
        let psize = asize + LABEL_OVERHEAD;
        let mut d = vec![0u8; (start + psize + (1 << 20)) as usize];
        let c = config(asize);
        for off in crate::zfs::label::label_offsets(psize) {
            let p = encode_vdev_phys([1, 1, 0, 0], &c, ByteOrder::Little, off).unwrap();
            let at = (start + off + VDEV_PHYS_OFFSET) as usize;
            d[at..at + p.len()].copy_from_slice(&p);
        }
        d
    }

    #[test]
    fn finds_a_vdev_at_an_odd_sector_with_its_size() {
        let start = 7 * 512 + (3 << 20);
        let d = device(start, 4 << 20);
        let src = crate::source::MemSource::new(&d);
        let r = scan(&src, ScanOptions::default(), &mut |_, _| {}).unwrap();
        assert_eq!(r.vdevs.len(), 1, "{r:?}");
        let v = &r.vdevs[0];
        assert_eq!(v.start, start);
        assert_eq!(v.psize, Some((4 << 20) + LABEL_OVERHEAD));
        assert_eq!(v.labels, vec![0, 1, 2, 3]);
        assert_eq!(v.size_from.as_deref(), Some("labels 2+3"));
    }

    #[test]
    fn finds_labels_that_straddle_chunk_boundaries() {
        // Every vdev_phys starts 4 KiB before a chunk ends.
        let start = CHUNK as u64 - VDEV_PHYS_OFFSET - 4096;
        let d = device(start, 4 << 20);
        let src = crate::source::MemSource::new(&d);
        let r = scan(&src, ScanOptions::default(), &mut |_, _| {}).unwrap();
        for l in &r.labels {
            assert!(l.phys_at % CHUNK as u64 + VDEV_PHYS_SIZE as u64 > CHUNK as u64);
        }
        assert_eq!(r.vdevs.len(), 1, "{r:?}");
        assert_eq!(r.vdevs[0].start, start);
        assert_eq!(r.vdevs[0].labels, vec![0, 1, 2, 3]);
        assert_eq!(r.bytes_read, d.len() as u64);
    }

    #[test]
    fn back_labels_alone_give_start_by_brute_force() {
        let start = 5 << 20;
        let mut d = device(start, 4 << 20);
        // Wipe labels 0 and 1, and make asize useless.
        d[start as usize..start as usize + (512 << 10)].fill(0);
        let src = crate::source::MemSource::new(&d);
        let r = scan(&src, ScanOptions::default(), &mut |_, _| {}).unwrap();
        assert_eq!(r.vdevs.len(), 1);
        assert_eq!(r.vdevs[0].start, start);
        assert_eq!(r.vdevs[0].labels, vec![2, 3]);
    }

    #[test]
    fn unsealed_header_is_a_candidate_but_not_a_label() {
        let mut d = vec![0u8; 4 << 20];
        let mut p = encode_vdev_phys([1, 1, 0, 0], &config(1 << 20), ByteOrder::Little, 0).unwrap();
        let n = p.len();
        p[n - 1] ^= 1;
        d[1 << 20..(1 << 20) + n].copy_from_slice(&p);
        let src = crate::source::MemSource::new(&d);
        let r = scan(&src, ScanOptions::default(), &mut |_, _| {}).unwrap();
        assert_eq!((r.candidates, r.unverified, r.vdevs.len()), (1, 1, 0));
    }

    #[test]
    fn backup_sectors_of_a_geometry() {
        // 2 cylinders of 2 heads × 16 sectors: last track starts at 48.
        assert_eq!(
            backup_label_sectors(1, 1, 2, 16, 0),
            Some([49, 51, 53, 55, 57])
        );
        assert_eq!(backup_label_sectors(0, 0, 2, 16, 0), None);
        // One alternate sector per cylinder shortens each cylinder.
        assert_eq!(
            backup_label_sectors(1, 1, 2, 16, 1),
            Some([48, 50, 52, 54, 56])
        );
    }
}
