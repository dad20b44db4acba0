//! `kzrescue physpath`: show the leaf paths in the labels of a disk (or of
//! every disk of a mirror, side by side), and `kzrescue physpath set`:
//! rewrite them the way a kernel zone expects.

use super::target::parse_sector_size;
use super::write::WriteArgs;
use super::{EXIT_OK, EXIT_PROBLEMS};
use kzrescue::repair::apply::Outcome;
use kzrescue::repair::liveness::Quiet;
use kzrescue::repair::plan::{self, DevidChange, DiskInput, LeafFields, Plan, PlanOptions};
use kzrescue::repair::transaction::Transaction;
use kzrescue::target::{TargetOptions, Vdev, open_vdev};
use kzrescue::zfs::label::{self, LabelRead, LabelStatus};
use kzrescue::zfs::vdev_tree;
use kzrescue::zone::zvblk::{self, UnitRadix};
use kzrescue::{Error, Result};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// `schema` of `physpath --json`.
pub const SCHEMA_SHOW: &str = "kzrescue.physpath/1";
/// `schema` of `physpath set --json`.
pub const SCHEMA_SET: &str = "kzrescue.physpath-set/1";

/// Arguments of `kzrescue physpath`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PhysPathArgs {
    #[command(subcommand)]
    set: Option<PhysPathCommand>,
    /// The disk(s): an image file, a block device or a storage URI (a whole
    /// disk, whose ZFS slice is found in its partition table, or a bare
    /// vdev); several are the disks of one mirror, shown side by side.
    #[arg(required = true, value_name = "TARGET")]
    targets: Vec<String>,
    #[command(flatten)]
    common: CommonTarget,
    /// Print JSON (schema kzrescue.physpath/1).
    #[arg(long)]
    json: bool,
}

/// Target options shared by both forms.
#[derive(clap::Args, Debug, Clone, Default)]
struct CommonTarget {
    /// Use this Solaris slice instead of the disk's one ZFS slice.
    #[arg(long, value_name = "N", value_parser = super::bounds::parse_slice)]
    slice: Option<u32>,
    /// Logical sector size of the disk (512 or 4096); detected by default.
    #[arg(long, value_name = "BYTES", value_parser = parse_sector_size)]
    sector_size: Option<u32>,
}

impl CommonTarget {
    fn open(&self, spec: &str, write: bool) -> Result<Vdev> {
        open_vdev(
            spec,
            &TargetOptions {
                slice: self.slice,
                sector_size: self.sector_size,
                write,
                access: super::context::get().access()?,
            },
        )
    }
}

#[derive(clap::Subcommand, Debug)]
enum PhysPathCommand {
    /// Rewrite this disk's leaf (phys_path, optionally path and devid) in
    /// every label; several targets are the disks of one mirror.
    Set(SetArgs),
}

/// Arguments of `kzrescue physpath set`.
#[derive(clap::Args, Debug)]
struct SetArgs {
    /// The disk(s): one, or every disk of a mirrored root pool (image files,
    /// block devices or storage URIs).
    #[arg(required = true, value_name = "TARGET")]
    targets: Vec<String>,
    #[command(flatten)]
    common: CommonTarget,
    /// zonecfg device id of each target, in order (`--device-id 0 1`, or
    /// the flag once per target): sets phys_path to
    /// /zvnex/zvblk@<id>:<letter of the pool's slice on that disk>.
    #[arg(long, value_name = "N", num_args = 1.., conflicts_with = "phys_path")]
    device_id: Vec<u64>,
    /// Write the unit address of ids ≥ 10 in decimal (default: hex, the
    /// illumos unit-address custom; Oracle does not document which).
    #[arg(long)]
    decimal_unit: bool,
    /// phys_path verbatim, one per target.
    #[arg(long, value_name = "P")]
    phys_path: Vec<String>,
    /// Also set `path` (the guest's view, e.g. /dev/dsk/c1d0s1), one per target.
    #[arg(long, value_name = "P")]
    path: Vec<String>,
    /// Set `devid`, one per target.
    #[arg(long, value_name = "V", conflicts_with = "clear_devid")]
    devid: Vec<String>,
    /// Remove `devid` (a stale one only costs a fallback; a malformed one is fatal).
    #[arg(long)]
    clear_devid: bool,
    #[command(flatten)]
    w: WriteArgs,
    /// The undo journal to create (must not exist; default: in the journal
    /// directory, kzrescue-physpath-<pool>-<unix seconds>.kzj).
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// Accept a single valid label, labels that disagree in txg, or an odd devid.
    #[arg(long)]
    force: bool,
    /// Print JSON (schema kzrescue.physpath-set/1).
    #[arg(long)]
    json: bool,
}

/// Runs `kzrescue physpath …`.
pub fn run(args: PhysPathArgs) -> Result<u8> {
    match args.set {
        Some(PhysPathCommand::Set(s)) => set(s),
        None => show(&args.targets, &args.common, args.json),
    }
}

fn opt(s: Option<&str>) -> String {
    s.map_or("-".into(), |s| format!("'{s}'"))
}

/// One disk as `physpath` shows it: the vdev opened and its four labels.
struct Shown {
    spec: String,
    vdev: Vdev,
    labels: Vec<LabelRead>,
}

impl Shown {
    fn letter(&self) -> Option<char> {
        self.vdev.partition.as_ref().map(|p| p.letter)
    }

    /// The first valid label's vdev tree and this disk's guid in it.
    fn tree(&self) -> Option<(&kzrescue::zfs::nvlist::NvList, Option<u64>)> {
        self.labels
            .iter()
            .filter(|l| l.status == LabelStatus::Valid)
            .find_map(|l| Some((l.config.as_ref()?.get_list("vdev_tree")?, l.u64("guid"))))
    }

    fn json(&self) -> serde_json::Value {
        let labels: Vec<_> = self.labels.iter().map(label_json).collect();
        json!({
            "target": self.vdev.describe(),
            "slice_letter": self.letter().map(|c| c.to_string()),
            "labels": labels,
        })
    }
}

fn label_json(l: &LabelRead) -> serde_json::Value {
    let this = l.u64("guid");
    let leaves: Vec<_> = l
        .config
        .as_ref()
        .and_then(|c| c.get_list("vdev_tree"))
        .map(|t| {
            vdev_tree::leaves(t)
                .iter()
                .map(|n| {
                    json!({
                        "guid": n.guid(),
                        "type": n.vdev_type(),
                        "path": n.path(),
                        "devid": n.devid(),
                        "phys_path": n.phys_path(),
                        "this_disk": this.is_some() && n.guid() == this,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "label": l.index,
        "status": l.status.name(),
        "problem": l.problem,
        "pool": l.config.as_ref().and_then(|c| c.get_str("name")),
        "txg": l.u64("txg"),
        "guid": this,
        "leaves": leaves,
    })
}

fn print_disk(d: &Shown) {
    println!("{}", d.vdev.describe());
    for l in &d.labels {
        println!(
            "label {}: {}{}",
            l.index,
            l.status.name(),
            match (
                l.config.as_ref().and_then(|c| c.get_str("name")),
                l.u64("txg")
            ) {
                (Some(n), Some(t)) => format!(" (pool '{n}', txg {t})"),
                (Some(n), None) => format!(" (pool '{n}')"),
                _ => String::new(),
            }
        );
        let this = l.u64("guid");
        let Some(tree) = l.config.as_ref().and_then(|c| c.get_list("vdev_tree")) else {
            continue;
        };
        for n in vdev_tree::leaves(tree) {
            let mark = if this.is_some() && n.guid() == this {
                "  <- this disk"
            } else {
                ""
            };
            println!(
                "  leaf {} ({}){mark}",
                n.guid().map_or("-".into(), |g| g.to_string()),
                n.vdev_type().unwrap_or("?")
            );
            println!("    path:      {}", opt(n.path()));
            println!("    devid:     {}", opt(n.devid()));
            println!("    phys_path: {}", opt(n.phys_path()));
        }
    }
}

/// The leaves of a mirror as each disk's first valid label records them,
/// one column per disk: where the disks disagree about a sibling, one of
/// them holds a stale child entry.
fn print_side_by_side(disks: &[Shown]) {
    println!();
    println!("side by side (the first valid label of each disk):");
    let mut guids: Vec<u64> = Vec::new();
    for d in disks {
        if let Some((t, _)) = d.tree() {
            for n in vdev_tree::leaves(t) {
                if let Some(g) = n.guid().filter(|g| !guids.contains(g)) {
                    guids.push(g);
                }
            }
        }
    }
    for g in guids {
        let owner = disks
            .iter()
            .position(|d| d.tree().is_some_and(|(_, this)| this == Some(g)));
        println!(
            "  leaf {g}{}",
            owner.map_or(String::new(), |i| format!(" (disk {})", disks[i].spec))
        );
        type Field = for<'a> fn(&vdev_tree::VdevNode<'a>) -> Option<&'a str>;
        let fields: [(&str, Field); 3] = [
            ("path", |n| n.path()),
            ("devid", |n| n.devid()),
            ("phys_path", |n| n.phys_path()),
        ];
        for (name, f) in fields {
            let cols: Vec<String> = disks
                .iter()
                .map(|d| {
                    let v = d
                        .tree()
                        .and_then(|(t, _)| vdev_tree::find_guid(t, g))
                        .map_or("(absent)".to_string(), |n| opt(f(&n)));
                    format!("{}: {v}", d.spec)
                })
                .collect();
            let differ = cols
                .iter()
                .map(|c| c.split_once(": ").map_or("", |x| x.1))
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                > 1;
            println!(
                "    {name:<10} {}{}",
                cols.join("   "),
                if differ { "   <- differ" } else { "" }
            );
        }
    }
}

fn show(specs: &[String], common: &CommonTarget, as_json: bool) -> Result<u8> {
    let disks: Vec<Shown> = specs
        .iter()
        .map(|s| {
            let vdev = common.open(s, false)?;
            let labels = label::read_labels(vdev.source.as_ref());
            Ok(Shown {
                spec: s.clone(),
                vdev,
                labels,
            })
        })
        .collect::<Result<_>>()?;
    let bad = disks
        .iter()
        .any(|d| d.labels.iter().any(|l| l.status != LabelStatus::Valid));
    let code = if bad { EXIT_PROBLEMS } else { EXIT_OK };
    if as_json {
        let doc = json!({
            "disks": disks.iter().map(Shown::json).collect::<Vec<_>>(),
            "exit": code,
        });
        super::out::print_json(SCHEMA_SHOW, &doc)?;
        return Ok(code);
    }
    for (i, d) in disks.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print_disk(d);
    }
    if disks.len() > 1 {
        print_side_by_side(&disks);
    }
    let letters: Vec<char> = disks.iter().filter_map(Shown::letter).collect();
    if letters.len() == disks.len() {
        let slots: Vec<String> = letters.iter().map(|c| format!("<device id>:{c}")).collect();
        let ids: Vec<String> = (0..disks.len()).map(|i| format!("N{}", i + 1)).collect();
        let (ids, slots) = if disks.len() == 1 {
            ("N".to_string(), format!("/zvnex/zvblk@{}", slots[0]))
        } else {
            (
                ids.join(" "),
                format!("/zvnex/zvblk@{}", slots.join(", /zvnex/zvblk@")),
            )
        };
        println!(
            "a kernel zone sees {} as {slots} (set it with: kzrescue physpath set {} \
             --device-id {ids} --write)",
            if disks.len() == 1 {
                "this slice"
            } else {
                "these slices"
            },
            specs.join(" ")
        );
    }
    Ok(code)
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

/// The plan input of each target: the fields asked for, on the vdev opened
/// read-only.
fn inputs(a: &SetArgs, vdevs: &[Vdev]) -> Result<Vec<DiskInput>> {
    let n = a.targets.len();
    if a.device_id.is_empty() && a.phys_path.is_empty() {
        return Err(Error::Usage(
            "physpath set needs --device-id N or --phys-path P (once per target)".into(),
        ));
    }
    if !a.device_id.is_empty() && a.device_id.len() != n {
        return Err(Error::Usage(format!(
            "--device-id is given {} value(s) for {n} targets: give one per target, in order",
            a.device_id.len()
        )));
    }
    let radix = if a.decimal_unit {
        UnitRadix::Decimal
    } else {
        UnitRadix::Hex
    };
    let mut inputs = Vec::new();
    for (i, (t, v)) in a.targets.iter().zip(vdevs).enumerate() {
        let phys_path = match per_target("phys-path", &a.phys_path, i, n)? {
            Some(p) => p.to_string(),
            None => {
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
                zvblk::phys_path(a.device_id[i], p.letter, radix)
            }
        };
        let devid = if a.clear_devid {
            DevidChange::Clear
        } else {
            match per_target("devid", &a.devid, i, n)? {
                Some(d) => DevidChange::Set(d.to_string()),
                None => DevidChange::Keep,
            }
        };
        inputs.push(DiskInput {
            name: canonical(t),
            disk: v.disk.clone(),
            vdev: v.source.clone(),
            vdev_start: v.partition.as_ref().map_or(0, |p| p.start),
            fields: LeafFields {
                phys_path,
                path: per_target("path", &a.path, i, n)?.map(str::to_string),
                devid,
            },
        });
    }
    Ok(inputs)
}

/// Warnings for the other sides of a mirror that are not being set: their
/// own labels keep this disk's old child entry (from the vdev tree in the
/// labels of the disks being set).
fn mirror_warnings(a: &SetArgs, vdevs: &[Vdev], p: &Plan) -> Vec<String> {
    let setting: Vec<u64> = p.disks.iter().map(|d| d.guid).collect();
    let mut out = Vec::new();
    for (t, v) in a.targets.iter().zip(vdevs) {
        let labels = label::read_labels(v.source.as_ref());
        let Some((tree, Some(this))) = labels
            .iter()
            .filter(|l| l.status == LabelStatus::Valid)
            .find_map(|l| Some((l.config.as_ref()?.get_list("vdev_tree")?, l.u64("guid"))))
        else {
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
                    opt(n.path()),
                    opt(n.phys_path())
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

fn set(a: SetArgs) -> Result<u8> {
    let tx_opts = a.w.tx_options()?;
    // Open everything read-only and plan.
    let vdevs: Vec<Vdev> = a
        .targets
        .iter()
        .map(|t| a.common.open(t, false))
        .collect::<Result<_>>()?;
    let inputs = inputs(&a, &vdevs)?;
    let opts = PlanOptions { force: a.force };
    let t_plan = Instant::now();
    let mut p = plan::plan(&inputs, opts)?;
    let plan_ms = ms(t_plan);
    if !p.is_noop() {
        p.warnings.extend(mirror_warnings(&a, &vdevs, &p));
    }
    let mut report = json!({
        "targets": vdevs.iter().map(|v| v.describe()).collect::<Vec<_>>(),
        "changes": changes_json(&p),
        "warnings": p.warnings,
        "exit": code(&p),
    });
    if !a.json {
        for v in &vdevs {
            println!("{}", v.describe());
        }
        print_plan(&p);
    }
    for w in &p.warnings {
        eprintln!("warning: {w}");
    }
    if p.is_noop() {
        report["result"] = json!("unchanged");
        finish(
            &a,
            &report,
            "nothing to do: every label already says this (no journal, nothing written)",
        )?;
        return Ok(code(&p));
    }
    // One transaction: preflight (every disk opened for writing, exclusively;
    // the journal creatable; the plan re-validated), liveness through the
    // device, journal, writes in ZFS's order with flush and read-back.
    let ashifts: Vec<Option<u64>> = vdevs
        .iter()
        .map(|v| {
            label::read_labels(v.source.as_ref())
                .iter()
                .find_map(|l| l.ashift())
        })
        .collect();
    let disks: Vec<_> = vdevs.iter().map(|v| v.disk.clone()).collect();
    let journal = match &a.journal {
        Some(j) => j.clone(),
        None => {
            let pool = p.disks.first().map(|d| d.pool.clone()).unwrap_or_default();
            a.w.journal_path("physpath", &pool)
        }
    };
    let purpose = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let mut tx = Transaction::new(purpose, tx_opts);
    tx.group("vdev labels", Some(journal), p.target_plans(&disks));
    for ((d, v), ashift) in inputs.iter().zip(&vdevs).zip(&ashifts) {
        tx.watch(&d.name, d.vdev_start, v.source.size(), *ashift);
    }
    if !a.w.writing() {
        tx.dry_run()?;
        report["result"] = json!("dry-run");
        finish(&a, &report, "")?;
        eprintln!("{}", a.w.dry_run_note());
        return Ok(code(&p));
    }
    let t_apply = Instant::now();
    let done = tx.commit()?;
    let apply_ms = ms(t_apply);
    if let Some(q) = &done.liveness {
        report["liveness"] = liveness_json(q);
        if !a.json {
            print_liveness(q);
        }
    }
    let outcome = match done.groups.first() {
        Some(g) if g.writes > 0 => Outcome::Applied {
            journal: g.journal.clone().unwrap_or_default(),
            writes: g.writes,
            bytes: g.bytes,
        },
        _ => Outcome::Unchanged,
    };
    report["timing_ms"] = json!({"plan": plan_ms, "journal_write_flush_readback": apply_ms});
    verify(&a, &inputs, opts, outcome, report)?;
    Ok(code(&p))
}

/// After the transaction: every label read back through a fresh read-only
/// open must say what was asked; then the report.
fn verify(
    a: &SetArgs,
    inputs: &[DiskInput],
    opts: PlanOptions,
    outcome: Outcome,
    mut report: serde_json::Value,
) -> Result<()> {
    let Outcome::Applied {
        journal,
        writes,
        bytes,
    } = outcome
    else {
        report["result"] = json!("unchanged");
        return finish(a, &report, "nothing to do: every label already says this");
    };
    let t_verify = Instant::now();
    let again = plan::plan(&reopen(inputs, &a.common)?, opts)?;
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
    report["result"] = json!("written");
    report["journal"] = json!(journal.display().to_string());
    report["writes"] = json!(writes);
    report["timing_ms"]["verify"] = json!(ms(t_verify));
    finish(
        a,
        &report,
        &format!(
            "wrote {writes} label(s) ({bytes} bytes), each flushed and read back; \
             undo journal: {} (kzrescue undo {} --write restores)",
            journal.display(),
            journal.display()
        ),
    )
}

/// The liveness part of a JSON report: how each device was read, what its
/// labels say.
pub(crate) fn liveness_json(q: &Quiet) -> serde_json::Value {
    json!({
        "best_txg": q.best_txg,
        "interval_s": q.interval.as_secs_f64(),
        "first_read_ms": q.first_read.as_secs_f64() * 1e3,
        "second_read_ms": q.second_read.as_secs_f64() * 1e3,
        "devices": q.devices,
    })
}

/// Prints the liveness check: one line per device (how it was read), then
/// the label evidence.
pub(crate) fn print_liveness(q: &Quiet) {
    println!(
        "liveness: the uberblock rings did not change in {:.1} s (best txg {})",
        q.interval.as_secs_f64(),
        q.best_txg.map_or("none".into(), |t| t.to_string())
    );
    for d in &q.devices {
        println!("  {} read by {}", d.name, d.read_detail);
        for e in d.evidence(None) {
            println!("  note: {e}");
        }
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn code(p: &Plan) -> u8 {
    if p.warnings.iter().any(|w| w.contains("out of sync")) {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    }
}

/// Prints the JSON report, or `text` (when not empty).
fn finish(a: &SetArgs, report: &serde_json::Value, text: &str) -> Result<()> {
    if a.json {
        super::out::print_json(SCHEMA_SET, report)?;
    } else if !text.is_empty() {
        println!("{text}");
    }
    Ok(())
}

/// A fresh read-only plan input for the same disks (to verify after writing).
fn reopen(inputs: &[DiskInput], common: &CommonTarget) -> Result<Vec<DiskInput>> {
    inputs
        .iter()
        .map(|d| {
            let v = common.open(&d.name, false)?;
            Ok(DiskInput {
                name: d.name.clone(),
                disk: v.disk.clone(),
                vdev: v.source.clone(),
                vdev_start: v.partition.as_ref().map_or(0, |p| p.start),
                fields: d.fields.clone(),
            })
        })
        .collect()
}

fn canonical(t: &str) -> String {
    std::fs::canonicalize(t)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| t.to_string())
}

fn changes_json(p: &Plan) -> serde_json::Value {
    p.changes
        .iter()
        .map(|c| {
            json!({
                "target": p.disks[c.disk].name,
                "label": c.label,
                "leaf_guid": c.leaf_guid,
                "field": c.field,
                "before": c.before,
                "after": c.after,
            })
        })
        .collect()
}

fn print_plan(p: &Plan) {
    for d in &p.disks {
        println!(
            "{}: pool '{}' (guid {}), this leaf {}, txg {}, valid labels {:?}",
            d.name, d.pool, d.pool_guid, d.guid, d.txg, d.valid
        );
    }
    // One line per (disk, leaf, field, before, after), listing the labels.
    let mut groups: Vec<(&plan::FieldChange, Vec<usize>)> = Vec::new();
    for c in &p.changes {
        let same = |g: &plan::FieldChange| {
            (g.disk, g.leaf_guid, g.field, &g.before, &g.after)
                == (c.disk, c.leaf_guid, c.field, &c.before, &c.after)
        };
        match groups.iter_mut().find(|(g, _)| same(g)) {
            Some((_, labels)) => labels.push(c.label),
            None => groups.push((c, vec![c.label])),
        }
    }
    for (c, labels) in groups {
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        println!(
            "  {} labels {} leaf {} {}: {} -> {}",
            p.disks[c.disk].name,
            labels.join(" "),
            c.leaf_guid,
            c.field,
            opt(c.before.as_deref()),
            c.after
                .as_deref()
                .map_or("(removed)".into(), |s| format!("'{s}'"))
        );
    }
}
