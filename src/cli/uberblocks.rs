//! `kzrescue uberblocks <target>`: the `zdb -lu` view (labels and their
//! uberblock rings) with each slot's checksum and the active uberblock
//! marked; `--json` gives schema `kzrescue.uberblocks/2`.

use super::label::{Opened, labels_exit, open_target, report_labels};
use super::target::TargetArgs;
use super::zdbfmt;
use kzrescue::Result;
use kzrescue::zfs::blkptr::{BlkPtr, ByteOrder, Payload};
use kzrescue::zfs::label::{self, LabelRead, LabelStatus};
use kzrescue::zfs::uberblock::{
    self, SlotRead, SlotStatus, Uberblock, checksum_name, compression_name,
};
use serde::Serialize;

/// Arguments of `kzrescue uberblocks`.
#[derive(clap::Args, Debug)]
pub struct UberblocksArgs {
    /// The disk or vdev (`disk.img`, `disk.img --slice 1`, a bare pool file).
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON (schema `kzrescue.uberblocks/2`; integers as strings
    /// unless --json-int) instead of zdb-style text.
    #[arg(long)]
    pub json: bool,
}

/// Runs the subcommand.
pub fn run(args: &UberblocksArgs) -> Result<u8> {
    let t = open_target(&args.target)?;
    let src = &t.src;
    let labels = label::read_labels(src.as_ref());
    let cmp = label::compare(&labels);
    let rings: Vec<Vec<SlotRead>> = labels
        .iter()
        .map(|l| uberblock::read_ring(src.as_ref(), l, None))
        .collect();
    let active = uberblock::best(rings.iter().flatten());
    let mut code = labels_exit(&labels, &cmp);
    let bad_slot = rings.iter().flatten().any(|s| {
        matches!(
            s.status,
            SlotStatus::ChecksumBad(_) | SlotStatus::Unreadable(_)
        )
    });
    if code == super::EXIT_OK && (bad_slot || active.is_none()) {
        code = super::EXIT_PROBLEMS;
    }
    let missing = active_missing(&labels, &rings, active);
    if code == super::EXIT_OK && !missing.is_empty() {
        code = super::EXIT_PROBLEMS;
    }
    if args.json {
        let doc = UberblocksDoc::new(&t, &labels, &rings, active, code);
        super::out::print_json("kzrescue.uberblocks/2", &doc)?;
    } else {
        let zr = zdbfmt::zdb_rings(src.as_ref(), &labels);
        print!(
            "{}",
            zdbfmt::render(src.as_ref(), &labels, &cmp, Some(&zr), active)
        );
        if active.is_none() {
            println!("    active = none (no uberblock with a valid checksum)");
        }
    }
    report_labels(&t.describe, &labels, &cmp, code);
    if code != super::EXIT_ERROR {
        report_slots(&rings, active, &missing);
    }
    Ok(code)
}

/// Labels whose ring (readable, label valid) holds no checksum-valid
/// uberblock of the active txg: ZFS writes each txg's uberblock to every
/// label, so such a ring lost it (overwritten, destroyed) — the one silent
/// way a label drops out of zdb's `labels = …` list. (label, newest valid
/// txg there).
fn active_missing(
    labels: &[LabelRead],
    rings: &[Vec<SlotRead>],
    active: Option<&Uberblock>,
) -> Vec<(usize, Option<u64>)> {
    let Some(a) = active else { return Vec::new() };
    labels
        .iter()
        .zip(rings)
        .filter(|(l, r)| {
            l.status == LabelStatus::Valid
                && !r
                    .iter()
                    .any(|s| matches!(s.status, SlotStatus::Unreadable(_)))
        })
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

/// Warnings on stderr about the rings: the active txg missing from a
/// label, slots with bad checksums (one line per label, with the first
/// slot's offset), no active uberblock.
fn report_slots(
    rings: &[Vec<SlotRead>],
    active: Option<&Uberblock>,
    missing: &[(usize, Option<u64>)],
) {
    for (label, newest) in missing {
        let a = active.map_or(0, |a| a.txg);
        let off = rings
            .get(*label)
            .and_then(|r| r.first())
            .map_or(0, |s| s.offset);
        eprintln!(
            "kzrescue: warning: uberblock ring of label {label} at byte offset {off:#x}: no valid \
             uberblock of the active txg {a} (newest valid there: {})",
            newest.map_or("none".to_string(), |t| format!("txg {t}"))
        );
    }
    for r in rings {
        let bad: Vec<&SlotRead> = r
            .iter()
            .filter(|s| matches!(s.status, SlotStatus::ChecksumBad(_)))
            .collect();
        if let Some(first) = bad.first() {
            eprintln!(
                "kzrescue: warning: uberblock ring of label {}: {} slot(s) with a bad checksum, the first slot {} at byte offset {:#x}",
                first.label,
                bad.len(),
                first.slot,
                first.offset
            );
        }
        let unreadable = r.iter().find_map(|s| match &s.status {
            SlotStatus::Unreadable(p) => Some((s, p)),
            _ => None,
        });
        if let Some((s, p)) = unreadable {
            eprintln!(
                "kzrescue: warning: uberblock ring of label {} at byte offset {:#x}: unreadable ({p})",
                s.label, s.offset
            );
        }
    }
    if active.is_none() {
        eprintln!(
            "kzrescue: warning: no uberblock with a valid checksum in any label: no active uberblock"
        );
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
        compression_name: compression_name(b.compress),
        checksum: b.checksum,
        checksum_name: checksum_name(b.checksum),
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
        cksum: kzrescue::zfs::eck::words_hex(&b.cksum),
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
        timestamp_utc: u.map(|u| zdbfmt::asctime_utc(u.timestamp)),
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

impl UberblocksDoc {
    /// Builds the document.
    pub fn new(
        t: &Opened,
        labels: &[LabelRead],
        rings: &[Vec<SlotRead>],
        active: Option<&Uberblock>,
        exit: u8,
    ) -> Self {
        let labels = labels
            .iter()
            .zip(rings)
            .map(|(l, r)| {
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
                let slot_size = r.first().map_or(0, |s| s.slot_size);
                RingJson {
                    index: l.index,
                    offset: l.offset,
                    label_status: l.status.name(),
                    ashift: l.ashift(),
                    slot_size,
                    slot_count: if unreadable.is_some() { 0 } else { r.len() },
                    counts,
                    unreadable,
                    uberblocks: r
                        .iter()
                        .filter(|s| {
                            matches!(
                                s.status,
                                SlotStatus::Valid
                                    | SlotStatus::ChecksumBad(_)
                                    | SlotStatus::Garbage
                            )
                        })
                        .map(slot_json)
                        .collect(),
                }
            })
            .collect();
        UberblocksDoc {
            target: t.describe.clone(),
            vdev_start: t.vdev_start,
            vdev_size: t.src.size(),
            labels,
            active: active.map(|a| ActiveJson {
                label: a.label,
                slot: a.slot,
                offset: a.offset,
                endian: a.endian.name(),
                version: a.version,
                txg: a.txg,
                guid_sum: a.guid_sum,
                timestamp: a.timestamp,
            }),
            exit,
        }
    }
}
