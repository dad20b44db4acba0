//! The phys_path repair plan: which label bytes change, and how.
//!
//! Given one disk (or the disks of a mirror) and the `phys_path`, `path` and
//! `devid` each disk's leaf should carry, [`plan`] reads every label of every
//! disk, refuses anything unsafe (labels that disagree about the pool or the
//! vdev, too few valid labels, a disk from another pool), edits those three
//! string keys of every matching leaf (matched by guid) in every valid label
//! of every disk, and re-encodes each edited label in its own header and byte
//! order with its checksum resealed. Nothing else in a label changes: the
//! re-encoding of the *unedited* config must reproduce the label's bytes
//! exactly, or the plan is refused. The result is a list of 112 KiB writes
//! in two phases per disk (L0+L2, then L1+L3) for [`super::apply`].

use super::apply::{TargetPlan, Write};
use crate::error::{Error, Result};
use crate::source::SharedSource;
use crate::zfs::label::{self, LabelRead, LabelStatus, VDEV_PHYS_OFFSET};
use crate::zfs::nvlist::{NvList, NvPair, NvValue};
use crate::zfs::vdev_tree;
use crate::zone::zvblk::MAX_PHYS_PATH;

/// Bytes of a leaf ZFS does not allocate: two labels and the 3.5 MiB boot
/// region at the front, two labels at the back.
const VDEV_LABELS_AND_BOOT: u64 = 4 * 1024 * 1024 + 512 * 1024;

/// Valid labels a disk needs for a rewrite without `--force`.
pub const MIN_VALID_LABELS: usize = 3;

/// Leaf fields the rewrite sets: they may differ between labels.
const REWRITTEN: [&str; 3] = ["phys_path", "path", "devid"];

/// Top-level label fields that must agree even between labels of different
/// txgs (a sync never changes them), and the vdev_tree fields that make its
/// shape.
const ALWAYS_AGREE: [&str; 8] = [
    "name",
    "state",
    "hostid",
    "hostname",
    "pool_guid",
    "guid",
    "top_guid",
    "version",
];
const SHAPE: [&str; 3] = ["type", "guid", "id"];

/// The first field in which two valid labels' configs disagree, ignoring
/// `txg` and the leaf fields the rewrite sets (`REWRITTEN`). Labels of
/// different txgs (`same_txg` false, only accepted with `--force`) are held
/// only to `ALWAYS_AGREE` and the vdev_tree's shape.
pub fn first_disagreement(a: &NvList, b: &NvList, same_txg: bool) -> Option<String> {
    if same_txg {
        return nv_diff(a, b, "", true);
    }
    for k in ALWAYS_AGREE {
        if a.get(k) != b.get(k) {
            return Some(k.to_string());
        }
    }
    match (a.get("vdev_tree"), b.get("vdev_tree")) {
        (Some(NvValue::NvList(x)), Some(NvValue::NvList(y))) => shape_diff(x, y, "vdev_tree"),
        (None, None) => None,
        _ => Some("vdev_tree".into()),
    }
}

fn nv_diff(a: &NvList, b: &NvList, at: &str, top: bool) -> Option<String> {
    let skip = |k: &str| (top && k == "txg") || (!top && REWRITTEN.contains(&k));
    let path = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    let names = a.pairs.iter().chain(&b.pairs).map(|p| p.name.as_str());
    for k in names {
        if skip(k) {
            continue;
        }
        match (a.get(k), b.get(k)) {
            (Some(NvValue::NvList(x)), Some(NvValue::NvList(y))) => {
                if let Some(d) = nv_diff(x, y, &path(k), false) {
                    return Some(d);
                }
            }
            (Some(NvValue::NvListArray(x)), Some(NvValue::NvListArray(y))) => {
                if x.len() != y.len() {
                    return Some(format!("{} (number of children)", path(k)));
                }
                for (i, (x, y)) in x.iter().zip(y).enumerate() {
                    if let Some(d) = nv_diff(x, y, &format!("{}[{i}]", path(k)), false) {
                        return Some(d);
                    }
                }
            }
            (x, y) if x != y => return Some(path(k)),
            _ => {}
        }
    }
    None
}

fn shape_diff(a: &NvList, b: &NvList, at: &str) -> Option<String> {
    for k in SHAPE {
        if a.get(k) != b.get(k) {
            return Some(format!("{at}.{k}"));
        }
    }
    match (a.get("children"), b.get("children")) {
        (Some(NvValue::NvListArray(x)), Some(NvValue::NvListArray(y))) => {
            if x.len() != y.len() {
                return Some(format!("{at}.children (number of children)"));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (x, y))| shape_diff(x, y, &format!("{at}.children[{i}]")))
        }
        (None, None) => None,
        _ => Some(format!("{at}.children")),
    }
}

/// What to do with a leaf's `devid`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DevidChange {
    /// Leave it as it is.
    #[default]
    Keep,
    /// Set it to this string.
    Set(String),
    /// Remove the key.
    Clear,
}

/// The values one disk's leaf should carry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeafFields {
    /// New `phys_path`.
    pub phys_path: String,
    /// New `path`, when it is to change.
    pub path: Option<String>,
    /// What happens to `devid`.
    pub devid: DevidChange,
}

/// One disk of the repair.
pub struct DiskInput {
    /// The target as the user named it (recorded in the journal).
    pub name: String,
    /// The whole disk: journal offsets are on it.
    pub disk: SharedSource,
    /// The vdev (the pool's slice, addressed from 0).
    pub vdev: SharedSource,
    /// Where the vdev starts on the disk.
    pub vdev_start: u64,
    /// What its leaf should say.
    pub fields: LeafFields,
}

/// Options of [`plan`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Accept one valid label, labels that disagree in txg, and a devid that
    /// does not look like `id1,<driver>@<id>`.
    pub force: bool,
}

/// One field of one leaf in one label that the repair changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// Index of the disk in the input.
    pub disk: usize,
    /// Label number 0–3.
    pub label: usize,
    /// The leaf's guid.
    pub leaf_guid: u64,
    /// `phys_path`, `path` or `devid`.
    pub field: &'static str,
    /// Value before (`None`: absent).
    pub before: Option<String>,
    /// Value after (`None`: removed).
    pub after: Option<String>,
}

impl FieldChange {
    /// `"before" → "after"`, with `(absent)` / `(removed)` for a missing
    /// value: how diagnose and repair show one change.
    pub fn before_after(&self) -> String {
        let quoted = |v: &Option<String>, none: &str| {
            v.as_deref().map_or(none.to_string(), |v| format!("{v:?}"))
        };
        format!(
            "{} → {}",
            quoted(&self.before, "(absent)"),
            quoted(&self.after, "(removed)")
        )
    }
}

/// What the plan found about one disk.
#[derive(Debug, Clone)]
pub struct DiskPlan {
    /// The target name.
    pub name: String,
    /// The pool name.
    pub pool: String,
    /// `pool_guid`.
    pub pool_guid: u64,
    /// This disk's leaf `guid`.
    pub guid: u64,
    /// `top_guid`.
    pub top_guid: u64,
    /// The highest label `txg` among the valid labels.
    pub txg: u64,
    /// Valid labels.
    pub valid: Vec<usize>,
    /// Labels left alone, with the reason.
    pub skipped: Vec<(usize, String)>,
    /// Writes, as (label number, write).
    pub writes: Vec<(usize, Write)>,
}

/// The whole repair.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Per disk, in input order.
    pub disks: Vec<DiskPlan>,
    /// Every changed field.
    pub changes: Vec<FieldChange>,
    /// Things the admin should know that do not stop the repair.
    pub warnings: Vec<String>,
    /// Whether a disk's labels are behind its sibling's txg (a mirror out
    /// of sync: `physpath set` exits 1).
    pub out_of_sync: bool,
}

impl Plan {
    /// Whether the labels already say what was asked.
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }

    /// The writes as [`TargetPlan`]s on `disks` (the same disks as the input,
    /// opened for writing, in order): per disk, L0 and L2 first, then L1 and L3.
    pub fn target_plans(&self, disks: &[SharedSource]) -> Vec<TargetPlan> {
        self.disks
            .iter()
            .zip(disks)
            .map(|(d, src)| {
                let phase = |set: [usize; 2]| -> Vec<Write> {
                    d.writes
                        .iter()
                        .filter(|(l, _)| set.contains(l))
                        .map(|(_, w)| w.clone())
                        .collect()
                };
                TargetPlan {
                    path: d.name.clone(),
                    source: src.clone(),
                    phases: vec![phase([0, 2]), phase([1, 3])],
                }
            })
            .collect()
    }
}

/// Checks a string the repair will store.
fn check_value(what: &str, v: &str, absolute: bool) -> Result<()> {
    if v.is_empty() || v.len() > MAX_PHYS_PATH {
        return Err(Error::Usage(format!(
            "{what} is {} bytes long; it must be 1..={MAX_PHYS_PATH} bytes (MAXPATHLEN)",
            v.len()
        )));
    }
    if v.bytes().any(|b| b == 0 || b.is_ascii_control()) {
        return Err(Error::Usage(format!(
            "{what} {v:?} contains a control character"
        )));
    }
    if absolute && !v.starts_with('/') {
        return Err(Error::Usage(format!(
            "{what} {v:?} must start with '/' (ZFS refuses a relative one)"
        )));
    }
    Ok(())
}

/// Whether `d` has the shape of a Solaris devid string,
/// `id1,<driver>@<type letter><id>[/<minor>]`.
pub fn devid_well_formed(d: &str) -> bool {
    let Some(rest) = d.strip_prefix("id1,") else {
        return false;
    };
    let Some((drv, id)) = rest.split_once('@') else {
        return false;
    };
    let id = id.split_once('/').map_or(id, |(i, _minor)| i);
    let mut c = id.chars();
    let ok_type = c.next().is_some_and(|t| "wWtTxXnNsSfFeEaAuU".contains(t));
    !drv.is_empty() && drv.len() <= 4 && ok_type && c.next().is_some()
}

/// The valid labels' config of a disk and what they agree on.
struct DiskLabels {
    labels: Vec<LabelRead>,
    valid: Vec<usize>,
    skipped: Vec<(usize, String)>,
    pool: String,
    pool_guid: u64,
    guid: u64,
    top_guid: u64,
    txg: u64,
}

fn u64_text(v: Option<u64>) -> String {
    v.map_or("absent".into(), |v| v.to_string())
}

/// The labels of a disk sorted into valid ones and the others (with why).
fn sort_labels(labels: &[LabelRead]) -> (Vec<usize>, Vec<(usize, String)>) {
    let mut valid = Vec::new();
    let mut skipped = Vec::new();
    for l in labels {
        match (&l.status, &l.config) {
            (LabelStatus::Valid, Some(_)) => valid.push(l.index),
            _ => skipped.push((
                l.index,
                format!(
                    "{}{}",
                    l.status.name(),
                    l.problem
                        .as_ref()
                        .map(|p| format!(": {p}"))
                        .unwrap_or_default()
                ),
            )),
        }
    }
    (valid, skipped)
}

/// Refuses a disk with no valid label, or (without `--force`) fewer than
/// [`MIN_VALID_LABELS`].
fn check_enough(
    d: &DiskInput,
    valid: &[usize],
    skipped: &[(usize, String)],
    opts: PlanOptions,
) -> Result<()> {
    let name = &d.name;
    if valid.is_empty() {
        return Err(Error::Refused(format!(
            "{name}: no valid vdev label on {} ({})",
            d.vdev.name(),
            skipped
                .iter()
                .map(|(i, s)| format!("L{i} {s}"))
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    if valid.len() < MIN_VALID_LABELS && !opts.force {
        let which = if valid.len() == 1 {
            format!("only label {} is valid", valid[0])
        } else {
            format!(
                "only labels {} are valid",
                valid
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(Error::Refused(format!(
            "{name}: {which}; ZFS keeps four copies and a repair built on fewer than \
             {MIN_VALID_LABELS} is risky (--force accepts it)"
        )));
    }
    Ok(())
}

/// Refuses labels of different pools or vdevs on one device: every label
/// that decodes at all (even with a bad checksum: userland import does not
/// check) must carry the same `pool_guid`, `guid` and `top_guid`.
fn check_one_vdev(name: &str, labels: &[LabelRead]) -> Result<()> {
    for key in ["pool_guid", "guid", "top_guid"] {
        let vals: Vec<(usize, Option<u64>)> = labels
            .iter()
            .filter(|l| l.config.is_some())
            .map(|l| (l.index, l.u64(key)))
            .collect();
        if vals.iter().any(|v| v.1 != vals[0].1) {
            return Err(Error::Refused(format!(
                "{name}: the labels disagree about {key} ({}): labels of different pools or \
                 vdevs on one device",
                vals.iter()
                    .map(|(i, v)| format!("L{i} {}", u64_text(*v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

/// Refuses a slice shorter than the vdev ZFS recorded (`vdev_tree.asize`
/// of label `first`): its end labels are in the wrong place, the partition
/// table does not match the pool.
fn check_room(d: &DiskInput, first: &LabelRead) -> Result<()> {
    let asize = first
        .config
        .as_ref()
        .and_then(|c| c.get_list("vdev_tree"))
        .and_then(|t| t.get_u64("asize"));
    let room = label::psize(d.vdev.size()).saturating_sub(VDEV_LABELS_AND_BOOT);
    if let Some(asize) = asize
        && asize > room
    {
        return Err(Error::Refused(format!(
            "{}: {} holds {room} allocatable bytes but the pool's vdev_tree asize is {asize}: \
             the slice is too small (truncated, or the wrong slice)",
            d.name,
            d.vdev.name()
        )));
    }
    Ok(())
}

/// The highest txg of the valid labels, and whether they all have it;
/// labels of different txgs are refused without `--force`.
fn check_txgs(
    name: &str,
    labels: &[LabelRead],
    valid: &[usize],
    opts: PlanOptions,
) -> Result<(u64, bool)> {
    let txgs: Vec<(usize, Option<u64>)> =
        valid.iter().map(|&i| (i, labels[i].u64("txg"))).collect();
    let same_txg = txgs.iter().all(|t| t.1 == txgs[0].1);
    if !same_txg && !opts.force {
        return Err(Error::Refused(format!(
            "{name}: the valid labels disagree about txg ({}): the last sync was interrupted; \
             import and export the pool once, or --force to edit each label as it is",
            txgs.iter()
                .map(|(i, v)| format!("L{i} {}", u64_text(*v)))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok((txgs.iter().filter_map(|t| t.1).max().unwrap_or(0), same_txg))
}

/// Refuses valid labels of one disk that say different things, apart from
/// the fields the rewrite sets and, across txgs, what a sync legitimately
/// changes.
fn check_consistent(
    name: &str,
    labels: &[LabelRead],
    valid: &[usize],
    same_txg: bool,
) -> Result<()> {
    let base = &labels[valid[0]];
    for &i in &valid[1..] {
        let (Some(a), Some(b)) = (&base.config, &labels[i].config) else {
            continue;
        };
        if let Some(field) = first_disagreement(a, b, same_txg) {
            return Err(Error::Refused(format!(
                "{name}: valid labels {} and {i} disagree about {field}{}: not one consistent \
                 label set; kzrescue will not rewrite them (`kzrescue label` shows both)",
                base.index,
                if same_txg {
                    String::new()
                } else {
                    " (beyond what a sync between their txgs changes)".to_string()
                }
            )));
        }
    }
    Ok(())
}

fn read_disk(d: &DiskInput, opts: PlanOptions) -> Result<DiskLabels> {
    let name = &d.name;
    let size = d.vdev.size();
    if label::psize(size) < 4 * label::LABEL_SIZE {
        return Err(Error::Refused(format!(
            "{name}: {} is {size} bytes, too small for four 256 KiB vdev labels: not the pool's \
             slice",
            d.vdev.name()
        )));
    }
    let labels = label::read_labels(d.vdev.as_ref());
    let (valid, skipped) = sort_labels(&labels);
    check_enough(d, &valid, &skipped, opts)?;
    check_one_vdev(name, &labels)?;
    let first = &labels[valid[0]];
    let missing = |k: &str| {
        Error::Refused(format!(
            "{name}: label {} has no {k}: not a pool member's label (a spare or cache device?)",
            first.index
        ))
    };
    let pool_guid = first.u64("pool_guid").ok_or_else(|| missing("pool_guid"))?;
    let guid = first.u64("guid").ok_or_else(|| missing("guid"))?;
    let top_guid = first.u64("top_guid").ok_or_else(|| missing("top_guid"))?;
    let pool = first
        .config
        .as_ref()
        .and_then(|c| c.get_str("name"))
        .unwrap_or("")
        .to_string();
    check_room(d, first)?;
    let (txg, same_txg) = check_txgs(name, &labels, &valid, opts)?;
    check_consistent(name, &labels, &valid, same_txg)?;
    Ok(DiskLabels {
        labels,
        valid,
        skipped,
        pool,
        pool_guid,
        guid,
        top_guid,
        txg,
    })
}

/// Sets string `key` of a vdev node, keeping pair order; a new key goes
/// right after the nearest of `after` that exists (else at the end).
fn set_string(node: &mut NvList, key: &str, value: &str, after: &[&str]) {
    if let Some(v) = node.get_mut(key) {
        *v = NvValue::String(value.to_string());
        return;
    }
    let pos = after
        .iter()
        .filter_map(|a| node.pairs.iter().position(|p| p.name == *a))
        .max()
        .map_or(node.pairs.len(), |p| p + 1);
    node.pairs.insert(
        pos,
        NvPair {
            name: key.to_string(),
            value: NvValue::String(value.to_string()),
        },
    );
}

fn str_of(node: &NvList, key: &str) -> Option<String> {
    match node.get(key) {
        Some(NvValue::String(s)) => Some(s.clone()),
        Some(other) => Some(format!("{other:?}")),
        None => None,
    }
}

/// A changed field: leaf guid, key, before, after.
type EditedField = (u64, &'static str, Option<String>, Option<String>);

/// Applies `edits` (leaf guid → fields) to a label config; returns the
/// changes made (with `disk`/`label` filled in by the caller).
fn edit_config(
    cfg: &mut NvList,
    edits: &[(u64, &LeafFields)],
    where_: &str,
) -> Result<Vec<EditedField>> {
    let mut changes = Vec::new();
    let Some(NvValue::NvList(tree)) = cfg.get_mut("vdev_tree") else {
        return Err(Error::Refused(format!("{where_} has no vdev_tree")));
    };
    for (guid, f) in edits {
        let Some(node) = vdev_tree::find_guid(tree, *guid) else {
            return Err(Error::Refused(format!(
                "{where_}: no vdev with guid {guid} in its vdev_tree (not the same mirror)"
            )));
        };
        if !node.is_leaf() {
            return Err(Error::Refused(format!(
                "{where_}: vdev {guid} is not a leaf"
            )));
        }
        let pos = node.position.clone();
        let Some(node) = vdev_tree::node_at_mut(tree, &pos) else {
            return Err(Error::Refused(format!("{where_}: vdev {guid} vanished")));
        };
        let mut record = |field: &'static str, before: Option<String>, after: Option<String>| {
            if before != after {
                changes.push((*guid, field, before, after));
            }
        };
        if let Some(p) = &f.path {
            let before = str_of(node, "path");
            set_string(node, "path", p, &["guid", "id", "type"]);
            record("path", before, Some(p.clone()));
        }
        let before = str_of(node, "devid");
        match &f.devid {
            DevidChange::Keep => {}
            DevidChange::Set(v) => {
                set_string(node, "devid", v, &["path", "guid", "id", "type"]);
                record("devid", before, Some(v.clone()));
            }
            DevidChange::Clear => {
                node.remove("devid");
                record("devid", before, None);
            }
        }
        let before = str_of(node, "phys_path");
        set_string(
            node,
            "phys_path",
            &f.phys_path,
            &["devid", "path", "guid", "id", "type"],
        );
        record("phys_path", before, Some(f.phys_path.clone()));
    }
    Ok(changes)
}

/// Checks the values asked for; a devid of an odd shape is refused, or
/// (with `--force`) a warning.
fn check_fields(disks: &[DiskInput], opts: PlanOptions) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    for d in disks {
        check_value("phys_path", &d.fields.phys_path, true)?;
        if let Some(p) = &d.fields.path {
            check_value("path", p, true)?;
        }
        if let DevidChange::Set(v) = &d.fields.devid {
            check_value("devid", v, false)?;
            if !devid_well_formed(v) {
                if !opts.force {
                    return Err(Error::Usage(format!(
                        "devid {v:?} is not of the form id1,<driver>@<type><id>/<minor>; \
                         Solaris fails to open a vdev whose devid does not decode \
                         (--clear-devid removes it; --force writes it anyway)"
                    )));
                }
                warnings.push(format!("devid {v:?} does not look like a Solaris devid"));
            }
        }
    }
    Ok(warnings)
}

/// Refuses disks that are not the leaves of one top-level vdev of one
/// pool, or one disk given twice.
fn check_one_mirror(disks: &[DiskInput], read: &[DiskLabels]) -> Result<()> {
    let r0 = &read[0];
    for (d, r) in disks.iter().zip(read).skip(1) {
        if r.pool_guid != r0.pool_guid || r.top_guid != r0.top_guid {
            return Err(Error::Refused(format!(
                "{} (pool {} guid {}, top-level {}) and {} (pool {} guid {}, top-level {}) are \
                 not disks of one mirror",
                disks[0].name,
                r0.pool,
                r0.pool_guid,
                r0.top_guid,
                d.name,
                r.pool,
                r.pool_guid,
                r.top_guid
            )));
        }
    }
    for (i, r) in read.iter().enumerate() {
        if let Some(j) = read[..i].iter().position(|o| o.guid == r.guid) {
            return Err(Error::Usage(format!(
                "{} and {} carry the same vdev guid {}: the same disk twice (or a clone)",
                disks[j].name, disks[i].name, r.guid
            )));
        }
    }
    Ok(())
}

/// A warning per disk whose labels are behind the newest sibling's txg.
fn sync_warnings(disks: &[DiskInput], read: &[DiskLabels]) -> Vec<String> {
    let max_txg = read.iter().map(|r| r.txg).max().unwrap_or(0);
    let ahead: Vec<String> = disks
        .iter()
        .zip(read)
        .filter(|(_, o)| o.txg == max_txg)
        .map(|(od, o)| format!("{} (txg {})", od.name, o.txg))
        .collect();
    disks
        .iter()
        .zip(read)
        .filter(|(_, r)| r.txg < max_txg)
        .map(|(d, r)| {
            format!(
                "{} has label txg {}, behind {}: the mirror is out of sync. The repair keeps \
                 every txg as it is; Solaris will not boot from the stale disk while its \
                 sibling is newer",
                d.name,
                r.txg,
                ahead.join(", ")
            )
        })
        .collect()
}

/// The new bytes of label `l` (of disk `d`) with `edits` made, checked the
/// way a reader will check them; `None` when the label already says this.
/// The encoder must first reproduce the label byte for byte before it is
/// trusted to write an edited one.
fn edit_label(
    d: &DiskInput,
    l: &LabelRead,
    edits: &[(u64, &LeafFields)],
) -> Result<Option<(Write, Vec<EditedField>)>> {
    let li = l.index;
    let where_ = format!("{} label {li}", d.name);
    let (Some(cfg), Some(header), Some(endian), Some(packed_len)) =
        (&l.config, l.header, l.endian, l.packed_len)
    else {
        return Ok(None);
    };
    let same = label::encode_vdev_phys(header, cfg, endian, l.offset)?;
    if same.get(..packed_len) != l.phys.get(..packed_len) {
        return Err(Error::Refused(format!(
            "{where_}: re-encoding the unchanged config does not reproduce the label's \
             bytes; refusing to rewrite it"
        )));
    }
    let mut edited = cfg.clone();
    let found = edit_config(&mut edited, edits, &where_)?;
    if found.is_empty() {
        return Ok(None);
    }
    let new = label::encode_vdev_phys(header, &edited, endian, l.offset).map_err(|e| {
        Error::Refused(format!(
            "{where_}: the edited config does not fit the label ({e}); is the new \
             phys_path too long?"
        ))
    })?;
    let back = label::decode_label(li, l.offset, new.clone());
    if back.status != LabelStatus::Valid || back.config.as_ref() != Some(&edited) {
        return Err(Error::Refused(format!(
            "{where_}: the re-encoded label does not read back as valid ({})",
            back.problem.unwrap_or_else(|| back.status.name().into())
        )));
    }
    let write = Write {
        offset: d.vdev_start + l.offset + VDEV_PHYS_OFFSET,
        what: format!("{} label {li} vdev_phys", d.vdev.name()),
        old: l.phys.to_vec(),
        new,
    };
    Ok(Some((write, found)))
}

/// Builds the repair plan for `disks` (one disk, or every disk of a mirror).
pub fn plan(disks: &[DiskInput], opts: PlanOptions) -> Result<Plan> {
    if disks.is_empty() {
        return Err(Error::Usage("no target given".into()));
    }
    let mut warnings = check_fields(disks, opts)?;
    let read: Vec<DiskLabels> = disks
        .iter()
        .map(|d| read_disk(d, opts))
        .collect::<Result<_>>()?;
    check_one_mirror(disks, &read)?;
    let behind = sync_warnings(disks, &read);
    let out_of_sync = !behind.is_empty();
    warnings.extend(behind);

    let edits: Vec<(u64, &LeafFields)> = read
        .iter()
        .zip(disks)
        .map(|(r, d)| (r.guid, &d.fields))
        .collect();
    let mut changes = Vec::new();
    let mut plans = Vec::new();
    for (di, (d, r)) in disks.iter().zip(&read).enumerate() {
        let mut writes = Vec::new();
        for &li in &r.valid {
            let Some((write, found)) = edit_label(d, &r.labels[li], &edits)? else {
                continue;
            };
            for (leaf_guid, field, before, after) in found {
                changes.push(FieldChange {
                    disk: di,
                    label: li,
                    leaf_guid,
                    field,
                    before,
                    after,
                });
            }
            writes.push((li, write));
        }
        for (i, why) in &r.skipped {
            warnings.push(format!("{} label {i} is left alone ({why})", d.name));
        }
        plans.push(DiskPlan {
            name: d.name.clone(),
            pool: r.pool.clone(),
            pool_guid: r.pool_guid,
            guid: r.guid,
            top_guid: r.top_guid,
            txg: r.txg,
            valid: r.valid.clone(),
            skipped: r.skipped.clone(),
            writes,
        });
    }
    Ok(Plan {
        disks: plans,
        changes,
        warnings,
        out_of_sync,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(keys: &[(&str, &str)]) -> NvList {
        let mut l = NvList::new();
        l.set("type", NvValue::String("disk".into()));
        l.set("id", NvValue::UInt64(0));
        l.set("guid", NvValue::UInt64(42));
        for (k, v) in keys {
            l.set(k, NvValue::String(v.to_string()));
        }
        l.set("whole_disk", NvValue::UInt64(0));
        l
    }

    fn config(tree: NvList) -> NvList {
        let mut c = NvList::new();
        c.set("txg", NvValue::UInt64(7));
        c.set("vdev_tree", NvValue::NvList(tree));
        c
    }

    fn names(l: &NvList) -> Vec<&str> {
        l.pairs.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn disagreements_are_named() {
        let mut a = config(leaf(&[("path", "/dev/dsk/a")]));
        a.set("name", NvValue::String("rpool".into()));
        let mut b = a.clone();
        // The rewritten fields and txg may differ.
        b.set("txg", NvValue::UInt64(8));
        if let Some(NvValue::NvList(t)) = b.get_mut("vdev_tree") {
            t.set("path", NvValue::String("/dev/dsk/b".into()));
        }
        assert_eq!(first_disagreement(&a, &b, true), None);
        // Anything else may not.
        let mut c = b.clone();
        c.set("name", NvValue::String("other".into()));
        assert_eq!(first_disagreement(&a, &c, true).as_deref(), Some("name"));
        assert_eq!(first_disagreement(&a, &c, false).as_deref(), Some("name"));
        let mut d = b.clone();
        if let Some(NvValue::NvList(t)) = d.get_mut("vdev_tree") {
            t.set("whole_disk", NvValue::UInt64(1));
        }
        assert_eq!(
            first_disagreement(&a, &d, true).as_deref(),
            Some("vdev_tree.whole_disk")
        );
        // Across txgs only the fixed fields and the shape count.
        assert_eq!(first_disagreement(&a, &d, false), None);
        let mut e = b.clone();
        if let Some(NvValue::NvList(t)) = e.get_mut("vdev_tree") {
            t.set("type", NvValue::String("mirror".into()));
        }
        assert_eq!(
            first_disagreement(&a, &e, false).as_deref(),
            Some("vdev_tree.type")
        );
    }

    #[test]
    fn devid_shapes() {
        assert!(devid_well_formed(
            "id1,sd@n600144f0a613c900000054521d550001/b"
        ));
        assert!(devid_well_formed("id1,cmdk@AVBOX_HARDDISK=VB1234/a"));
        assert!(devid_well_formed("id1,zvbl@x0001")); // hints are at most 4 bytes
        assert!(!devid_well_formed("id0,sd@n6001/b"));
        assert!(!devid_well_formed("id1,@n6001/b"));
        assert!(!devid_well_formed("id1,toolong@n6001/b"));
        assert!(!devid_well_formed("id1,sd@q6001/b"));
        assert!(!devid_well_formed("id1,sd@n/b"));
        assert!(!devid_well_formed("garbage"));
    }

    #[test]
    fn new_keys_go_where_zfs_puts_them_and_nothing_else_moves() {
        // path only: devid and phys_path are inserted after it, in ZFS's order.
        let mut c = config(leaf(&[("path", "/dev/dsk/c0t1d0s1")]));
        let f = LeafFields {
            phys_path: "/zvnex/zvblk@0:b".into(),
            path: None,
            devid: DevidChange::Set("id1,sd@n1/b".into()),
        };
        let ch = edit_config(&mut c, &[(42, &f)], "t").unwrap();
        assert_eq!(ch.len(), 2);
        let t = c.get_list("vdev_tree").unwrap();
        assert_eq!(
            names(t),
            [
                "type",
                "id",
                "guid",
                "path",
                "devid",
                "phys_path",
                "whole_disk"
            ]
        );
        assert_eq!(c.get_u64("txg"), Some(7));
        // Editing again changes nothing.
        let before = c.clone();
        assert!(edit_config(&mut c, &[(42, &f)], "t").unwrap().is_empty());
        assert_eq!(c, before);
        // Clearing the devid removes only that pair.
        let f2 = LeafFields {
            devid: DevidChange::Clear,
            ..f
        };
        let ch = edit_config(&mut c, &[(42, &f2)], "t").unwrap();
        assert_eq!(ch, vec![(42, "devid", Some("id1,sd@n1/b".into()), None)]);
        let t = c.get_list("vdev_tree").unwrap();
        assert_eq!(
            names(t),
            ["type", "id", "guid", "path", "phys_path", "whole_disk"]
        );
    }

    #[test]
    fn an_unknown_guid_is_refused() {
        let mut c = config(leaf(&[]));
        let f = LeafFields {
            phys_path: "/x".into(),
            ..Default::default()
        };
        let e = edit_config(&mut c, &[(7, &f)], "disk label 1").unwrap_err();
        assert!(e.to_string().contains("no vdev with guid 7"), "{e}");
    }

    #[test]
    fn values_are_checked() {
        assert!(check_value("phys_path", "/zvnex/zvblk@0:b", true).is_ok());
        assert!(check_value("phys_path", &format!("/{}", "x".repeat(1022)), true).is_ok());
        assert!(check_value("phys_path", &format!("/{}", "x".repeat(1023)), true).is_err());
        assert!(check_value("phys_path", "", true).is_err());
        assert!(check_value("path", "/dev/dsk/c1d0s1\n", true).is_err());
        assert!(check_value("path", "c1d0s1", true).is_err());
    }
}
