//! Uberblocks: the ring of root pointers in the second half of each label.
//!
//! Bytes 128 KiB … 256 KiB of every vdev label hold a ring of equal slots;
//! the slot size is `1 << shift` where shift is derived from the top-level
//! vdev's ashift (1 KiB for ashift ≤ 10, up to 8 KiB; writers before 2014
//! did not cap it). Each slot starts with an `uberblock_t` (u64 words in the
//! writer's byte order, told per slot by the magic `0x00bab10c`) and ends
//! with an embedded checksum whose verifier is the slot's absolute offset.
//! ZFS writes txg `t` to slot `t mod count` in all four labels.

use crate::error::Error;
use crate::source::{Source, read_vec};
use crate::zfs::ByteOrder;
use crate::zfs::blkptr::BlkPtr;
use crate::zfs::eck;
use crate::zfs::label::{LABEL_SIZE, LabelRead};

/// `UBERBLOCK_MAGIC`.
pub const UBERBLOCK_MAGIC: u64 = 0x00ba_b10c;
/// `MMP_MAGIC`: set in `ub_mmp_magic` by writers that know multihost.
pub const MMP_MAGIC: u64 = 0xa11c_ea11;
/// Offset of the uberblock ring inside a label.
pub const RING_OFFSET: u64 = 128 * 1024;
/// Size of the uberblock ring.
pub const RING_SIZE: usize = 128 * 1024;
/// `UBERBLOCK_SHIFT`: the smallest slot is 1 KiB.
pub const MIN_SHIFT: u32 = 10;
/// `MAX_UBERBLOCK_SHIFT`: since 2014 slots are at most 8 KiB.
pub const MAX_SHIFT: u32 = 13;
/// Size of `uberblock_t` as OpenZFS 2.1 declares it (up to `ub_checkpoint_txg`).
pub const UBERBLOCK_STRUCT_SIZE: usize = 208;
/// `MMP_BLOCKS_PER_LABEL`: slots at the end of the ring kept for MMP writes.
pub const MMP_BLOCKS_PER_LABEL: usize = 1;
/// Size of a block pointer (`blkptr_t`).
pub const BLKPTR_SIZE: usize = 128;

/// Slot shift ZFS uses for a top-level vdev of `ashift`:
/// `min(max(ashift, 10), 13)`.
pub fn slot_shift(ashift: u64) -> u32 {
    ashift.clamp(MIN_SHIFT as u64, MAX_SHIFT as u64) as u32
}

/// Slot shift of writers before the 8 KiB cap: `max(ashift, 10)`, bounded
/// by the ring (128 KiB, a single slot).
pub fn slot_shift_uncapped(ashift: u64) -> u32 {
    ashift.clamp(MIN_SHIFT as u64, 17) as u32
}

/// Name of a `zio_compress` value.
pub fn compression_name(c: u8) -> &'static str {
    const N: [&str; 17] = [
        "inherit",
        "on",
        "uncompressed",
        "lzjb",
        "empty",
        "gzip-1",
        "gzip-2",
        "gzip-3",
        "gzip-4",
        "gzip-5",
        "gzip-6",
        "gzip-7",
        "gzip-8",
        "gzip-9",
        "zle",
        "lz4",
        "zstd",
    ];
    N.get(c as usize).copied().unwrap_or("unknown")
}

/// Name of a `zio_checksum` value.
pub fn checksum_name(c: u8) -> &'static str {
    const N: [&str; 15] = [
        "inherit",
        "on",
        "off",
        "label",
        "gang_header",
        "zilog",
        "fletcher2",
        "fletcher4",
        "sha256",
        "zilog2",
        "noparity",
        "sha512",
        "skein",
        "edonr",
        "blake3",
    ];
    N.get(c as usize).copied().unwrap_or("unknown")
}

/// One decoded uberblock (`uberblock_t`) from one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uberblock {
    /// Label number (0–3) holding the slot.
    pub label: usize,
    /// Slot number in the ring.
    pub slot: usize,
    /// Absolute byte offset of the slot on the vdev.
    pub offset: u64,
    /// Slot size in bytes.
    pub slot_size: usize,
    /// Byte order of this slot (told by `ub_magic`).
    pub endian: ByteOrder,
    /// `ub_magic` (always [`UBERBLOCK_MAGIC`] once decoded).
    pub magic: u64,
    /// `ub_version`: the SPA version.
    pub version: u64,
    /// `ub_txg`: the txg this uberblock committed.
    pub txg: u64,
    /// `ub_guid_sum`: pool guid plus all vdev guids, mod 2^64.
    pub guid_sum: u64,
    /// `ub_timestamp`: seconds since 1970, UTC.
    pub timestamp: u64,
    /// `ub_rootbp`: the raw 128 bytes, in the slot's byte order.
    pub rootbp: [u8; BLKPTR_SIZE],
    /// The rootbp decoded (the MOS object set's block pointer).
    pub rootbp_decoded: BlkPtr,
    /// `ub_software_version` (0 in old uberblocks).
    pub software_version: u64,
    /// `ub_mmp_magic`.
    pub mmp_magic: u64,
    /// `ub_mmp_delay` (ns since the last MMP write; 0 = MMP off).
    pub mmp_delay: u64,
    /// `ub_mmp_config`: valid bits, write interval, sequence, fail intervals.
    pub mmp_config: u64,
    /// `ub_checkpoint_txg` (≠ 0: a checkpointed uberblock).
    pub checkpoint_txg: u64,
    /// `ub_raidz_reflow_info` (newer OpenZFS; 0 otherwise).
    pub raidz_reflow_info: u64,
    /// Non-zero u64 words after the fields above and before the checksum
    /// trailer, as (offset in slot, value): fields of writers (such as
    /// Oracle Solaris pool versions ≥ 29) whose layout is not public.
    pub extra: Vec<(usize, u64)>,
}

impl Uberblock {
    /// Whether the MMP fields are meaningful (`MMP_VALID`).
    pub fn mmp_valid(&self) -> bool {
        self.mmp_magic == MMP_MAGIC
    }
    /// MMP sequence number, when valid (`MMP_SEQ_VALID`).
    pub fn mmp_seq(&self) -> Option<u16> {
        (self.mmp_valid() && self.mmp_config & 2 != 0).then_some((self.mmp_config >> 32) as u16)
    }
    /// MMP write interval in ms, when valid.
    pub fn mmp_write_interval(&self) -> Option<u32> {
        (self.mmp_valid() && self.mmp_config & 1 != 0)
            .then_some(((self.mmp_config >> 8) & 0xff_ffff) as u32)
    }
    /// MMP fail intervals, when valid.
    pub fn mmp_fail_intervals(&self) -> Option<u16> {
        (self.mmp_valid() && self.mmp_config & 4 != 0).then_some((self.mmp_config >> 48) as u16)
    }

    /// The struct's u64 words (first 208 bytes) in host order: what zdb
    /// compares (after byte-swapping) to group identical uberblocks.
    pub fn words(&self) -> Vec<u64> {
        let mut v = vec![
            self.magic,
            self.version,
            self.txg,
            self.guid_sum,
            self.timestamp,
        ];
        for i in 0..16 {
            v.push(self.endian.u64(&self.rootbp, 8 * i).unwrap_or(0));
        }
        v.extend([
            self.software_version,
            self.mmp_magic,
            self.mmp_delay,
            self.mmp_config,
            self.checkpoint_txg,
        ]);
        v
    }

    /// Decodes the slot bytes `slot` (whose magic must read in some byte
    /// order); `None` if there is no uberblock magic.
    pub fn decode(label: usize, index: usize, offset: u64, slot: &[u8]) -> Option<Uberblock> {
        let m: [u8; 8] = slot.get(0..8)?.try_into().ok()?;
        let e = ByteOrder::of_magic(m, UBERBLOCK_MAGIC)?;
        if slot.len() < UBERBLOCK_STRUCT_SIZE + eck::ECK_SIZE {
            return None;
        }
        let w = |off: usize| e.u64(slot, off).unwrap_or(0);
        let mut rootbp = [0u8; BLKPTR_SIZE];
        rootbp.copy_from_slice(&slot[40..40 + BLKPTR_SIZE]);
        let end = slot.len() - eck::ECK_SIZE;
        let extra = (216..end)
            .step_by(8)
            .map(|o| (o, w(o)))
            .filter(|&(_, v)| v != 0)
            .collect();
        Some(Uberblock {
            label,
            slot: index,
            offset,
            slot_size: slot.len(),
            endian: e,
            magic: w(0),
            version: w(8),
            txg: w(16),
            guid_sum: w(24),
            timestamp: w(32),
            rootbp_decoded: BlkPtr::from_words(&std::array::from_fn(|i| w(40 + 8 * i))),
            rootbp,
            software_version: w(168),
            mmp_magic: w(176),
            mmp_delay: w(184),
            mmp_config: w(192),
            checkpoint_txg: w(200),
            raidz_reflow_info: w(208),
            extra,
        })
    }
}

/// What one uberblock slot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotStatus {
    /// Magic found and the embedded checksum verifies.
    Valid,
    /// Magic found but the embedded checksum is missing or wrong (ZFS
    /// ignores such a slot; zdb 2.1 still prints it).
    ChecksumBad(String),
    /// Every byte is zero (never written).
    Empty,
    /// No uberblock magic (the first word is 0) and nothing but a struct
    /// template and/or a checksum trailer: a slot that ZFS initialised and
    /// never used. Older writers seal each slot; newer ones seal the whole
    /// 128 KiB ring as one block when they create the label, which leaves a
    /// template uberblock in slot 0 and a trailer in the last slot.
    Blank,
    /// Not zero, but no uberblock magic in either byte order.
    Garbage,
    /// The ring could not be read.
    Unreadable(String),
}

/// One slot of one label's ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRead {
    /// Label number (0–3).
    pub label: usize,
    /// Slot number.
    pub slot: usize,
    /// Absolute byte offset of the slot on the vdev.
    pub offset: u64,
    /// Slot size in bytes (the ring geometry used).
    pub slot_size: usize,
    /// What the slot holds.
    pub status: SlotStatus,
    /// The decoded uberblock, when the magic was found (valid or not).
    pub uberblock: Option<Uberblock>,
}

/// Decodes every slot of the 128 KiB `ring` that lies at `ring_offset`,
/// with slots of `1 << shift` bytes.
pub fn decode_ring(label: usize, ring_offset: u64, ring: &[u8], shift: u32) -> Vec<SlotRead> {
    let size = 1usize << shift.clamp(MIN_SHIFT, 17);
    ring.chunks_exact(size)
        .enumerate()
        .map(|(i, s)| {
            let offset = ring_offset + (i * size) as u64;
            let ub = Uberblock::decode(label, i, offset, s);
            let status = if ub.is_some() {
                match eck::verify(s, offset) {
                    Ok(_) => SlotStatus::Valid,
                    Err(e) => SlotStatus::ChecksumBad(e.to_string()),
                }
            } else if s.iter().all(|&b| b == 0) {
                SlotStatus::Empty
            } else if looks_initialised(s) || eck::verify(s, offset).is_ok() {
                SlotStatus::Blank
            } else {
                SlotStatus::Garbage
            };
            SlotRead {
                label,
                slot: i,
                offset,
                slot_size: size,
                status,
                uberblock: ub,
            }
        })
        .collect()
}

/// Whether a slot without uberblock magic is just the remnant of ZFS
/// initialising the ring: first word 0, and zero between the uberblock
/// struct and the checksum trailer.
fn looks_initialised(s: &[u8]) -> bool {
    let end = s.len().saturating_sub(eck::ECK_SIZE);
    s.get(..8).is_some_and(|m| m.iter().all(|&b| b == 0))
        && s.get(216..end).is_some_and(|m| m.iter().all(|&b| b == 0))
}

/// Reads the ring of label `label` (at `label_offset`) with slot shift `shift`.
/// An unreadable ring gives one `Unreadable` entry.
pub fn read_ring_with_shift(
    src: &dyn Source,
    label: usize,
    label_offset: u64,
    shift: u32,
) -> Vec<SlotRead> {
    let at = label_offset + RING_OFFSET;
    match read_vec(src, at, RING_SIZE) {
        Ok(ring) => decode_ring(label, at, &ring, shift),
        Err(e) => vec![unreadable(label, at, e)],
    }
}

fn unreadable(label: usize, at: u64, e: Error) -> SlotRead {
    SlotRead {
        label,
        slot: 0,
        offset: at,
        slot_size: RING_SIZE,
        status: SlotStatus::Unreadable(format!("uberblock ring of label {label}: {e}")),
        uberblock: None,
    }
}

/// Reads every slot of `label`'s ring, with the geometry ZFS would use.
///
/// The slot size comes from `ashift` (or, when `None`, the top-level ashift
/// in the label's own config): the capped rule, and the older uncapped rule
/// when that differs. Without any ashift every size from 1 KiB to 128 KiB is
/// tried. Of the candidate geometries, the one under which the most slots
/// verify is kept (the first on a tie).
pub fn read_ring(src: &dyn Source, label: &LabelRead, ashift: Option<u64>) -> Vec<SlotRead> {
    let at = label.offset + RING_OFFSET;
    let ring = match read_vec(src, at, RING_SIZE) {
        Ok(r) => r,
        Err(e) => return vec![unreadable(label.index, at, e)],
    };
    let ashift = ashift.or_else(|| label.ashift());
    let candidates: Vec<u32> = match ashift {
        Some(a) => {
            let mut c = vec![slot_shift(a)];
            if slot_shift_uncapped(a) != c[0] {
                c.push(slot_shift_uncapped(a));
            }
            c
        }
        None => (MIN_SHIFT..=17).collect(),
    };
    let mut best: Option<(usize, Vec<SlotRead>)> = None;
    for shift in candidates {
        let slots = decode_ring(label.index, at, &ring, shift);
        let n = slots
            .iter()
            .filter(|s| s.status == SlotStatus::Valid)
            .count();
        if best.as_ref().is_none_or(|(bn, _)| n > *bn) {
            best = Some((n, slots));
        }
    }
    best.map(|(_, s)| s).unwrap_or_default()
}

/// ZFS's order on uberblocks (`vdev_uberblock_compare`): txg, then
/// timestamp, then the MMP sequence when valid.
pub fn compare(a: &Uberblock, b: &Uberblock) -> std::cmp::Ordering {
    a.txg
        .cmp(&b.txg)
        .then(a.timestamp.cmp(&b.timestamp))
        .then(a.mmp_seq().unwrap_or(0).cmp(&b.mmp_seq().unwrap_or(0)))
}

/// The active uberblock among `slots`: the greatest valid one (checksum
/// verified, txg ≠ 0) in ZFS's order; the first of equals wins.
pub fn best<'a, I>(slots: I) -> Option<&'a Uberblock>
where
    I: IntoIterator<Item = &'a SlotRead>,
{
    let mut best: Option<&Uberblock> = None;
    for s in slots {
        if s.status != SlotStatus::Valid {
            continue;
        }
        let Some(ub) = &s.uberblock else { continue };
        if ub.txg == 0 {
            continue;
        }
        if best.is_none_or(|b| compare(ub, b).is_gt()) {
            best = Some(ub);
        }
    }
    best
}

/// Offset of slot `slot` of label `label` on a vdev of `vdev_size` bytes.
pub fn slot_offset(vdev_size: u64, label: usize, slot: usize, shift: u32) -> u64 {
    let l = crate::zfs::label::label_offsets(vdev_size)[label.min(3)];
    l + RING_OFFSET + ((slot as u64) << shift)
}

const _: () = assert!(RING_OFFSET as usize + RING_SIZE == LABEL_SIZE as usize);

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed_slot(e: ByteOrder, txg: u64, ts: u64, off: u64) -> Vec<u8> {
        let mut s = vec![0u8; 1024];
        for (i, v) in [UBERBLOCK_MAGIC, 28, txg, 99, ts].iter().enumerate() {
            s[8 * i..8 * i + 8].copy_from_slice(&e.put_u64(*v));
        }
        eck::seal(&mut s, off, e);
        s
    }

    #[test]
    fn mixed_byte_orders_and_best() {
        let at = 0x20000u64;
        let mut ring = vec![0u8; RING_SIZE];
        ring[5 * 1024..6 * 1024].copy_from_slice(&sealed_slot(
            ByteOrder::Big,
            5,
            50,
            at + 5 * 1024,
        ));
        ring[6 * 1024..7 * 1024].copy_from_slice(&sealed_slot(
            ByteOrder::Little,
            6,
            40,
            at + 6 * 1024,
        ));
        // txg 7 but sealed for the wrong place: must not win.
        ring[7 * 1024..8 * 1024].copy_from_slice(&sealed_slot(ByteOrder::Little, 7, 1, at));
        ring[9 * 1024] = 0x55;
        let slots = decode_ring(0, at, &ring, 10);
        assert_eq!(slots.len(), 128);
        assert_eq!(slots[5].status, SlotStatus::Valid);
        assert_eq!(slots[5].uberblock.as_ref().unwrap().endian, ByteOrder::Big);
        assert_eq!(
            slots[6].uberblock.as_ref().unwrap().endian,
            ByteOrder::Little
        );
        assert!(matches!(slots[7].status, SlotStatus::ChecksumBad(_)));
        assert_eq!(slots[9].status, SlotStatus::Garbage);
        assert_eq!(slots[0].status, SlotStatus::Empty);
        let b = best(&slots).unwrap();
        assert_eq!((b.txg, b.slot), (6, 6));
    }

    #[test]
    fn shifts() {
        assert_eq!(slot_shift(9), 10);
        assert_eq!(slot_shift(12), 12);
        assert_eq!(slot_shift(16), 13);
        assert_eq!(slot_shift_uncapped(14), 14);
    }
}
