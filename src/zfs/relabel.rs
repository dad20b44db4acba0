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
    let reads: Vec<LabelRead> = (0..4)
        .map(|i| {
            let phys = labels[i]
                .get(VDEV_PHYS_OFFSET as usize..VDEV_PHYS_OFFSET as usize + VDEV_PHYS_SIZE)
                .map(<[u8]>::to_vec);
            match phys {
                Some(p) => label::decode_label(i, offsets[i], p),
                None => LabelRead {
                    index: i,
                    offset: offsets[i],
                    status: LabelStatus::Unreadable(crate::error::Error::corrupt(
                        format!("vdev label {i}"),
                        offsets[i],
                        "not read",
                    )),
                    endian: None,
                    eck: None,
                    header: None,
                    config: None,
                    packed_len: None,
                    problem: Some("not read".into()),
                    phys: Vec::new(),
                },
            }
        })
        .collect();
    let valid: Vec<usize> = reads
        .iter()
        .filter(|l| l.status == LabelStatus::Valid)
        .map(|l| l.index)
        .collect();
    // Identity: every valid label, and every label that will be resealed,
    // must name the same pool and vdev.
    let ident = |l: &LabelRead| (l.u64("pool_guid"), l.u64("guid"));
    let mut considered: Vec<&LabelRead> = reads
        .iter()
        .filter(|l| l.status == LabelStatus::Valid)
        .collect();
    if opts.reseal_only {
        considered.extend(
            reads
                .iter()
                .filter(|l| l.status == LabelStatus::ChecksumBad && l.config.is_some()),
        );
    }
    if let Some(first) = considered.first()
        && considered.iter().any(|l| ident(l) != ident(first))
    {
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
        return Err(Error::Refused(format!(
            "the surviving labels disagree about the pool or the vdev ({}); nothing planned",
            list.join("; ")
        )));
    }
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
        for l in &reads {
            match &l.status {
                LabelStatus::Valid => {}
                LabelStatus::ChecksumBad if l.config.is_some() => {
                    let endian = l
                        .endian
                        .or_else(|| l.header.map(|h| header_endian(h[1])))
                        .unwrap_or(ByteOrder::Big);
                    let mut new = l.phys.clone();
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
                        old: l.phys.clone(),
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
        order(&mut p.edits);
        return Ok(p);
    }
    let Some(src) = src else {
        let hint = if reads
            .iter()
            .any(|l| l.status == LabelStatus::ChecksumBad && l.config.is_some())
        {
            " (a label's nvlist decodes but its checksum is wrong: --reseal-only recomputes it)"
        } else {
            ""
        };
        return Err(Error::Refused(format!(
            "no label of this vdev is valid, so there is nothing to rebuild from{hint}; a mirror child is never rebuilt from another disk"
        )));
    };
    let shift = uberblock::slot_shift(src.ashift().unwrap_or(9));
    let slot_size = 1usize << shift;
    let nslots = RING_SIZE / slot_size;
    // Every valid uberblock per slot, over all four rings.
    let ring_of = |i: usize| -> Option<&[u8]> {
        labels[i].get(RING_OFFSET as usize..RING_OFFSET as usize + RING_SIZE)
    };
    let decoded: Vec<Vec<uberblock::SlotRead>> = (0..4)
        .map(|i| match ring_of(i) {
            Some(r) => uberblock::decode_ring(i, offsets[i] + RING_OFFSET, r, shift),
            None => Vec::new(),
        })
        .collect();
    for l in &reads {
        if l.status == LabelStatus::Valid {
            continue;
        }
        let i = l.index;
        let why = match &l.status {
            LabelStatus::ChecksumBad => "checksum does not match".to_string(),
            s => s.name().to_string(),
        };
        let mut new = src.phys.clone();
        eck::seal(
            &mut new,
            l.phys_offset(),
            src.endian.unwrap_or(ByteOrder::Big),
        );
        let old = match labels[i]
            .get(VDEV_PHYS_OFFSET as usize..VDEV_PHYS_OFFSET as usize + VDEV_PHYS_SIZE)
        {
            Some(o) => o.to_vec(),
            None => {
                p.left.push((i, "unreadable: cannot be written".into()));
                continue;
            }
        };
        p.edits.push(LabelEdit {
            label: i,
            offset: l.phys_offset(),
            what: format!("label {i} vdev_phys (from label {})", src.index),
            old,
            new,
        });
        // The ring, slot by slot.
        let mut copied = 0;
        let ring = ring_of(i).unwrap_or(&[]);
        for k in 0..nslots {
            let best = decoded
                .iter()
                .filter_map(|r| r.get(k))
                .filter(|s| s.status == SlotStatus::Valid)
                .filter_map(|s| s.uberblock.as_ref().map(|u| (s, u)))
                .max_by(|a, b| uberblock::compare(a.1, b.1).then(b.0.label.cmp(&a.0.label)));
            let Some((s, ub)) = best else { continue };
            if s.label == i {
                continue;
            }
            let own = decoded[i].get(k);
            if own.is_some_and(|o| {
                o.status == SlotStatus::Valid
                    && o.uberblock
                        .as_ref()
                        .is_some_and(|u| uberblock::compare(u, ub).is_ge())
            }) {
                continue;
            }
            let from = &ring_of(s.label).unwrap_or(&[])[k * slot_size..(k + 1) * slot_size];
            let at = offsets[i] + RING_OFFSET + (k * slot_size) as u64;
            let mut bytes = from.to_vec();
            eck::seal(&mut bytes, at, ub.endian);
            let Some(old) = ring.get(k * slot_size..(k + 1) * slot_size) else {
                continue;
            };
            p.edits.push(LabelEdit {
                label: i,
                offset: at,
                what: format!(
                    "label {i} uberblock slot {k} (txg {}, from label {})",
                    ub.txg, s.label
                ),
                old: old.to_vec(),
                new: bytes,
            });
            copied += 1;
        }
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
    order(&mut p.edits);
    Ok(p)
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
