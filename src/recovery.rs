//! Recovery below the labels, as a library: what `diagnose` says about a
//! boot device whose partition table or labels are damaged (the exact
//! `scan` / `partitions restore` / `label repair` commands, decided from what
//! survives on the device: [`advise`], [`advise_device`]), and the writers
//! themselves — plan, then a repair [`Transaction`] to commit
//! ([`plan_restore`] + [`restore_transaction`], [`plan_label_repair`] +
//! [`label_repair_transaction`]) — which the CLI and `repair` share.

use crate::partition::{gpt, restore::RawHeader};
use crate::scan::{self, ScanOptions, TableMatch};
use crate::shell::quote;
use crate::source::{Source, read_vec};

mod report;
pub use report::RecoveryReport;

/// What a piece of [`Advice`] proposes: the kind of fix its command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdviceKind {
    /// Look before changing anything: `kzrescue scan` (no verified label
    /// was found, or the table disagrees with what a scan finds).
    Scan,
    /// Rebuild the partition table: `kzrescue partitions restore --from …`
    /// ([`plan_restore`] + [`restore_transaction`]).
    RestoreTable(RestoreFrom),
    /// Rebuild the vdev's missing or damaged labels from its own valid
    /// labels: `kzrescue label repair` ([`plan_label_repair`] +
    /// [`label_repair_transaction`]).
    RepairLabels,
    /// Something worth knowing, with no command.
    Note,
}

/// One piece of advice: what is wrong, and the command that fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    /// What kind of fix the command is.
    pub kind: AdviceKind,
    /// One sentence.
    pub message: String,
    /// The exact command, quoted for a POSIX shell.
    pub fix: Option<String>,
    /// The same command as arguments after `kzrescue` (for a caller that
    /// runs it, or the library entry point it maps to: `scan` →
    /// [`scan_device`], `partitions restore` → [`plan_restore`] +
    /// [`restore_transaction`], `label repair` → [`plan_label_repair`] +
    /// [`label_repair_transaction`]).
    pub argv: Option<Vec<String>>,
}

impl Advice {
    fn new(kind: AdviceKind, message: String, argv: Option<Vec<String>>) -> Advice {
        Advice {
            kind,
            message,
            fix: argv.as_ref().map(|a| {
                std::iter::once("kzrescue".to_string())
                    .chain(a.iter().map(|x| quote(x)))
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
            argv,
        }
    }
}

fn argv(words: &[&str]) -> Option<Vec<String>> {
    Some(words.iter().map(|w| w.to_string()).collect())
}

/// The command that rebuilds the bad labels of `spec`.
pub fn label_repair_command(spec: &str) -> String {
    format!("kzrescue label repair {} --write", quote(spec))
}

/// [`label_repair_command`] as arguments after `kzrescue`.
pub fn label_repair_argv(spec: &str) -> Vec<String> {
    vec![
        "label".into(),
        "repair".into(),
        spec.into(),
        "--write".into(),
    ]
}

fn header_ok(src: &dyn Source, ss: u64, lba: u64) -> bool {
    read_vec(src, lba * ss, ss as usize)
        .ok()
        .and_then(|b| RawHeader::parse(&b))
        .is_some_and(|h| h.my_lba == lba)
}

/// Scans `spec` (a boot device whose table could not give the pool's
/// slice) and says what to run. Reads the whole device once.
pub fn advise(
    spec: &str,
    sector_size: Option<u32>,
    access: &crate::target::AccessOptions,
) -> Vec<Advice> {
    match scan::open_for_scan(spec, access) {
        Ok(src) => advise_device(src.as_ref(), spec, sector_size),
        Err(e) => vec![Advice::new(
            AdviceKind::Note,
            format!("{spec} cannot be opened to scan it: {e}"),
            None,
        )],
    }
}

/// The recovery proposals for an opened device `src` (named `spec` in the
/// commands): scans it once, then names the exact `scan`, `partitions
/// restore` or `label repair` command, each as shell text and as argv.
pub fn advise_device(src: &dyn Source, spec: &str, sector_size: Option<u32>) -> Vec<Advice> {
    let r = match scan::scan(src, ScanOptions { sector_size }, &mut |_, _| {}) {
        Ok(r) => r,
        Err(e) => {
            return vec![Advice::new(
                AdviceKind::Note,
                format!("scanning {spec} failed: {e}"),
                None,
            )];
        }
    };
    let mut out = Vec::new();
    let pools: Vec<&scan::FoundVdev> = r
        .vdevs
        .iter()
        .filter(|v| v.facts.pool_guid.is_some())
        .collect();
    let Some(v) = pools.first() else {
        out.push(Advice::new(
            AdviceKind::Scan,
            format!(
                "a scan of {spec} found no verified ZFS label at any sector: the pool's labels are gone from this device"
            ),
            argv(&["scan", spec]),
        ));
        return out;
    };
    let ss = u64::from(r.sector_size);
    let last = gpt::last_lba(src, r.sector_size).unwrap_or(0);
    let primary = header_ok(src, ss, 1);
    let backup = last > 1 && header_ok(src, ss, last);
    let sun_backup = r.sun_labels.iter().any(|l| l.backup_position || l.x86);
    let described = matches!(v.table, TableMatch::Matches { .. });
    let found = format!(
        "a scan finds pool {} (vdev guid {}) at byte {:#x}, {} bytes, labels {:?}",
        v.facts.name.as_deref().unwrap_or("?"),
        v.facts.guid.unwrap_or(0),
        v.start,
        v.psize.map_or("unknown".into(), |p| p.to_string()),
        v.labels
    );
    let from = if described {
        None
    } else if backup && !primary {
        Some(RestoreFrom::Backup)
    } else if primary && !backup {
        Some(RestoreFrom::Primary)
    } else if !primary && !backup && sun_backup {
        Some(RestoreFrom::Backup)
    } else if !primary && !backup {
        Some(RestoreFrom::Scan)
    } else {
        None
    };
    match from {
        Some(f) => {
            let mut a = vec!["partitions", "restore", spec, "--from", f.as_str()];
            if ss == 4096 {
                a.extend(["--sector-size", "4096"]);
            }
            a.push("--write");
            out.push(Advice::new(
                AdviceKind::RestoreTable(f),
                format!("{found}; the partition table does not describe it"),
                argv(&a),
            ))
        }
        None if !described => out.push(Advice::new(
            AdviceKind::Scan,
            format!(
                "{found}; the partition table disagrees with it and neither GPT copy is missing: compare `kzrescue scan {}` with `kzrescue partitions {}` before changing anything",
                quote(spec),
                quote(spec)
            ),
            argv(&["scan", spec]),
        )),
        None => {}
    }
    if v.labels.len() < 4 {
        out.push(Advice::new(
            AdviceKind::RepairLabels,
            format!(
                "only labels {:?} of the vdev verify; the others can be rebuilt from them (after the table is restored)",
                v.labels
            ),
            Some(label_repair_argv(spec)),
        ));
    }
    if pools.len() > 1 {
        out.push(Advice::new(
            AdviceKind::Note,
            format!(
                "{} vdevs were found on the device; the advice above is for the first (see `kzrescue scan {}`)",
                pools.len(),
                quote(spec)
            ),
            None,
        ));
    }
    out
}

// --- the library entry points of the writers (`partitions restore`,
// `label repair`) and of diagnose's proposals, for the CLI and for `repair`.

use crate::partition::restore::{self, RestorePlan};
use crate::repair::apply::{TargetPlan, Write};
use crate::repair::transaction::{Transaction, TxOptions};
use crate::scan::{FoundVdev, ScanReport};
use crate::source::SharedSource;
use crate::target::{self, DiskSlice, TargetOptions, open_source, open_vdev};
use crate::zfs::label::{self, LABEL_SIZE};
use crate::zfs::relabel::{self, RelabelOptions, RelabelPlan};
use crate::{Error, Result};
use std::path::PathBuf;

/// What `partitions restore` rebuilds from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreFrom {
    /// The backup GPT; else the backup Sun labels (SMI), else the backup
    /// x86 VTOC labels of a Solaris fdisk partition.
    Backup,
    /// The primary GPT (rebuilds the backup).
    Primary,
    /// A fresh Solaris GPT around the vdev a scan found.
    Scan,
}

impl RestoreFrom {
    /// `backup`, `primary` or `scan`.
    pub fn parse(s: &str) -> Option<RestoreFrom> {
        match s {
            "backup" => Some(RestoreFrom::Backup),
            "primary" => Some(RestoreFrom::Primary),
            "scan" => Some(RestoreFrom::Scan),
            _ => None,
        }
    }
    /// The word `--from` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreFrom::Backup => "backup",
            RestoreFrom::Primary => "primary",
            RestoreFrom::Scan => "scan",
        }
    }
}

/// A planned `partitions restore`.
pub struct PlannedRestore {
    /// The target spec as given.
    pub target: String,
    /// What the table is rebuilt from.
    pub from: RestoreFrom,
    /// Sector size of the plan (the scan's).
    pub sector_size: u64,
    /// The scan the plan was checked against (its vdevs are watched).
    pub scan: ScanReport,
    /// The edits.
    pub plan: RestorePlan,
    /// The device, opened read-only.
    pub disk: SharedSource,
}

impl PlannedRestore {
    /// The writes that change bytes.
    pub fn changing_writes(&self) -> Vec<&restore::TableWrite> {
        self.plan.writes.iter().filter(|w| w.old != w.new).collect()
    }
}

/// Scans `spec` (read-only, no progress report).
pub fn scan_device(
    spec: &str,
    sector_size: Option<u32>,
    access: &crate::target::AccessOptions,
) -> Result<ScanReport> {
    scan::scan_spec(spec, ScanOptions { sector_size }, access, &mut |_, _| {})
}

/// The vdev a fresh table is laid around: the one named vdev, or the one
/// starting at `start`.
pub fn chosen_vdev(r: &ScanReport, start: Option<u64>) -> Result<&FoundVdev> {
    let named: Vec<&FoundVdev> = r
        .vdevs
        .iter()
        .filter(|v| v.facts.pool_guid.is_some())
        .collect();
    match (start, named.as_slice()) {
        (Some(s), _) => named.iter().copied().find(|v| v.start == s).ok_or_else(|| {
            Error::Usage(format!(
                "--vdev-start {s}: the scan found no vdev starting there"
            ))
        }),
        (None, [one]) => Ok(one),
        (None, []) => Err(Error::Refused(
            "the scan found no vdev: nothing to lay a table around".into(),
        )),
        (None, many) => Err(Error::Usage(format!(
            "the scan found {} vdevs (starts {}); choose one with --vdev-start",
            many.len(),
            many.iter()
                .map(|v| v.start.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Plans `partitions restore` of `spec` from `scan` (a scan of the same
/// device, e.g. [`scan_device`]): the table edits, checked against every
/// vdev the scan found. `sector_size`: as the user forced it (for the
/// refusal's hint); `vdev_start`: with [`RestoreFrom::Scan`] on a disk of
/// several vdevs.
pub fn plan_restore(
    spec: &str,
    scan: ScanReport,
    from: RestoreFrom,
    sector_size: Option<u32>,
    vdev_start: Option<u64>,
    access: &crate::target::AccessOptions,
) -> Result<PlannedRestore> {
    let disk = open_source(spec, false, access)?;
    let ss = u64::from(scan.sector_size);
    let plan = match from {
        RestoreFrom::Primary => restore::from_primary(disk.as_ref(), ss)?,
        RestoreFrom::Scan => {
            restore::from_scan(disk.as_ref(), ss, &chosen_vdev(&scan, vdev_start)?.extent())?
        }
        RestoreFrom::Backup => {
            let last = gpt::last_lba(disk.as_ref(), ss as u32);
            if last.is_some_and(|l| gpt::signature_at(disk.as_ref(), ss as u32, l)) {
                restore::from_backup(disk.as_ref(), ss)?
            } else if scan.sun_labels.iter().any(|l| l.backup_position) {
                restore::vtoc_from_backup(disk.as_ref(), &scan.sun_labels)?
            } else if scan.sun_labels.iter().any(|l| l.x86) {
                restore::x86_vtoc_from_backup(disk.as_ref(), &scan.sun_labels, &extents(&scan))?
            } else {
                return Err(Error::Refused(format!(
                    "no backup GPT header in the last LBA ({ss}-byte sectors) and no backup Sun or x86 VTOC label: nothing to restore from (try --from scan{})",
                    if sector_size.is_none() {
                        ", or --sector-size 4096 for a 4Kn disk"
                    } else {
                        ""
                    }
                )));
            }
        }
    };
    restore::check_accounted(&plan, &extents(&scan))?;
    Ok(PlannedRestore {
        target: spec.to_string(),
        from,
        sector_size: ss,
        scan,
        plan,
        disk,
    })
}

/// The scan's vdevs as a restore sees them.
fn extents(scan: &ScanReport) -> Vec<restore::VdevExtent> {
    scan.vdevs.iter().map(FoundVdev::extent).collect()
}

impl PlannedRestore {
    /// The writes of the plan as one target of a repair transaction (`None`
    /// when no byte changes): one phase per write, each flushed and read
    /// back before the next, so the primary header, last, never points at
    /// an unwritten array.
    pub fn target_plan(&self) -> Option<TargetPlan> {
        let writes = self.changing_writes();
        if writes.is_empty() {
            return None;
        }
        Some(TargetPlan {
            path: target::canonical(&self.target),
            source: self.disk.clone(),
            phases: writes
                .iter()
                .map(|w| {
                    vec![Write {
                        offset: w.offset,
                        what: format!("{} {}", self.target, w.what),
                        old: w.old.clone(),
                        new: w.new.clone(),
                    }]
                })
                .collect(),
        })
    }

    /// Has `tx` watch every vdev the scan found for a live pool.
    pub fn watch(&self, tx: &mut Transaction<'_>) {
        for v in &self.scan.vdevs {
            if let Some(ps) = v.psize {
                tx.watch(
                    &target::canonical(&self.target),
                    v.start,
                    ps,
                    v.facts.ashift,
                );
            }
        }
    }

    /// What the plan changes, one line each: the summary, the entries, the
    /// notes and every write that changes bytes.
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![self.plan.summary.clone()];
        out.extend(self.plan.entries.iter().map(|e| format!("entry: {e}")));
        out.extend(self.plan.notes.iter().map(|n| format!("note: {n}")));
        out.extend(self.changing_writes().iter().map(|w| {
            format!(
                "write {:#x}+{:#x} ({} bytes change): {}",
                w.offset,
                w.new.len(),
                bytes_changed(&w.old, &w.new),
                w.what
            )
        }));
        out
    }
}

/// How many bytes differ between `old` and `new`.
pub fn bytes_changed(old: &[u8], new: &[u8]) -> usize {
    old.iter().zip(new).filter(|(a, b)| a != b).count()
}

/// The repair transaction that applies a planned restore (`None` when no
/// byte changes): [`PlannedRestore::target_plan`], journalled into
/// `journal`, every vdev the scan found watched for a live pool. Commit it
/// (or drop it for a dry run).
pub fn restore_transaction(
    p: &PlannedRestore,
    journal: PathBuf,
    txo: TxOptions,
) -> Option<Transaction<'static>> {
    let tp = p.target_plan()?;
    let mut tx = Transaction::new(
        format!(
            "kzrescue partitions restore {} --from {}",
            p.target,
            p.from.as_str()
        ),
        txo,
    );
    tx.group("partition table", Some(journal), vec![tp]);
    p.watch(&mut tx);
    Some(tx)
}

/// A planned `label repair` of one or more disks.
pub struct PlannedRelabel {
    /// The target specs as given.
    pub targets: Vec<String>,
    /// Their vdevs, opened read-only.
    pub vdevs: Vec<DiskSlice>,
    /// One plan per target.
    pub plans: Vec<RelabelPlan>,
}

impl PlannedRelabel {
    /// Number of label edits over all targets.
    pub fn edits(&self) -> usize {
        self.plans.iter().map(|p| p.edits.len()).sum()
    }

    /// The pool's name, as the first target's labels give it.
    pub fn pool(&self) -> Option<&str> {
        self.plans.first().and_then(|p| p.pool.as_deref())
    }
}

/// The labels of `targets` that are not valid, read back through a fresh
/// read-only open (after a label repair): `TARGET label N: STATUS` each.
pub fn labels_not_valid(targets: &[String], topts: &TargetOptions) -> Result<Vec<String>> {
    let ro = TargetOptions {
        write: false,
        ..topts.clone()
    };
    let mut out = Vec::new();
    for t in targets {
        let v = open_vdev(t, &ro)?;
        for l in label::read_labels(v.source.as_ref()) {
            if l.status != label::LabelStatus::Valid {
                out.push(format!("{t} label {}: {}", l.index, l.status.name()));
            }
        }
    }
    Ok(out)
}

/// The partition table of `spec` as it reads now (after a restore), with
/// `ss`-byte sectors, through a fresh read-only open.
pub fn table_now(
    spec: &str,
    ss: u32,
    access: &crate::target::AccessOptions,
) -> Result<crate::partition::PartitionTable> {
    let src = open_source(spec, false, access)?;
    crate::partition::read(src.as_ref(), Some(ss))
}

/// Reads the four labels of a vdev raw (empty when unreadable).
fn raw_labels(v: &DiskSlice) -> [Vec<u8>; 4] {
    let offs = label::label_offsets(v.source.size());
    std::array::from_fn(|i| {
        read_vec(v.source.as_ref(), offs[i], LABEL_SIZE as usize).unwrap_or_default()
    })
}

fn prefix(e: Error, p: &str) -> Error {
    match e {
        Error::Refused(s) => Error::Refused(format!("{p}{s}")),
        Error::Usage(s) => Error::Usage(format!("{p}{s}")),
        other => other,
    }
}

/// Plans `label repair` of `targets`: each vdev's labels from its own
/// surviving labels only (mirror children never from each other); refused
/// when two targets carry the same vdev guid (the same disk twice, or a
/// copy). `topts.write` is ignored (the plan reads only).
pub fn plan_label_repair(
    targets: &[String],
    topts: &TargetOptions,
    ropts: RelabelOptions,
) -> Result<PlannedRelabel> {
    let ro = TargetOptions {
        write: false,
        ..topts.clone()
    };
    let vdevs: Vec<DiskSlice> = targets
        .iter()
        .map(|t| open_vdev(t, &ro))
        .collect::<Result<_>>()?;
    let mut plans: Vec<RelabelPlan> = Vec::new();
    for (t, v) in targets.iter().zip(&vdevs) {
        let p = relabel::plan(&raw_labels(v), v.source.size(), ropts)
            .map_err(|e| prefix(e, &format!("{t}: ")))?;
        plans.push(p);
    }
    for (i, p) in plans.iter().enumerate() {
        if let Some(j) = plans[..i]
            .iter()
            .position(|q| q.guid.is_some() && q.guid == p.guid)
        {
            return Err(Error::Refused(format!(
                "{} and {} carry the same vdev guid {}: the same disk twice, or a copy; nothing written",
                targets[j],
                targets[i],
                p.guid.unwrap_or(0)
            )));
        }
    }
    Ok(PlannedRelabel {
        targets: targets.to_vec(),
        vdevs,
        plans,
    })
}

/// The repair transaction that applies a planned label repair (`None` when
/// no label changes): per disk two phases in ZFS's order (see
/// [`relabel::second_phase_start`]), journalled into `journal`, every
/// disk's vdev watched for a live pool.
pub fn label_repair_transaction(
    p: &PlannedRelabel,
    journal: PathBuf,
    txo: TxOptions,
) -> Option<Transaction<'static>> {
    if p.edits() == 0 {
        return None;
    }
    let target_plans: Vec<TargetPlan> = p
        .targets
        .iter()
        .zip(&p.vdevs)
        .zip(&p.plans)
        .filter(|(_, pl)| !pl.edits.is_empty())
        .map(|((t, v), pl)| {
            let base = v.partition.as_ref().map_or(0, |x| x.start);
            let w = |e: &relabel::LabelEdit| Write {
                offset: base + e.offset,
                what: format!("{t} {}", e.what),
                old: e.old.clone(),
                new: e.new.clone(),
            };
            let k = relabel::second_phase_start(&pl.edits);
            TargetPlan {
                path: target::canonical(t),
                source: v.disk.clone(),
                phases: vec![
                    pl.edits[..k].iter().map(w).collect(),
                    pl.edits[k..].iter().map(w).collect(),
                ],
            }
        })
        .collect();
    let mut tx = Transaction::new(
        format!("kzrescue label repair {}", p.targets.join(" ")),
        txo,
    );
    tx.group("vdev labels", Some(journal), target_plans);
    for (t, v) in p.targets.iter().zip(&p.vdevs) {
        let ashift = label::read_labels(v.source.as_ref())
            .iter()
            .find_map(|l| l.ashift());
        let (start, len) = v
            .partition
            .as_ref()
            .map_or((0, v.disk.size()), |x| (x.start, x.len));
        tx.watch(&target::canonical(t), start, len, ashift);
    }
    Some(tx)
}

/// How a writer writes: the transaction's options, whether to write (else
/// a dry run), and the undo journal's path for a name (the pool's, or the
/// disk's file name), asked for only when something is to be written.
pub struct WriteOptions<'a> {
    /// The transaction's options.
    pub tx: TxOptions,
    /// Write (else only the transaction's preflight: a dry run).
    pub write: bool,
    /// The undo journal's path for a name.
    pub journal: &'a dyn Fn(&str) -> PathBuf,
}

/// How a writer ran.
#[derive(Debug, Clone)]
pub struct WriterRun {
    /// What it planned and did.
    pub report: RecoveryReport,
    /// A dry run: the plan passed the preflight, nothing was written.
    pub dry_run: bool,
    /// Something is left to fix: a label left alone (nothing written) or
    /// not valid after the repair, or notes on the table after a restore.
    pub problems: bool,
}

impl WriterRun {
    fn dry_run(mut report: RecoveryReport, tx: &Transaction<'_>) -> Result<WriterRun> {
        tx.dry_run()?;
        report.dry_run();
        Ok(WriterRun {
            report,
            dry_run: true,
            problems: false,
        })
    }
}

/// `label repair` of `targets`: plans ([`plan_label_repair`]), then
/// commits the transaction ([`label_repair_transaction`]) or only checks
/// it (a dry run), then reads the labels back ([`labels_not_valid`]).
pub fn label_repair(
    targets: &[String],
    topts: &TargetOptions,
    ropts: RelabelOptions,
    w: WriteOptions<'_>,
) -> Result<WriterRun> {
    let planned = plan_label_repair(targets, topts, ropts)?;
    let mut report = RecoveryReport::relabel(&planned, ropts.reseal_only);
    let journal = (w.journal)(planned.pool().unwrap_or("pool"));
    let tx = match label_repair_transaction(&planned, journal, w.tx) {
        Some(tx) if planned.edits() > 0 => tx,
        _ => {
            report.unchanged("every label is valid");
            let problems = planned.plans.iter().any(|p| !p.left.is_empty());
            return Ok(WriterRun {
                report,
                dry_run: false,
                problems,
            });
        }
    };
    if !w.write {
        return WriterRun::dry_run(report, &tx);
    }
    drop(planned);
    report.committed(&tx.commit()?);
    let still_bad = labels_not_valid(targets, topts)?;
    report.labels_after(&still_bad);
    Ok(WriterRun {
        report,
        dry_run: false,
        problems: !still_bad.is_empty(),
    })
}

/// `partitions restore` of `spec`: scans it (`progress(done, total)` after
/// each chunk), plans ([`plan_restore`]), then commits the transaction
/// ([`restore_transaction`]) or only checks it (a dry run), then reads the
/// table back ([`table_now`]).
pub fn restore(
    spec: &str,
    from: RestoreFrom,
    sector_size: Option<u32>,
    vdev_start: Option<u64>,
    access: &crate::target::AccessOptions,
    w: WriteOptions<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<WriterRun> {
    let r = scan::scan_spec(spec, ScanOptions { sector_size }, access, progress)?;
    let planned = plan_restore(spec, r, from, sector_size, vdev_start, access)?;
    let mut report = RecoveryReport::restore(&planned);
    let disk = std::path::Path::new(spec)
        .file_name()
        .map_or_else(|| spec.to_string(), |n| n.to_string_lossy().into_owned());
    // no transaction when no byte changes: say so, in text and JSON alike
    let Some(tx) = restore_transaction(&planned, (w.journal)(&disk), w.tx) else {
        report.unchanged("the table is already there");
        return Ok(WriterRun {
            report,
            dry_run: false,
            problems: false,
        });
    };
    if !w.write {
        return WriterRun::dry_run(report, &tx);
    }
    let ss = planned.sector_size as u32;
    drop(planned);
    report.committed(&tx.commit()?);
    let t = table_now(spec, ss, access)?;
    report.table_after(&t);
    Ok(WriterRun {
        report,
        dry_run: false,
        problems: !t.notes.is_empty(),
    })
}
