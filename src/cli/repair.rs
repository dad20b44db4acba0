//! `kzrescue repair`: diagnose, repair what the findings allow (through one
//! journalled transaction), diagnose again.

use super::diagnose::{ZoneArgs, print_diagnosis};
use super::write::WriteArgs;
use kzrescue::Result;
use kzrescue::diagnose::{self, DiagnoseOptions};
use kzrescue::repair::zone::{self as zone_repair, RepairOptions};

/// The JSON schema of `repair --json`.
pub const SCHEMA: &str = "kzrescue.repair/2";

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
    /// Print JSON (schema kzrescue.repair/2: the plan/report and the
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
/// and diagnoses again, printing each step. Exit: the diagnosis after the
/// repair; 0 for a sound dry run. When labels were rebuilt, the rest of the
/// repair runs again on them (with `--json`: a second document follows).
pub fn repair_and_report(
    cfg: &kzrescue::zone::ZoneConfig,
    opts: &DiagnoseOptions,
    ropts: &RepairOptions,
    as_json: bool,
) -> Result<u8> {
    let mut round = ropts.clone();
    loop {
        let (code, report) = repair_round(cfg, opts, &round, as_json)?;
        let Some(next) = report.and_then(|r| zone_repair::next_round(&round, &r)) else {
            return Ok(code);
        };
        if !as_json {
            println!(
                "\n== the {} rebuilt: repairing the rest on them",
                if round.restore_partitions && !next.restore_partitions {
                    "partition table is"
                } else {
                    "labels are"
                }
            );
        }
        round = next;
    }
}

/// One diagnose → repair → diagnose; also the report of a written repair
/// (which says whether the rest is left for another round).
fn repair_round(
    cfg: &kzrescue::zone::ZoneConfig,
    opts: &DiagnoseOptions,
    ropts: &RepairOptions,
    as_json: bool,
) -> Result<(u8, Option<zone_repair::Report>)> {
    let before = diagnose::diagnose(cfg, opts)?;
    if !as_json {
        println!("== diagnosis");
        print_diagnosis(&before.diagnosis);
    }
    let labels = ropts.repair_labels && zone_repair::labels_to_repair(&before);
    let tables = ropts.restore_partitions && zone_repair::tables_to_restore(&before);
    if before.diagnosis.exit_code == diagnose::EXIT_HEALTHY && !labels && !tables {
        if as_json {
            let r = zone_repair::Report::default();
            print_json(&before.diagnosis, &r, Some(&before.diagnosis))?;
        } else {
            println!("\nnothing to repair.");
        }
        return Ok((0, None));
    }
    if (ropts.reinit_hostdata || ropts.takeover) && !as_json {
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
    let report = zone_repair::repair(&before, ropts)?;
    if !ropts.write {
        if as_json {
            print_json(&before.diagnosis, &report, None)?;
        } else {
            print_report(&report, opts, false);
        }
        return Ok((super::EXIT_OK, None));
    }
    if !as_json {
        print_report(&report, opts, true);
    }
    // Diagnose again with what was just written (the new key included).
    let before_diag = before.diagnosis.clone();
    drop(before);
    let after = diagnose::diagnose(cfg, opts)?;
    if as_json {
        print_json(&before_diag, &report, Some(&after.diagnosis))?;
    } else {
        println!("\n== diagnosis after the repair");
        print_diagnosis(&after.diagnosis);
    }
    Ok((after.diagnosis.exit_code, Some(report)))
}
