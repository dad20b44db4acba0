//! The repair transaction: the one way kzrescue writes to a disk.
//!
//! Every writer — `physpath set`, `hostdata init`/`takeover`, `repair`,
//! `undo`, and any new one — builds its byte edits as
//! [`TargetPlan`]s (read from the target opened read-only), hands them to a
//! [`Transaction`] together with the files it must create (a key file) and
//! the vdevs whose liveness must be checked, and calls
//! [`Transaction::commit`]. The transaction then runs these steps, in this
//! order, and stops at the first that fails:
//!
//! 1. **preflight** — nothing is written until all of it passes:
//!    every target is opened for writing (exclusively where the OS allows:
//!    `O_EXCL` on Linux block devices; an iSCSI LU that refuses writes fails
//!    here) and must be the very object the plan was read from (same
//!    identity and size) and no shorter than its own partition table says
//!    ([`check_table_fits`]); every journal must not exist and its directory
//!    must accept a new file; every file to create (key file, its `.old`
//!    copy) must be creatable; every plan is re-validated against the
//!    target read from the device (the bytes it was made from are still
//!    there, no overlaps, in bounds).
//! 2. **liveness** — the uberblock rings of every watched vdev are read
//!    twice, the interval apart, from the device (`O_DIRECT`, or the page
//!    cache dropped; iSCSI READs), through the handles opened in step 1.
//! 3. **exclusive reopen** — the handles of step 1 are kept open from the
//!    preflight to the end, so nothing can claim the device exclusively in
//!    between; the plans are validated once more after the liveness wait.
//! 4. **files** — key files are written (each fsynced; a replaced one kept).
//! 5. **journal and writes** — per group: its undo journal is written and
//!    fsynced, then its writes are made phase by phase (write, flush, read
//!    back from the device and compare).
//! 6. **report** — [`Committed`] says what was read how, what was written
//!    and where each undo journal is.
//!
//! A failure names its step (`preflight: …`, `liveness: …`, `journal: …`,
//! `write: …`), says what was already written and gives the exact command
//! that undoes it; a failure in steps 1–3 says "nothing written".
//!
//! # How a writer uses it
//!
//! ```no_run
//! use kzrescue::repair::apply::{TargetPlan, Write};
//! use kzrescue::repair::transaction::{Transaction, TxOptions};
//! use std::path::PathBuf;
//! # fn main() -> kzrescue::Result<()> {
//! // 1. Read the target read-only and plan the edit (old bytes as read).
//! let disk = kzrescue::target::open_source("disk.img", false, &Default::default())?;
//! let mut old = vec![0u8; 512];
//! disk.read_at(0x4000, &mut old)?;
//! let plan = TargetPlan {
//!     path: "disk.img".into(), // how the transaction (and undo) reopens it
//!     source: disk.clone(),    // what the plan was read from
//!     phases: vec![vec![Write {
//!         offset: 0x4000,
//!         what: "disk.img GPT entry 2".into(),
//!         old: old.clone(),
//!         new: vec![0u8; 512],
//!     }]],
//! };
//! // 2. One transaction: options shared by every writer, one journal per group.
//! let mut tx = Transaction::new(
//!     "kzrescue partitions restore disk.img",
//!     TxOptions::from_interval_secs(3.0)?,
//! );
//! tx.group("GPT of disk.img", Some(PathBuf::from("gpt.kzj")), vec![plan]);
//! // 3. Watch the pool's slice for a live pool (target spec, start, length, ashift).
//! tx.watch("disk.img", 0x100000, 0x4000000, None);
//! // 4. Preflight, liveness, journal, writes, read-back — or nothing at all.
//! let done = tx.commit()?;
//! for g in &done.groups {
//!     println!("{}: {} write(s), undo journal {:?}", g.label, g.writes, g.journal);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`Transaction::dry_run`] runs step 1 without opening anything for writing
//! (plans re-validated, journal and file paths checked) so that a dry run
//! refuses what the real run would refuse.

use super::apply::{self, Outcome, PausePoint, TargetPlan, append};
use super::journal::{Journal, RangeState, TargetRecord};
use super::liveness::{self, Quiet, Watched};
use crate::error::{Error, Result};
use crate::source::{SharedSource, Window};
use crate::target::AccessOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options every writer shares (validated once, here).
#[derive(Debug, Clone)]
pub struct TxOptions {
    /// Wait between the two reads of the uberblock rings.
    pub liveness_interval: Duration,
    /// How to reach targets named by URI.
    pub access: AccessOptions,
    /// The crash tests' pause point (none in normal use).
    pub pause: Option<PausePoint>,
}

impl TxOptions {
    /// Options from `--liveness-interval SECS` (checked against
    /// [`liveness::INTERVAL_RANGE`]).
    pub fn from_interval_secs(secs: f64) -> Result<TxOptions> {
        Ok(TxOptions {
            liveness_interval: liveness::interval_from_secs(secs)?,
            access: AccessOptions::default(),
            pause: None,
        })
    }

    /// These options, reaching URIs as `access` says.
    pub fn with_access(mut self, access: &AccessOptions) -> TxOptions {
        self.access = access.clone();
        self
    }

    /// These options, pausing at `pause` (the crash tests').
    pub fn with_pause(mut self, pause: Option<PausePoint>) -> TxOptions {
        self.pause = pause;
        self
    }
}

impl Default for TxOptions {
    fn default() -> Self {
        TxOptions {
            liveness_interval: liveness::DEFAULT_INTERVAL,
            access: AccessOptions::default(),
            pause: None,
        }
    }
}

/// What to do when a file the transaction creates already exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// Refuse (the file may hold the only copy of a key).
    Refuse,
    /// Keep the existing file under this name (renamed before the new one
    /// is written); that name must not exist.
    KeepAs(PathBuf),
    /// Let the writer replace it (the writer keeps its own backup).
    Replace,
}

/// Writes a new file at the path given; called once, after the preflight.
pub type FileWriter<'a> = Box<dyn FnOnce(&Path) -> Result<()> + 'a>;

/// A file the transaction creates before the first disk write (a key file:
/// host data sealed under a key nobody has would be lost).
pub struct NewFile<'a> {
    /// Where.
    pub path: PathBuf,
    /// What it is, for messages ("key file of zone kz1").
    pub what: String,
    /// What happens to a file already there.
    pub existing: Existing,
    /// Writes it (the writer owns the format and the mode).
    pub write: FileWriter<'a>,
}

/// One journalled unit: plans whose undo bytes go into one journal.
struct Group {
    label: String,
    journal: Option<PathBuf>,
    plans: Vec<TargetPlan>,
    /// For a journal-less group (undo): what to tell the user on failure.
    rerun: Option<String>,
}

/// A vdev window to watch for liveness.
struct Watch {
    spec: String,
    start: u64,
    len: u64,
    ashift: Option<u64>,
}

/// Opens a target spec for writing.
pub type Opener = Box<dyn Fn(&str) -> Result<SharedSource>>;

/// A repair transaction; see the module documentation.
pub struct Transaction<'a> {
    purpose: String,
    opts: TxOptions,
    groups: Vec<Group>,
    files: Vec<NewFile<'a>>,
    watches: Vec<Watch>,
    opener: Opener,
}

/// What one group did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GroupOutcome {
    /// The group's label.
    pub label: String,
    /// Its undo journal, when one was written.
    pub journal: Option<PathBuf>,
    /// Writes made (0: every byte already as planned).
    pub writes: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// A file the transaction wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileOutcome {
    /// What it is.
    pub what: String,
    /// Where.
    pub path: PathBuf,
    /// Where the file it replaced was kept.
    pub kept_old_as: Option<PathBuf>,
}

/// The report of a committed transaction.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The liveness check (`None` when nothing was watched).
    pub liveness: Option<Quiet>,
    /// Per group, in the order given.
    pub groups: Vec<GroupOutcome>,
    /// Files written, in the order given.
    pub files: Vec<FileOutcome>,
}

impl Committed {
    /// Whether anything at all was written.
    pub fn wrote(&self) -> bool {
        !self.files.is_empty() || self.groups.iter().any(|g| g.writes > 0)
    }
}

/// The default opener: [`crate::target::open_source`] for writing, a busy
/// device turned into a refusal that says why.
pub fn open_for_write(spec: &str, access: &AccessOptions) -> Result<SharedSource> {
    crate::target::open_source(spec, true, access).map_err(busy_refusal)
}

/// Turns "device busy" on an exclusive open into a refusal that says why.
pub fn busy_refusal(e: Error) -> Error {
    match e {
        Error::Io { context, source } if source.raw_os_error() == Some(libc::EBUSY) => {
            Error::Refused(format!(
                "{context}: {source}: the device is in use (a mounted file system, an imported \
                 pool, or another program holding it open exclusively)"
            ))
        }
        other => other,
    }
}

/// Prefixes an error with the step it happened in (and keeps its kind).
fn at_step(e: Error, step: &str) -> Error {
    super::annotate(e, &format!("{step}: "), "")
}

/// Checks that a new file can be created in `path`'s directory by creating
/// and removing a probe file there.
fn check_creatable(path: &Path, what: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let meta = std::fs::metadata(dir).map_err(|e| {
        Error::io(
            format!("{what} {}: directory {}", path.display(), dir.display()),
            e,
        )
    })?;
    if !meta.is_dir() {
        return Err(Error::Usage(format!(
            "{what} {}: {} is not a directory",
            path.display(),
            dir.display()
        )));
    }
    let probe = dir.join(format!(
        ".kzrescue-preflight-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| {
            Error::io(
                format!(
                    "{what} {}: cannot create a file in {}",
                    path.display(),
                    dir.display()
                ),
                e,
            )
        })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

impl<'a> Transaction<'a> {
    /// A new, empty transaction. `purpose` is recorded in every journal.
    pub fn new(purpose: impl Into<String>, opts: TxOptions) -> Transaction<'a> {
        let access = opts.access.clone();
        Transaction {
            purpose: purpose.into(),
            opts,
            groups: Vec::new(),
            files: Vec::new(),
            watches: Vec::new(),
            opener: Box::new(move |spec: &str| open_for_write(spec, &access)),
        }
    }

    /// Opens targets with `opener` instead of [`open_for_write`] (tests:
    /// fault-injecting sources).
    pub fn with_opener(mut self, opener: Opener) -> Transaction<'a> {
        self.opener = opener;
        self
    }

    /// Adds plans whose undo bytes go into `journal` (which must not
    /// exist). Each plan's `path` is the target spec the transaction opens
    /// for writing; its `source` is what the plan was read from. `label`
    /// names the group in reports ("phys_path of device 0"). `None` as the
    /// journal is for `undo` only (use [`Transaction::restore`]).
    pub fn group(
        &mut self,
        label: impl Into<String>,
        journal: Option<PathBuf>,
        plans: Vec<TargetPlan>,
    ) {
        self.groups.push(Group {
            label: label.into(),
            journal,
            plans,
            rerun: None,
        });
    }

    /// Adds the restore of `journal` (read from `journal_path`) onto the
    /// targets `specs` (one per journal target): every range that does not
    /// hold its old bytes is written back, one range per phase. Refuses a
    /// journal of another disk (see [`apply::check_undo`]); `ignore_identity`
    /// accepts a copy whose bytes still match. `sources` are the targets
    /// opened read-only.
    pub fn restore(
        &mut self,
        journal_path: &Path,
        journal: &Journal,
        specs: &[String],
        sources: &[SharedSource],
        ignore_identity: bool,
    ) -> Result<Vec<apply::UndoCheck>> {
        let checks = apply::check_undo(journal, sources, ignore_identity)?;
        let mut plans = Vec::new();
        for (((t, src), spec), check) in journal.targets.iter().zip(sources).zip(specs).zip(&checks)
        {
            plans.push(restore_plan(t, src, spec, check)?);
        }
        self.groups.push(Group {
            label: format!("undo of {}", journal_path.display()),
            journal: None,
            plans,
            rerun: Some(format!(
                "; some ranges may already be restored: running `kzrescue undo {} --write` again \
                 finishes the job (restored ranges are recognised and skipped)",
                journal_path.display()
            )),
        });
        Ok(checks)
    }

    /// Adds a file to create before the first disk write.
    pub fn file(&mut self, f: NewFile<'a>) {
        self.files.push(f);
    }

    /// Watches the vdev at `[start, start+len)` of target `spec` (which is
    /// opened for writing when it is a plan's target, read-only otherwise)
    /// for a live pool; `ashift` from its labels when known.
    pub fn watch(&mut self, spec: &str, start: u64, len: u64, ashift: Option<u64>) {
        self.watches.push(Watch {
            spec: spec.to_string(),
            start,
            len,
            ashift,
        });
    }

    /// The preflight of a dry run: everything step 1 checks that needs no
    /// handle open for writing — journal and file paths creatable (and not
    /// existing), every target reopened read-only by its spec and the very
    /// object its plan was read from (same identity and size), every plan
    /// re-validated against it (bytes still as read, in bounds, no
    /// overlaps). A dry run calls this so that it fails for the reasons the
    /// write would, before any byte.
    pub fn dry_run(&self) -> Result<()> {
        let pre = |e: Error| append(at_step(e, "preflight"), "; dry run, nothing written");
        check_paths(&self.groups, &self.files).map_err(pre)?;
        for g in &self.groups {
            let mut reopened = Vec::new();
            for p in &g.plans {
                let r = crate::target::open_source(&p.path, false, &self.opts.access)
                    .map_err(|e| pre(append(e, &format!(" (reopening {})", p.path))))?;
                same_object(&p.path, r.as_ref(), p.source.as_ref()).map_err(pre)?;
                check_table_fits(&p.path, r.as_ref()).map_err(pre)?;
                reopened.push(TargetPlan {
                    path: p.path.clone(),
                    source: r,
                    phases: p.phases.clone(),
                });
            }
            apply::check_plans_dry(&reopened).map_err(pre)?;
        }
        Ok(())
    }

    /// Runs the transaction (module documentation, steps 1–6).
    pub fn commit(self) -> Result<Committed> {
        let Transaction {
            purpose,
            opts,
            mut groups,
            files,
            watches,
            opener,
        } = self;
        // 1. Preflight (paths first: they are cheap and need no device).
        check_paths(&groups, &files).map_err(nothing_written("preflight"))?;
        let handles = open_targets(&mut groups, &opener).map_err(nothing_written("preflight"))?;
        // 2. Liveness, through the same handles (read-only for watched
        // devices that are not written).
        let liveness = watch_liveness(&watches, &handles, &opts)?;
        // 3. The handles are still held; validate once more after the wait.
        for g in &groups {
            apply::check_plans(&g.plans)
                .map_err(nothing_written("preflight (after the liveness wait)"))?;
        }
        // 4. Files; 5. journals and writes.
        let done_files = write_files(files)?;
        let done = write_groups(&groups, &purpose, &done_files, opts.pause.as_ref())?;
        drop(handles);
        Ok(Committed {
            liveness,
            groups: done,
            files: done_files,
        })
    }
}

/// The error mapper of a step that fails before anything was written.
fn nothing_written(step: &str) -> impl Fn(Error) -> Error + '_ {
    move |e| append(at_step(e, step), "; nothing written")
}

/// Opens every target for writing once, by spec (one exclusive handle per
/// device even when several groups write it), checks each is the object
/// its plan was read from, and points the plans at the writable handles.
fn open_targets(groups: &mut [Group], opener: &Opener) -> Result<Vec<(String, SharedSource)>> {
    let mut handles: Vec<(String, SharedSource)> = Vec::new();
    for g in groups.iter() {
        for p in &g.plans {
            if handles.iter().any(|(s, _)| *s == p.path) {
                continue;
            }
            let w = opener(&p.path)
                .map_err(|e| append(e, &format!(" (opening {} for writing)", p.path)))?;
            if !w.writable() {
                return Err(Error::Refused(format!(
                    "{} did not open for writing",
                    p.path
                )));
            }
            handles.push((p.path.clone(), w));
        }
    }
    for g in groups.iter_mut() {
        for p in &mut g.plans {
            let w =
                find_handle(&handles, &p.path).ok_or_else(|| Error::Usage("lost handle".into()))?;
            same_object(&p.path, w.as_ref(), p.source.as_ref())?;
            check_table_fits(&p.path, w.as_ref())?;
            p.source = w;
        }
        apply::check_plans(&g.plans)?;
    }
    Ok(handles)
}

fn find_handle(handles: &[(String, SharedSource)], spec: &str) -> Option<SharedSource> {
    handles
        .iter()
        .find(|(s, _)| s == spec)
        .map(|(_, h)| h.clone())
}

/// Step 2: the uberblock rings of every watched vdev read twice.
fn watch_liveness(
    watches: &[Watch],
    handles: &[(String, SharedSource)],
    opts: &TxOptions,
) -> Result<Option<Quiet>> {
    let mut watched_src: Vec<(SharedSource, Option<u64>)> = Vec::new();
    for w in watches {
        let disk = match find_handle(handles, &w.spec) {
            Some(h) => h,
            None => crate::target::open_source(&w.spec, false, &opts.access)
                .map_err(nothing_written("liveness"))?,
        };
        let win: SharedSource = std::sync::Arc::new(Window::new(disk, w.start, w.len, "vdev"));
        watched_src.push((win, w.ashift));
    }
    if watched_src.is_empty() {
        return Ok(None);
    }
    let watched: Vec<Watched<'_>> = watched_src
        .iter()
        .map(|(s, a)| Watched {
            vdev: s.as_ref(),
            ashift: *a,
        })
        .collect();
    liveness::check(&watched, opts.liveness_interval)
        .map(Some)
        .map_err(nothing_written("liveness"))
}

/// Step 4: the files (key files), each kept or refused as it says.
fn write_files(files: Vec<NewFile<'_>>) -> Result<Vec<FileOutcome>> {
    let mut done_files: Vec<FileOutcome> = Vec::new();
    for f in files {
        let mut kept = None;
        if let Existing::KeepAs(old) = &f.existing
            && f.path.symlink_metadata().is_ok()
        {
            std::fs::rename(&f.path, old).map_err(|e| {
                let e = Error::io(
                    format!(
                        "keep the old {} {} as {}",
                        f.what,
                        f.path.display(),
                        old.display()
                    ),
                    e,
                );
                append(at_step(e, "files"), &written_note(&done_files, &[]))
            })?;
            kept = Some(old.clone());
        }
        let what = f.what.clone();
        let path = f.path.clone();
        (f.write)(&path).map_err(|e| {
            let mut note = written_note(&done_files, &[]);
            if let Some(k) = &kept {
                note.push_str(&format!(
                    "; the old {what} was moved to {} (move it back: mv {} {})",
                    k.display(),
                    k.display(),
                    path.display()
                ));
            }
            append(at_step(e, "files"), &note)
        })?;
        done_files.push(FileOutcome {
            what,
            path,
            kept_old_as: kept,
        });
    }
    Ok(done_files)
}

/// Step 5: per group, its journal and its writes.
fn write_groups(
    groups: &[Group],
    purpose: &str,
    done_files: &[FileOutcome],
    pause: Option<&PausePoint>,
) -> Result<Vec<GroupOutcome>> {
    let mut done: Vec<GroupOutcome> = Vec::new();
    for g in groups {
        let before = written_note(done_files, &done);
        let outcome = match (&g.journal, &g.rerun) {
            (Some(j), _) => apply::apply_paused(&g.plans, j, purpose, pause).map_err(|e| {
                let step = if j.exists() { "write" } else { "journal" };
                append(at_step(e, step), &before)
            })?,
            (None, rerun) => {
                let (writes, bytes) =
                    apply::apply_unjournalled(&g.plans, rerun.as_deref().unwrap_or(""), pause)
                        .map_err(|e| append(at_step(e, "write"), &before))?;
                if writes == 0 {
                    Outcome::Unchanged
                } else {
                    done.push(GroupOutcome {
                        label: g.label.clone(),
                        journal: None,
                        writes,
                        bytes,
                    });
                    continue;
                }
            }
        };
        done.push(match outcome {
            Outcome::Unchanged => GroupOutcome {
                label: g.label.clone(),
                journal: None,
                writes: 0,
                bytes: 0,
            },
            Outcome::Applied {
                journal,
                writes,
                bytes,
            } => GroupOutcome {
                label: g.label.clone(),
                journal: Some(journal),
                writes,
                bytes,
            },
        });
    }
    Ok(done)
}

/// Refuses `reopened` (the target `spec` opened again) unless it is the
/// object `planned` (what the plan was read from): same identity and size.
fn same_object(
    spec: &str,
    reopened: &dyn crate::source::Source,
    planned: &dyn crate::source::Source,
) -> Result<()> {
    if reopened.identity() != planned.identity() || reopened.size() != planned.size() {
        return Err(Error::Refused(format!(
            "{spec} opened again is not the object the plan was read from \
             (identity {} size {} ≠ {} size {})",
            reopened.identity(),
            reopened.size(),
            planned.identity(),
            planned.size()
        )));
    }
    Ok(())
}

/// Refuses a target shorter than its own partition table says (an image
/// copied incompletely, a LUN that shrank): the end of its last partition,
/// or of a GPT's other header, lies past the device's end. Such a disk's
/// end labels and backup table are missing; writing to it would make a
/// pool (or a table) that no longer matches the disk it came from. A
/// target without a readable table (a bare vdev) has nothing to check.
pub fn check_table_fits(spec: &str, target: &dyn crate::source::Source) -> Result<()> {
    let Ok(table) = crate::partition::read(target, None) else {
        return Ok(());
    };
    let size = target.size();
    let ss = u64::from(table.sector_size);
    let past: Vec<(u64, String)> = table
        .partitions
        .iter()
        .map(|p| {
            (
                p.start.saturating_add(p.len),
                format!("slice {}", p.label()),
            )
        })
        .chain(table.gpt.iter().map(|g| {
            let lba = g.header_lba.max(g.alternate_lba);
            let end = lba.saturating_add(1).saturating_mul(ss);
            (end, format!("the GPT header at LBA {lba}"))
        }))
        .filter(|(end, _)| *end > size)
        .collect();
    let Some(end) = past.iter().map(|(end, _)| *end).max() else {
        return Ok(());
    };
    let what: Vec<&str> = past.iter().map(|(_, w)| w.as_str()).collect();
    Err(Error::Refused(format!(
        "{spec} is {size} bytes but its partition table ends at byte {end} ({} past the \
         device's end): an image copied incompletely or a LUN that shrank; kzrescue does not \
         write to a disk shorter than its table",
        what.join(", ")
    )))
}

fn check_paths(groups: &[Group], files: &[NewFile<'_>]) -> Result<()> {
    let mut seen: Vec<&Path> = Vec::new();
    for g in groups {
        let Some(j) = &g.journal else { continue };
        if seen.contains(&j.as_path()) {
            return Err(Error::Usage(format!(
                "undo journal {} is named twice",
                j.display()
            )));
        }
        seen.push(j);
        if j.symlink_metadata().is_ok() {
            return Err(Error::Refused(format!(
                "undo journal {} exists; a journal is never overwritten (choose another \
                 --journal)",
                j.display()
            )));
        }
        check_creatable(j, "undo journal")?;
    }
    for f in files {
        let exists = f.path.symlink_metadata().is_ok();
        match &f.existing {
            Existing::Refuse if exists => {
                return Err(Error::Refused(format!(
                    "{} {} exists; not overwriting it (it may hold the only copy of a key)",
                    f.what,
                    f.path.display()
                )));
            }
            Existing::KeepAs(old) if exists => {
                if old.symlink_metadata().is_ok() {
                    return Err(Error::Refused(format!(
                        "{} {}: the copy of the old one would go to {}, which exists",
                        f.what,
                        f.path.display(),
                        old.display()
                    )));
                }
                check_creatable(old, &format!("copy of the old {}", f.what))?;
            }
            _ => {}
        }
        check_creatable(&f.path, &f.what)?;
    }
    Ok(())
}

/// "; already written before this step: …" for an error after some steps
/// completed, or "; nothing was written before this step".
fn written_note(files: &[FileOutcome], groups: &[GroupOutcome]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for f in files {
        parts.push(match &f.kept_old_as {
            Some(k) => format!(
                "{} {} (the old one kept as {})",
                f.what,
                f.path.display(),
                k.display()
            ),
            None => format!("{} {}", f.what, f.path.display()),
        });
    }
    for g in groups.iter().filter(|g| g.writes > 0) {
        parts.push(match &g.journal {
            Some(j) => format!(
                "{} ({} write(s), undo: `kzrescue undo {} --write`)",
                g.label,
                g.writes,
                j.display()
            ),
            None => format!("{} ({} write(s))", g.label, g.writes),
        });
    }
    if parts.is_empty() {
        "; nothing was written before this step".into()
    } else {
        format!("; completed before this step: {}", parts.join("; "))
    }
}

/// The plan that puts back every range of journal target `t` not holding
/// its old bytes, one range per phase.
fn restore_plan(
    t: &TargetRecord,
    src: &SharedSource,
    spec: &str,
    check: &apply::UndoCheck,
) -> Result<TargetPlan> {
    let mut phases = Vec::new();
    for (r, (_, _, _, state)) in t.ranges.iter().zip(&check.ranges) {
        if *state == RangeState::Old {
            continue;
        }
        let mut current = vec![0u8; r.len()];
        src.read_uncached(r.offset, &mut current)?;
        phases.push(vec![apply::Write {
            offset: r.offset,
            what: format!("{spec} {}", r.what),
            old: current,
            new: r.old.clone(),
        }]);
    }
    Ok(TargetPlan {
        path: spec.to_string(),
        source: src.clone(),
        phases,
    })
}
