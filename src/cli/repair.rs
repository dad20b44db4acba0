//! `kzrescue repair`: diagnose, repair what the findings allow (through one
//! journalled transaction), diagnose again.

use super::diagnose::{ZoneArgs, print_diagnosis};
use super::write::WriteArgs;
use kzrescue::Result;
use kzrescue::diagnose::DiagnoseOptions;
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

/// Diagnoses, repairs (or, without `ropts.write`, plans and preflights)
/// and diagnoses again ([`zone_repair::run`]), printing each step.
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
    let out = zone_repair::run(cfg, opts, ropts, &mut |e: &Event<'_>| {
        if !as_json {
            print!("{}", e.text(ropts));
            if let Some(d) = e.diagnosis() {
                print_diagnosis(d);
            }
        }
    })?;
    if let (true, Some(doc)) = (as_json, out.json()?) {
        super::out::print_json(SCHEMA, &doc)?;
    }
    Ok(out.code)
}
