//! `physpath set` as one workflow: open every disk of the mirror read-only,
//! turn the request into each disk's leaf fields, [`plan`] the
//! label edits, warn about siblings left out, run the one repair
//! [`Transaction`] (or its dry run), and verify through a fresh read-only
//! open that every label says what was asked.

use super::apply::Outcome;
use super::plan::{self, DevidChange, DiskInput, FieldChange, LeafFields, Plan, PlanOptions};
use super::report::LivenessReport;
use super::transaction::{Committed, Transaction, TxOptions};
use crate::error::{Error, Result};
use crate::target::{self, DiskSlice, TargetOptions, open_vdev};
use crate::zfs::label;
use crate::zfs::vdev_tree;
use crate::zone::physpath::{first_valid_tree, quoted};
use crate::zone::zvblk::{self, UnitRadix};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// What `physpath set` is asked to write. The per-target lists hold one
/// value per target, in order, or none.
#[derive(Debug, Clone, Default)]
pub struct SetRequest {
    /// The disks: one, or every disk of a mirrored root pool.
    pub targets: Vec<String>,
    /// How to open them (`write` is ignored: planning reads only).
    pub open: TargetOptions,
    /// zonecfg device id per target: phys_path `/zvnex/zvblk@<id>:<letter>`.
    pub device_id: Vec<u64>,
    /// How the unit address spells the device id.
    pub radix: UnitRadix,
    /// phys_path verbatim, per target (instead of `device_id`).
    pub phys_path: Vec<String>,
    /// New `path` per target.
    pub path: Vec<String>,
    /// New `devid` per target.
    pub devid: Vec<String>,
    /// Remove `devid`.
    pub clear_devid: bool,
    /// Accept a single valid label, labels of different txgs, an odd devid.
    pub force: bool,
}

/// How the plan is carried out.
pub struct SetWrite<'a> {
    /// Write (else a dry run: the transaction's preflight only).
    pub write: bool,
    /// The transaction's options.
    pub tx: TxOptions,
    /// Recorded in the journal (the command line).
    pub purpose: String,
    /// The undo journal to create, given the pool's name.
    pub journal: &'a dyn Fn(&str) -> PathBuf,
}

/// The planned rewrite: the disks as opened, their plan inputs and the plan.
pub struct PlannedSet {
    /// Per target, opened read-only.
    pub vdevs: Vec<DiskSlice>,
    /// Per target, what its leaf should say.
    pub inputs: Vec<DiskInput>,
    /// The label edits.
    pub plan: Plan,
    opts: PlanOptions,
    open: TargetOptions,
    plan_ms: f64,
}

/// What happened: `unchanged`, `dry-run` or `written`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SetResult {
    /// Every label already said this: nothing written, no journal.
    Unchanged,
    /// A dry run: nothing written.
    DryRun,
    /// Written, flushed, read back and verified.
    Written,
}

/// One changed field in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeDoc {
    /// Value after (`None`: removed).
    pub after: Option<String>,
    /// Value before (`None`: absent).
    pub before: Option<String>,
    /// `phys_path`, `path` or `devid`.
    pub field: &'static str,
    /// Label number.
    pub label: usize,
    /// The leaf's guid.
    pub leaf_guid: u64,
    /// The disk.
    pub target: String,
}

/// How long the steps took, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// Journal, writes, flushes and read-backs (with the liveness wait).
    pub journal_write_flush_readback: f64,
    /// Reading the labels and planning.
    pub plan: f64,
    /// Reading everything back through a fresh open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<f64>,
}

/// The report of `physpath set` (`kzrescue.physpath-set/1`, keys in
/// alphabetical order).
#[derive(Debug, Clone, Serialize)]
pub struct SetReport {
    /// Every changed field.
    pub changes: Vec<ChangeDoc>,
    /// 0, or 1 when the mirror's disks are out of sync.
    pub exit: u8,
    /// The undo journal written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
    /// The liveness check, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessReport>,
    /// What happened.
    pub result: SetResult,
    /// The vdevs as opened.
    pub targets: Vec<String>,
    /// Step times, after a commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing_ms: Option<Timing>,
    /// Things the admin should know.
    pub warnings: Vec<String>,
    /// Labels written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes: Option<usize>,
    /// Bytes written.
    #[serde(skip)]
    pub bytes: u64,
    /// The liveness check as text.
    #[serde(skip)]
    pub liveness_text: Option<String>,
    /// Whether the plan changed nothing (before any transaction).
    #[serde(skip)]
    pub noop: bool,
}

impl SetReport {
    /// The `kzrescue.physpath-set/1` document (without its `schema`).
    pub fn json(&self) -> Result<serde_json::Value> {
        super::report::sorted_json(self)
    }

    /// What `physpath set` prints after its plan: the liveness check and
    /// [`SetReport::message`].
    pub fn text(&self) -> String {
        let mut s = self.liveness_text.clone().unwrap_or_default();
        if let Some(m) = self.message() {
            s.push_str(&m);
            s.push('\n');
        }
        s
    }

    /// The last line of the text report (none for a dry run).
    pub fn message(&self) -> Option<String> {
        match (self.result, &self.journal) {
            (SetResult::DryRun, _) => None,
            (SetResult::Unchanged, _) if self.noop => Some(
                "nothing to do: every label already says this (no journal, nothing written)".into(),
            ),
            (SetResult::Written, Some(j)) => Some(format!(
                "wrote {} label(s) ({} bytes), each flushed and read back; undo journal: {j} \
                 (kzrescue undo {j} --write restores)",
                self.writes.unwrap_or(0),
                self.bytes,
            )),
            _ => Some("nothing to do: every label already says this".into()),
        }
    }
}

/// Picks the i-th of a per-target list (one value per target, or none).
fn per_target<'a>(what: &str, v: &'a [String], i: usize, n: usize) -> Result<Option<&'a str>> {
    match v.len() {
        0 => Ok(None),
        k if k == n => Ok(Some(v[i].as_str())),
        k => Err(Error::Usage(format!(
            "--{what} is given {k} times for {n} targets: give it once per target, in order"
        ))),
    }
}

/// The phys_path of target `i`: verbatim, or from its device id and the
/// minor letter of its slice.
fn phys_path_of(r: &SetRequest, i: usize, v: &DiskSlice) -> Result<String> {
    let t = &r.targets[i];
    if let Some(p) = per_target("phys-path", &r.phys_path, i, r.targets.len())? {
        return Ok(p.to_string());
    }
    let Some(p) = &v.partition else {
        return Err(Error::Usage(format!(
            "{t} has no partition table, so its slice letter is unknown: give \
             --phys-path verbatim"
        )));
    };
    if zvblk::slice_letter(p.slice).is_none() {
        return Err(Error::Usage(format!(
            "{t}: slice {} has no Solaris minor letter",
            p.slice
        )));
    }
    Ok(zvblk::phys_path(r.device_id[i], p.letter, r.radix))
}

/// The plan input of each target: the fields asked for, on the vdev
/// opened read-only.
fn inputs(r: &SetRequest, vdevs: &[DiskSlice]) -> Result<Vec<DiskInput>> {
    let n = r.targets.len();
    if r.device_id.is_empty() && r.phys_path.is_empty() {
        return Err(Error::Usage(
            "physpath set needs --device-id N or --phys-path P (once per target)".into(),
        ));
    }
    if !r.device_id.is_empty() && r.device_id.len() != n {
        return Err(Error::Usage(format!(
            "--device-id is given {} value(s) for {n} targets: give one per target, in order",
            r.device_id.len()
        )));
    }
    let mut inputs = Vec::new();
    for (i, (t, v)) in r.targets.iter().zip(vdevs).enumerate() {
        let phys_path = phys_path_of(r, i, v)?;
        let devid = match (r.clear_devid, per_target("devid", &r.devid, i, n)?) {
            (true, _) => DevidChange::Clear,
            (false, Some(d)) => DevidChange::Set(d.to_string()),
            (false, None) => DevidChange::Keep,
        };
        let path = per_target("path", &r.path, i, n)?.map(str::to_string);
        inputs.push(input(target::canonical(t), v, phys_path, path, devid));
    }
    Ok(inputs)
}

fn input(
    name: String,
    v: &DiskSlice,
    phys_path: String,
    path: Option<String>,
    devid: DevidChange,
) -> DiskInput {
    DiskInput {
        name,
        disk: v.disk.clone(),
        vdev: v.source.clone(),
        vdev_start: v.partition.as_ref().map_or(0, |p| p.start),
        fields: LeafFields {
            phys_path,
            path,
            devid,
        },
    }
}

/// Warnings for the other sides of a mirror that are not being set: their
/// own labels keep this disk's old child entry (from the vdev tree in the
/// labels of the disks being set).
fn mirror_warnings(targets: &[String], vdevs: &[DiskSlice], p: &Plan) -> Vec<String> {
    let setting: Vec<u64> = p.disks.iter().map(|d| d.guid).collect();
    let mut out = Vec::new();
    for (t, v) in targets.iter().zip(vdevs) {
        let labels = label::read_labels(v.source.as_ref());
        let Some((tree, Some(this))) = first_valid_tree(&labels) else {
            continue;
        };
        let Some(me) = vdev_tree::find_guid(tree, this) else {
            continue;
        };
        let Some((_, parent)) = me.position.split_last() else {
            continue; // a single-disk pool: no sibling
        };
        let nodes = vdev_tree::nodes(tree);
        let Some(kind) = nodes
            .iter()
            .find(|n| n.position == parent)
            .and_then(|n| n.vdev_type())
        else {
            continue;
        };
        let stale: Vec<String> = nodes
            .iter()
            .filter(|n| n.is_leaf() && n.position.starts_with(parent) && n.position != me.position)
            .filter(|n| n.guid().is_none_or(|g| !setting.contains(&g)))
            .map(|n| {
                format!(
                    "leaf {} (path {}, phys_path {})",
                    n.guid().map_or("-".into(), |g| g.to_string()),
                    quoted(n.path()),
                    quoted(n.phys_path())
                )
            })
            .collect();
        if stale.is_empty() {
            continue;
        }
        out.push(format!(
            "{t} is one side of a {kind}; the other side ({}) is not being set, and its own \
             labels keep a stale child entry for this disk (the old phys_path/path/devid): \
             give every disk of the {kind} to one `physpath set` (with one --device-id per \
             disk, in order) to keep them in step",
            stale.join("; ")
        ));
    }
    out
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Opens every target read-only and plans the rewrite (with the warnings
/// about mirror sides left out).
pub fn plan_set(r: &SetRequest) -> Result<PlannedSet> {
    let open = TargetOptions {
        write: false,
        ..r.open.clone()
    };
    let vdevs: Vec<DiskSlice> = r
        .targets
        .iter()
        .map(|t| open_vdev(t, &open))
        .collect::<Result<_>>()?;
    let inputs = inputs(r, &vdevs)?;
    let opts = PlanOptions { force: r.force };
    let t_plan = Instant::now();
    let mut plan = plan::plan(&inputs, opts)?;
    let plan_ms = ms(t_plan);
    if !plan.is_noop() {
        plan.warnings
            .extend(mirror_warnings(&r.targets, &vdevs, &plan));
    }
    Ok(PlannedSet {
        vdevs,
        inputs,
        plan,
        opts,
        open,
        plan_ms,
    })
}

impl PlannedSet {
    /// 1 when the mirror's disks are out of sync, else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.plan.out_of_sync)
    }

    /// The plan as text: the vdevs, each disk's pool and leaf, then one
    /// line per (disk, leaf, field, before, after) listing its labels.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for v in &self.vdevs {
            let _ = writeln!(s, "{}", v.describe());
        }
        let p = &self.plan;
        for d in &p.disks {
            let _ = writeln!(
                s,
                "{}: pool '{}' (guid {}), this leaf {}, txg {}, valid labels {:?}",
                d.name, d.pool, d.pool_guid, d.guid, d.txg, d.valid
            );
        }
        let mut groups: Vec<(&FieldChange, Vec<String>)> = Vec::new();
        for c in &p.changes {
            let key = |g: &FieldChange| {
                (
                    g.disk,
                    g.leaf_guid,
                    g.field,
                    g.before.clone(),
                    g.after.clone(),
                )
            };
            match groups.iter_mut().find(|(g, _)| key(g) == key(c)) {
                Some((_, labels)) => labels.push(c.label.to_string()),
                None => groups.push((c, vec![c.label.to_string()])),
            }
        }
        for (c, labels) in groups {
            let _ = writeln!(
                s,
                "  {} labels {} leaf {} {}: {} -> {}",
                p.disks[c.disk].name,
                labels.join(" "),
                c.leaf_guid,
                c.field,
                quoted(c.before.as_deref()),
                c.after
                    .as_deref()
                    .map_or("(removed)".into(), |s| format!("'{s}'"))
            );
        }
        s
    }

    /// The report before any write (`result` filled in by the caller).
    fn report(&self, result: SetResult) -> SetReport {
        let p = &self.plan;
        SetReport {
            changes: p
                .changes
                .iter()
                .map(|c| ChangeDoc {
                    after: c.after.clone(),
                    before: c.before.clone(),
                    field: c.field,
                    label: c.label,
                    leaf_guid: c.leaf_guid,
                    target: p.disks[c.disk].name.clone(),
                })
                .collect(),
            exit: self.exit_code(),
            journal: None,
            liveness: None,
            result,
            targets: self.vdevs.iter().map(|v| v.describe()).collect(),
            timing_ms: None,
            warnings: p.warnings.clone(),
            writes: None,
            bytes: 0,
            liveness_text: None,
            noop: p.is_noop(),
        }
    }

    /// The transaction: every disk's label writes in one journalled group
    /// (L0+L2, then L1+L3), every vdev watched for a live pool.
    pub fn transaction(
        &self,
        purpose: String,
        journal: PathBuf,
        tx: TxOptions,
    ) -> Transaction<'static> {
        let disks: Vec<_> = self.vdevs.iter().map(|v| v.disk.clone()).collect();
        let mut t = Transaction::new(purpose, tx);
        t.group("vdev labels", Some(journal), self.plan.target_plans(&disks));
        for (d, v) in self.inputs.iter().zip(&self.vdevs) {
            let labels = label::read_labels(v.source.as_ref());
            let ashift = labels.iter().find_map(|l| l.ashift());
            t.watch(&d.name, d.vdev_start, v.source.size(), ashift);
        }
        t
    }

    /// Carries the plan out as `w` says: nothing when it changes nothing,
    /// the transaction's dry run, or the transaction and the verification.
    pub fn carry_out(&self, w: &SetWrite<'_>) -> Result<SetReport> {
        if self.plan.is_noop() {
            return Ok(self.report(SetResult::Unchanged));
        }
        let pool = self
            .plan
            .disks
            .first()
            .map(|d| d.pool.clone())
            .unwrap_or_default();
        let tx = self.transaction(w.purpose.clone(), (w.journal)(&pool), w.tx.clone());
        if !w.write {
            tx.dry_run()?;
            return Ok(self.report(SetResult::DryRun));
        }
        let t_apply = Instant::now();
        let done = tx.commit()?;
        let apply_ms = ms(t_apply);
        self.verify(done, apply_ms)
    }

    /// After the transaction: every label read back through a fresh
    /// read-only open must say what was asked.
    fn verify(&self, done: Committed, apply_ms: f64) -> Result<SetReport> {
        let mut report = self.report(SetResult::Unchanged);
        report.liveness = done.liveness.as_ref().map(LivenessReport::of);
        report.liveness_text = done.liveness.as_ref().map(super::report::liveness_text);
        let mut timing = Timing {
            journal_write_flush_readback: apply_ms,
            plan: self.plan_ms,
            verify: None,
        };
        let outcome = match done.groups.first() {
            Some(g) if g.writes > 0 => Outcome::Applied {
                journal: g.journal.clone().unwrap_or_default(),
                writes: g.writes,
                bytes: g.bytes,
            },
            _ => Outcome::Unchanged,
        };
        let Outcome::Applied {
            journal,
            writes,
            bytes,
        } = outcome
        else {
            report.timing_ms = Some(timing);
            return Ok(report);
        };
        let t_verify = Instant::now();
        let again = plan::plan(&self.reopen()?, self.opts)?;
        if !again.is_noop() {
            return Err(Error::corrupt(
                "vdev label",
                0,
                format!(
                    "after writing, {} field(s) still differ; `kzrescue undo {} --write` \
                     restores the old labels",
                    again.changes.len(),
                    journal.display()
                ),
            ));
        }
        timing.verify = Some(ms(t_verify));
        report.result = SetResult::Written;
        report.journal = Some(journal.display().to_string());
        report.writes = Some(writes);
        report.bytes = bytes;
        report.timing_ms = Some(timing);
        Ok(report)
    }

    /// A fresh read-only plan input for the same disks.
    fn reopen(&self) -> Result<Vec<DiskInput>> {
        self.inputs
            .iter()
            .map(|d| {
                let v = open_vdev(&d.name, &self.open)?;
                let f = d.fields.clone();
                Ok(input(d.name.clone(), &v, f.phys_path, f.path, f.devid))
            })
            .collect()
    }
}
