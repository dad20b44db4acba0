//! The host-data writers, `hostdata init` and `hostdata takeover`, as one
//! workflow each: open the boot disk read-only, judge both copies, refuse
//! what must not be written over, plan the new host data
//! ([`crate::hostdata::plan_init`], [`crate::hostdata::plan_takeover`]), and
//! turn the slot writes into the one repair [`Transaction`] — the key file
//! first (for `init`), then both slots in one journal, the pool's slice
//! watched for a live pool.

use super::apply::{TargetPlan, Write};
use super::report::liveness_text;
use super::transaction::{Committed, Existing, NewFile, Transaction, TxOptions};
use crate::error::{Error, Result};
pub use crate::hostdata::inspect::DiskRequest;
use crate::hostdata::inspect::{HostDataDisk, host_data_text};
use crate::hostdata::store::{self, Assessment, CopyWrite};
use crate::hostdata::{self, HostData, HostKey, InitOptions, keyfile};
use crate::source::SharedSource;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The slot writes as phases of a repair plan: one slot per phase, so each
/// is written, flushed and read back before the next.
pub fn phases(writes: &[CopyWrite]) -> Vec<Vec<Write>> {
    writes
        .iter()
        .map(|w| {
            vec![Write {
                offset: w.offset,
                what: format!("host data {} slot", w.copy.name()),
                old: w.old.clone(),
                new: w.new.clone(),
            }]
        })
        .collect()
}

/// What `hostdata init` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct InitRequest {
    /// The zone's name.
    pub zone: String,
    /// Where the new key goes (mode 0600).
    pub key_out: PathBuf,
    /// Owner and zone facts to record.
    pub options: InitOptions,
    /// Replace an existing key file (kept as FILE.old) and write over slot
    /// bytes that are not kzrescue host data.
    pub force: bool,
}

/// The key file `init` makes.
struct NewKey {
    path: PathBuf,
    force: bool,
}

/// A planned host-data write: the disk, the judgement of both copies, the
/// new host data and its slot writes.
pub struct HostDataWrite {
    /// The disk, opened read-only.
    pub disk: HostDataDisk,
    /// The disk as the user named it (how the transaction reopens it).
    pub target: String,
    /// Both copies as they are.
    pub assessment: Assessment,
    /// The host data to write.
    pub data: HostData,
    /// The writes, in the order they are made.
    pub writes: Vec<CopyWrite>,
    /// Slot bytes written over with `--force`, one line each.
    pub warnings: Vec<String>,
    /// When the disk has no single ZFS slice to watch for a live pool.
    pub watch_note: Option<String>,
    key: HostKey,
    new_key: Option<NewKey>,
    purpose: &'static str,
}

/// Refuses a host name Solaris would not take.
pub fn check_hostname(h: &str) -> Result<()> {
    if h.is_empty() || h.len() > 255 || h.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Usage(format!(
            "host name {h:?} must be 1-255 characters without blanks"
        )));
    }
    Ok(())
}

/// Plans `hostdata init`: a new random key and fresh host data in both
/// copies (Solaris' `attach -x initialize-hostdata`). Refuses an existing
/// key file without `force`, a disk with no place for host data, and slots
/// holding bytes that are not kzrescue host data without `force`.
pub fn plan_init(d: &DiskRequest, r: &InitRequest) -> Result<HostDataWrite> {
    keyfile::check_zone_name(&r.zone)?;
    if r.key_out.symlink_metadata().is_ok() && !r.force {
        return Err(Error::Refused(format!(
            "key file {} exists; not overwriting it without --force (it may hold the only copy of a key)",
            r.key_out.display()
        )));
    }
    let disk = HostDataDisk::open(d)?;
    let a = disk.assess_for_write(None)?;
    let key = HostKey::generate()?;
    if !r.options.hostname.is_empty() {
        check_hostname(&r.options.hostname)?;
    }
    let warnings = store::refuse_unknown(&a, &disk.disk.name(), r.force)?;
    let plan = hostdata::plan_init(&a, &key, &r.zone, &r.options, hostdata::now())?;
    let w = HostDataWrite::new(d, disk, a, key, plan, warnings);
    Ok(HostDataWrite {
        new_key: Some(NewKey {
            path: r.key_out.clone(),
            force: r.force,
        }),
        ..w
    })
}

/// What `hostdata takeover` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct TakeoverRequest {
    /// The zone's key file.
    pub key: PathBuf,
    /// Accept a key file that group or others can read.
    pub insecure_key_perms: bool,
    /// The new owner's hostid.
    pub hostid: u32,
    /// The new owner's host name.
    pub hostname: String,
    /// Write over slot bytes that are not kzrescue host data.
    pub force: bool,
}

/// Plans `hostdata takeover`: the zone's key kept, this host the owner, the
/// generation bumped (Solaris' `attach -x force-takeover`). `owner` hears
/// the current owner's host data before anything is refused.
pub fn plan_takeover(
    d: &DiskRequest,
    r: &TakeoverRequest,
    owner: &mut dyn FnMut(&HostData),
) -> Result<HostDataWrite> {
    check_hostname(&r.hostname)?;
    let key = keyfile::read_keyfile(&r.key, r.insecure_key_perms)?.key;
    let disk = HostDataDisk::open(d)?;
    let a = disk.assess_for_write(Some(&key))?;
    if let Some((_, _, current)) = a.best() {
        owner(current);
    }
    let warnings = store::refuse_unknown(&a, &disk.disk.name(), r.force)?;
    let plan = hostdata::plan_takeover(&a, &key, r.hostid, &r.hostname, hostdata::now())?;
    let w = HostDataWrite::new(d, disk, a, key, plan, warnings);
    Ok(HostDataWrite {
        purpose: "hostdata takeover",
        ..w
    })
}

/// The one line about the current owner `takeover` prints first.
pub fn owner_line(d: &HostData) -> String {
    format!(
        "current owner: hostid {:08x} ({}), state {}, last update {} UTC",
        d.owner_hostid,
        d.owner_hostname,
        d.state,
        hostdata::format_time(d.last_update)
    )
}

impl HostDataWrite {
    /// The planned write of `init` (to be given its key file) or, with
    /// its purpose changed, `takeover`.
    fn new(
        d: &DiskRequest,
        disk: HostDataDisk,
        assessment: Assessment,
        key: HostKey,
        (data, writes): (HostData, Vec<CopyWrite>),
        warnings: Vec<String>,
    ) -> HostDataWrite {
        let watch_note = disk.table.zfs_slice().err().map(|_| {
            format!(
                "{} has no single ZFS slice to watch for a live pool",
                disk.disk.name()
            )
        });
        HostDataWrite {
            disk,
            target: d.target.clone(),
            assessment,
            data,
            writes,
            warnings,
            watch_note,
            key,
            new_key: None,
            purpose: "hostdata init",
        }
    }

    /// The zone's name (names the journal).
    pub fn zone(&self) -> &str {
        &self.data.zonename
    }

    /// The plan as text: one line per slot write, then the new host data.
    pub fn text(&self) -> String {
        let mut s = format!(
            "plan for {} (kzrescue host data v1, not Oracle's format):\n",
            self.disk.disk.name()
        );
        for (i, w) in self.writes.iter().enumerate() {
            let used = w.new.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            let _ = writeln!(
                s,
                "  step {}: {} slot, bytes {:#x}+{:#x}: {} -> generation {}, key id {}, {} bytes sealed + zero fill",
                i + 1,
                w.copy.name(),
                w.offset,
                w.new.len(),
                self.assessment.copy(w.copy).describe(),
                self.data.generation,
                self.key.id(),
                used
            );
        }
        s.push_str("new host data:\n");
        s.push_str(&host_data_text(&self.data));
        s
    }

    /// Where `init` puts the new key (none for `takeover`).
    pub fn key_file(&self) -> Option<&Path> {
        self.new_key.as_ref().map(|k| k.path.as_path())
    }

    /// The transaction: the key file (for `init`: a disk sealed under a key
    /// nobody has would be lost), then both slots in one journal, the
    /// pool's slice watched for liveness — host data lives outside the
    /// pool, but a live pool means a running zone, whose host data must not
    /// change under it.
    pub fn transaction(self, journal: PathBuf, tx: TxOptions) -> Transaction<'static> {
        let mut t = Transaction::new(self.purpose, tx);
        let source: SharedSource = self.disk.disk.clone();
        t.group(
            "host data",
            Some(journal),
            vec![TargetPlan {
                path: self.target.clone(),
                source,
                phases: phases(&self.writes),
            }],
        );
        if let Ok(p) = self.disk.table.zfs_slice() {
            t.watch(&self.target, p.start, p.len, None);
        }
        if let Some(k) = self.new_key {
            let (zone, key, force) = (self.data.zonename, self.key, k.force);
            t.file(NewFile {
                path: k.path,
                what: format!("new key (id {})", key.id()),
                existing: if force {
                    Existing::Replace
                } else {
                    Existing::Refuse
                },
                write: Box::new(move |p: &Path| keyfile::write_keyfile(p, &zone, &key, force)),
            });
        }
        t
    }
}

impl HostDataWrite {
    /// What the plan says on stderr before it runs: slot bytes written
    /// over (`warning: …`) and a disk with no slice to watch (`note: …`).
    pub fn notes(&self) -> Vec<String> {
        let warnings = self.warnings.iter().map(|w| format!("warning: {w}"));
        warnings
            .chain(self.watch_note.iter().map(|n| format!("note: {n}")))
            .collect()
    }

    /// Runs the transaction with the undo journal `journal` (or, without
    /// `write`, its dry-run preflight) and returns what it did as text:
    /// [`outcome_text`], or where a dry run's new key would go.
    pub fn carry_out(self, journal: PathBuf, tx: TxOptions, write: bool) -> Result<String> {
        let key_file = self.key_file().map(|k| k.display().to_string());
        let t = self.transaction(journal, tx);
        if write {
            return Ok(outcome_text(&t.commit()?));
        }
        t.dry_run()?;
        Ok(key_file
            .map(|k| format!("the new key would go to {k} (mode 0600); no key file made\n"))
            .unwrap_or_default())
    }
}

/// What a committed host-data transaction did, as text: the liveness
/// check, the key file, the slots.
pub fn outcome_text(done: &Committed) -> String {
    let mut s = done
        .liveness
        .as_ref()
        .map(liveness_text)
        .unwrap_or_default();
    for f in &done.files {
        let _ = writeln!(
            s,
            "{} written to {} (mode 0600){}",
            f.what,
            f.path.display(),
            match &f.kept_old_as {
                Some(o) => format!(", the old one kept as {}", o.display()),
                None => String::new(),
            }
        );
    }
    match done.groups.first() {
        Some(g) if g.writes > 0 => {
            let _ = writeln!(
                s,
                "wrote {} slot(s), {} bytes, each flushed and read back; undo journal: {}",
                g.writes,
                g.bytes,
                g.journal
                    .as_ref()
                    .map_or(String::new(), |j| j.display().to_string())
            );
        }
        _ => s.push_str("nothing to write: both slots already hold these bytes\n"),
    }
    s
}
