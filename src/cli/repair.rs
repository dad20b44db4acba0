//! `kzrescue repair`: diagnose, repair what the findings allow (through one
//! journalled transaction), diagnose again.

use super::diagnose::{ZoneArgs, print_diagnosis};
use super::write::WriteArgs;
use kzrescue::Result;
use kzrescue::diagnose::{self, DiagnoseOptions};
use kzrescue::zone_repair::{self, Event, RepairOptions};

/// The JSON schema of `repair --json`.
pub const SCHEMA: &str = "kzrescue.repair/3";

/// `kzrescue repair`.
#[derive(clap::Args, Debug)]
pub struct RepairArgs {
    #[command(flatten)]
    zone: ZoneArgs,
    #[command(flatten)]
    write: WriteArgs,
    /// Also make a new key and new host data (Solaris `attach -x
    /// initialize-hostdata`). Defeats the in-use protection: be sure the zone
    /// runs nowhere else.
    #[arg(long, conflicts_with = "takeover")]
    reinit_hostdata: bool,
    /// Also make this host the owner in the host data, keeping the key
    /// (Solaris `attach -x force-takeover`). Defeats the in-use protection.
    #[arg(long)]
    takeover: bool,
    /// Owner host name to record with --reinit-hostdata / --takeover.
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// Rewrite labels even with a single valid label or txg skew.
    #[arg(long)]
    force: bool,
    /// Also rebuild missing or damaged labels of a boot device from its own
    /// valid labels (what `kzrescue label repair` does), journalled; the
    /// rest of the repair then runs on the rebuilt labels.
    #[arg(long)]
    repair_labels: bool,
    /// Also rebuild the partition table of a boot device whose table no
    /// longer gives the pool's slice, as diagnose's scan advises (what
    /// `kzrescue partitions restore` does; it writes outside the labels),
    /// journalled; the rest of the repair then runs on the restored table.
    #[arg(long)]
    restore_partitions: bool,
    /// Print JSON (schema kzrescue.repair/3: the plan/report and the
    /// diagnoses before and after).
    #[arg(long)]
    json: bool,
}

/// Runs `kzrescue repair`: diagnose, plan, apply, diagnose again.
pub fn run_repair(a: &RepairArgs) -> Result<u8> {
    let opts = a.zone.options(a.write.liveness_interval)?;
    let cfg = a.zone.config()?;
    let ropts = RepairOptions {
        write: a.write.writing(),
        reinit_hostdata: a.reinit_hostdata,
        takeover: a.takeover,
        hostname: a.hostname.clone(),
        journal_dir: a.write.journal_dir(),
        force: a.force,
        repair_labels: a.repair_labels,
        restore_partitions: a.restore_partitions,
        tx: a.write.tx_options()?,
        radix: opts.radix,
        hostid: opts.hostid,
    };
    let code = repair_and_report(&cfg, &opts, &ropts, a.json)?;
    if !ropts.write {
        eprintln!("{}", a.write.dry_run_note());
    }
    Ok(code)
}

fn print_json(
    before: &diagnose::Diagnosis,
    report: &zone_repair::Report,
    after: Option<&diagnose::Diagnosis>,
) -> Result<()> {
    let mut doc = serde_json::json!({ "before": before, "report": report });
    if let Some(a) = after {
        doc["after"] = serde_json::to_value(a)
            .map_err(|e| kzrescue::Error::Usage(format!("JSON output: {e}")))?;
    }
    super::out::print_json(SCHEMA, &doc)
}

fn print_report(report: &zone_repair::Report, opts: &DiagnoseOptions, write: bool) {
    println!(
        "\n== {}",
        if write {
            "repair"
        } else {
            "plan (dry run: nothing written)"
        }
    );
    for s in &report.steps {
        let who = s.device.map_or("zone".into(), |d| format!("device {d}"));
        let state = if s.applied {
            "done".to_string()
        } else {
            s.skipped.clone().unwrap_or_else(|| "not done".into())
        };
        println!("{who}: {} — {state}", s.kind);
        for c in &s.changes {
            println!("    {c}");
        }
        if let Some(j) = &s.journal {
            println!(
                "    undo journal: {} (kzrescue undo {} --write)",
                j.display(),
                j.display()
            );
        }
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    if !report.liveness.is_empty() {
        println!("liveness: the uberblock rings did not change while watched");
        for d in &report.liveness {
            println!("  {} read by {}", d.name, d.read_detail);
            for e in d.evidence(opts.hostid) {
                println!("  note: {e}");
            }
        }
    }
}

/// Diagnoses, repairs (or, without `ropts.write`, plans and preflights)
/// and diagnoses again ([`zone_repair::repair_zone`]), printing each step.
/// Exit: the diagnosis after the repair; 0 for a sound dry run. When
/// tables or labels were rebuilt, the rest of the repair runs again on them.
/// With `--json` one document: the first diagnosis, every round's steps in
/// one report, and the last diagnosis.
pub fn repair_and_report(
    cfg: &kzrescue::zone::ZoneConfig,
    opts: &DiagnoseOptions,
    ropts: &RepairOptions,
    as_json: bool,
) -> Result<u8> {
    let mut first: Option<diagnose::Diagnosis> = None;
    let mut latest: Option<diagnose::Diagnosis> = None;
    let mut report = zone_repair::Report::default();
    let mut after: Option<diagnose::Diagnosis> = None;
    let code = zone_repair::repair_zone(cfg, opts, ropts, &mut |e| match e {
        Event::Diagnosed(d) => {
            if !as_json {
                println!("== diagnosis");
                print_diagnosis(d);
            }
            first.get_or_insert_with(|| d.clone());
            latest = Some(d.clone());
        }
        Event::Healthy if as_json => after = latest.clone(),
        Event::Healthy => println!("\nnothing to repair."),
        Event::Repairing => {
            if !as_json && (ropts.reinit_hostdata || ropts.takeover) {
                in_use_note(ropts);
            }
        }
        Event::Repaired(r) if as_json => report.absorb(r),
        Event::Repaired(r) => print_report(r, opts, ropts.write),
        Event::After(a) if as_json => after = Some(a.clone()),
        Event::After(a) => {
            println!("\n== diagnosis after the repair");
            print_diagnosis(a);
        }
        Event::Again(_) if as_json => {}
        Event::Again(tables) => println!(
            "\n== the {} rebuilt: repairing the rest on them",
            if tables {
                "partition table is"
            } else {
                "labels are"
            }
        ),
    })?;
    if let (true, Some(b)) = (as_json, &first) {
        print_json(b, &report, after.as_ref())?;
    }
    Ok(code)
}

/// The warning before a repair that defeats the in-use protection.
fn in_use_note(ropts: &RepairOptions) {
    println!(
        "\nnote: --{} defeats Solaris's in-use protection of the zone's storage: \
         two hosts running the same zone corrupt it beyond repair.",
        if ropts.reinit_hostdata {
            "reinit-hostdata"
        } else {
            "takeover"
        }
    );
}
