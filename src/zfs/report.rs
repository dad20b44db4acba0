//! What `kzrescue label` and `kzrescue uberblocks` report about one vdev:
//! the labels and their uberblock rings as read, the verdict, the problems
//! to warn about, the `zdb -l`/`zdb -lu` text and the JSON documents
//! (`kzrescue.label/2`, `kzrescue.uberblocks/2`; see formats/json-schema.md).

use crate::source::Source;
use crate::zfs::blkptr::{BlkPtr, ByteOrder, Payload};
use crate::zfs::eck::words_hex;
use crate::zfs::label::{self, Disagreement, LabelRead, LabelStatus};
use crate::zfs::nvlist::json::NvJson;
use crate::zfs::uberblock::{self, SlotRead, SlotStatus, Uberblock};
use crate::zfs::zdb::{self, ZdbView};
use serde::Serialize;
use std::fmt;

/// The verdict on a vdev's labels (and rings), as the exit status the CLI
/// gives: 0, 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// All four labels valid and in agreement (and, for the rings, every
    /// slot sound and an active uberblock in every label).
    Sound,
    /// Some label or slot is bad, or the valid labels disagree.
    Problems,
    /// No label's config decodes.
    NoConfig,
}

impl Verdict {
    /// The exit status: 0 sound, 1 problems, 2 no config.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Sound => 0,
            Verdict::Problems => 1,
            Verdict::NoConfig => 2,
        }
    }
}

/// Something wrong with a vdev's labels or rings, worth a line on stderr
/// (stdout keeps zdb's format). Each names the byte offset it is about.
#[derive(Debug, Clone)]
pub enum Problem<'a> {
    /// No label's config decodes: every label's state.
    NoneDecodes {
        /// The target as opened.
        target: &'a str,
        /// The four labels.
        labels: &'a [LabelRead],
    },
    /// A label is not valid.
    LabelNotValid(&'a LabelRead),
    /// The valid labels disagree on a field.
    LabelsDisagree {
        /// The four labels.
        labels: &'a [LabelRead],
        /// The field and each valid label's value.
        disagreement: &'a Disagreement,
    },
    /// A readable ring of a valid label holds no checksum-valid uberblock
    /// of the active txg: ZFS writes each txg's uberblock to every label,
    /// so the ring lost it (overwritten, destroyed) — the one silent way a
    /// label drops out of zdb's `labels = …` list.
    ActiveMissing {
        /// The label.
        label: usize,
        /// Byte offset of its ring.
        offset: u64,
        /// The active txg.
        active_txg: u64,
        /// The newest valid txg in that ring.
        newest: Option<u64>,
    },
    /// Slots of one ring whose embedded checksum is bad.
    BadChecksums {
        /// The label.
        label: usize,
        /// How many slots.
        count: usize,
        /// The first of them.
        first: &'a SlotRead,
    },
    /// A ring could not be read.
    RingUnreadable {
        /// The unreadable entry (label, offset).
        slot: &'a SlotRead,
        /// Why.
        why: &'a str,
    },
    /// No uberblock with a valid checksum in any label.
    NoActive,
}

/// A label's state with its byte offset, for the stderr lines.
fn label_state(l: &LabelRead) -> String {
    let mut s = format!(
        "label {} at byte offset {:#x}: {}",
        l.index,
        l.phys_offset(),
        l.status.name()
    );
    if let Some(p) = &l.problem {
        s.push_str(&format!(" ({p})"));
    }
    s
}

impl fmt::Display for Problem<'_> {
    /// The line as printed after `kzrescue: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoneDecodes { target, labels } => {
                let all: Vec<String> = labels.iter().map(label_state).collect();
                write!(
                    f,
                    "vdev labels of {target}: none decodes — {}",
                    all.join("; ")
                )
            }
            Problem::LabelNotValid(l) => write!(f, "warning: vdev {}", label_state(l)),
            Problem::LabelsDisagree {
                labels,
                disagreement: d,
            } => {
                let v: Vec<String> = d
                    .values
                    .iter()
                    .map(|(i, v)| {
                        let at = labels.get(*i).map_or(0, |l| l.phys_offset());
                        format!("label {i} (byte offset {at:#x}) {v}")
                    })
                    .collect();
                write!(
                    f,
                    "warning: vdev labels disagree on {}: {}",
                    d.field,
                    v.join(", ")
                )
            }
            Problem::ActiveMissing {
                label,
                offset,
                active_txg,
                newest,
            } => write!(
                f,
                "warning: uberblock ring of label {label} at byte offset {offset:#x}: no valid \
                 uberblock of the active txg {active_txg} (newest valid there: {})",
                newest.map_or("none".to_string(), |t| format!("txg {t}"))
            ),
            Problem::BadChecksums {
                label,
                count,
                first,
            } => write!(
                f,
                "warning: uberblock ring of label {label}: {count} slot(s) with a bad checksum, \
                 the first slot {} at byte offset {:#x}",
                first.slot, first.offset
            ),
            Problem::RingUnreadable { slot, why } => write!(
                f,
                "warning: uberblock ring of label {} at byte offset {:#x}: unreadable ({why})",
                slot.label, slot.offset
            ),
            Problem::NoActive => write!(
                f,
                "warning: no uberblock with a valid checksum in any label: no active uberblock"
            ),
        }
    }
}

/// The four labels of one vdev, as `kzrescue label` shows them.
#[derive(Debug, Clone)]
pub struct LabelReport {
    /// What was opened, e.g. `disk.img s0 (minor a, bytes 0x20000+…)`.
    pub target: String,
    /// Byte offset of the vdev on the disk (0 for a whole-device vdev).
    pub vdev_start: u64,
    /// Size of the vdev in bytes.
    pub vdev_size: u64,
    /// The labels, how they group, and (for `uberblocks`) zdb's rings.
    pub zdb: ZdbView,
}

impl LabelReport {
    /// The `schema` of its JSON document (2: integers are strings unless
    /// `--json-int`).
    pub const SCHEMA: &str = "kzrescue.label/2";

    /// Reads the labels of the vdev `src` (which lies at `vdev_start` on
    /// the disk `target` names); with `rings`, zdb's view of the rings too.
    pub fn read(src: &dyn Source, target: String, vdev_start: u64, rings: bool) -> Self {
        LabelReport {
            target,
            vdev_start,
            vdev_size: src.size(),
            zdb: ZdbView::read(src, rings),
        }
    }

    /// The four labels.
    pub fn labels(&self) -> &[LabelRead] {
        &self.zdb.labels
    }

    /// Sound: all four valid and in agreement; problems: some label bad or
    /// labels disagree; no config: no label's config decodes.
    pub fn verdict(&self) -> Verdict {
        let labels = self.labels();
        if labels.iter().all(|l| l.config.is_none()) {
            Verdict::NoConfig
        } else if labels.iter().any(|l| l.status != LabelStatus::Valid)
            || !self.zdb.comparison.disagreements.is_empty()
        {
            Verdict::Problems
        } else {
            Verdict::Sound
        }
    }

    /// What is wrong with the labels: with no config one line naming every
    /// label's state; otherwise one per label that is not valid and one per
    /// field the valid ones disagree on.
    pub fn problems(&self) -> Vec<Problem<'_>> {
        let labels = self.labels();
        if self.verdict() == Verdict::NoConfig {
            return vec![Problem::NoneDecodes {
                target: &self.target,
                labels,
            }];
        }
        let bad = labels.iter().filter(|l| l.status != LabelStatus::Valid);
        let disagree = self.zdb.comparison.disagreements.iter();
        bad.map(Problem::LabelNotValid)
            .chain(disagree.map(|d| Problem::LabelsDisagree {
                labels,
                disagreement: d,
            }))
            .collect()
    }

    /// The `zdb -l` text with kzrescue's checksum lines.
    pub fn text(&self) -> String {
        zdb::render(&self.zdb, None)
    }

    /// The `kzrescue.label/2` document.
    pub fn json(&self) -> LabelDoc<'_> {
        let cmp = &self.zdb.comparison;
        LabelDoc {
            target: self.target.clone(),
            vdev_start: self.vdev_start,
            vdev_size: self.vdev_size,
            psize: label::psize(self.vdev_size),
            labels: self.labels().iter().map(label_json).collect(),
            groups: cmp.groups.clone(),
            disagreements: cmp.disagreements.iter().map(disagree_json).collect(),
            exit: self.verdict().exit_code(),
        }
    }
}

/// The uberblock rings of one vdev, as `kzrescue uberblocks` shows them.
#[derive(Debug, Clone)]
pub struct UberblockReport {
    /// The labels (with zdb's view of the rings).
    pub labels: LabelReport,
    /// Per label: every slot, read with the geometry ZFS would use and
    /// checksum-verified.
    pub rings: Vec<Vec<SlotRead>>,
    /// The active uberblock, chosen as ZFS does over all four rings.
    pub active: Option<Uberblock>,
}

impl UberblockReport {
    /// The `schema` of its JSON document.
    pub const SCHEMA: &str = "kzrescue.uberblocks/2";

    /// Reads the labels and rings of the vdev `src` (see [`LabelReport::read`]).
    pub fn read(src: &dyn Source, target: String, vdev_start: u64) -> Self {
        let labels = LabelReport::read(src, target, vdev_start, true);
        let rings: Vec<Vec<SlotRead>> = labels
            .labels()
            .iter()
            .map(|l| uberblock::read_ring(src, l, None))
            .collect();
        let active = uberblock::best(rings.iter().flatten()).cloned();
        UberblockReport {
            labels,
            rings,
            active,
        }
    }

    /// Labels whose ring (readable, label valid) holds no checksum-valid
    /// uberblock of the active txg: (label, newest valid txg there).
    pub fn active_missing(&self) -> Vec<(usize, Option<u64>)> {
        let Some(a) = &self.active else {
            return Vec::new();
        };
        let readable = |r: &Vec<SlotRead>| {
            !r.iter()
                .any(|s| matches!(s.status, SlotStatus::Unreadable(_)))
        };
        self.labels
            .labels()
            .iter()
            .zip(&self.rings)
            .filter(|(l, r)| l.status == LabelStatus::Valid && readable(r))
            .filter_map(|(l, r)| {
                let valid = || {
                    r.iter()
                        .filter(|s| s.status == SlotStatus::Valid)
                        .filter_map(|s| s.uberblock.as_ref())
                };
                (!valid().any(|u| u.txg == a.txg)).then(|| (l.index, valid().map(|u| u.txg).max()))
            })
            .collect()
    }

    /// The labels' verdict, made `Problems` by a slot with a bad checksum
    /// or unreadable, no active uberblock, or a label missing the active txg.
    pub fn verdict(&self) -> Verdict {
        let v = self.labels.verdict();
        let bad_slot = self.rings.iter().flatten().any(|s| {
            matches!(
                s.status,
                SlotStatus::ChecksumBad(_) | SlotStatus::Unreadable(_)
            )
        });
        let weak = bad_slot || self.active.is_none() || !self.active_missing().is_empty();
        if v == Verdict::Sound && weak {
            Verdict::Problems
        } else {
            v
        }
    }

    /// The labels' problems, then (unless no config decodes) the rings':
    /// the active txg missing from a label, bad checksums (one per label,
    /// with the first slot's offset), unreadable rings, no active uberblock.
    pub fn problems(&self) -> Vec<Problem<'_>> {
        let mut p = self.labels.problems();
        if self.labels.verdict() == Verdict::NoConfig {
            return p;
        }
        let active_txg = self.active.as_ref().map_or(0, |a| a.txg);
        for (label, newest) in self.active_missing() {
            let offset = self
                .rings
                .get(label)
                .and_then(|r| r.first())
                .map_or(0, |s| s.offset);
            p.push(Problem::ActiveMissing {
                label,
                offset,
                active_txg,
                newest,
            });
        }
        for r in &self.rings {
            let bad: Vec<&SlotRead> = r
                .iter()
                .filter(|s| matches!(s.status, SlotStatus::ChecksumBad(_)))
                .collect();
            if let Some(first) = bad.first() {
                p.push(Problem::BadChecksums {
                    label: first.label,
                    count: bad.len(),
                    first,
                });
            }
            let unreadable = r.iter().find_map(|s| match &s.status {
                SlotStatus::Unreadable(why) => Some(Problem::RingUnreadable { slot: s, why }),
                _ => None,
            });
            p.extend(unreadable);
        }
        if self.active.is_none() {
            p.push(Problem::NoActive);
        }
        p
    }

    /// The `zdb -lu` text with kzrescue's checksum lines and the active
    /// uberblock marked (or `active = none`).
    pub fn text(&self) -> String {
        let mut t = zdb::render(&self.labels.zdb, self.active.as_ref());
        if self.active.is_none() {
            t.push_str("    active = none (no uberblock with a valid checksum)\n");
        }
        t
    }

    /// The `kzrescue.uberblocks/2` document.
    pub fn json(&self) -> UberblocksDoc {
        let labels = self.labels.labels().iter().zip(&self.rings);
        UberblocksDoc {
            target: self.labels.target.clone(),
            vdev_start: self.labels.vdev_start,
            vdev_size: self.labels.vdev_size,
            labels: labels.map(|(l, r)| ring_json(l, r)).collect(),
            active: self.active.as_ref().map(|a| ActiveJson {
                label: a.label,
                slot: a.slot,
                offset: a.offset,
                endian: a.endian.name(),
                version: a.version,
                txg: a.txg,
                guid_sum: a.guid_sum,
                timestamp: a.timestamp,
            }),
            exit: self.verdict().exit_code(),
        }
    }
}

/// The embedded checksum of one label.
#[derive(Serialize)]
pub struct ChecksumJson {
    /// `little` or `big`, null when there is no trailer magic.
    pub endian: Option<&'static str>,
    /// Stored words `w0:w1:w2:w3` (hex).
    pub stored: String,
    /// Expected words.
    pub computed: String,
    /// Whether they match.
    pub valid: bool,
}

/// One label in JSON.
#[derive(Serialize)]
pub struct LabelJson<'a> {
    /// 0–3.
    pub index: usize,
    /// Byte offset of the label on the vdev.
    pub offset: u64,
    /// `valid`, `checksum_bad`, `blank`, `undecodable`, `unreadable`.
    pub status: &'static str,
    /// One-line reason when not valid.
    pub problem: Option<&'a str>,
    /// Checksum details (null when blank or unreadable).
    pub checksum: Option<ChecksumJson>,
    /// The 4 nvlist header bytes in hex.
    pub nvlist_header: Option<String>,
    /// Bytes of the packed nvlist.
    pub packed_size: Option<usize>,
    /// The config, keys in stored order.
    pub config: Option<NvJson<'a>>,
}

/// A disagreement in JSON.
#[derive(Serialize)]
pub struct DisagreeJson {
    /// Field name.
    pub field: String,
    /// `{label, value}` per valid label.
    pub values: Vec<LabelValue>,
}

/// A label's value of a field.
#[derive(Serialize)]
pub struct LabelValue {
    /// Label number.
    pub label: usize,
    /// The value as text.
    pub value: String,
}

/// The `kzrescue label --json` document.
#[derive(Serialize)]
pub struct LabelDoc<'a> {
    /// The target as opened (disk, slice, byte range).
    pub target: String,
    /// Byte offset of the vdev on the disk (0 for a whole-device vdev);
    /// every other offset in the document is relative to the vdev.
    pub vdev_start: u64,
    /// Size of the vdev in bytes.
    pub vdev_size: u64,
    /// The size ZFS uses (rounded down to 256 KiB).
    pub psize: u64,
    /// The four labels.
    pub labels: Vec<LabelJson<'a>>,
    /// Labels with byte-identical packed nvlists (zdb's `labels = ` lines).
    pub groups: Vec<Vec<usize>>,
    /// Fields on which valid labels disagree.
    pub disagreements: Vec<DisagreeJson>,
    /// The exit status the command returns.
    pub exit: u8,
}

fn disagree_json(d: &Disagreement) -> DisagreeJson {
    DisagreeJson {
        field: d.field.clone(),
        values: d
            .values
            .iter()
            .map(|(l, v)| LabelValue {
                label: *l,
                value: v.clone(),
            })
            .collect(),
    }
}

/// One label as JSON.
pub fn label_json(l: &LabelRead) -> LabelJson<'_> {
    LabelJson {
        index: l.index,
        offset: l.offset,
        status: l.status.name(),
        problem: l.problem.as_deref(),
        checksum: l.eck.as_ref().map(|c| ChecksumJson {
            endian: c.endian.map(|e| e.name()),
            stored: words_hex(&c.stored),
            computed: words_hex(&c.computed),
            valid: c.valid(),
        }),
        nvlist_header: l.header.map(hex::encode),
        packed_size: l.packed_len,
        config: l.config.as_ref().map(NvJson),
    }
}

/// A DVA in JSON.
#[derive(Serialize)]
pub struct DvaJson {
    /// Top-level vdev.
    pub vdev: u64,
    /// GRID byte.
    pub grid: u8,
    /// Offset in bytes into the allocatable space.
    pub offset: u64,
    /// Allocated size in bytes.
    pub asize: u64,
    /// Gang bit.
    pub gang: bool,
}

/// The rootbp summary in JSON.
#[derive(Serialize)]
pub struct BlkptrJson {
    /// The raw 128 bytes in hex, as stored.
    pub raw: String,
    /// The DVAs in use.
    pub dvas: Vec<DvaJson>,
    /// Logical size.
    pub lsize: u64,
    /// Physical size.
    pub psize: u64,
    /// Compression number.
    pub compression: u8,
    /// Its name.
    pub compression_name: &'static str,
    /// Checksum number.
    pub checksum: u8,
    /// Its name.
    pub checksum_name: &'static str,
    /// DMU object type.
    pub object_type: u8,
    /// Level.
    pub level: u8,
    /// Embedded flag.
    pub embedded: bool,
    /// Dedup flag.
    pub dedup: bool,
    /// Byte order of the pointed-to data.
    pub data_endian: &'static str,
    /// Logical birth.
    pub birth: u64,
    /// Physical birth.
    pub phys_birth: u64,
    /// Fill count.
    pub fill: u64,
    /// Checksum words (hex `w0:w1:w2:w3`).
    pub cksum: String,
}

fn bp_json(raw: &[u8], b: &BlkPtr) -> BlkptrJson {
    BlkptrJson {
        raw: hex::encode(raw),
        dvas: b
            .dvas()
            .iter()
            .map(|d| DvaJson {
                vdev: u64::from(d.vdev),
                grid: d.grid,
                offset: d.offset,
                asize: d.asize,
                gang: d.gang,
            })
            .collect(),
        lsize: b.lsize,
        psize: b.psize,
        compression: b.compress,
        compression_name: uberblock::compression_name(b.compress),
        checksum: b.checksum,
        checksum_name: uberblock::checksum_name(b.checksum),
        object_type: b.object_type,
        level: b.level,
        embedded: matches!(b.payload, Payload::Embedded { .. }),
        dedup: b.dedup,
        data_endian: match b.byteorder {
            ByteOrder::Little => "little",
            ByteOrder::Big => "big",
        },
        birth: b.birth,
        phys_birth: b.phys_birth,
        fill: b.fill,
        cksum: words_hex(&b.cksum),
    }
}

/// MMP fields in JSON.
#[derive(Serialize)]
pub struct MmpJson {
    /// `ub_mmp_magic`.
    pub magic: u64,
    /// Whether the magic is `MMP_MAGIC`.
    pub valid: bool,
    /// `ub_mmp_delay` (ns).
    pub delay: u64,
    /// Raw `ub_mmp_config`.
    pub config: u64,
    /// Sequence number, when flagged valid.
    pub seq: Option<u16>,
    /// Write interval (ms), when flagged valid.
    pub write_interval_ms: Option<u32>,
    /// Fail intervals, when flagged valid.
    pub fail_intervals: Option<u16>,
}

/// One uberblock slot in JSON.
#[derive(Serialize)]
pub struct SlotJson {
    /// Slot number.
    pub slot: usize,
    /// Absolute byte offset of the slot.
    pub offset: u64,
    /// `valid`, `checksum_bad`, `garbage` (only these are listed).
    pub status: &'static str,
    /// Why not valid.
    pub problem: Option<String>,
    /// Byte order of the slot.
    pub endian: Option<&'static str>,
    /// `ub_magic`.
    pub magic: Option<u64>,
    /// `ub_version`.
    pub version: Option<u64>,
    /// `ub_txg`.
    pub txg: Option<u64>,
    /// `ub_guid_sum`.
    pub guid_sum: Option<u64>,
    /// `ub_timestamp` (seconds since 1970).
    pub timestamp: Option<u64>,
    /// The timestamp as `asctime` in UTC.
    pub timestamp_utc: Option<String>,
    /// `ub_software_version`.
    pub software_version: Option<u64>,
    /// MMP fields.
    pub mmp: Option<MmpJson>,
    /// `ub_checkpoint_txg`.
    pub checkpoint_txg: Option<u64>,
    /// `ub_raidz_reflow_info`.
    pub raidz_reflow_info: Option<u64>,
    /// Non-zero words after the known fields: `[offset, value]`.
    pub extra: Vec<(usize, u64)>,
    /// The root block pointer.
    pub rootbp: Option<BlkptrJson>,
}

fn slot_json(s: &SlotRead) -> SlotJson {
    let (status, problem) = match &s.status {
        SlotStatus::Valid => ("valid", None),
        SlotStatus::ChecksumBad(p) => ("checksum_bad", Some(p.clone())),
        SlotStatus::Empty => ("empty", None),
        SlotStatus::Blank => ("blank", None),
        SlotStatus::Garbage => ("garbage", None),
        SlotStatus::Unreadable(p) => ("unreadable", Some(p.clone())),
    };
    let u = s.uberblock.as_ref();
    SlotJson {
        slot: s.slot,
        offset: s.offset,
        status,
        problem,
        endian: u.map(|u| u.endian.name()),
        magic: u.map(|u| u.magic),
        version: u.map(|u| u.version),
        txg: u.map(|u| u.txg),
        guid_sum: u.map(|u| u.guid_sum),
        timestamp: u.map(|u| u.timestamp),
        timestamp_utc: u.map(|u| zdb::asctime_utc(u.timestamp)),
        software_version: u.map(|u| u.software_version),
        mmp: u.map(|u| MmpJson {
            magic: u.mmp_magic,
            valid: u.mmp_valid(),
            delay: u.mmp_delay,
            config: u.mmp_config,
            seq: u.mmp_seq(),
            write_interval_ms: u.mmp_write_interval(),
            fail_intervals: u.mmp_fail_intervals(),
        }),
        checkpoint_txg: u.map(|u| u.checkpoint_txg),
        raidz_reflow_info: u.map(|u| u.raidz_reflow_info),
        extra: u.map(|u| u.extra.clone()).unwrap_or_default(),
        rootbp: u.map(|u| bp_json(&u.rootbp, &u.rootbp_decoded)),
    }
}

/// Slot counts of one ring.
#[derive(Serialize, Default)]
pub struct Counts {
    /// Magic and checksum good.
    pub valid: usize,
    /// Magic good, checksum bad.
    pub checksum_bad: usize,
    /// All zero.
    pub empty: usize,
    /// Initialised (sealed) but never used.
    pub blank: usize,
    /// Neither zero nor an uberblock.
    pub garbage: usize,
}

/// One label's ring in JSON.
#[derive(Serialize)]
pub struct RingJson {
    /// Label number.
    pub index: usize,
    /// Offset of the label.
    pub offset: u64,
    /// The label's status (see `kzrescue.label/2`).
    pub label_status: &'static str,
    /// The top-level ashift from this label's config.
    pub ashift: Option<u64>,
    /// The slot size the ring was read with.
    pub slot_size: usize,
    /// Number of slots.
    pub slot_count: usize,
    /// Slot counts by status.
    pub counts: Counts,
    /// Why the ring could not be read.
    pub unreadable: Option<String>,
    /// Every non-empty slot.
    pub uberblocks: Vec<SlotJson>,
}

fn ring_json(l: &LabelRead, r: &[SlotRead]) -> RingJson {
    let mut counts = Counts::default();
    let mut unreadable = None;
    for s in r {
        match &s.status {
            SlotStatus::Valid => counts.valid += 1,
            SlotStatus::ChecksumBad(_) => counts.checksum_bad += 1,
            SlotStatus::Empty => counts.empty += 1,
            SlotStatus::Blank => counts.blank += 1,
            SlotStatus::Garbage => counts.garbage += 1,
            SlotStatus::Unreadable(p) => unreadable = Some(p.clone()),
        }
    }
    let listed = |s: &&SlotRead| {
        matches!(
            s.status,
            SlotStatus::Valid | SlotStatus::ChecksumBad(_) | SlotStatus::Garbage
        )
    };
    RingJson {
        index: l.index,
        offset: l.offset,
        label_status: l.status.name(),
        ashift: l.ashift(),
        slot_size: r.first().map_or(0, |s| s.slot_size),
        slot_count: if unreadable.is_some() { 0 } else { r.len() },
        counts,
        unreadable,
        uberblocks: r.iter().filter(listed).map(slot_json).collect(),
    }
}

/// The active uberblock in JSON.
#[derive(Serialize)]
pub struct ActiveJson {
    /// Label holding it (the first of equals).
    pub label: usize,
    /// Slot.
    pub slot: usize,
    /// Absolute offset.
    pub offset: u64,
    /// Byte order.
    pub endian: &'static str,
    /// SPA version.
    pub version: u64,
    /// txg.
    pub txg: u64,
    /// guid_sum.
    pub guid_sum: u64,
    /// timestamp.
    pub timestamp: u64,
}

/// The `kzrescue uberblocks --json` document.
#[derive(Serialize)]
pub struct UberblocksDoc {
    /// The target as opened (disk, slice, byte range).
    pub target: String,
    /// Byte offset of the vdev on the disk (0 for a whole-device vdev).
    pub vdev_start: u64,
    /// Vdev size in bytes.
    pub vdev_size: u64,
    /// The four rings.
    pub labels: Vec<RingJson>,
    /// The active uberblock, chosen as ZFS does over all four rings.
    pub active: Option<ActiveJson>,
    /// Exit status.
    pub exit: u8,
}
