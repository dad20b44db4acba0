//! `kzrescue physpath`: show the leaf paths in a disk's labels, and
//! `kzrescue physpath set`: rewrite them the way a kernel zone expects.

use super::target::parse_sector_size;
use super::{EXIT_OK, EXIT_PROBLEMS};
use kzrescue::repair::apply::Outcome;
use kzrescue::repair::liveness::Quiet;
use kzrescue::repair::plan::{self, DevidChange, DiskInput, LeafFields, Plan, PlanOptions};
use kzrescue::repair::transaction::{Transaction, TxOptions};
use kzrescue::target::{TargetOptions, Vdev, open_vdev};
use kzrescue::zfs::label::{self, LabelStatus};
use kzrescue::zfs::vdev_tree;
use kzrescue::zone::zvblk::{self, UnitRadix};
use kzrescue::{Error, Result};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `kzrescue physpath`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PhysPathArgs {
    #[command(subcommand)]
    set: Option<PhysPathCommand>,
    /// Image file or block device (a whole disk; the ZFS slice is found in
    /// its partition table) or a bare vdev.
    #[arg(required = true)]
    target: Option<String>,
    #[command(flatten)]
    common: CommonTarget,
    /// Print JSON.
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
    /// The disk(s): one, or every disk of a mirrored root pool.
    #[arg(required = true)]
    targets: Vec<String>,
    #[command(flatten)]
    common: CommonTarget,
    /// zonecfg device id of each target, in order: sets phys_path to
    /// /zvnex/zvblk@<id>:<letter of the pool's slice on that disk>.
    #[arg(long, value_name = "N", conflicts_with = "phys_path")]
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
    /// Show the exact before/after of each field in each label; write nothing.
    #[arg(long, conflicts_with = "write")]
    dry_run: bool,
    /// Write (without it, nothing is written).
    #[arg(long, short = 'y')]
    write: bool,
    /// Where to save the undo journal (must not exist).
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// Seconds between the two reads of the uberblock rings.
    #[arg(long, value_name = "SECS", default_value_t = 3.0, value_parser = super::bounds::parse_interval)]
    liveness_interval: f64,
    /// Accept a single valid label, labels that disagree in txg, or an odd devid.
    #[arg(long)]
    force: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `kzrescue physpath …`.
pub fn run(args: PhysPathArgs) -> Result<u8> {
    match args.set {
        Some(PhysPathCommand::Set(s)) => set(s),
        None => {
            let target = args
                .target
                .ok_or_else(|| Error::Usage("physpath: a target is required".into()))?;
            show(&target, &args.common, args.json)
        }
    }
}

fn opt(s: Option<&str>) -> String {
    s.map_or("-".into(), |s| format!("'{s}'"))
}

fn show(spec: &str, common: &CommonTarget, as_json: bool) -> Result<u8> {
    let vdev = common.open(spec, false)?;
    let labels = label::read_labels(vdev.source.as_ref());
    let letter = vdev.partition.as_ref().map(|p| p.letter);
    let mut out = Vec::new();
    for l in &labels {
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
        out.push(json!({
            "label": l.index,
            "status": l.status.name(),
            "problem": l.problem,
            "pool": l.config.as_ref().and_then(|c| c.get_str("name")),
            "txg": l.u64("txg"),
            "guid": this,
            "leaves": leaves,
        }));
    }
    if as_json {
        let doc = json!({
            "target": vdev.describe(),
            "slice_letter": letter.map(|c| c.to_string()),
            "labels": out,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!("{}", vdev.describe());
        for l in &labels {
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
        if let Some(c) = letter {
            println!(
                "a kernel zone sees this slice as /zvnex/zvblk@<device id>:{c} \
                 (set it with: kzrescue physpath set {spec} --device-id N --write)"
            );
        }
    }
    let bad = labels.iter().any(|l| l.status != LabelStatus::Valid);
    Ok(if bad { EXIT_PROBLEMS } else { EXIT_OK })
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

fn set(a: SetArgs) -> Result<u8> {
    let n = a.targets.len();
    if a.device_id.is_empty() && a.phys_path.is_empty() {
        return Err(Error::Usage(
            "physpath set needs --device-id N or --phys-path P (once per target)".into(),
        ));
    }
    if !a.device_id.is_empty() && a.device_id.len() != n {
        return Err(Error::Usage(format!(
            "--device-id is given {} times for {n} targets: give it once per target, in order",
            a.device_id.len()
        )));
    }
    let tx_opts = TxOptions::from_interval_secs(a.liveness_interval)?
        .with_access(&super::context::get().access()?);
    let radix = if a.decimal_unit {
        UnitRadix::Decimal
    } else {
        UnitRadix::Hex
    };
    // Open everything read-only and plan.
    let vdevs: Vec<Vdev> = a
        .targets
        .iter()
        .map(|t| a.common.open(t, false))
        .collect::<Result<_>>()?;
    let mut inputs = Vec::new();
    for (i, (t, v)) in a.targets.iter().zip(&vdevs).enumerate() {
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
    let opts = PlanOptions { force: a.force };
    let t_plan = Instant::now();
    let p = plan::plan(&inputs, opts)?;
    let plan_ms = ms(t_plan);
    let mut report = json!({
        "targets": vdevs.iter().map(|v| v.describe()).collect::<Vec<_>>(),
        "changes": changes_json(&p),
        "warnings": p.warnings,
    });
    if !a.json {
        for v in &vdevs {
            println!("{}", v.describe());
        }
        print_plan(&p);
    }
    if p.is_noop() {
        report["result"] = json!("unchanged");
        finish(
            &a,
            &report,
            "nothing to do: every label already says this (no journal, nothing written)",
        );
        return Ok(code(&p));
    }
    if !a.write {
        report["result"] = json!("dry-run");
        finish(
            &a,
            &report,
            "dry run: nothing written (add --write to apply)",
        );
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
        None => default_journal(&p),
    };
    let purpose = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let mut tx = Transaction::new(purpose, tx_opts);
    tx.group("vdev labels", Some(journal), p.target_plans(&disks));
    for ((d, v), ashift) in inputs.iter().zip(&vdevs).zip(&ashifts) {
        tx.watch(&d.name, d.vdev_start, v.source.size(), *ashift);
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
    match outcome {
        Outcome::Unchanged => {
            report["result"] = json!("unchanged");
            finish(&a, &report, "nothing to do: every label already says this");
        }
        Outcome::Applied {
            journal,
            writes,
            bytes,
        } => {
            // Read every label back through a fresh read-only open.
            let t_verify = Instant::now();
            let again = plan::plan(&reopen(&inputs, &a.common)?, opts)?;
            let verify_ms = ms(t_verify);
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
            report["timing_ms"] = json!({
                "plan": plan_ms,
                "journal_write_flush_readback": apply_ms,
                "verify": verify_ms,
            });
            finish(
                &a,
                &report,
                &format!(
                    "wrote {writes} label(s) ({bytes} bytes), each flushed and read back; \
                     undo journal: {} (kzrescue undo {} --write restores)",
                    journal.display(),
                    journal.display()
                ),
            );
        }
    }
    Ok(code(&p))
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

fn finish(a: &SetArgs, report: &serde_json::Value, text: &str) {
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        println!("{text}");
    }
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

fn default_journal(p: &Plan) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let pool: String = p
        .disks
        .first()
        .map(|d| d.pool.clone())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from(format!("kzrescue-undo-{pool}-{secs}.kzj"))
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
    for w in &p.warnings {
        println!("warning: {w}");
    }
}
