//! Vdev labels: the four 256 KiB copies of a device's identity and config.
//!
//! A vdev of `size` bytes is treated as `psize = size` rounded down to
//! 256 KiB. Labels L0 and L1 sit at 0 and 256 KiB, L2 and L3 at
//! `psize − 512 KiB` and `psize − 256 KiB`. Inside a label, bytes
//! 16 KiB … 128 KiB are the `vdev_phys`: an XDR-packed nvlist (at most
//! 114648 bytes, zero-filled) sealed by an embedded SHA-256 checksum whose
//! verifier is the block's absolute offset. The second half of the label is
//! the uberblock ring (see [`crate::zfs::uberblock`]).

use crate::error::{Error, Result};
use crate::source::{Bytes, Source};
use crate::zfs::ByteOrder;
use crate::zfs::eck::{self, EckCheck};
use crate::zfs::nvlist::{NvList, NvValue, xdr};

/// Size of one label (`vdev_label_t`).
pub const LABEL_SIZE: u64 = 256 * 1024;
/// Number of labels on a vdev.
pub const LABEL_COUNT: usize = 4;
/// Offset of `vdev_phys` inside a label.
pub const VDEV_PHYS_OFFSET: u64 = 16 * 1024;
/// Size of `vdev_phys`, checksum trailer included.
pub const VDEV_PHYS_SIZE: usize = 114_688;
/// Room for the packed nvlist: `vdev_phys` minus the 40-byte trailer.
pub const NVLIST_MAX: usize = VDEV_PHYS_SIZE - eck::ECK_SIZE;
/// Offset of the 8 KiB boot-environment / pad2 block inside a label.
pub const PAD2_OFFSET: u64 = 8 * 1024;

/// The vdev size ZFS works with: `size` rounded down to 256 KiB.
pub fn psize(vdev_size: u64) -> u64 {
    vdev_size & !(LABEL_SIZE - 1)
}

/// Byte offsets of L0–L3 on a vdev of `vdev_size` bytes. (On a vdev
/// smaller than four labels, L2/L3 are meaningless and clamp to 0.)
pub fn label_offsets(vdev_size: u64) -> [u64; 4] {
    let end = psize(vdev_size).saturating_sub(4 * LABEL_SIZE);
    [0, LABEL_SIZE, end + 2 * LABEL_SIZE, end + 3 * LABEL_SIZE]
}

/// What reading one label found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelStatus {
    /// Checksum verifies and the nvlist decodes.
    Valid,
    /// The checksum trailer is missing or does not match (the config may
    /// still decode: zdb 2.1 shows it, the kernel ignores it).
    ChecksumBad,
    /// All 112 KiB of `vdev_phys` are zero: never written, or wiped.
    Blank,
    /// Checksum verifies but the nvlist does not decode: the decode error,
    /// at its place on the vdev.
    Undecodable(Error),
    /// The bytes could not be read (past the end, I/O error): why.
    Unreadable(Error),
}

impl LabelStatus {
    /// Short stable name: `valid`, `checksum_bad`, `blank`, `undecodable`, `unreadable`.
    pub fn name(&self) -> &'static str {
        match self {
            LabelStatus::Valid => "valid",
            LabelStatus::ChecksumBad => "checksum_bad",
            LabelStatus::Blank => "blank",
            LabelStatus::Undecodable(_) => "undecodable",
            LabelStatus::Unreadable(_) => "unreadable",
        }
    }
}

/// One label as read from a vdev.
#[derive(Debug, Clone)]
pub struct LabelRead {
    /// Label number, 0–3.
    pub index: usize,
    /// Absolute byte offset of the label on the vdev.
    pub offset: u64,
    /// The verdict.
    pub status: LabelStatus,
    /// Byte order of the checksum trailer (when its magic was found).
    pub endian: Option<ByteOrder>,
    /// The checksum words found and expected.
    pub eck: Option<EckCheck>,
    /// The 4 header bytes of the packed nvlist (encoding, writer's endian, 0, 0).
    pub header: Option<[u8; 4]>,
    /// The decoded config, whenever it decodes (even with a bad checksum).
    pub config: Option<NvList>,
    /// Bytes the packed nvlist occupies from the start of `vdev_phys`.
    pub packed_len: Option<usize>,
    /// One-line reason when the checksum is bad, the nvlist does not decode
    /// or the label cannot be read (the text reports print).
    pub problem: Option<String>,
    /// The raw 112 KiB `vdev_phys` (empty when unreadable); of a read-only
    /// image, a range of its map.
    pub phys: Bytes,
}

impl LabelRead {
    /// Absolute offset of this label's `vdev_phys`.
    pub fn phys_offset(&self) -> u64 {
        self.offset + VDEV_PHYS_OFFSET
    }

    /// The top-level vdev's `ashift` from the config's `vdev_tree`.
    pub fn ashift(&self) -> Option<u64> {
        self.config
            .as_ref()?
            .get_list("vdev_tree")?
            .get_u64("ashift")
    }

    /// The packed nvlist bytes (header included) as stored.
    pub fn packed(&self) -> Option<&[u8]> {
        self.phys.get(..self.packed_len?)
    }

    /// A u64 of the top-level config.
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.config.as_ref()?.get_u64(key)
    }
}

/// Decodes one label's `vdev_phys` bytes, which lie at `phys_offset`.
pub fn decode_label(index: usize, label_offset: u64, phys: impl Into<Bytes>) -> LabelRead {
    let phys = phys.into();
    let phys_offset = label_offset + VDEV_PHYS_OFFSET;
    let mut l = LabelRead {
        index,
        offset: label_offset,
        status: LabelStatus::Blank,
        endian: None,
        eck: None,
        header: None,
        config: None,
        packed_len: None,
        problem: None,
        phys,
    };
    if l.phys.iter().all(|&b| b == 0) {
        return l;
    }
    let check = eck::inspect(&l.phys, phys_offset);
    l.endian = check.endian;
    let trailer = phys_offset + NVLIST_MAX as u64;
    let cksum_problem = match check.endian {
        None => Some(Error::corrupt(
            format!("vdev label {index} checksum"),
            trailer,
            "no zio_eck magic (either byte order)",
        )),
        Some(e) if !check.valid() => Some(Error::corrupt(
            format!("vdev label {index} checksum"),
            trailer,
            format!(
                "SHA-256 mismatch ({e}): stored {}, computed {}",
                eck::words_hex(&check.stored),
                eck::words_hex(&check.computed)
            ),
        )),
        Some(_) => None,
    };
    l.eck = Some(check);
    let mut decode_error = None;
    let region = &l.phys[..NVLIST_MAX.min(l.phys.len())];
    match xdr::decode(region) {
        Ok(p) => {
            l.header = Some(p.header);
            l.packed_len = Some(p.len);
            l.config = Some(p.list);
        }
        Err(e) => {
            let e = relabel(e.shifted(phys_offset), index);
            if let Some(h) = region.get(..4) {
                l.header = h.try_into().ok();
            }
            l.problem = Some(e.to_string());
            decode_error = Some(e);
        }
    }
    match cksum_problem {
        Some(c) => {
            l.status = LabelStatus::ChecksumBad;
            l.problem = Some(match l.problem.take() {
                Some(d) => format!("{c}; {d}"),
                None => c.to_string(),
            });
        }
        None => {
            l.status = match decode_error {
                Some(e) => LabelStatus::Undecodable(e),
                None => LabelStatus::Valid,
            };
        }
    }
    l
}

/// Prefixes the structure name of a decode error with the label number.
fn relabel(e: Error, index: usize) -> Error {
    e.renamed(|s| format!("vdev label {index} {s}"))
}

/// Reads and checks all four labels of the vdev `src`. Never fails: each
/// label carries its own verdict.
pub fn read_labels(src: &dyn Source) -> Vec<LabelRead> {
    let size = src.size();
    let offsets = label_offsets(size);
    (0..LABEL_COUNT)
        .map(|i| {
            let off = offsets[i];
            let unread = |why: Error, problem: String| LabelRead {
                index: i,
                offset: off,
                status: LabelStatus::Unreadable(why),
                endian: None,
                eck: None,
                header: None,
                config: None,
                packed_len: None,
                problem: Some(problem),
                phys: Bytes::empty(),
            };
            if i >= 2 && psize(size) < 4 * LABEL_SIZE {
                let e = Error::corrupt(
                    format!("vdev label {i}"),
                    off,
                    format!("the vdev ({size} bytes) is smaller than four labels"),
                );
                return unread(e.clone(), e.to_string());
            }
            match src.read_bytes(off + VDEV_PHYS_OFFSET, VDEV_PHYS_SIZE) {
                Ok(phys) => decode_label(i, off, phys),
                Err(e) => {
                    let problem = format!("vdev label {i}: {e}");
                    unread(e, problem)
                }
            }
        })
        .collect()
}

/// Packs `config` as a label's `vdev_phys` for a label at `label_offset`:
/// XDR with the given 4 header bytes, at most [`NVLIST_MAX`] bytes,
/// zero-filled to [`VDEV_PHYS_SIZE`] and sealed in `endian` with the
/// verifier `label_offset + 16 KiB`.
pub fn encode_vdev_phys(
    header: [u8; 4],
    config: &NvList,
    endian: ByteOrder,
    label_offset: u64,
) -> Result<Vec<u8>> {
    let packed = xdr::encode(header, config)?;
    if packed.len() > NVLIST_MAX {
        return Err(Error::unsupported(
            "vdev label nvlist",
            format!(
                "packed size {} exceeds the {NVLIST_MAX} bytes a label holds",
                packed.len()
            ),
        ));
    }
    let mut phys = packed;
    phys.resize(VDEV_PHYS_SIZE, 0);
    eck::seal(&mut phys, label_offset + VDEV_PHYS_OFFSET, endian);
    Ok(phys)
}

/// A field on which valid labels disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// The config key (`txg`, `guid`, `pool_guid`, …) or `config` for the
    /// packed nvlist as a whole.
    pub field: String,
    /// Each valid label's value (`-` when absent).
    pub values: Vec<(usize, String)>,
}

/// How the four labels of one vdev relate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelComparison {
    /// Labels whose packed nvlists are byte-identical, as zdb groups them
    /// (every label whose config decodes, checksum good or not).
    pub groups: Vec<Vec<usize>>,
    /// Fields on which the **valid** labels disagree.
    pub disagreements: Vec<Disagreement>,
}

impl LabelComparison {
    /// The group containing label `i`.
    pub fn group_of(&self, i: usize) -> Option<&[usize]> {
        self.groups.iter().find(|g| g.contains(&i)).map(|g| &g[..])
    }
}

/// Fields compared across valid labels.
pub const COMPARED_FIELDS: [&str; 7] = [
    "txg",
    "guid",
    "pool_guid",
    "top_guid",
    "state",
    "name",
    "version",
];

fn value_text(v: Option<&NvValue>) -> String {
    match v {
        None => "-".into(),
        Some(NvValue::UInt64(x)) => x.to_string(),
        Some(NvValue::String(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
    }
}

/// Groups identical labels and lists where valid labels disagree.
pub fn compare(labels: &[LabelRead]) -> LabelComparison {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for l in labels {
        let Some(p) = l.packed() else { continue };
        match groups.iter_mut().find(|g| labels[g[0]].packed() == Some(p)) {
            Some(g) => g.push(l.index),
            None => groups.push(vec![l.index]),
        }
    }
    let valid: Vec<&LabelRead> = labels
        .iter()
        .filter(|l| l.status == LabelStatus::Valid)
        .collect();
    let mut disagreements = Vec::new();
    for f in COMPARED_FIELDS {
        let values: Vec<(usize, String)> = valid
            .iter()
            .map(|l| {
                (
                    l.index,
                    value_text(l.config.as_ref().and_then(|c| c.get(f))),
                )
            })
            .collect();
        if values.windows(2).any(|w| w[0].1 != w[1].1) {
            disagreements.push(Disagreement {
                field: f.into(),
                values,
            });
        }
    }
    let distinct: Vec<usize> = valid
        .iter()
        .filter_map(|l| groups.iter().position(|g| g.contains(&l.index)))
        .collect();
    if distinct.windows(2).any(|w| w[0] != w[1]) {
        disagreements.push(Disagreement {
            field: "config".into(),
            values: valid
                .iter()
                .map(|l| {
                    let g = groups.iter().position(|g| g.contains(&l.index));
                    (l.index, format!("variant {}", g.map_or(0, |g| g + 1)))
                })
                .collect(),
        });
    }
    LabelComparison {
        groups,
        disagreements,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_down_to_256k() {
        // zfs-broken-mirror1.dat: 66985984 bytes.
        assert_eq!(
            label_offsets(66_985_984),
            [0, 262_144, 66_322_432, 66_584_576]
        );
        assert_eq!(label_offsets(64 << 20)[3], (64 << 20) - 262_144);
    }
}
