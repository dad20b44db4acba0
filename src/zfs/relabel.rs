//! Rebuilding damaged vdev labels from the surviving labels of the same vdev.
//!
//! [`plan`] is a pure function: the four 256 KiB labels of one vdev as they
//! are (damaged bytes in) → the exact byte edits that repair them (writes
//! out). A label whose `vdev_phys` is missing, undecodable or fails its
//! checksum gets the `vdev_phys` of the best valid label (highest txg)
//! resealed for its own offset; its uberblock ring gets, slot by slot, the
//! newest valid uberblock any label of this vdev holds in that slot, resealed
//! for its own offset — uberblocks are only ever copied, never made up. The
//! first 16 KiB of each label (the VTOC space and the boot-environment block)
//! are left alone. With `reseal_only`, labels whose nvlist still decodes only
//! get their checksum recomputed (what `zhack label repair -c` does).
//!
//! Refusals: no valid label to copy from; valid labels (or a label to be
//! resealed) disagreeing about the pool or vdev guid.

use crate::error::{Error, Result};
use crate::zfs::ByteOrder;
use crate::zfs::eck;
use crate::zfs::label::{
    self, LABEL_SIZE, LabelRead, LabelStatus, VDEV_PHYS_OFFSET, VDEV_PHYS_SIZE,
};
use crate::zfs::uberblock::{self, RING_OFFSET, RING_SIZE, SlotStatus};

/// One edit of one label, at an offset within the vdev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelEdit {
    /// Label number 0–3.
    pub label: usize,
    /// Byte offset within the vdev.
    pub offset: u64,
    /// What is written ("label 1 vdev_phys", "label 0 uberblock slot 5 (txg 44)").
    pub what: String,
    /// The bytes there now.
    pub old: Vec<u8>,
    /// The bytes to write.
    pub new: Vec<u8>,
}

/// What the planner decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelabelPlan {
    /// Labels whose checksum verifies and whose config decodes.
    pub valid: Vec<usize>,
    /// The label the rebuilt ones are copied from.
    pub source: Option<usize>,
    /// Pool name, pool guid, vdev guid and txg of the source label.
    pub pool: Option<String>,
    /// `pool_guid`.
    pub pool_guid: Option<u64>,
    /// This vdev's `guid`.
    pub guid: Option<u64>,
    /// `txg` of the source label.
    pub txg: Option<u64>,
    /// Per label that is repaired: (label, what was wrong, what is done).
    pub repaired: Vec<(usize, String, String)>,
    /// Labels left alone with the reason (e.g. not resealable).
    pub left: Vec<(usize, String)>,
    /// Uberblocks copied into rebuilt rings, per label.
    pub uberblocks_copied: Vec<(usize, usize)>,
    /// The edits, in ZFS's order: labels 0 and 2, then 1 and 3.
    pub edits: Vec<LabelEdit>,
}

/// Options of [`plan`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelabelOptions {
    /// Only recompute checksums of labels whose nvlist decodes.
    pub reseal_only: bool,
}

/// Plans the repair of the vdev whose label `i` is `labels[i]` (256 KiB
/// each; empty when unreadable) on a vdev of `vdev_size` bytes.
pub fn plan(labels: &[Vec<u8>; 4], vdev_size: u64, opts: RelabelOptions) -> Result<RelabelPlan> {
    let offsets = label::label_offsets(vdev_size);
    if label::psize(vdev_size) < 4 * LABEL_SIZE {
        return Err(Error::Refused(format!(
            "the vdev is {vdev_size} bytes, smaller than its four labels"
        )));
    }
    let reads: Vec<LabelRead> = (0..4).map(|i| read(i, &labels[i], offsets[i])).collect();
    let valid: Vec<usize> = reads
        .iter()
        .filter(|l| l.status == LabelStatus::Valid)
        .map(|l| l.index)
        .collect();
    same_identity(&reads, opts)?;
    let source = valid
        .iter()
        .copied()
        .max_by_key(|&i| (reads[i].u64("txg").unwrap_or(0), std::cmp::Reverse(i)));
    let src = source.map(|i| &reads[i]);
    let mut p = RelabelPlan {
        valid: valid.clone(),
        source,
        pool: src.and_then(|l| l.config.as_ref()?.get_str("name").map(str::to_string)),
        pool_guid: src.and_then(|l| l.u64("pool_guid")),
        guid: src.and_then(|l| l.u64("guid")),
        txg: src.and_then(|l| l.u64("txg")),
        repaired: Vec::new(),
        left: Vec::new(),
        uberblocks_copied: Vec::new(),
        edits: Vec::new(),
    };
    if opts.reseal_only {
        reseal(&reads, &mut p);
    } else {
        let Some(src) = src else {
            return Err(nothing_to_copy(&reads));
        };
        rebuild(labels, &offsets, &reads, src, &mut p);
    }
    order(&mut p.edits);
    Ok(p)
}

/// Label `i` (its raw 256 KiB, `offset` within the vdev) decoded.
fn read(i: usize, raw: &[u8], offset: u64) -> LabelRead {
    match raw.get(VDEV_PHYS_OFFSET as usize..VDEV_PHYS_OFFSET as usize + VDEV_PHYS_SIZE) {
        Some(p) => label::decode_label(i, offset, p.to_vec()),
        None => LabelRead {
            index: i,
            offset,
            status: LabelStatus::Unreadable(crate::error::Error::corrupt(
                format!("vdev label {i}"),
                offset,
                "not read",
            )),
            endian: None,
            eck: None,
            header: None,
            config: None,
            packed_len: None,
            problem: Some("not read".into()),
            phys: Default::default(),
        },
    }
}

/// Refuses unless every valid label, and every label that will be
/// resealed, names the same pool and vdev.
fn same_identity(reads: &[LabelRead], opts: RelabelOptions) -> Result<()> {
    let ident = |l: &LabelRead| (l.u64("pool_guid"), l.u64("guid"));
    let considered: Vec<&LabelRead> = reads
        .iter()
        .filter(|l| {
            l.status == LabelStatus::Valid
                || (opts.reseal_only && l.status == LabelStatus::ChecksumBad && l.config.is_some())
        })
        .collect();
    let Some(first) = considered.first() else {
        return Ok(());
    };
    if considered.iter().all(|l| ident(l) == ident(first)) {
        return Ok(());
    }
    let list: Vec<String> = considered
        .iter()
        .map(|l| {
            let (p, g) = ident(l);
            format!(
                "label {}: pool_guid {} guid {}",
                l.index,
                p.map_or("-".into(), |v| v.to_string()),
                g.map_or("-".into(), |v| v.to_string())
            )
        })
        .collect();
    Err(Error::Refused(format!(
        "the surviving labels disagree about the pool or the vdev ({}); nothing planned",
        list.join("; ")
    )))
}

/// `--reseal-only`: the checksum of every label whose nvlist is intact
/// recomputed for its offset; the others left, with the reason.
fn reseal(reads: &[LabelRead], p: &mut RelabelPlan) {
    for l in reads {
        match &l.status {
            LabelStatus::Valid => {}
            LabelStatus::ChecksumBad if l.config.is_some() => {
                let endian = l
                    .endian
                    .or_else(|| l.header.map(|h| header_endian(h[1])))
                    .unwrap_or(ByteOrder::Big);
                let mut new = l.phys.to_vec();
                eck::seal(&mut new, l.phys_offset(), endian);
                p.repaired.push((
                    l.index,
                    "checksum does not match an intact nvlist".into(),
                    "checksum recomputed for its offset".into(),
                ));
                p.edits.push(LabelEdit {
                    label: l.index,
                    offset: l.phys_offset(),
                    what: format!("label {} vdev_phys checksum", l.index),
                    old: l.phys.to_vec(),
                    new,
                });
            }
            other => p.left.push((
                l.index,
                format!(
                    "{}: its nvlist does not decode, so resealing cannot repair it (run without --reseal-only to rebuild it from a valid label)",
                    other.name()
                ),
            )),
        }
    }
}

/// The refusal when no label is valid.
fn nothing_to_copy(reads: &[LabelRead]) -> Error {
    let hint = if reads
        .iter()
        .any(|l| l.status == LabelStatus::ChecksumBad && l.config.is_some())
    {
        " (a label's nvlist decodes but its checksum is wrong: --reseal-only recomputes it)"
    } else {
        ""
    };
    Error::Refused(format!(
        "no label of this vdev is valid, so there is nothing to rebuild from{hint}; a mirror child is never rebuilt from another disk"
    ))
}

/// The uberblock rings of one vdev's four labels, raw and decoded.
struct Rings<'a> {
    raw: [&'a [u8]; 4],
    decoded: Vec<Vec<uberblock::SlotRead>>,
    slot_size: usize,
}

impl<'a> Rings<'a> {
    fn new(labels: &'a [Vec<u8>; 4], offsets: &[u64; 4], ashift: u64) -> Rings<'a> {
        let shift = uberblock::slot_shift(ashift);
        let raw: [&[u8]; 4] = std::array::from_fn(|i| {
            labels[i]
                .get(RING_OFFSET as usize..RING_OFFSET as usize + RING_SIZE)
                .unwrap_or(&[])
        });
        let decoded = (0..4)
            .map(|i| match raw[i].len() {
                0 => Vec::new(),
                _ => uberblock::decode_ring(i, offsets[i] + RING_OFFSET, raw[i], shift),
            })
            .collect();
        Rings {
            raw,
            decoded,
            slot_size: 1usize << shift,
        }
    }

    /// The edits that give label `i` (at `base` in the vdev), slot by slot,
    /// the newest valid uberblock any label holds in that slot, when its
    /// own is not as new; resealed for its own offset.
    fn edits_for(&self, i: usize, base: u64) -> Vec<LabelEdit> {
        let ss = self.slot_size;
        let mut out = Vec::new();
        for k in 0..RING_SIZE / ss {
            let best = self
                .decoded
                .iter()
                .filter_map(|r| r.get(k))
                .filter(|s| s.status == SlotStatus::Valid)
                .filter_map(|s| s.uberblock.as_ref().map(|u| (s, u)))
                .max_by(|a, b| uberblock::compare(a.1, b.1).then(b.0.label.cmp(&a.0.label)));
            let Some((s, ub)) = best else { continue };
            if s.label == i {
                continue;
            }
            let own = self.decoded[i].get(k);
            if own.is_some_and(|o| {
                o.status == SlotStatus::Valid
                    && o.uberblock
                        .as_ref()
                        .is_some_and(|u| uberblock::compare(u, ub).is_ge())
            }) {
                continue;
            }
            let (Some(from), Some(old)) = (
                self.raw[s.label].get(k * ss..(k + 1) * ss),
                self.raw[i].get(k * ss..(k + 1) * ss),
            ) else {
                continue;
            };
            let at = base + RING_OFFSET + (k * ss) as u64;
            let mut bytes = from.to_vec();
            eck::seal(&mut bytes, at, ub.endian);
            out.push(LabelEdit {
                label: i,
                offset: at,
                what: format!(
                    "label {i} uberblock slot {k} (txg {}, from label {})",
                    ub.txg, s.label
                ),
                old: old.to_vec(),
                new: bytes,
            });
        }
        out
    }
}

/// Every label that is not valid rebuilt from `src`: its vdev_phys copied
/// and resealed for its offset, its ring given the best uberblocks.
fn rebuild(
    labels: &[Vec<u8>; 4],
    offsets: &[u64; 4],
    reads: &[LabelRead],
    src: &LabelRead,
    p: &mut RelabelPlan,
) {
    let rings = Rings::new(labels, offsets, src.ashift().unwrap_or(9));
    for l in reads.iter().filter(|l| l.status != LabelStatus::Valid) {
        let i = l.index;
        let why = match &l.status {
            LabelStatus::ChecksumBad => "checksum does not match".to_string(),
            s => s.name().to_string(),
        };
        let Some(old) =
            labels[i].get(VDEV_PHYS_OFFSET as usize..VDEV_PHYS_OFFSET as usize + VDEV_PHYS_SIZE)
        else {
            p.left.push((i, "unreadable: cannot be written".into()));
            continue;
        };
        let mut new = src.phys.to_vec();
        eck::seal(
            &mut new,
            l.phys_offset(),
            src.endian.unwrap_or(ByteOrder::Big),
        );
        p.edits.push(LabelEdit {
            label: i,
            offset: l.phys_offset(),
            what: format!("label {i} vdev_phys (from label {})", src.index),
            old: old.to_vec(),
            new,
        });
        let ring = rings.edits_for(i, offsets[i]);
        let copied = ring.len();
        p.edits.extend(ring);
        p.uberblocks_copied.push((i, copied));
        p.repaired.push((
            i,
            why,
            format!(
                "vdev_phys copied from label {} and resealed; {copied} uberblock(s) copied into its ring",
                src.index
            ),
        ));
    }
}

/// The byte order a packed nvlist header's second byte names.
fn header_endian(b: u8) -> ByteOrder {
    if b == 1 {
        ByteOrder::Little
    } else {
        ByteOrder::Big
    }
}

/// Sorts edits into ZFS's label order: 0 and 2 first, then 1 and 3; by
/// offset inside each.
fn order(edits: &mut [LabelEdit]) {
    edits.sort_by_key(|e| (e.label % 2, e.offset));
}

/// Index of the first edit of the odd labels (the second phase).
pub fn second_phase_start(edits: &[LabelEdit]) -> usize {
    edits
        .iter()
        .position(|e| e.label % 2 == 1)
        .unwrap_or(edits.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::nvlist::{NvList, NvValue};
    use crate::zfs::uberblock::UBERBLOCK_MAGIC;

    const SIZE: u64 = 8 << 20;

    fn config(guid: u64) -> NvList {
        let mut tree = NvList::new();
        tree.set("type", NvValue::String("disk".into()));
        tree.set("guid", NvValue::UInt64(guid));
        tree.set("ashift", NvValue::UInt64(9));
        let mut c = NvList::new();
        c.set("name", NvValue::String("p".into()));
        c.set("txg", NvValue::UInt64(10));
        c.set("pool_guid", NvValue::UInt64(1));
        c.set("guid", NvValue::UInt64(guid));
        c.set("vdev_tree", NvValue::NvList(tree));
        c
    }

    /// Four labels with the same config and an uberblock of txg 12 in slot 12.
    fn vdev() -> [Vec<u8>; 4] {
        let offs = label::label_offsets(SIZE);
        std::array::from_fn(|i| {
            let mut l = vec![0u8; LABEL_SIZE as usize];
            let p = label::encode_vdev_phys([1, 1, 0, 0], &config(7), ByteOrder::Little, offs[i])
                .unwrap();
            l[VDEV_PHYS_OFFSET as usize..][..VDEV_PHYS_SIZE].copy_from_slice(&p);
            let k = 12usize;
            let at = RING_OFFSET as usize + k * 1024;
            let s = &mut l[at..at + 1024];
            for (w, v) in [UBERBLOCK_MAGIC, 23, 12, 99, 5].iter().enumerate() {
                s[8 * w..8 * w + 8].copy_from_slice(&v.to_le_bytes());
            }
            eck::seal(s, offs[i] + at as u64, ByteOrder::Little);
            l
        })
    }

    fn applied(labels: &[Vec<u8>; 4], p: &RelabelPlan) -> [Vec<u8>; 4] {
        let offs = label::label_offsets(SIZE);
        let mut out = labels.clone();
        for e in &p.edits {
            let rel = (e.offset - offs[e.label]) as usize;
            assert_eq!(&out[e.label][rel..rel + e.old.len()], &e.old[..]);
            out[e.label][rel..rel + e.new.len()].copy_from_slice(&e.new);
        }
        out
    }

    #[test]
    fn zeroed_front_labels_are_rebuilt_exactly() {
        let good = vdev();
        let mut bad = good.clone();
        bad[0].fill(0);
        bad[1].fill(0);
        let p = plan(&bad, SIZE, RelabelOptions::default()).unwrap();
        assert_eq!(p.valid, vec![2, 3]);
        assert_eq!(p.uberblocks_copied, vec![(0, 1), (1, 1)]);
        assert_eq!(applied(&bad, &p), good);
        // ZFS order: label 0 before label 1.
        assert_eq!(p.edits[0].label, 0);
        assert_eq!(p.edits.last().unwrap().label, 1);
        // Running again plans nothing.
        assert!(
            plan(&good, SIZE, RelabelOptions::default())
                .unwrap()
                .edits
                .is_empty()
        );
    }

    #[test]
    fn reseal_only_fixes_a_broken_checksum_and_nothing_else() {
        let good = vdev();
        let mut bad = good.clone();
        let at = VDEV_PHYS_OFFSET as usize + VDEV_PHYS_SIZE - 1;
        bad[2][at] ^= 0xff;
        let p = plan(&bad, SIZE, RelabelOptions { reseal_only: true }).unwrap();
        assert_eq!(p.edits.len(), 1);
        assert_eq!(applied(&bad, &p), good);
    }

    #[test]
    fn disagreeing_guids_are_refused() {
        let mut l = vdev();
        let offs = label::label_offsets(SIZE);
        let p =
            label::encode_vdev_phys([1, 1, 0, 0], &config(8), ByteOrder::Little, offs[3]).unwrap();
        l[3][VDEV_PHYS_OFFSET as usize..][..VDEV_PHYS_SIZE].copy_from_slice(&p);
        let e = plan(&l, SIZE, RelabelOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{e}");
    }

    #[test]
    fn nothing_valid_is_refused() {
        let l: [Vec<u8>; 4] = std::array::from_fn(|_| vec![0u8; LABEL_SIZE as usize]);
        assert!(matches!(
            plan(&l, SIZE, RelabelOptions::default()),
            Err(Error::Refused(_))
        ));
    }
}
