//! `kzrescue label repair` and `kzrescue partitions restore`: the writers of
//! the recovery below the labels. The plans come from the library
//! (`kzrescue::zfs::relabel`, `kzrescue::partition::restore`); this file
//! prints them and hands them to the one repair pipeline (`repair::apply`:
//! preflight, journal, write in order, flush, read back).

use super::target::parse_sector_size;
use super::{EXIT_OK, EXIT_PROBLEMS};
use kzrescue::recovery::{self, PlannedRelabel, RestoreFrom, bytes_changed};
use kzrescue::repair::transaction::Committed;
use kzrescue::target::TargetOptions;
use kzrescue::zfs::relabel::RelabelOptions;
use kzrescue::{Error, Result};
use serde_json::json;
use std::path::PathBuf;

/// Arguments of `kzrescue label repair`.
#[derive(clap::Args, Debug)]
pub struct LabelRepairArgs {
    /// The disks (or vdev files) whose labels to repair; each is repaired
    /// from its own surviving labels only (mirror children never from each other).
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Use this Solaris slice instead of the one ZFS slice.
    #[arg(long, value_name = "N", value_parser = super::bounds::parse_slice)]
    pub slice: Option<u32>,
    /// Logical sector size (512 or 4096); detected by default.
    #[arg(long, value_name = "BYTES", value_parser = parse_sector_size)]
    pub sector_size: Option<u32>,
    /// Only recompute the checksum of labels whose nvlist is intact.
    #[arg(long)]
    pub reseal_only: bool,
    /// The undo journal's exact path (must not exist); default: a name in
    /// --journal-dir.
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    #[command(flatten)]
    pub w: super::write::WriteArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `kzrescue partitions restore`.
#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The whole disk (image, block device or storage URI).
    pub target: String,
    /// What to rebuild from: `backup` (the backup GPT, or the backup Sun
    /// labels of an SMI disk), `primary` (the primary GPT) or `scan` (a fresh
    /// Solaris GPT around the vdev a scan finds).
    #[arg(long, value_parser = ["backup", "primary", "scan"])]
    pub from: String,
    /// Logical sector size (512 or 4096); by default the device's, else the
    /// one the surviving GPT uses, else 512.
    #[arg(long, value_name = "BYTES", value_parser = parse_sector_size)]
    pub sector_size: Option<u32>,
    /// With `--from scan` on a disk holding several vdevs: the start (bytes)
    /// of the one to lay the table around.
    #[arg(long, value_name = "BYTES")]
    pub vdev_start: Option<u64>,
    /// The undo journal's exact path (must not exist); default: a name in
    /// --journal-dir.
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    #[command(flatten)]
    pub w: super::write::WriteArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What a committed transaction wrote, one line, and into the report.
fn committed(c: &Committed, report: &mut serde_json::Value) -> String {
    let mut text = String::new();
    for g in &c.groups {
        match &g.journal {
            Some(j) if g.writes > 0 => {
                text.push_str(&format!(
                    "written: {} write(s), {} bytes, flushed and read back from the device; undo journal: {} (kzrescue undo {} --write restores)\n",
                    g.writes,
                    g.bytes,
                    j.display(),
                    j.display()
                ));
                report["journal"] = json!(j.display().to_string());
            }
            _ => text.push_str("nothing written: every byte was already as planned\n"),
        }
    }
    if let Some(q) = &c.liveness {
        report["liveness"] =
            json!({"best_txg": q.best_txg, "interval_s": q.interval.as_secs_f64()});
    }
    text
}

/// The plan of a label repair: its JSON report and its text.
fn relabel_report(a: &LabelRepairArgs, planned: &PlannedRelabel) -> (serde_json::Value, String) {
    let (vdevs, plans) = (&planned.vdevs, &planned.plans);
    let report = json!({
        "schema": "kzrescue.label-repair/2",
        "reseal_only": a.reseal_only,
        "targets": a.targets.iter().zip(vdevs).zip(plans).map(|((t, v), p)| json!({
            "target": t,
            "vdev": v.describe(),
            "pool": p.pool, "pool_guid": p.pool_guid, "guid": p.guid, "txg": p.txg,
            "valid_labels": p.valid, "source_label": p.source,
            "repaired": p.repaired.iter().map(|(l, why, what)| json!({"label": l, "problem": why, "action": what})).collect::<Vec<_>>(),
            "left": p.left.iter().map(|(l, why)| json!({"label": l, "reason": why})).collect::<Vec<_>>(),
            "edits": p.edits.iter().map(|e| json!({
                "label": e.label,
                "disk_offset": v.partition.as_ref().map_or(0, |x| x.start) + e.offset,
                "vdev_offset": e.offset, "len": e.new.len(),
                "bytes_changed": bytes_changed(&e.old, &e.new), "what": e.what,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let mut text = String::new();
    for (v, p) in vdevs.iter().zip(plans) {
        let valid: Vec<String> = p.valid.iter().map(|l| l.to_string()).collect();
        text.push_str(&format!(
            "{}: pool {} (pool_guid {}), vdev guid {}, txg {}; valid labels: {}\n",
            v.describe(),
            p.pool.as_deref().unwrap_or("-"),
            p.pool_guid.map_or("-".into(), |g| g.to_string()),
            p.guid.map_or("-".into(), |g| g.to_string()),
            p.txg.map_or("-".into(), |g| g.to_string()),
            if valid.is_empty() {
                "none".to_string()
            } else {
                valid.join(" ")
            }
        ));
        for (l, why, what) in &p.repaired {
            text.push_str(&format!("  label {l}: {why} → {what}\n"));
        }
        for (l, why) in &p.left {
            text.push_str(&format!("  label {l}: left alone: {why}\n"));
        }
        let base = v.partition.as_ref().map_or(0, |x| x.start);
        for e in &p.edits {
            text.push_str(&format!(
                "  write {:#x}+{:#x} ({} bytes change): {}\n",
                base + e.offset,
                e.new.len(),
                bytes_changed(&e.old, &e.new),
                e.what
            ));
        }
    }
    (report, text)
}

/// Runs `kzrescue label repair`.
pub fn run_label_repair(a: &LabelRepairArgs) -> Result<u8> {
    let txo = a.w.tx_options()?;
    let access = super::context::get().access()?;
    let topts = TargetOptions {
        slice: a.slice,
        sector_size: a.sector_size,
        write: false,
        access: access.clone(),
    };
    let ropts = RelabelOptions {
        reseal_only: a.reseal_only,
    };
    let planned = recovery::plan_label_repair(&a.targets, &topts, ropts)?;
    let (mut report, mut text) = relabel_report(a, &planned);
    if planned.edits() == 0 {
        text.push_str("nothing to do: every label is valid (no journal, nothing written)\n");
        report["result"] = json!("unchanged");
        finish(a.json, &report, &text);
        return Ok(if planned.plans.iter().any(|p| !p.left.is_empty()) {
            EXIT_PROBLEMS
        } else {
            EXIT_OK
        });
    }
    let journal = a.journal.clone().unwrap_or_else(|| {
        a.w.journal_path("label-repair", planned.pool().unwrap_or("pool"))
    });
    let Some(tx) = recovery::label_repair_transaction(&planned, journal, txo) else {
        return Ok(EXIT_OK);
    };
    if !a.w.writing() {
        return dry_run(&a.w, &tx, a.json, &mut report, &text);
    }
    drop(planned);
    let done = tx.commit()?;
    text.push_str(&committed(&done, &mut report));
    let still_bad = recovery::labels_not_valid(&a.targets, &topts)?;
    report["result"] = json!("written");
    report["labels_not_valid_after"] = json!(still_bad);
    if !still_bad.is_empty() {
        text.push_str(&format!(
            "labels still not valid: {}\n",
            still_bad.join("; ")
        ));
    }
    finish(a.json, &report, &text);
    Ok(if still_bad.is_empty() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}

/// Ends a dry run: the transaction's preflight, the plan, the note on stderr.
fn dry_run(
    w: &super::write::WriteArgs,
    tx: &kzrescue::repair::transaction::Transaction<'_>,
    as_json: bool,
    report: &mut serde_json::Value,
    text: &str,
) -> Result<u8> {
    tx.dry_run()?;
    report["result"] = json!("dry-run");
    finish(as_json, report, text);
    eprintln!("{}", w.dry_run_note());
    Ok(EXIT_OK)
}

fn finish(as_json: bool, report: &serde_json::Value, text: &str) {
    if as_json {
        if let Err(e) = super::out::stream_json(report) {
            eprintln!("kzrescue: {e}");
        }
    } else {
        print!("{text}");
    }
}

/// Runs `kzrescue partitions restore`.
pub fn run_restore(a: &RestoreArgs) -> Result<u8> {
    let from = RestoreFrom::parse(&a.from)
        .ok_or_else(|| Error::Usage(format!("--from {}: backup, primary or scan", a.from)))?;
    let access = super::context::get().access()?;
    let r = super::scan::run_scan(&a.target, a.sector_size)?;
    let planned = recovery::plan_restore(&a.target, r, from, a.sector_size, a.vdev_start, &access)?;
    let (plan, ss) = (&planned.plan, planned.sector_size);
    let writes = planned.changing_writes();
    let mut text = String::new();
    for (i, line) in planned.describe().iter().enumerate() {
        text.push_str(&if i == 0 {
            format!("{}: {line}\n", a.target)
        } else {
            format!("  {line}\n")
        });
    }
    let mut report = json!({
        "schema": "kzrescue.partitions-restore/2",
        "target": a.target, "from": a.from, "sector_size": ss,
        "summary": plan.summary, "entries": plan.entries, "notes": plan.notes,
        "writes": writes.iter().map(|w| json!({
            "offset": w.offset, "len": w.new.len(), "bytes_changed": bytes_changed(&w.old, &w.new), "what": w.what,
        })).collect::<Vec<_>>(),
    });
    let journal = a.journal.clone().unwrap_or_else(|| {
        let disk = std::path::Path::new(&a.target)
            .file_name()
            .map_or_else(|| a.target.clone(), |n| n.to_string_lossy().into_owned());
        a.w.journal_path("partitions-restore", &disk)
    });
    // no transaction when no byte changes: say so, in text and JSON alike
    let Some(tx) = recovery::restore_transaction(&planned, journal, a.w.tx_options()?) else {
        text.push_str("nothing to do: the table is already there (no journal, nothing written)\n");
        report["result"] = json!("unchanged");
        finish(a.json, &report, &text);
        return Ok(EXIT_OK);
    };
    if !a.w.writing() {
        return dry_run(&a.w, &tx, a.json, &mut report, &text);
    }
    drop(writes);
    drop(planned);
    let done = tx.commit()?;
    text.push_str(&committed(&done, &mut report));
    let t = recovery::table_now(&a.target, ss as u32, &access)?;
    text.push_str(&format!(
        "table now: {} with {} slice(s){}\n",
        t.kind,
        t.partitions.len(),
        if t.notes.is_empty() {
            String::new()
        } else {
            format!("; notes: {}", t.notes.join("; "))
        }
    ));
    report["result"] = json!("written");
    report["table_notes_after"] = json!(t.notes);
    finish(a.json, &report, &text);
    Ok(if t.notes.is_empty() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}
