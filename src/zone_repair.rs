//! The repair of a diagnosed kernel zone: phys_path on every boot device
//! (mirror-aware), and host data only when explicitly asked. A workflow
//! over whole zones beside [`crate::diagnose`] (diagnose, repair, diagnose
//! again), above the [`crate::repair`] machinery it writes through.
//!
//! Every byte goes through one [`Transaction`]: the preflight opens every
//! device for writing and checks the journal directory and the key
//! directory before anything is written; one undo journal per device and
//! per kind of repair; each write flushed and read back from the device.
//! Without `write` the same transaction is built and its dry-run preflight
//! run ([`Transaction::dry_run`]), so a dry run fails for the reasons the
//! write would.

use crate::diagnose::{self, Code, OpenedDevice, Session, Severity};
use crate::error::{Error, Result};
use crate::hostdata::{self, HostKey, InitOptions, keyfile, store};
use crate::recovery;
use crate::repair::apply::TargetPlan;
use crate::repair::journal;
use crate::repair::liveness::DeviceLiveness;
use crate::repair::plan;
use crate::repair::transaction::{Existing, NewFile, Transaction, TxOptions};
use crate::zone::zvblk::UnitRadix;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// What the admin allowed.
#[derive(Debug, Clone, Default)]
pub struct RepairOptions {
    /// Actually write (otherwise: the plan, checked by the dry-run preflight).
    pub write: bool,
    /// Make a new key and new host data (Solaris `attach -x initialize-hostdata`).
    pub reinit_hostdata: bool,
    /// Keep the key, make this host the owner (Solaris `attach -x force-takeover`).
    pub takeover: bool,
    /// Owner host name written into host data by `reinit_hostdata`/`takeover`.
    pub hostname: Option<String>,
    /// Directory for the undo journals (named by
    /// [`journal::default_file_name`]).
    pub journal_dir: PathBuf,
    /// Accept labels the planner would otherwise refuse (one valid label, txg skew).
    pub force: bool,
    /// Rebuild missing or damaged labels from a valid label of the same
    /// vdev (`kzrescue label repair`), journalled like every write. The
    /// phys_path repair then follows in a second run ([`Report::again`]),
    /// so that it reads the rebuilt labels.
    pub repair_labels: bool,
    /// Rebuild the partition table of a boot device whose table no longer
    /// gives the pool's slice, as the scan diagnose ran advised
    /// (`kzrescue partitions restore --from …`; it writes outside the
    /// labels, hence its own flag), journalled like every write. What
    /// depends on the table (labels, phys_path) follows in a second run
    /// ([`Report::again`]).
    pub restore_partitions: bool,
    /// The transaction's options (liveness interval, storage access).
    pub tx: TxOptions,
    /// How to spell unit addresses of ids ≥ 10.
    pub radix: UnitRadix,
    /// The hostid of the host that will run the zone (host-data owner).
    pub hostid: Option<u32>,
}

/// One thing the repair did (or would do).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Device id, `None` for zone-wide steps (the key file).
    pub device: Option<u32>,
    /// `partitions`, `labels`, `phys_path`, `hostdata` or `key`.
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
    /// Labels were rebuilt and what depends on them (phys_path) was left
    /// for a second run on the rebuilt labels: diagnose and repair again.
    pub again: bool,
}

impl Report {
    /// Adds a later round's report to this one: its steps, warnings and
    /// liveness readings after these; `again` is the later round's (one
    /// report for a repair that ran in several rounds).
    pub fn absorb(&mut self, later: &Report) {
        self.steps.extend(later.steps.iter().cloned());
        self.warnings.extend(later.warnings.iter().cloned());
        self.liveness.extend(later.liveness.iter().cloned());
        self.again = later.again;
    }

    /// The report as `kzrescue repair` prints it: a heading (the repair,
    /// or the plan of a dry run), each step with what it changes and its
    /// undo journal, the warnings, and how the liveness check read each
    /// device (`hostid`: this host's, for the evidence notes).
    pub fn text(&self, hostid: Option<u32>, write: bool) -> String {
        let mut s = String::new();
        let heading = if write {
            "repair"
        } else {
            "plan (dry run: nothing written)"
        };
        // writing into a String cannot fail
        let _ = writeln!(s, "\n== {heading}");
        for step in &self.steps {
            let who = step.device.map_or("zone".into(), |d| format!("device {d}"));
            let state = if step.applied {
                "done".to_string()
            } else {
                step.skipped.clone().unwrap_or_else(|| "not done".into())
            };
            let _ = writeln!(s, "{who}: {} — {state}", step.kind);
            for c in &step.changes {
                let _ = writeln!(s, "    {c}");
            }
            if let Some(j) = &step.journal {
                let j = j.display();
                let _ = writeln!(s, "    undo journal: {j} (kzrescue undo {j} --write)");
            }
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        if !self.liveness.is_empty() {
            s.push_str("liveness: the uberblock rings did not change while watched\n");
            for d in &self.liveness {
                let _ = writeln!(s, "  {} read by {}", d.name, d.read_detail);
                for e in d.evidence(hostid) {
                    let _ = writeln!(s, "  note: {e}");
                }
            }
        }
        s
    }
}

/// Whether `session` holds a boot device whose partition table
/// `--restore-partitions` rebuilds.
pub fn tables_to_restore(session: &Session) -> bool {
    session.recovery.iter().any(|d| d.restore_from().is_some())
}

/// Whether the finding `f` is about a device whose table a scan says can be
/// restored (what stands against the repair until the table is back).
fn restorable(session: &Session, f: &diagnose::Finding) -> bool {
    session
        .recovery
        .iter()
        .any(|d| f.device == Some(d.id) && d.restore_from().is_some())
}

/// Whether `session` holds damaged labels that `--repair-labels` rebuilds.
pub fn labels_to_repair(session: &Session) -> bool {
    session.opened.iter().any(|o| needs_labels(session, o))
}

fn needs_labels(session: &Session, o: &OpenedDevice) -> bool {
    o.vdev.partition.is_some()
        && session.diagnosis.findings.iter().any(|f| {
            f.device == Some(o.id) && matches!(f.code, Code::LabelSomeBad | Code::LabelTooFew)
        })
}

/// Refuses a repair the diagnosis forbids: a live pool always; labels,
/// phys_path, mirror or configuration problems kzrescue cannot fix unless
/// forced.
fn refuse_blocking(session: &Session, r: &RepairOptions) -> Result<()> {
    let d = &session.diagnosis;
    if let Some(f) = d.findings.iter().find(|f| f.code == Code::LiveActive) {
        return Err(Error::Refused(f.message.clone()));
    }
    if !r.force
        && let Some(f) = d.findings.iter().find(|f| {
            f.severity == Severity::Unrepairable
                && matches!(f.check, "labels" | "phys_path" | "mirror" | "config")
                && !(r.repair_labels && f.code == Code::LabelTooFew)
                && !(r.restore_partitions && restorable(session, f))
        })
    {
        let hint = if restorable(session, f) {
            " (its partition table can be restored first: add --restore-partitions)"
        } else {
            ""
        };
        return Err(Error::Refused(format!(
            "{} — kzrescue will not write while this stands{hint}",
            f.message
        )));
    }
    if r.reinit_hostdata && r.takeover {
        return Err(Error::Usage(
            "--reinit-hostdata and --takeover exclude each other".into(),
        ));
    }
    Ok(())
}

/// What [`repair_zone`] tells its caller as it goes.
pub enum Event<'a> {
    /// A round starts from this diagnosis.
    Diagnosed(&'a diagnose::Diagnosis),
    /// Nothing to repair: the zone is healthy.
    Healthy,
    /// The repair of the round is about to run.
    Repairing,
    /// The repair of the round (in a dry run: its plan, preflighted).
    Repaired(&'a Report),
    /// The diagnosis after a written repair.
    After(&'a diagnose::Diagnosis),
    /// Another round follows on what was just rebuilt: the partition
    /// tables (`true`) or the labels (`false`).
    Again(bool),
}

impl Event<'_> {
    /// What `kzrescue repair` prints for this step, before the diagnosis
    /// itself for [`Event::Diagnosed`] and [`Event::After`] (its heading
    /// only): `r` is the run's options (the in-use warning, the report's
    /// heading and the liveness notes follow them).
    pub fn text(&self, r: &RepairOptions) -> String {
        match self {
            Event::Diagnosed(_) => "== diagnosis\n".into(),
            Event::Healthy => "\nnothing to repair.\n".into(),
            Event::Repairing if r.reinit_hostdata || r.takeover => format!(
                "\nnote: --{} defeats Solaris's in-use protection of the zone's storage: \
                 two hosts running the same zone corrupt it beyond repair.\n",
                if r.reinit_hostdata {
                    "reinit-hostdata"
                } else {
                    "takeover"
                }
            ),
            Event::Repairing => String::new(),
            Event::Repaired(report) => report.text(r.hostid, r.write),
            Event::After(_) => "\n== diagnosis after the repair\n".into(),
            Event::Again(tables) => format!(
                "\n== the {} rebuilt: repairing the rest on them\n",
                if *tables {
                    "partition table is"
                } else {
                    "labels are"
                }
            ),
        }
    }

    /// The diagnosis this step carries ([`Event::Diagnosed`], [`Event::After`]).
    pub fn diagnosis(&self) -> Option<&diagnose::Diagnosis> {
        match self {
            Event::Diagnosed(d) | Event::After(d) => Some(d),
            _ => None,
        }
    }
}

/// A whole [`run`]: its exit code and, for `repair --json`, the first
/// diagnosis, every round's steps in one report, and the last diagnosis.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The exit code of the last diagnosis (0 for a sound dry run or a
    /// healthy zone).
    pub code: u8,
    /// The first diagnosis.
    pub before: Option<diagnose::Diagnosis>,
    /// Every round's steps, warnings and liveness readings.
    pub report: Report,
    /// The diagnosis after the repair (the first one for a healthy zone;
    /// none after a dry run).
    pub after: Option<diagnose::Diagnosis>,
}

impl Outcome {
    /// The `kzrescue.repair/3` document (without its `schema`): `before`,
    /// `report` and, when there is one, `after`, keys in alphabetical order
    /// as they have always been printed. `None` when nothing was diagnosed.
    pub fn json(&self) -> Result<Option<serde_json::Value>> {
        let Some(before) = &self.before else {
            return Ok(None);
        };
        let mut doc = serde_json::Map::new();
        doc.insert("before".into(), crate::repair::report::sorted_json(before)?);
        doc.insert(
            "report".into(),
            crate::repair::report::sorted_json(&self.report)?,
        );
        if let Some(a) = &self.after {
            doc.insert("after".into(), crate::repair::report::sorted_json(a)?);
        }
        Ok(Some(serde_json::Value::Object(doc)))
    }
}

/// [`repair_zone`], telling `on` each step, with what `repair --json`
/// prints gathered into one [`Outcome`].
pub fn run(
    cfg: &crate::zone::ZoneConfig,
    opts: &diagnose::DiagnoseOptions,
    r: &RepairOptions,
    on: &mut dyn FnMut(&Event<'_>),
) -> Result<Outcome> {
    let mut out = Outcome::default();
    let mut latest: Option<diagnose::Diagnosis> = None;
    out.code = repair_zone(cfg, opts, r, &mut |e| {
        match &e {
            Event::Diagnosed(d) => {
                out.before.get_or_insert_with(|| (*d).clone());
                latest = Some((*d).clone());
            }
            Event::Healthy => out.after = latest.clone(),
            Event::Repaired(report) => out.report.absorb(report),
            Event::After(a) => out.after = Some((*a).clone()),
            Event::Repairing | Event::Again(_) => {}
        }
        on(&e);
    })?;
    Ok(out)
}

/// Diagnoses the zone, repairs (or, without `r.write`, plans and
/// preflights) what the findings and options allow, and diagnoses again,
/// telling `on` each step. When partition tables or labels were rebuilt,
/// the rest of the repair runs again on them ([`next_round`]). Returns the
/// exit code of the last diagnosis (0 for a sound dry run or a healthy
/// zone).
pub fn repair_zone(
    cfg: &crate::zone::ZoneConfig,
    opts: &diagnose::DiagnoseOptions,
    r: &RepairOptions,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<u8> {
    let mut round = r.clone();
    loop {
        let before = diagnose::diagnose(cfg, opts)?;
        on(Event::Diagnosed(&before.diagnosis));
        let labels = round.repair_labels && labels_to_repair(&before);
        let tables = round.restore_partitions && tables_to_restore(&before);
        if before.diagnosis.exit_code == diagnose::EXIT_HEALTHY && !labels && !tables {
            on(Event::Healthy);
            return Ok(0);
        }
        on(Event::Repairing);
        let report = repair(&before, &round)?;
        on(Event::Repaired(&report));
        if !round.write {
            return Ok(0);
        }
        // Diagnose again with what was just written (the new key included).
        drop(before);
        let after = diagnose::diagnose(cfg, opts)?;
        on(Event::After(&after.diagnosis));
        let Some(next) = next_round(&round, &report) else {
            return Ok(after.diagnosis.exit_code);
        };
        on(Event::Again(
            round.restore_partitions && !next.restore_partitions,
        ));
        round = next;
    }
}

/// The options of the run that follows a repair whose [`Report::again`] is
/// set: what was just rebuilt (the partition tables, else the labels) is
/// not asked for again. `None` when no run follows.
pub fn next_round(r: &RepairOptions, report: &Report) -> Option<RepairOptions> {
    if !(report.again && r.write) {
        return None;
    }
    let tables = report.steps.iter().any(|s| s.kind == "partitions");
    Some(RepairOptions {
        restore_partitions: false,
        repair_labels: r.repair_labels && !tables,
        ..r.clone()
    })
}

/// Carries out (or, without `write`, plans and preflights) the repair of a
/// diagnosed zone.
pub fn repair(session: &Session, r: &RepairOptions) -> Result<Report> {
    refuse_blocking(session, r)?;
    let mut b = Builder::new(session, r);
    if r.restore_partitions && tables_to_restore(session) {
        // Labels, phys_path and host data are read through the table:
        // they wait for the second run.
        b.partitions()?;
        return b.finish();
    }
    if r.repair_labels && labels_to_repair(session) {
        b.labels()?;
    } else {
        b.physpath()?;
    }
    b.hostdata()?;
    b.finish()
}

/// The repair being assembled: the report's steps and the transaction
/// groups behind them.
struct Builder<'s> {
    session: &'s Session,
    r: &'s RepairOptions,
    zone: String,
    stamp: u64,
    report: Report,
    tx: Transaction<'s>,
    /// Which transaction group each step became (None: nothing to write).
    groups: Vec<Option<usize>>,
    /// Number of groups added so far.
    n_groups: usize,
}

impl<'s> Builder<'s> {
    fn new(session: &'s Session, r: &'s RepairOptions) -> Builder<'s> {
        let zone = session
            .diagnosis
            .zone
            .clone()
            .unwrap_or_else(|| "zone".into());
        Builder {
            session,
            r,
            stamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| t.as_secs()),
            report: Report::default(),
            tx: Transaction::new(format!("kzrescue repair of zone {zone}"), r.tx.clone()),
            zone,
            groups: Vec::new(),
            n_groups: 0,
        }
    }

    /// `kzrescue-repair-<zone>-dev<id>-<what>-<secs>.kzj` in the journal directory.
    fn journal(&self, id: u32, what: &str) -> PathBuf {
        self.r.journal_dir.join(journal::default_file_name(
            "repair",
            &format!("{}-dev{id}-{what}", self.zone),
            self.stamp,
        ))
    }

    /// Adds a step, and the group that carries it out (if any).
    fn add(&mut self, step: Step, group: Option<(String, PathBuf, Vec<TargetPlan>)>) {
        match group {
            Some((label, journal, plans)) => {
                self.tx.group(label, Some(journal), plans);
                self.groups.push(Some(self.n_groups));
                self.n_groups += 1;
            }
            None => self.groups.push(None),
        }
        self.report.steps.push(step);
    }

    fn step(&self, device: Option<u32>, kind: &'static str, changes: Vec<String>) -> Step {
        Step {
            device,
            kind,
            changes,
            journal: None,
            applied: false,
            skipped: (!self.r.write).then(|| "dry run".into()),
        }
    }

    /// The partition table of every boot device a scan says can be
    /// restored, planned as `partitions restore` would (the same scan, the
    /// same refusals); one journal per device, every vdev the scan found
    /// watched. The rest is left for the second run on the restored table.
    fn partitions(&mut self) -> Result<()> {
        for d in &self.session.recovery {
            let Some(from) = d.restore_from() else {
                continue;
            };
            let access = &self.r.tx.access;
            let annotate = |e| crate::repair::annotate(e, &format!("{}: ", d.spec), "");
            let scan = recovery::scan_device(&d.spec, d.sector_size, access).map_err(annotate)?;
            let p = recovery::plan_restore(&d.spec, scan, from, d.sector_size, None, access)
                .map_err(annotate)?;
            let mut step = self.step(Some(d.id), "partitions", p.describe());
            let Some(plan) = p.target_plan() else {
                step.skipped = Some("the table is already there".into());
                self.add(step, None);
                continue;
            };
            p.watch(&mut self.tx);
            let journal = self.journal(d.id, "partitions");
            self.add(
                step,
                Some((
                    format!("partition table of device {}", d.id),
                    journal,
                    vec![plan],
                )),
            );
        }
        self.report.again = true;
        Ok(())
    }

    /// The labels of every device whose label check failed, rebuilt from
    /// its own valid labels (never another disk's); one journal per device.
    /// phys_path is left for the second run.
    fn labels(&mut self) -> Result<()> {
        let session = self.session;
        for o in session.opened.iter().filter(|o| needs_labels(session, o)) {
            let size = o.vdev.source.size();
            let raw: [Vec<u8>; 4] = {
                let offs = crate::zfs::label::label_offsets(size);
                std::array::from_fn(|i| {
                    crate::source::read_vec(
                        o.vdev.source.as_ref(),
                        offs[i],
                        crate::zfs::label::LABEL_SIZE as usize,
                    )
                    .unwrap_or_default()
                })
            };
            let p = crate::zfs::relabel::plan(&raw, size, Default::default())
                .map_err(|e| crate::repair::annotate(e, &format!("{}: ", o.spec), ""))?;
            let mut changes: Vec<String> = p
                .repaired
                .iter()
                .map(|(l, why, what)| format!("label {l}: {why} → {what}"))
                .collect();
            changes.extend(
                p.left
                    .iter()
                    .map(|(l, why)| format!("label {l} left alone: {why}")),
            );
            let base = o.vdev.partition.as_ref().map_or(0, |x| x.start);
            let w = |e: &crate::zfs::relabel::LabelEdit| crate::repair::apply::Write {
                offset: base + e.offset,
                what: format!("{} {}", o.spec, e.what),
                old: e.old.clone(),
                new: e.new.clone(),
            };
            let k = crate::zfs::relabel::second_phase_start(&p.edits);
            let plan = TargetPlan {
                path: o.spec.clone(),
                source: o.vdev.disk.clone(),
                phases: vec![
                    p.edits[..k].iter().map(w).collect(),
                    p.edits[k..].iter().map(w).collect(),
                ],
            };
            let step = self.step(Some(o.id), "labels", changes);
            let journal = self.journal(o.id, "labels");
            self.add(
                step,
                Some((format!("labels of device {}", o.id), journal, vec![plan])),
            );
        }
        let d = &session.diagnosis;
        if d.findings
            .iter()
            .any(|f| f.check == "phys_path" && f.severity == Severity::Repairable)
        {
            let mut step = self.step(None, "phys_path", Vec::new());
            step.skipped = Some("after the labels are rebuilt (a second run reads them)".into());
            self.add(step, None);
        }
        self.report.again = true;
        Ok(())
    }

    /// phys_path, all boot devices of the pool at once (mirror-aware),
    /// planned on the read-only views diagnose opened; one journal per device.
    fn physpath(&mut self) -> Result<()> {
        let d = &self.session.diagnosis;
        let needs = d
            .findings
            .iter()
            .any(|f| f.check == "phys_path" && f.severity == Severity::Repairable);
        if !needs {
            return Ok(());
        }
        let disks: Vec<&OpenedDevice> = self
            .session
            .opened
            .iter()
            .filter(|o| o.vdev.partition.is_some())
            .collect();
        let p = diagnose::physpath_plan(&disks, self.r.radix, self.r.force)?;
        self.report.warnings.extend(p.warnings.iter().cloned());
        let sources: Vec<_> = disks.iter().map(|o| o.vdev.disk.clone()).collect();
        let plans = p.target_plans(&sources);
        for (i, (o, tp)) in disks.iter().zip(plans).enumerate() {
            let step = self.step(Some(o.id), "phys_path", describe_changes(&p, i));
            let journal = self.journal(o.id, "physpath");
            self.add(
                step,
                Some((format!("phys_path of device {}", o.id), journal, vec![tp])),
            );
        }
        Ok(())
    }

    /// Host data, only when asked.
    fn hostdata(&mut self) -> Result<()> {
        let d = &self.session.diagnosis;
        let hd: Vec<&'s OpenedDevice> = self
            .session
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
        if hd.is_empty() {
            Ok(())
        } else if self.r.reinit_hostdata {
            self.reinit(&hd)
        } else if self.r.takeover {
            self.takeover(&hd)
        } else {
            for o in &hd {
                let mut step = self.step(Some(o.id), "hostdata", Vec::new());
                step.skipped = Some(
                    "host data is left alone: pass --reinit-hostdata (new key, new host data) \
                     or --takeover (keep the key, this host becomes the owner); both defeat \
                     Solaris's in-use protection, so be sure the zone runs nowhere else"
                        .into(),
                );
                self.add(step, None);
            }
            Ok(())
        }
    }

    /// New key and new host data on every device that needs it.
    fn reinit(&mut self, hd: &[&'s OpenedDevice]) -> Result<()> {
        let key_path = self.session.key_path.clone().ok_or_else(|| {
            Error::Usage(
                "--reinit-hostdata writes the new key to <keys dir>/<zone>: give --keys DIR (and the zone name)"
                    .into(),
            )
        })?;
        let key = HostKey::generate()?;
        let init = InitOptions {
            hostid: self.r.hostid.unwrap_or(0),
            hostname: self.r.hostname.clone().unwrap_or_default(),
            ..Default::default()
        };
        // Plan every device first: a refusal stops the repair before
        // anything, the key file included, is written.
        let mut planned = Vec::new();
        for o in hd {
            let a = assess(o, Some(&key))?;
            self.report
                .warnings
                .extend(store::refuse_unknown(&a, &o.spec, self.r.force)?);
            let (data, writes) = hostdata::plan_init(&a, &key, &self.zone, &init, hostdata::now())?;
            let owner = if data.owner_hostid == 0 {
                "no owner (give --hostid and --hostname to record this host)".to_string()
            } else {
                format!(
                    "owner hostid {:08x} ({})",
                    data.owner_hostid, data.owner_hostname
                )
            };
            let changes = vec![format!(
                "new host data for zone {}: {owner}, state {}, generation {}, both copies",
                self.zone, data.state, data.generation
            )];
            planned.push((*o, writes, changes));
        }
        self.key_file(key_path, key);
        for (o, writes, changes) in planned {
            self.hostdata_group(o, &writes, changes);
        }
        Ok(())
    }

    /// The key file, written before any host data (the transaction writes
    /// files first): new host data sealed under a lost key would be lost.
    fn key_file(&mut self, key_path: PathBuf, key: HostKey) {
        let backup = key_path.with_file_name(format!(
            "{}.kzrescue-{}.old",
            key_path
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            self.stamp
        ));
        let mut changes = vec![format!(
            "new key id {} written to {} (mode 0600)",
            key.id(),
            key_path.display()
        )];
        if key_path.exists() {
            changes.push(format!("previous key file kept as {}", backup.display()));
        }
        let mut step = self.step(None, "key", changes);
        step.applied = self.r.write;
        self.add(step, None);
        let zone_name = self.zone.clone();
        self.tx.file(NewFile {
            path: key_path,
            what: format!("key file of zone {}", self.zone),
            existing: Existing::KeepAs(backup),
            write: Box::new(move |p: &std::path::Path| {
                keyfile::write_keyfile(p, &zone_name, &key, false)
            }),
        });
    }

    /// Keeps the key, makes this host the owner.
    fn takeover(&mut self, hd: &[&'s OpenedDevice]) -> Result<()> {
        let key = self.session.key.as_ref().ok_or_else(|| {
            Error::Refused(
                "--takeover keeps the zone's key, but no key was found (--keys DIR); \
                 --reinit-hostdata makes a new one"
                    .into(),
            )
        })?;
        let hostid = self
            .r
            .hostid
            .ok_or_else(|| Error::Usage("--takeover needs --hostid (the new owner)".into()))?;
        let hostname =
            self.r.hostname.clone().ok_or_else(|| {
                Error::Usage("--takeover needs --hostname (the new owner)".into())
            })?;
        for o in hd {
            let a = assess(o, Some(key))?;
            self.report
                .warnings
                .extend(store::refuse_unknown(&a, &o.spec, self.r.force)?);
            let (data, writes) =
                hostdata::plan_takeover(&a, key, hostid, &hostname, hostdata::now())?;
            let changes = vec![format!(
                "owner → hostid {:08x} ({}), generation {}, both copies",
                data.owner_hostid, data.owner_hostname, data.generation
            )];
            self.hostdata_group(o, &writes, changes);
        }
        Ok(())
    }

    fn hostdata_group(
        &mut self,
        o: &OpenedDevice,
        writes: &[store::CopyWrite],
        changes: Vec<String>,
    ) {
        let step = self.step(Some(o.id), "hostdata", changes);
        let journal = self.journal(o.id, "hostdata");
        let plan = TargetPlan {
            path: o.spec.clone(),
            source: o.vdev.disk.clone(),
            phases: crate::repair::hostdata::phases(writes),
        };
        self.add(
            step,
            Some((format!("host data of device {}", o.id), journal, vec![plan])),
        );
    }

    /// Runs the transaction (or, without `write`, its dry-run preflight).
    fn finish(mut self) -> Result<Report> {
        if !self.r.write {
            self.tx.dry_run()?;
            return Ok(self.report);
        }
        if self.n_groups == 0 {
            return Ok(self.report);
        }
        // Every boot device's pool slice is watched, written or not.
        for o in &self.session.opened {
            let (start, len) = o
                .vdev
                .partition
                .as_ref()
                .map_or((0, o.vdev.disk.size()), |p| (p.start, p.len));
            let ashift = o.labels.iter().find_map(|l| l.ashift());
            self.tx.watch(&o.spec, start, len, ashift);
        }
        let done = self.tx.commit()?;
        if let Some(q) = done.liveness {
            self.report.liveness = q.devices;
        }
        for (step, g) in self.report.steps.iter_mut().zip(&self.groups) {
            let Some(g) = g.and_then(|i| done.groups.get(i)) else {
                continue;
            };
            step.applied = g.writes > 0;
            step.journal = g.journal.clone();
            if g.writes == 0 {
                step.skipped = Some("already as expected".into());
            }
        }
        Ok(self.report)
    }
}

fn describe_changes(p: &plan::Plan, i: usize) -> Vec<String> {
    p.changes
        .iter()
        .filter(|c| c.disk == i)
        .map(|c| {
            format!(
                "label {} leaf {} {}: {}",
                c.label,
                c.leaf_guid,
                c.field,
                c.before_after()
            )
        })
        .collect()
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
