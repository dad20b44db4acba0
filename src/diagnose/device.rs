//! The per-device checks of `diagnose`: open the boot device (or its
//! `--map` copy), its partition table and the pool's slice, its four
//! labels, the pool's state.

use super::{
    Code, DeviceAdvice, DeviceReport, DiagnoseOptions, Finding, OpenedDevice, Severity, first_valid,
};
use crate::error::Error;
use crate::recovery::{self, Advice, AdviceKind};
use crate::repair::plan;
use crate::shell::quote;
use crate::target::{self, DiskSlice, TargetOptions};
use crate::zfs::label::{self, LabelRead, LabelStatus};
use crate::zone::Device;
use crate::zone::zvblk;

/// What checking one boot device gave.
pub(super) struct Checked {
    /// The report.
    pub report: DeviceReport,
    /// The device, when it opened and carries labels.
    pub opened: Option<OpenedDevice>,
    /// Its findings, in check order.
    pub findings: Vec<Finding>,
    /// What a scan of the device advised, when its table or labels could
    /// not give the pool's slice.
    pub recovery: Option<DeviceAdvice>,
}

/// Checks boot device `dev`: opens it, then the partition, label and pool
/// checks. `index` is its place in the diagnosis's device list.
pub(super) fn check_device(
    dev: &Device,
    index: usize,
    zone: Option<&str>,
    opts: &DiagnoseOptions,
) -> Checked {
    let mut c = Checked {
        report: DeviceReport {
            id: dev.id,
            bootpri: dev.bootpri,
            ..Default::default()
        },
        opened: None,
        findings: Vec::new(),
        recovery: None,
    };
    let id = dev.id;
    let storage = match dev.expanded_storage(zone, &opts.global_rootzpool) {
        Ok(s) => s,
        Err(e) => {
            c.findings.push(
                Finding::new(Code::ConfStorage, Severity::Unrepairable, e.to_string()).on(id),
            );
            return c;
        }
    };
    c.report.storage = storage.clone();
    let Some(id_num) = id else {
        c.findings.push(Finding::new(
            Code::ConfNoId,
            Severity::Unrepairable,
            format!(
                "boot device {storage} has no id, so its guest path /zvnex/zvblk@<id> is unknown"
            ),
        ));
        return c;
    };
    let spec = opts.open_spec(&storage);
    c.report.opened = Some(spec.clone());
    let vdev = match open(&spec, &storage, id_num, opts) {
        Ok(v) => v,
        Err((f, advice)) => {
            c.findings.extend(f.into_iter().map(|f| f.on(id)));
            c.recovery = advice;
            return c;
        }
    };
    let (f, advice) = check_partition(&vdev, id_num, &spec, opts, &mut c.report);
    c.findings.extend(f.into_iter().map(|f| f.on(id)));
    c.recovery = advice;
    let labels = label::read_labels(vdev.source.as_ref());
    let (findings, usable) = check_labels(&vdev, &labels, &spec, &mut c.report);
    c.findings.extend(findings.into_iter().map(|f| f.on(id)));
    if !usable {
        return c;
    }
    pool_facts(&labels, &mut c.report);
    c.findings
        .extend(check_pool_state(&c.report).map(|f| f.on(id)));
    c.opened = Some(OpenedDevice {
        index,
        id: id_num,
        spec,
        vdev,
        labels,
    });
    c
}

/// Opens `spec` read-only as a vdev; on failure, the open finding and what
/// a scan of the device advises.
fn open(
    spec: &str,
    storage: &str,
    id: u32,
    opts: &DiagnoseOptions,
) -> Result<DiskSlice, (Vec<Finding>, Option<DeviceAdvice>)> {
    let topts = TargetOptions {
        slice: None,
        sector_size: opts.sector_size,
        write: false,
        access: opts.access.clone(),
    };
    target::open_vdev(spec, &topts).map_err(|e| {
        let map_hint = if spec == storage {
            format!(" (to use a copy, add --map {}=PATH)", quote(storage))
        } else {
            String::new()
        };
        let mut out = vec![Finding::new(
            Code::OpenFailed,
            Severity::Unrepairable,
            format!("boot device {id} ({storage}) cannot be used: {e}{map_hint}"),
        )];
        // A damaged table: what a scan of the device finds, and the fix.
        let advice =
            matches!(e, Error::Corrupt { .. } | Error::Usage(_)).then(|| advise(id, spec, opts));
        if let Some(a) = &advice {
            out.extend(a.findings());
        }
        (out, advice)
    })
}

/// What `recovery::advise` says about boot device `id`, opened as `spec`.
fn advise(id: u32, spec: &str, opts: &DiagnoseOptions) -> DeviceAdvice {
    DeviceAdvice {
        id,
        spec: spec.to_string(),
        sector_size: opts.sector_size,
        advice: recovery::advise(spec, opts.sector_size, &opts.access),
    }
}

impl DeviceAdvice {
    /// The advice as findings, each coded by its kind.
    pub fn findings(&self) -> Vec<Finding> {
        self.advice
            .iter()
            .map(|a| {
                Finding::new(recovery_code(a), Severity::Unrepairable, a.message.clone())
                    .fix(a.fix.clone())
            })
            .collect()
    }

    /// The table restore advised, if any.
    pub fn restore_from(&self) -> Option<recovery::RestoreFrom> {
        self.advice.iter().find_map(|a| match a.kind {
            AdviceKind::RestoreTable(f) => Some(f),
            _ => None,
        })
    }
}

/// The code of a piece of recovery advice: its kind.
fn recovery_code(a: &Advice) -> Code {
    match a.kind {
        AdviceKind::RestoreTable(_) => Code::RecovRestoreTable,
        AdviceKind::RepairLabels => Code::RecovRepairLabels,
        AdviceKind::Scan => Code::RecovScan,
        AdviceKind::Note => Code::RecovNote,
    }
}

/// The partition finding; fills in the slice, letter and expected phys_path.
fn check_partition(
    vdev: &DiskSlice,
    id: u32,
    spec: &str,
    opts: &DiagnoseOptions,
    rep: &mut DeviceReport,
) -> (Vec<Finding>, Option<DeviceAdvice>) {
    rep.table = Some(vdev.table.kind.json_name().to_string());
    let Some(p) = &vdev.partition else {
        let mut out = vec![Finding::new(
            Code::PartNone,
            Severity::Warning,
            format!(
                "{spec} has no partition table: a kernel zone's boot disk is GPT-labelled with the pool in a slice, so the guest path cannot be derived"
            ),
        )];
        let advice = advise(id, spec, opts);
        out.extend(advice.findings());
        return (out, Some(advice));
    };
    rep.slice = Some(p.slice);
    rep.letter = Some(p.letter);
    rep.expected_phys_path = Some(zvblk::phys_path(u64::from(id), p.letter, opts.radix));
    let ok = Finding::new(
        Code::PartOk,
        Severity::Ok,
        format!(
            "{} partition table; the pool is in slice {} (minor {})",
            format!("{:?}", vdev.table.kind).to_uppercase(),
            p.slice,
            p.letter
        ),
    );
    (vec![ok], None)
}

/// The label findings; `false` when no label is valid (nothing more to
/// check on this device).
fn check_labels(
    vdev: &DiskSlice,
    labels: &[LabelRead],
    spec: &str,
    rep: &mut DeviceReport,
) -> (Vec<Finding>, bool) {
    let valid: Vec<usize> = labels
        .iter()
        .filter(|l| l.status == LabelStatus::Valid)
        .map(|l| l.index)
        .collect();
    rep.valid_labels = valid.clone();
    let bad: Vec<String> = labels
        .iter()
        .filter(|l| l.status != LabelStatus::Valid)
        .map(|l| format!("L{} {}", l.index, l.status.name()))
        .collect();
    let repair = Some(recovery::label_repair_command(spec));
    let f = match valid.len() {
        0 => {
            let f = Finding::new(
                Code::LabelNone,
                Severity::Unrepairable,
                format!(
                    "no valid ZFS label on {}: this is not (or no longer) a pool disk",
                    vdev.describe()
                ),
            );
            return (vec![f], false);
        }
        4 => Finding::new(Code::LabelOk, Severity::Ok, "all 4 labels are valid"),
        1 => Finding::new(
            Code::LabelTooFew,
            Severity::Unrepairable,
            format!(
                "only label {} of 4 is valid; ZFS can still import, but kzrescue will not rewrite a pool with a single good label unless forced (kzrescue label {} shows why)",
                valid[0],
                quote(spec)
            ),
        )
        .fix(repair),
        n if n >= plan::MIN_VALID_LABELS => Finding::new(
            Code::LabelSomeBad,
            Severity::Warning,
            format!("{n} of 4 labels are valid ({})", bad.join(", ")),
        )
        .fix(repair),
        n => Finding::new(
            Code::LabelTooFew,
            Severity::Unrepairable,
            format!(
                "only {n} of 4 labels are valid ({}); ZFS can still import, but kzrescue rewrites labels only with --force when fewer than {} are valid (kzrescue label {} shows why)",
                bad.join(", "),
                plan::MIN_VALID_LABELS,
                quote(spec)
            ),
        )
        .fix(repair),
    };
    let mut out = vec![f];
    out.extend(label::compare(labels).disagreements.iter().map(|d| {
        Finding::new(
            Code::LabelDisagree,
            Severity::Warning,
            format!("valid labels disagree: {d:?}"),
        )
    }));
    (out, true)
}

/// Fills the report's pool facts from the first valid label.
fn pool_facts(labels: &[LabelRead], rep: &mut DeviceReport) {
    let Some(c) = first_valid(labels).and_then(|l| l.config.as_ref()) else {
        return;
    };
    rep.pool = c.get_str("name").map(str::to_string);
    rep.pool_guid = c.get_u64("pool_guid");
    rep.guid = c.get_u64("guid");
    rep.pool_state = c.get_u64("state");
    rep.hostid = c.get_u64("hostid");
    rep.hostname = c.get_str("hostname").map(str::to_string);
    rep.label_txg = labels
        .iter()
        .filter(|l| l.status == LabelStatus::Valid)
        .filter_map(|l| l.u64("txg"))
        .max();
    if let (Some(tree), Some(g)) = (c.get_list("vdev_tree"), rep.guid)
        && let Some(leaf) = crate::zfs::vdev_tree::find_guid(tree, g)
    {
        rep.phys_path = leaf.phys_path().map(str::to_string);
        rep.path = leaf.path().map(str::to_string);
        rep.devid = leaf.devid().map(str::to_string);
    }
}

/// The pool-state finding (from the labels' `state`, `hostid`, `hostname`).
fn check_pool_state(rep: &DeviceReport) -> Option<Finding> {
    let pool = rep.pool.as_deref().unwrap_or("?");
    let s = rep.pool_state?;
    if s == 2 {
        return Some(Finding::new(
            Code::PoolDestroyed,
            Severity::Unrepairable,
            format!("pool {pool} is marked DESTROYED in the labels"),
        ));
    }
    let who = match (&rep.hostname, rep.hostid) {
        (Some(h), Some(i)) => format!(", last imported by {h} (hostid {i:08x})"),
        (Some(h), None) => format!(", last imported by {h}"),
        (None, Some(i)) => format!(", last imported by hostid {i:08x}"),
        _ => String::new(),
    };
    let state = match s {
        0 => "ACTIVE",
        1 => "EXPORTED",
        3 => "SPARE",
        4 => "L2CACHE",
        _ => "unknown",
    };
    Some(Finding::new(
        Code::PoolState,
        Severity::Info,
        format!(
            "pool {pool} (guid {}) is {state} at label txg {}{who}",
            rep.pool_guid.unwrap_or(0),
            rep.label_txg.unwrap_or(0)
        ),
    ))
}
