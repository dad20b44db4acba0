//! `kzrescue diagnose`, `kzrescue repair` and `kzrescue demo`: the one-shot
//! rescue of a kernel zone from its configuration.

use kzrescue::diagnose::{self, DiagnoseOptions, Diagnosis, Severity};
use kzrescue::rescue::{self, RepairOptions};
use kzrescue::zone::zvblk::UnitRadix;
use kzrescue::{Error, Result};
use std::path::PathBuf;

/// What identifies the zone and its devices (shared by diagnose and repair).
#[derive(clap::Args, Debug, Clone)]
pub struct ZoneArgs {
    /// The zone configuration: `zonecfg -z ZONE export` output or /etc/zones/ZONE.xml.
    #[arg(long, value_name = "FILE")]
    zone_config: PathBuf,
    /// Zone name (export text does not carry it; XML does).
    #[arg(long, value_name = "NAME")]
    zone: Option<String>,
    /// Directory of zone key files, like /etc/zones/keys (the key is DIR/ZONE).
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,
    /// hostid (hex) of the host that will run the zone: host data owned by
    /// another hostid is reported.
    #[arg(long, value_name = "H", value_parser = parse_hostid)]
    hostid: Option<u32>,
    /// Open PATH where the configuration names URI (a copied image, or the
    /// device the URI is reachable as on this machine). Repeatable.
    #[arg(long = "map", value_name = "URI=PATH", value_parser = parse_map)]
    maps: Vec<(String, String)>,
    /// Value of %{global-rootzpool} in storage templates.
    #[arg(long, value_name = "POOL", default_value = "rpool")]
    global_rootzpool: String,
    /// Write unit addresses of device ids ≥ 10 in decimal (default hex).
    #[arg(long)]
    decimal_unit: bool,
    /// Seconds between the two uberblock reads of the liveness check (0 skips it).
    #[arg(long, value_name = "SECS", default_value_t = 3.0, value_parser = super::bounds::parse_interval)]
    liveness_interval: f64,
    /// Logical sector size of the disks (512 or 4096) when it cannot be detected.
    #[arg(long, value_name = "BYTES")]
    sector_size: Option<u32>,
    /// Accept a key file that group or others can read.
    #[arg(long)]
    insecure_key_perms: bool,
    /// Whose host data the zone uses: `kzrescue` (a disk without kzrescue
    /// host data is then a problem to repair) or `auto` (kzrescue's when its
    /// key file is given or a kzrescue copy is on the disk, else Oracle's,
    /// which kzrescue cannot read).
    #[arg(long, value_name = "WHOSE", default_value = "auto", value_parser = ["auto", "kzrescue"])]
    hostdata: String,
}

fn parse_hostid(s: &str) -> std::result::Result<u32, String> {
    kzrescue::hostdata::parse_hostid(s).map_err(|e| e.to_string())
}

fn parse_map(s: &str) -> std::result::Result<(String, String), String> {
    // The URI itself may contain '=' only in nfs user/group parts, never
    // before its scheme's ':'; split at the last '='.
    let (u, p) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("{s:?} is not URI=PATH"))?;
    if u.is_empty() || p.is_empty() {
        return Err(format!("{s:?} is not URI=PATH"));
    }
    Ok((u.to_string(), p.to_string()))
}

impl ZoneArgs {
    fn options(&self) -> Result<DiagnoseOptions> {
        let liveness_interval =
            kzrescue::repair::liveness::interval_from_secs(self.liveness_interval)?;
        Ok(DiagnoseOptions {
            config_file: self.zone_config.display().to_string(),
            zone: self.zone.clone(),
            keys_dir: self.keys.clone(),
            hostid: self.hostid,
            maps: self.maps.clone(),
            global_rootzpool: self.global_rootzpool.clone(),
            radix: if self.decimal_unit {
                UnitRadix::Decimal
            } else {
                UnitRadix::Hex
            },
            liveness_interval,
            sector_size: self.sector_size,
            insecure_key_perms: self.insecure_key_perms,
            hostdata_kzrescue: self.hostdata == "kzrescue",
            access: super::context::get().access()?,
        })
    }

    fn config(&self) -> Result<kzrescue::zone::ZoneConfig> {
        let text = kzrescue::input::read_text(
            &self.zone_config,
            "zone configuration",
            kzrescue::input::MAX_CONFIG,
            true,
        )?;
        kzrescue::zone::parse_config(&text, self.zone.as_deref())
    }
}

/// `kzrescue diagnose`.
#[derive(clap::Args, Debug)]
pub struct DiagnoseArgs {
    #[command(flatten)]
    zone: ZoneArgs,
    /// Print the diagnosis as JSON (schema kzrescue.diagnose/1).
    #[arg(long)]
    json: bool,
}

/// `kzrescue repair`.
#[derive(clap::Args, Debug)]
pub struct RepairArgs {
    #[command(flatten)]
    zone: ZoneArgs,
    /// Show the plan (every field of every label, every host-data copy); write nothing.
    #[arg(long, conflicts_with = "write")]
    dry_run: bool,
    /// Apply the plan (nothing is written without it).
    #[arg(long, short = 'y', alias = "yes")]
    write: bool,
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
    /// Directory for the undo journals (one per device and kind of repair).
    #[arg(long, value_name = "DIR", default_value = ".")]
    journal_dir: PathBuf,
    /// Rewrite labels even with a single valid label or txg skew.
    #[arg(long)]
    force: bool,
    /// Print JSON (the plan/report and the diagnoses before and after).
    #[arg(long)]
    json: bool,
}

fn tag(s: Severity) -> &'static str {
    match s {
        Severity::Ok => " ok ",
        Severity::Info => "info",
        Severity::Warning => "warn",
        Severity::Repairable => "FIX ",
        Severity::Unrepairable => "FAIL",
    }
}

/// Prints a diagnosis for a person.
pub fn print_diagnosis(d: &Diagnosis) {
    println!(
        "zone {} (brand {}), {} boot device(s)",
        d.zone.as_deref().unwrap_or("?"),
        d.brand.as_deref().unwrap_or("?"),
        d.devices.len()
    );
    let print_findings = |dev: Option<u32>| {
        for f in d.findings.iter().filter(|f| f.device == dev) {
            println!("  [{}] {:<10} {}", tag(f.severity), f.check, f.message);
            if let Some(fix) = &f.fix {
                println!("         {:<10} fix: {fix}", "");
            }
        }
    };
    for r in &d.devices {
        println!();
        let id = r.id.map_or("?".into(), |i| i.to_string());
        println!(
            "device {id} (bootpri {}): {}",
            r.bootpri.map_or("-".into(), |b| b.to_string()),
            r.storage
        );
        if let Some(o) = &r.opened
            && *o != r.storage
        {
            println!("  opened as {o}");
        }
        if let Some(e) = &r.expected_phys_path {
            println!("  the zone expects phys_path {e}");
        }
        print_findings(r.id);
    }
    if d.findings.iter().any(|f| f.device.is_none()) {
        println!();
        println!("zone-wide");
        print_findings(None);
    }
    if !d.post_rollback.is_empty() {
        println!();
        println!(
            "after a rollback (host data {}): what makes the zone boot again",
            d.hostdata_format
        );
        for s in &d.post_rollback {
            println!(
                "  {}. [{}{}] {}",
                s.step,
                s.on,
                if s.kzrescue_does_it {
                    ", kzrescue does this"
                } else {
                    ""
                },
                s.command
            );
            println!("       {}", s.why);
        }
    }
    println!();
    let n_fix = d.repairable().count();
    let n_fail = d
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Unrepairable)
        .count();
    let verdict = match d.exit_code {
        diagnose::EXIT_HEALTHY => "healthy: nothing to repair".to_string(),
        diagnose::EXIT_REPAIRABLE => format!("{n_fix} problem(s) that `kzrescue repair` can fix"),
        diagnose::EXIT_LIVE => "the pool is live: nothing may be repaired now".to_string(),
        _ => format!("{n_fail} problem(s) kzrescue cannot fix, {n_fix} it can"),
    };
    println!("verdict: {verdict} (exit {})", d.exit_code);
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Usage(format!("JSON: {e}")))
}

/// Runs `kzrescue diagnose`.
pub fn run_diagnose(a: &DiagnoseArgs) -> Result<u8> {
    let opts = a.zone.options()?;
    let cfg = a.zone.config()?;
    let s = diagnose::diagnose(&cfg, &opts)?;
    if a.json {
        println!("{}", json(&s.diagnosis)?);
    } else {
        print_diagnosis(&s.diagnosis);
    }
    Ok(s.diagnosis.exit_code)
}

/// Runs `kzrescue repair`: diagnose, plan, apply, diagnose again.
pub fn run_repair(a: &RepairArgs) -> Result<u8> {
    let opts = a.zone.options()?;
    let cfg = a.zone.config()?;
    let ropts = RepairOptions {
        dry_run: a.dry_run,
        write: a.write,
        reinit_hostdata: a.reinit_hostdata,
        takeover: a.takeover,
        hostname: a.hostname.clone(),
        journal_dir: a.journal_dir.clone(),
        force: a.force,
    };
    repair_and_report(&cfg, &opts, &ropts, a.json)
}

/// Diagnoses, repairs and diagnoses again, printing each step.
pub fn repair_and_report(
    cfg: &kzrescue::zone::ZoneConfig,
    opts: &DiagnoseOptions,
    ropts: &RepairOptions,
    as_json: bool,
) -> Result<u8> {
    let before = diagnose::diagnose(cfg, opts)?;
    if !as_json {
        println!("== diagnosis");
        print_diagnosis(&before.diagnosis);
    }
    if before.diagnosis.exit_code == diagnose::EXIT_HEALTHY {
        if as_json {
            println!(
                "{}",
                json(&serde_json::json!({
                    "schema": "kzrescue.repair/1",
                    "before": before.diagnosis,
                    "report": rescue::Report::default(),
                    "after": before.diagnosis,
                }))?
            );
        } else {
            println!("\nnothing to repair.");
        }
        return Ok(0);
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
    let report = rescue::repair(&before, opts, ropts)?;
    if !as_json {
        println!(
            "\n== {}",
            if ropts.dry_run {
                "plan (dry run: nothing written)"
            } else {
                "repair"
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
    }
    if !as_json {
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
    if ropts.dry_run {
        if as_json {
            println!(
                "{}",
                json(&serde_json::json!({
                    "schema": "kzrescue.repair/1",
                    "before": before.diagnosis,
                    "report": report,
                }))?
            );
        }
        return Ok(before.diagnosis.exit_code);
    }
    // Diagnose again with what was just written (the new key included).
    let before_diag = before.diagnosis.clone();
    drop(before);
    let after = diagnose::diagnose(cfg, opts)?;
    if as_json {
        println!(
            "{}",
            json(&serde_json::json!({
                "schema": "kzrescue.repair/1",
                "before": before_diag,
                "report": report,
                "after": after.diagnosis,
            }))?
        );
    } else {
        println!("\n== diagnosis after the repair");
        print_diagnosis(&after.diagnosis);
    }
    Ok(after.diagnosis.exit_code)
}
