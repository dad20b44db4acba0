//! The repair that follows a diagnosis: phys_path on every boot device
//! (mirror-aware), and host data only when explicitly asked.
//!
//! Every byte goes through one [`Transaction`]: the preflight opens every
//! device for writing and checks the journal directory and the key
//! directory before anything is written; one undo journal per device and
//! per kind of repair; each write flushed and read back from the device.

use crate::diagnose::{self, DiagnoseOptions, OpenedDevice, Session, Severity};
use crate::error::{Error, Result};
use crate::hostdata::{self, HostKey, InitOptions, keyfile, store};
use crate::repair::apply::TargetPlan;
use crate::repair::liveness::DeviceLiveness;
use crate::repair::plan;
use crate::repair::transaction::{Existing, NewFile, Transaction, TxOptions};
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
    /// Things the admin should know that did not stop the repair.
    pub warnings: Vec<String>,
    /// How the transaction's liveness check read each device, and what the
    /// labels say (empty in a dry run).
    pub liveness: Vec<DeviceLiveness>,
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
    if r.reinit_hostdata && r.takeover {
        return Err(Error::Usage(
            "--reinit-hostdata and --takeover exclude each other".into(),
        ));
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    let zone = d.zone.clone().unwrap_or_else(|| "zone".into());
    let mut report = Report::default();
    let mut tx = Transaction::new(
        format!("kzrescue repair of zone {zone}"),
        TxOptions {
            liveness_interval: opts.liveness_interval,
            access: opts.access.clone(),
        },
    );
    // Which transaction group each step became (None: nothing to write).
    let mut groups: Vec<Option<usize>> = Vec::new();
    let add = |report: &mut Report,
               tx: &mut Transaction<'_>,
               groups: &mut Vec<Option<usize>>,
               step: Step,
               group: Option<(String, PathBuf, Vec<TargetPlan>)>| {
        match group {
            Some((label, journal, plans)) if !r.dry_run => {
                tx.group(label, Some(journal), plans);
                groups.push(Some(groups.iter().flatten().count()));
            }
            _ => groups.push(None),
        }
        report.steps.push(step);
    };

    // 1. phys_path, all boot devices of the pool at once (mirror-aware),
    // planned on the read-only views diagnose opened.
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
        let p = diagnose::physpath_plan(&disks, opts.radix, r.force)?;
        report.warnings.extend(p.warnings.iter().cloned());
        let sources: Vec<_> = disks.iter().map(|o| o.vdev.disk.clone()).collect();
        let plans = p.target_plans(&sources);
        for (i, (o, tp)) in disks.iter().zip(plans).enumerate() {
            let journal = diagnose::journal_path(&r.journal_dir, &zone, o.id, "physpath", stamp);
            add(
                &mut report,
                &mut tx,
                &mut groups,
                Step {
                    device: Some(o.id),
                    kind: "phys_path",
                    changes: describe_changes(&p, i),
                    journal: None,
                    applied: false,
                    skipped: r.dry_run.then(|| "dry run".into()),
                },
                Some((format!("phys_path of device {}", o.id), journal, vec![tp])),
            );
        }
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
        if r.reinit_hostdata {
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
            // Plan every device first: a refusal stops the repair before
            // anything, the key file included, is written.
            let mut planned = Vec::new();
            for o in &hd {
                let a = assess(o, Some(&key))?;
                report
                    .warnings
                    .extend(store::refuse_unknown(&a, &o.spec, r.force)?);
                let (data, writes) = hostdata::plan_init(&a, &key, &zone, &init, hostdata::now())?;
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
                planned.push((*o, writes, changes));
            }
            // The key file before any host data (the transaction writes files
            // first): new host data sealed under a lost key would be lost.
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
            report.steps.push(Step {
                device: None,
                kind: "key",
                changes: key_changes,
                journal: None,
                applied: !r.dry_run,
                skipped: r.dry_run.then(|| "dry run".into()),
            });
            groups.push(None);
            for (o, writes, changes) in planned {
                let journal =
                    diagnose::journal_path(&r.journal_dir, &zone, o.id, "hostdata", stamp);
                add(
                    &mut report,
                    &mut tx,
                    &mut groups,
                    hostdata_step(o, changes, r),
                    Some((
                        format!("host data of device {}", o.id),
                        journal,
                        vec![hostdata_plan(o, &writes)],
                    )),
                );
            }
            if !r.dry_run {
                let zone_name = zone.clone();
                tx.file(NewFile {
                    path: key_path,
                    what: format!("key file of zone {zone}"),
                    existing: Existing::KeepAs(backup),
                    write: Box::new(move |p: &std::path::Path| {
                        keyfile::write_keyfile(p, &zone_name, &key, false)
                    }),
                });
            }
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
                report
                    .warnings
                    .extend(store::refuse_unknown(&a, &o.spec, r.force)?);
                let (data, writes) = hostdata::plan_takeover(&a, key, hostid, &hostname, now)?;
                let changes = vec![format!(
                    "owner → hostid {:08x} ({}), generation {}, both copies",
                    data.owner_hostid, data.owner_hostname, data.generation
                )];
                let journal =
                    diagnose::journal_path(&r.journal_dir, &zone, o.id, "hostdata", stamp);
                add(
                    &mut report,
                    &mut tx,
                    &mut groups,
                    hostdata_step(o, changes, r),
                    Some((
                        format!("host data of device {}", o.id),
                        journal,
                        vec![hostdata_plan(o, &writes)],
                    )),
                );
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
                groups.push(None);
            }
        }
    }
    if r.dry_run || groups.iter().all(Option::is_none) {
        return Ok(report);
    }
    // Every boot device's pool slice is watched, written or not.
    for o in &session.opened {
        let (start, len) = o
            .vdev
            .partition
            .as_ref()
            .map_or((0, o.vdev.disk.size()), |p| (p.start, p.len));
        let ashift = o.labels.iter().find_map(|l| l.ashift());
        tx.watch(&o.spec, start, len, ashift);
    }
    let done = tx.commit()?;
    if let Some(q) = done.liveness {
        report.liveness = q.devices;
    }
    for (step, g) in report.steps.iter_mut().zip(&groups) {
        let Some(g) = g.and_then(|i| done.groups.get(i)) else {
            continue;
        };
        step.applied = g.writes > 0;
        step.journal = g.journal.clone();
        if g.writes == 0 {
            step.skipped = Some("already as expected".into());
        }
    }
    Ok(report)
}

fn describe_changes(p: &plan::Plan, i: usize) -> Vec<String> {
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
}

fn hostdata_step(o: &OpenedDevice, changes: Vec<String>, r: &RepairOptions) -> Step {
    Step {
        device: Some(o.id),
        kind: "hostdata",
        changes,
        journal: None,
        applied: false,
        skipped: r.dry_run.then(|| "dry run".into()),
    }
}

fn hostdata_plan(o: &OpenedDevice, writes: &[store::CopyWrite]) -> TargetPlan {
    TargetPlan {
        path: o.spec.clone(),
        source: o.vdev.disk.clone(),
        phases: hostdata::to_phases(writes),
    }
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
