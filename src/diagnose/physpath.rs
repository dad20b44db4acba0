//! The phys_path check of `diagnose`: `phys_path`/`path`/`devid` of every
//! mirror child in every label of every boot device against what the guest
//! expects, through the very planner the repair uses — so "diagnose says it
//! is wrong" and "repair would change it" cannot disagree.

use super::{Code, DeviceReport, Finding, OpenedDevice, Severity};
use crate::error::{Error, Result};
use crate::partition::Partition;
use crate::repair::plan;
use crate::shell::quote;
use crate::zone::zvblk::{self, UnitRadix};
use std::collections::BTreeSet;

/// The repair planner's view of the expected fields of these disks.
pub fn physpath_plan(disks: &[&OpenedDevice], radix: UnitRadix, force: bool) -> Result<plan::Plan> {
    let inputs: Vec<plan::DiskInput> = disks
        .iter()
        .map(|o| {
            let p = o
                .vdev
                .partition
                .as_ref()
                .ok_or_else(|| Error::Usage(format!("{} has no partition table", o.spec)))?;
            Ok(plan::DiskInput {
                name: o.spec.clone(),
                disk: o.vdev.disk.clone(),
                vdev: o.vdev.source.clone(),
                vdev_start: p.start,
                fields: expected_fields(o.id, p, radix),
            })
        })
        .collect::<Result<_>>()?;
    plan::plan(&inputs, plan::PlanOptions { force })
}

/// What the guest's own ZFS would record for device `id` whose pool is in
/// slice `p`: the zvblk phys_path, the guest's `/dev/dsk/c1d<id>s<n>` path,
/// and no devid (the guest's devid string is not documented; a host-side
/// devid left behind only costs a failed lookup, but removing it is what the
/// guest's first import would leave once it refreshes the field).
pub fn expected_fields(id: u32, p: &Partition, radix: UnitRadix) -> plan::LeafFields {
    plan::LeafFields {
        phys_path: zvblk::phys_path(u64::from(id), p.letter, radix),
        path: Some(zvblk::guest_path(u64::from(id), p.slice)),
        devid: plan::DevidChange::Clear,
    }
}

/// The one `physpath set` command that fixes every disk of the pool.
fn physpath_command(disks: &[&OpenedDevice], radix: UnitRadix) -> String {
    let mut s = String::from("kzrescue physpath set");
    for o in disks {
        s.push(' ');
        s.push_str(&quote(&o.spec));
    }
    for o in disks {
        s.push_str(&format!(" --device-id {}", o.id));
    }
    for o in disks {
        if let Some(p) = &o.vdev.partition {
            s.push_str(&format!(
                " --path {}",
                zvblk::guest_path(u64::from(o.id), p.slice)
            ));
        }
    }
    s.push_str(" --clear-devid");
    if radix == UnitRadix::Decimal {
        s.push_str(" --decimal-unit");
    }
    s.push_str(" --write");
    s
}

/// Boot devices whose labels the planner can read: a partition table, two
/// valid labels or more.
pub(super) fn plan_disks<'a>(
    opened: &'a [OpenedDevice],
    devices: &[DeviceReport],
) -> Vec<&'a OpenedDevice> {
    opened
        .iter()
        .filter(|o| o.vdev.partition.is_some() && devices[o.index].valid_labels.len() >= 2)
        .collect()
}

/// The phys_path findings: one `KZ-PHYS-000` per disk that is as the zone
/// expects, and one finding per fix — a mirror whose two sides are wrong is
/// one finding (one `physpath set` fixes both), not one per side.
pub(super) fn check_physpath(
    disks: &[&OpenedDevice],
    devices: &[DeviceReport],
    radix: UnitRadix,
) -> Vec<Finding> {
    if disks.is_empty() {
        return Vec::new();
    }
    // Disks with fewer valid labels than a rewrite needs are still checked
    // (their labels finding already says a repair needs --force).
    let force = disks
        .iter()
        .any(|o| devices[o.index].valid_labels.len() < plan::MIN_VALID_LABELS);
    let p = match physpath_plan(disks, radix, force) {
        Ok(p) => p,
        Err(e) => {
            return vec![Finding::new(
                Code::PhysUnsafe,
                Severity::Unrepairable,
                format!("the labels cannot be repaired safely: {e}"),
            )];
        }
    };
    let mut out = Vec::new();
    let mut wrong: Vec<(u32, Finding)> = Vec::new();
    for (i, o) in disks.iter().enumerate() {
        let f = disk_finding(&p, i, o, &devices[o.index]);
        if f.code == Code::PhysOk {
            out.push(f.on(Some(o.id)));
        } else {
            wrong.push((o.id, f));
        }
    }
    let fix = Some(physpath_command(disks, radix));
    match wrong.len() {
        0 => {}
        1 => {
            let (id, f) = wrong.remove(0);
            out.push(f.on(Some(id)).fix(fix));
        }
        _ => out.push(combined(wrong).fix(fix)),
    }
    out.extend(
        p.warnings
            .iter()
            .map(|w| Finding::new(Code::MirrorWarning, Severity::Warning, w.clone())),
    );
    out
}

/// One finding for the wrong fields of several disks of one pool.
fn combined(wrong: Vec<(u32, Finding)>) -> Finding {
    let code = wrong
        .iter()
        .map(|(_, f)| f.code)
        .min()
        .unwrap_or(Code::PhysWrong);
    let severity = wrong
        .iter()
        .map(|(_, f)| f.severity)
        .max()
        .unwrap_or(Severity::Repairable);
    let ids: Vec<u32> = wrong.iter().map(|(id, _)| *id).collect();
    let message = format!(
        "{} boot devices of the pool need the same fix: {}",
        wrong.len(),
        wrong
            .iter()
            .map(|(id, f)| format!("device {id}: {}", f.message))
            .collect::<Vec<_>>()
            .join(" — ")
    );
    let mut f = Finding::new(code, severity, message);
    f.devices = ids;
    f
}

fn change_text(c: &plan::FieldChange) -> String {
    format!("{} {}", c.field, c.before_after())
}

/// What the plan changes about disk `i`'s own leaf, as one finding
/// (without device and fix).
fn disk_finding(p: &plan::Plan, i: usize, o: &OpenedDevice, dev: &DeviceReport) -> Finding {
    let guid = p.disks.get(i).map(|d| d.guid);
    // What changes anywhere about this disk's own leaf.
    let mine: Vec<&plan::FieldChange> = p
        .changes
        .iter()
        .filter(|c| Some(c.leaf_guid) == guid)
        .collect();
    let expected = dev.expected_phys_path.as_deref().unwrap_or("?");
    let guest = zvblk::guest_path(u64::from(o.id), dev.slice.unwrap_or(0));
    let field = |f: &str| mine.iter().find(|c| c.field == f).copied();
    let labels_touched: BTreeSet<(usize, usize)> = mine.iter().map(|c| (c.disk, c.label)).collect();
    let copies = format!(
        "{} label copies on {} disk(s) to rewrite",
        labels_touched.len(),
        labels_touched
            .iter()
            .map(|(d, _)| d)
            .collect::<BTreeSet<_>>()
            .len()
    );
    match (field("phys_path"), field("path"), field("devid")) {
        (None, None, None) => Finding::new(
            Code::PhysOk,
            Severity::Ok,
            format!("phys_path is {expected} and path {guest} in every label, as the zone expects"),
        ),
        (Some(_), _, _) => Finding::new(
            Code::PhysWrong,
            Severity::Repairable,
            format!(
                "the zone cannot find its root pool at boot: the zone's kernel looks the root pool's device up by the leaf's phys_path label field, which must be {expected} (the zvblk device of zonecfg id {}, slice {} → minor {}); the labels name this disk as the pool was last seen outside the zone: {} ({copies})",
                o.id,
                dev.slice.unwrap_or(0),
                dev.letter.unwrap_or('?'),
                [field("phys_path"), field("path"), field("devid")]
                    .into_iter()
                    .flatten()
                    .map(change_text)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ),
        (None, Some(c), _) => Finding::new(
            Code::PhysPathWrong,
            Severity::Repairable,
            format!(
                "phys_path is {expected} as the zone expects, but the leaf's path label field is not the guest's {guest}: {} ({copies}); the zone's ZFS falls back to path when the phys_path lookup fails, so a wrong path loses that fallback",
                change_text(c)
            ),
        ),
        (None, None, Some(c)) => Finding::new(
            Code::PhysHostDevid,
            Severity::Warning,
            format!(
                "phys_path is {expected} and path {guest} as the zone expects; the leaf still carries a host devid ({}): the zone boots by phys_path, and a devid that does not resolve in the guest only costs a failed lookup (removing it: {copies})",
                change_text(c)
            ),
        ),
    }
}
