//! The repair that follows a diagnosis: phys_path on every boot device
//! (mirror-aware), and host data only when explicitly asked.
//!
//! Every byte goes through [`crate::repair::apply`]: one undo journal per
//! device and per kind of repair, each write flushed and read back.

use crate::diagnose::{self, DiagnoseOptions, OpenedDevice, Session, Severity};
use crate::error::{Error, Result};
use crate::hostdata::{self, HostKey, InitOptions, keyfile, store};
use crate::repair::apply::{self, Outcome, TargetPlan};
use crate::repair::plan;
use serde::Serialize;
use std::path::PathBuf;

/// What the admin allowed.
#[derive(Debug, Clone, Default)]
pub struct RepairOptions {
    /// Write nothing; report what would change.
    pub dry_run: bool,
    /// Actually write.
    pub write: bool,
    /// Make a new key and new host data (Solaris `attach -x initialize-hostdata`).
    pub reinit_hostdata: bool,
    /// Keep the key, make this host the owner (Solaris `attach -x force-takeover`).
    pub takeover: bool,
    /// Owner host name written into host data by `reinit_hostdata`/`takeover`.
    pub hostname: Option<String>,
    /// Directory for the undo journals.
    pub journal_dir: PathBuf,
    /// Accept labels the planner would otherwise refuse (one valid label, txg skew).
    pub force: bool,
}

/// One thing the repair did (or would do).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Device id, `None` for zone-wide steps (the key file).
    pub device: Option<u32>,
    /// `phys_path`, `hostdata` or `key`.
    pub kind: &'static str,
    /// What changes, one line each.
    pub changes: Vec<String>,
    /// The undo journal written before the first byte.
    pub journal: Option<PathBuf>,
    /// Whether it was carried out (false in a dry run or when refused).
    pub applied: bool,
    /// Why it was not done, when it was not.
    pub skipped: Option<String>,
}

/// Everything the repair did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// Carries out (or, dry, describes) the repair of a diagnosed zone.
pub fn repair(session: &Session, opts: &DiagnoseOptions, r: &RepairOptions) -> Result<Report> {
    let d = &session.diagnosis;
    if let Some(f) = d
        .findings
        .iter()
        .find(|f| f.check == "liveness" && f.severity == Severity::Unrepairable)
    {
        return Err(Error::Refused(f.message.clone()));
    }
    if !r.force
        && let Some(f) = d.findings.iter().find(|f| {
            f.severity == Severity::Unrepairable
                && matches!(f.check, "labels" | "phys_path" | "mirror" | "config")
        })
    {
        return Err(Error::Refused(format!(
            "{} — kzrescue will not write while this stands",
            f.message
        )));
    }
    if !r.write && !r.dry_run {
        return Err(Error::Usage(
            "repair writes nothing without --write (or -y); --dry-run shows the plan".into(),
        ));
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    let zone = d.zone.clone().unwrap_or_else(|| "zone".into());
    let mut report = Report::default();

    // 1. phys_path, all boot devices of the pool at once (mirror-aware).
    let needs_physpath = d
        .findings
        .iter()
        .any(|f| f.check == "phys_path" && f.severity == Severity::Repairable);
    if needs_physpath {
        let disks: Vec<&OpenedDevice> = session
            .opened
            .iter()
            .filter(|o| o.vdev.partition.is_some())
            .collect();
        physpath_steps(&disks, opts, r, &zone, stamp, &mut report)?;
    }

    // 2. Host data, only when asked.
    let hd: Vec<&OpenedDevice> = session
        .opened
        .iter()
        .filter(|o| {
            d.findings.iter().any(|f| {
                f.check == "hostdata"
                    && f.severity == Severity::Repairable
                    && f.device == Some(o.id)
            })
        })
        .collect();
    if !hd.is_empty() {
        if r.reinit_hostdata && r.takeover {
            return Err(Error::Usage(
                "--reinit-hostdata and --takeover exclude each other".into(),
            ));
        }
        if r.reinit_hostdata {
            reinit_steps(session, &hd, opts, r, &zone, stamp, &mut report)?;
        } else if r.takeover {
            let key = session.key.as_ref().ok_or_else(|| {
                Error::Refused(
                    "--takeover keeps the zone's key, but no key was found (--keys DIR); \
                     --reinit-hostdata makes a new one"
                        .into(),
                )
            })?;
            let hostid = opts
                .hostid
                .ok_or_else(|| Error::Usage("--takeover needs --hostid (the new owner)".into()))?;
            let hostname = r.hostname.clone().ok_or_else(|| {
                Error::Usage("--takeover needs --hostname (the new owner)".into())
            })?;
            for o in &hd {
                let now = hostdata::now();
                let a = assess(o, Some(key))?;
                let (data, writes) = hostdata::plan_takeover(&a, key, hostid, &hostname, now)?;
                let changes = vec![format!(
                    "owner → hostid {:08x} ({}), generation {}, both copies",
                    data.owner_hostid, data.owner_hostname, data.generation
                )];
                write_hostdata(o, opts, r, &zone, stamp, writes, changes, &mut report)?;
            }
        } else {
            for o in &hd {
                report.steps.push(Step {
                    device: Some(o.id),
                    kind: "hostdata",
                    changes: Vec::new(),
                    journal: None,
                    applied: false,
                    skipped: Some(
                        "host data is left alone: pass --reinit-hostdata (new key, new host data) \
                         or --takeover (keep the key, this host becomes the owner); both defeat \
                         Solaris's in-use protection, so be sure the zone runs nowhere else"
                            .into(),
                    ),
                });
            }
        }
    }
    Ok(report)
}

fn physpath_steps(
    disks: &[&OpenedDevice],
    opts: &DiagnoseOptions,
    r: &RepairOptions,
    zone: &str,
    stamp: u64,
    report: &mut Report,
) -> Result<()> {
    // Plan on read-only views first (a dry run never opens for writing).
    let dry = diagnose::physpath_plan(disks, opts.radix, r.force)?;
    let describe = |p: &plan::Plan, i: usize| -> Vec<String> {
        p.changes
            .iter()
            .filter(|c| c.disk == i)
            .map(|c| {
                format!(
                    "label {} leaf {} {}: {} → {}",
                    c.label,
                    c.leaf_guid,
                    c.field,
                    c.before
                        .as_deref()
                        .map_or("(absent)".into(), |v| format!("{v:?}")),
                    c.after
                        .as_deref()
                        .map_or("(removed)".into(), |v| format!("{v:?}"))
                )
            })
            .collect()
    };
    if r.dry_run {
        for (i, o) in disks.iter().enumerate() {
            report.steps.push(Step {
                device: Some(o.id),
                kind: "phys_path",
                changes: describe(&dry, i),
                journal: None,
                applied: false,
                skipped: Some("dry run".into()),
            });
        }
        return Ok(());
    }
    let writable: Vec<crate::target::Vdev> = disks
        .iter()
        .map(|o| diagnose::reopen_for_write(o, opts.sector_size))
        .collect::<Result<_>>()?;
    let inputs: Vec<plan::DiskInput> = disks
        .iter()
        .zip(&writable)
        .map(|(o, w)| {
            let p = w
                .partition
                .as_ref()
                .ok_or_else(|| Error::Usage(format!("{} has no partition table", o.spec)))?;
            Ok(plan::DiskInput {
                name: o.spec.clone(),
                disk: w.disk.clone(),
                vdev: w.source.clone(),
                vdev_start: p.start,
                fields: diagnose::expected_fields(o.id, p, opts.radix),
            })
        })
        .collect::<Result<_>>()?;
    let p = plan::plan(&inputs, plan::PlanOptions { force: r.force })?;
    let sources: Vec<_> = writable.iter().map(|w| w.disk.clone()).collect();
    let plans = p.target_plans(&sources);
    for (i, (o, tp)) in disks.iter().zip(plans).enumerate() {
        let journal = diagnose::journal_path(&r.journal_dir, zone, o.id, "physpath", stamp);
        let changes = describe(&p, i);
        let outcome = apply::apply(
            std::slice::from_ref(&tp),
            &journal,
            &format!("kzrescue repair: phys_path of zone {zone} device {}", o.id),
        )?;
        report.steps.push(Step {
            device: Some(o.id),
            kind: "phys_path",
            changes,
            journal: match &outcome {
                Outcome::Applied { journal, .. } => Some(journal.clone()),
                Outcome::Unchanged => None,
            },
            applied: matches!(outcome, Outcome::Applied { .. }),
            skipped: match outcome {
                Outcome::Unchanged => Some("already as expected".into()),
                Outcome::Applied { .. } => None,
            },
        });
    }
    Ok(())
}

fn assess(o: &OpenedDevice, key: Option<&HostKey>) -> Result<store::Assessment> {
    let p = diagnose::reserved_partition(&o.vdev).ok_or_else(|| {
        Error::Refused(format!(
            "{} has no Solaris reserved partition: no place for host data",
            o.spec
        ))
    })?;
    store::assess(o.vdev.disk.as_ref(), p.start, p.len, key)
}

fn reinit_steps(
    session: &Session,
    hd: &[&OpenedDevice],
    opts: &DiagnoseOptions,
    r: &RepairOptions,
    zone: &str,
    stamp: u64,
    report: &mut Report,
) -> Result<()> {
    let key_path = session.key_path.clone().ok_or_else(|| {
        Error::Usage(
            "--reinit-hostdata writes the new key to <keys dir>/<zone>: give --keys DIR (and the zone name)"
                .into(),
        )
    })?;
    let key = HostKey::generate()?;
    let init = InitOptions {
        hostid: opts.hostid.unwrap_or(0),
        hostname: r.hostname.clone().unwrap_or_default(),
        ..Default::default()
    };
    // The key file first: if host data were written first and the key file
    // then failed, the new host data would be sealed under a lost key.
    let backup = key_path.with_file_name(format!(
        "{}.kzrescue-{stamp}.old",
        key_path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let mut key_changes = vec![format!(
        "new key id {} written to {} (mode 0600)",
        key.id(),
        key_path.display()
    )];
    if key_path.exists() {
        key_changes.push(format!("previous key file kept as {}", backup.display()));
    }
    if r.dry_run {
        report.steps.push(Step {
            device: None,
            kind: "key",
            changes: key_changes,
            journal: None,
            applied: false,
            skipped: Some("dry run".into()),
        });
    } else {
        if key_path.exists() {
            std::fs::rename(&key_path, &backup).map_err(|e| {
                Error::io(format!("keep the old key file as {}", backup.display()), e)
            })?;
        }
        keyfile::write_keyfile(&key_path, zone, &key, false)?;
        report.steps.push(Step {
            device: None,
            kind: "key",
            changes: key_changes,
            journal: None,
            applied: true,
            skipped: None,
        });
    }
    for o in hd {
        let a = assess(o, Some(&key))?;
        let (data, writes) = hostdata::plan_init(&a, &key, zone, &init, hostdata::now())?;
        let owner = if data.owner_hostid == 0 {
            "no owner (give --hostid and --hostname to record this host)".to_string()
        } else {
            format!(
                "owner hostid {:08x} ({})",
                data.owner_hostid, data.owner_hostname
            )
        };
        let changes = vec![format!(
            "new host data for zone {zone}: {owner}, state {}, generation {}, both copies",
            data.state, data.generation
        )];
        write_hostdata(o, opts, r, zone, stamp, writes, changes, report)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn write_hostdata(
    o: &OpenedDevice,
    opts: &DiagnoseOptions,
    r: &RepairOptions,
    zone: &str,
    stamp: u64,
    writes: Vec<store::CopyWrite>,
    changes: Vec<String>,
    report: &mut Report,
) -> Result<()> {
    if r.dry_run {
        report.steps.push(Step {
            device: Some(o.id),
            kind: "hostdata",
            changes,
            journal: None,
            applied: false,
            skipped: Some("dry run".into()),
        });
        return Ok(());
    }
    let w = diagnose::reopen_for_write(o, opts.sector_size)?;
    let tp = TargetPlan {
        path: o.spec.clone(),
        source: w.disk.clone(),
        phases: hostdata::to_phases(&writes),
    };
    let journal = diagnose::journal_path(&r.journal_dir, zone, o.id, "hostdata", stamp);
    let outcome = apply::apply(
        std::slice::from_ref(&tp),
        &journal,
        &format!("kzrescue repair: host data of zone {zone} device {}", o.id),
    )?;
    report.steps.push(Step {
        device: Some(o.id),
        kind: "hostdata",
        changes,
        journal: match &outcome {
            Outcome::Applied { journal, .. } => Some(journal.clone()),
            Outcome::Unchanged => None,
        },
        applied: matches!(outcome, Outcome::Applied { .. }),
        skipped: None,
    });
    Ok(())
}
