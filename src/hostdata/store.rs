//! Where the two copies live inside the Solaris reserved partition (slice 8),
//! how both are read and judged, and which bytes a rewrite puts where
//! (`formats/hostdata.md` §3 and §7).

use super::container::{self, Header, SLOT_SIZE, Sealed, Slot};
use super::keyfile::{HostKey, KeyId};
use super::payload::HostData;
use crate::error::{Error, Result};
use crate::source::{Source, read_vec};

/// Bytes at the start of the reserved partition left untouched: illumos
/// `cmlb` keeps a fabricated device id in its first block on EFI disks.
pub const GUARD: u64 = 65536;
/// Alignment of the backup slot's offset.
pub const BACKUP_ALIGN: u64 = 4096;
/// Smallest reserved partition with room for the guard and two slots.
pub const MIN_PARTITION: u64 = GUARD + 2 * SLOT_SIZE as u64;

/// Which copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CopyId {
    /// The copy near the start of the reserved partition.
    Primary,
    /// The copy at the end of the reserved partition.
    Backup,
}

impl CopyId {
    /// Both copies, primary first.
    pub const BOTH: [CopyId; 2] = [CopyId::Primary, CopyId::Backup];

    /// "primary" or "backup".
    pub fn name(self) -> &'static str {
        match self {
            CopyId::Primary => "primary",
            CopyId::Backup => "backup",
        }
    }

    fn index(self) -> usize {
        match self {
            CopyId::Primary => 0,
            CopyId::Backup => 1,
        }
    }
}

/// Offsets of the two slots, relative to the start of the reserved partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Layout {
    /// Size of the reserved partition in bytes.
    pub partition_size: u64,
    /// Primary slot offset (always [`GUARD`]).
    pub primary: u64,
    /// Backup slot offset: the last 64 KiB of the partition, aligned down to 4 KiB.
    pub backup: u64,
}

impl Layout {
    /// The layout for a reserved partition of `size` bytes.
    pub fn for_partition(size: u64) -> Result<Layout> {
        if size < MIN_PARTITION {
            return Err(Error::unsupported(
                "reserved partition",
                format!(
                    "{size} bytes is too small for host data (needs {MIN_PARTITION}: a 64 KiB guard and two 64 KiB copies)"
                ),
            ));
        }
        let backup = (size - SLOT_SIZE as u64) / BACKUP_ALIGN * BACKUP_ALIGN;
        Ok(Layout {
            partition_size: size,
            primary: GUARD,
            backup,
        })
    }

    /// The slot offset of `copy`.
    pub fn offset(&self, copy: CopyId) -> u64 {
        match copy {
            CopyId::Primary => self.primary,
            CopyId::Backup => self.backup,
        }
    }
}

/// The judgement of one copy.
#[derive(Debug, Clone)]
pub enum CopyState {
    /// All zero: never written.
    Empty,
    /// Not host data (no magic).
    Foreign,
    /// Torn, zeroed or damaged (a CRC or framing check failed).
    Damaged(container::Damage),
    /// A container version or flag this code does not read.
    Unsupported(String),
    /// Intact, but no key was given to open it.
    Locked(Header),
    /// Intact, sealed under another key.
    KeyIncorrect(Header, KeyId),
    /// Intact CRCs, right key id, but the tag fails: forged or altered on purpose.
    Tampered(Header),
    /// Authentic, but the payload does not decode (a writer bug).
    BadPayload(Header, String),
    /// Authentic and decoded.
    Valid(Header, Box<HostData>),
}

impl CopyState {
    /// The header, when the copy has an intact one.
    pub fn header(&self) -> Option<&Header> {
        match self {
            CopyState::Locked(h)
            | CopyState::KeyIncorrect(h, _)
            | CopyState::Tampered(h)
            | CopyState::BadPayload(h, _)
            | CopyState::Valid(h, _) => Some(h),
            _ => None,
        }
    }

    /// One line describing the state (never any key material).
    pub fn describe(&self) -> String {
        match self {
            CopyState::Empty => "empty (all zero)".into(),
            CopyState::Foreign => "no host data (no KZRHOSTD magic)".into(),
            CopyState::Damaged(d) => format!("corrupt: {}: {}", d.structure, d.detail),
            CopyState::Unsupported(s) => format!("unsupported: {s}"),
            CopyState::Locked(h) => format!(
                "intact, generation {}, sealed with key id {} (no key given)",
                h.generation, h.key_id
            ),
            CopyState::KeyIncorrect(h, given) => format!(
                "key incorrect: sealed with key id {}, the given key has id {given} (generation {})",
                h.key_id, h.generation
            ),
            CopyState::Tampered(h) => format!(
                "tampered: CRCs and key id match but the AES-CCM tag does not verify (generation {})",
                h.generation
            ),
            CopyState::BadPayload(h, e) => {
                format!(
                    "authentic but undecodable payload (generation {}): {e}",
                    h.generation
                )
            }
            CopyState::Valid(h, _) => format!("valid, generation {}", h.generation),
        }
    }

    /// A short machine-readable name of the state.
    pub fn kind(&self) -> &'static str {
        match self {
            CopyState::Empty => "empty",
            CopyState::Foreign => "foreign",
            CopyState::Damaged(_) => "corrupt",
            CopyState::Unsupported(_) => "unsupported",
            CopyState::Locked(_) => "locked",
            CopyState::KeyIncorrect(..) => "key-incorrect",
            CopyState::Tampered(_) => "tampered",
            CopyState::BadPayload(..) => "bad-payload",
            CopyState::Valid(..) => "valid",
        }
    }
}

/// One copy as read from disk.
#[derive(Debug, Clone)]
pub struct CopyReport {
    /// Which copy.
    pub copy: CopyId,
    /// Offset of its slot in the source it was read from.
    pub offset: u64,
    /// The slot bytes as read (64 KiB).
    pub raw: Vec<u8>,
    /// The judgement.
    pub state: CopyState,
}

impl CopyReport {
    /// One line describing the copy; damage is named with its absolute byte
    /// offset in the source (never any key material).
    pub fn describe(&self) -> String {
        match &self.state {
            CopyState::Damaged(d) => format!("corrupt: {}", d.to_error(self.offset)),
            s => s.describe(),
        }
    }
}

/// Both copies of one reserved partition.
#[derive(Debug, Clone)]
pub struct Assessment {
    /// The layout used.
    pub layout: Layout,
    /// Primary, then backup.
    pub copies: [CopyReport; 2],
}

/// Judges one slot's bytes with an optional key.
pub fn judge(slot: &[u8], key: Option<&HostKey>) -> CopyState {
    match container::parse(slot) {
        Slot::Empty => CopyState::Empty,
        Slot::Foreign => CopyState::Foreign,
        Slot::Damaged(d) => CopyState::Damaged(d),
        Slot::Unsupported(s) => CopyState::Unsupported(s),
        Slot::Sealed(sealed) => open_sealed(&sealed, key),
    }
}

fn open_sealed(sealed: &Sealed, key: Option<&HostKey>) -> CopyState {
    let h = sealed.header.clone();
    let Some(key) = key else {
        return CopyState::Locked(h);
    };
    match sealed.open(key) {
        Err(container::OpenError::KeyIncorrect { given, .. }) => CopyState::KeyIncorrect(h, given),
        Err(container::OpenError::Tampered) => CopyState::Tampered(h),
        Ok(plain) => match super::payload_decode(&plain) {
            Err(e) => CopyState::BadPayload(h, e.to_string()),
            Ok(d) if d.generation != h.generation => CopyState::BadPayload(
                h.clone(),
                format!(
                    "payload generation {} != header generation {}",
                    d.generation, h.generation
                ),
            ),
            Ok(d) => CopyState::Valid(h, Box::new(d)),
        },
    }
}

/// The Solaris reserved partition's GPT type (slice 8): where host data lives.
pub const RESERVED_GUID: &str = "6A945A3B-1DD2-11B2-99A6-080020736631";

/// The one partition of `table` that can hold host data: the partition of
/// GPT type [`RESERVED_GUID`]. `None` when there is none; refused when there
/// are several (which copy would be the zone's is then unknowable).
pub fn reserved_partition<'a>(
    table: &'a crate::partition::PartitionTable,
    disk_name: &str,
) -> Result<Option<&'a crate::partition::Partition>> {
    let found: Vec<&crate::partition::Partition> = table
        .partitions
        .iter()
        .filter(|p| p.type_guid.as_deref() == Some(RESERVED_GUID))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(Error::Refused(format!(
            "{disk_name} has {} Solaris reserved partitions ({}); host data needs exactly one",
            many.len(),
            many.iter()
                .map(|p| p.label())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Reads and judges both copies. `base` is the reserved partition's offset
/// in `src` (0 when `src` is the partition itself), `size` its length.
pub fn assess(src: &dyn Source, base: u64, size: u64, key: Option<&HostKey>) -> Result<Assessment> {
    let layout = Layout::for_partition(size)?;
    let read = |copy: CopyId| -> Result<CopyReport> {
        let offset = base + layout.offset(copy);
        let raw = read_vec(src, offset, SLOT_SIZE)?;
        let state = judge(&raw, key);
        Ok(CopyReport {
            copy,
            offset,
            raw,
            state,
        })
    };
    Ok(Assessment {
        layout,
        copies: [read(CopyId::Primary)?, read(CopyId::Backup)?],
    })
}

impl Assessment {
    /// The report of `copy`.
    pub fn copy(&self, copy: CopyId) -> &CopyReport {
        &self.copies[copy.index()]
    }

    /// The valid copy with the highest generation (primary on a tie).
    pub fn best(&self) -> Option<(CopyId, &Header, &HostData)> {
        let mut best: Option<(CopyId, &Header, &HostData)> = None;
        for r in &self.copies {
            if let CopyState::Valid(h, d) = &r.state
                && best.is_none_or(|(_, bh, _)| h.generation > bh.generation)
            {
                best = Some((r.copy, h, d));
            }
        }
        best
    }

    /// The highest generation in any intact header, whatever its key.
    pub fn max_generation(&self) -> Option<u64> {
        self.copies
            .iter()
            .filter_map(|r| r.state.header().map(|h| h.generation))
            .max()
    }
}

/// One copy to write: the whole 64 KiB slot.
#[derive(Debug, Clone)]
pub struct CopyWrite {
    /// Which copy.
    pub copy: CopyId,
    /// Offset in the source the assessment was read from.
    pub offset: u64,
    /// Current bytes of the slot.
    pub old: Vec<u8>,
    /// New bytes of the slot (the sealed copy, zero padded).
    pub new: Vec<u8>,
}

/// The writes that store `data` sealed under `key` in both slots, in the
/// order they must be made: first the copy that does not hold the current
/// best valid host data, then the other, so that at every moment one copy
/// is either the old valid one or the new one. `data.generation` must be
/// greater than every generation on the disk.
pub fn plan_store(a: &Assessment, key: &HostKey, data: &HostData) -> Result<Vec<CopyWrite>> {
    if let Some(g) = a.max_generation()
        && data.generation <= g
    {
        return Err(Error::Usage(format!(
            "new generation {} must exceed the disk's {g}",
            data.generation
        )));
    }
    let plain = zeroize::Zeroizing::new(super::payload_encode(data)?);
    let sealed = container::seal(key, data.generation, container::random_nonce()?, &plain)?;
    let mut slot = vec![0u8; SLOT_SIZE];
    slot[..sealed.len()].copy_from_slice(&sealed);
    let first = match a.best() {
        Some((CopyId::Primary, ..)) => [CopyId::Backup, CopyId::Primary],
        _ => [CopyId::Primary, CopyId::Backup],
    };
    Ok(first
        .iter()
        .map(|&c| {
            let r = a.copy(c);
            CopyWrite {
                copy: c,
                offset: r.offset,
                old: r.raw.clone(),
                new: slot.clone(),
            }
        })
        .collect())
}

/// A host-data slot that holds non-zero bytes which are not a kzrescue copy
/// (no `KZRHOSTD` magic): Oracle's own host data, whose format is not public,
/// or anything else. kzrescue does not write over it unless forced.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UnknownSlot {
    /// Which copy's slot.
    pub copy: CopyId,
    /// Absolute byte offset of the slot on the disk.
    pub offset: u64,
    /// Offset of its first non-zero byte.
    pub first_nonzero: u64,
    /// Non-zero bytes in the slot.
    pub nonzero: usize,
    /// The first 16 bytes from the first non-zero one, in hex.
    pub first_bytes: String,
    /// Shannon entropy of the slot's bytes from the first to the last
    /// non-zero one, in bits per byte (8: random-looking, e.g. encrypted).
    pub entropy: f64,
}

impl UnknownSlot {
    /// One line: where, what, and the entropy hint.
    pub fn describe(&self, disk: &str) -> String {
        let hint = if self.entropy >= 7.5 {
            "random-looking: encrypted or compressed data, as Oracle's AES-CCM-sealed host data would be"
        } else if self.entropy >= 5.0 {
            "mixed data"
        } else {
            "structured or sparse data"
        };
        format!(
            "{disk}: the {} host-data slot at {:#x} holds {} non-zero byte(s) that are not kzrescue \
             host data (no KZRHOSTD magic; first non-zero byte at {:#x}: {}; entropy {:.2} bits/byte, \
             {hint})",
            self.copy.name(),
            self.offset,
            self.nonzero,
            self.first_nonzero,
            self.first_bytes,
            self.entropy
        )
    }
}

/// Shannon entropy of `b` in bits per byte.
fn entropy(b: &[u8]) -> f64 {
    if b.is_empty() {
        return 0.0;
    }
    let mut n = [0usize; 256];
    for &x in b {
        n[x as usize] += 1;
    }
    let len = b.len() as f64;
    n.iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / len;
            -p * p.log2()
        })
        .sum()
}

/// The slots of `a` holding non-zero bytes that are not a kzrescue copy.
pub fn unknown_slots(a: &Assessment) -> Vec<UnknownSlot> {
    a.copies
        .iter()
        .filter(|c| matches!(c.state, CopyState::Foreign))
        .filter_map(|c| {
            let first = c.raw.iter().position(|&b| b != 0)?;
            let last = c.raw.iter().rposition(|&b| b != 0)?;
            let head = &c.raw[first..c.raw.len().min(first + 16)];
            Some(UnknownSlot {
                copy: c.copy,
                offset: c.offset,
                first_nonzero: c.offset + first as u64,
                nonzero: c.raw.iter().filter(|&&b| b != 0).count(),
                first_bytes: hex::encode(head),
                entropy: entropy(&c.raw[first..=last]),
            })
        })
        .collect()
}

/// Refuses (naming what was found) to write host data over slots that hold
/// bytes kzrescue cannot identify, unless `force`; with `force`, returns one
/// warning per such slot (the overwritten bytes go into the undo journal).
pub fn refuse_unknown(a: &Assessment, disk: &str, force: bool) -> Result<Vec<String>> {
    let found = unknown_slots(a);
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let lines: Vec<String> = found.iter().map(|u| u.describe(disk)).collect();
    if !force {
        return Err(Error::Refused(format!(
            "{}; nothing written (a disk set up by Solaris carries Oracle's host data here, which \
             kzrescue cannot read; on the Solaris host `zoneadm -z ZONE attach -x \
             initialize-hostdata` re-initialises it; --force writes over it, journalled)",
            lines.join("; ")
        )));
    }
    Ok(lines
        .into_iter()
        .map(|l| format!("{l}; overwriting it (--force); the undo journal keeps it"))
        .collect())
}

#[cfg(test)]
mod unknown_tests {
    use super::*;
    use crate::source::MemSource;

    #[test]
    fn foreign_bytes_are_named_and_refused() {
        let size = MIN_PARTITION as usize;
        let mut disk = vec![0u8; size];
        for (i, b) in disk[GUARD as usize + 100..GUARD as usize + 4196]
            .iter_mut()
            .enumerate()
        {
            *b = (i as u32).wrapping_mul(2654435761).to_le_bytes()[1];
        }
        let src = MemSource::new(&disk);
        let a = assess(&src, 0, size as u64, None).unwrap();
        let u = unknown_slots(&a);
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].copy, CopyId::Primary);
        assert_eq!(u[0].first_nonzero, GUARD + 100);
        assert!(u[0].entropy > 7.0, "{}", u[0].entropy);
        let e = refuse_unknown(&a, "d", false).unwrap_err().to_string();
        assert!(
            e.contains("0x10064") && e.contains("not kzrescue host data"),
            "{e}"
        );
        assert_eq!(refuse_unknown(&a, "d", true).unwrap().len(), 1);
        // An empty disk has nothing unknown.
        let z = vec![0u8; size];
        let a = assess(&MemSource::new(&z), 0, size as u64, None).unwrap();
        assert!(refuse_unknown(&a, "z", false).unwrap().is_empty());
    }
}
