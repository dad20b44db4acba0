//! What changed in a dataset in a txg window, from birth txgs.
//!
//! The dnode array of the dataset's object set at the end of the window is
//! walked through only the block pointers born after the window's start
//! ([`born_after`]); every dnode in a dnode block born in the window is a
//! candidate. When the state at the start of the window still reads (a
//! snapshot, or an uberblock), each candidate is compared with its
//! version there: identical dnodes drop out, freed ones are deletions,
//! others are creations, content changes (new block pointers), metadata
//! changes (attributes) or access-time updates. Without that state the
//! births alone tell creations (the znode's generation is its creation
//! txg) and content changes (the newest top-level block pointer birth);
//! metadata changes are then dated by ctime against the window's start.

use super::history::{History, When, open_fs};
use super::objects::{
    Born, Paths, born_after, content_birth, dnodes_of_block, is_zpl, same_dnode, sha256,
    znode_diff, zpl_objects_in,
};
use crate::error::{Error, Result};
use crate::zfs::dnode::Dnode;
use crate::zfs::dsl::DatasetInfo;
use crate::zfs::zpl::{FileType, Znode, Zpl};
use serde::Serialize;
use std::collections::BTreeMap;

/// The start of a window: a txg or a snapshot of the dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Since {
    /// Changes after this txg.
    Txg(u64),
    /// Changes after this snapshot (`@name` or `dataset@name`).
    Snapshot(String),
}

impl Since {
    /// Parses `TXG` or `@SNAP` (also `DATASET@SNAP`).
    pub fn parse(s: &str) -> Result<Since> {
        if s.contains('@') {
            Ok(Since::Snapshot(s.to_string()))
        } else {
            s.parse::<u64>()
                .map(Since::Txg)
                .map_err(|_| Error::Usage(format!("--since {s}: give a txg number or @SNAPSHOT")))
        }
    }
}

/// How one object changed.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Created in the window.
    Created,
    /// Freed in the window.
    Deleted,
    /// Contents rewritten (block pointers born in the window).
    Content,
    /// Attributes changed (mode, owner, size, times, links, parent…).
    Metadata,
    /// Moved to another name or directory.
    Renamed,
    /// Only the access time changed.
    Accessed,
}

/// One changed object.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// Object number.
    pub object: u64,
    /// ZPL generation: the txg the object was created in.
    pub generation: u64,
    /// Path at the end of the window (None when deleted or unlinked).
    pub path: Option<String>,
    /// Path at the start of the window, when read and different (or deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    /// File type.
    #[serde(rename = "type")]
    pub kind: FileType,
    /// What changed.
    pub what: Vec<ChangeKind>,
    /// Txg of the latest change seen: the newest block pointer born (for
    /// contents), the creation txg, else the birth of the dnode block.
    pub txg: u64,
    /// False when `txg` is only an upper bound (a dnode block holds 32
    /// objects and records one birth for all of them).
    pub txg_exact: bool,
    /// When `txg` synced.
    pub when: When,
    /// Size at the end of the window (at the start, for deletions).
    pub size: u64,
    /// Size at the start of the window, when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_size: Option<u64>,
    /// Modification time (seconds).
    pub mtime: i64,
    /// Change time (seconds).
    pub ctime: i64,
    /// Data blocks of this object born in the window.
    pub blocks_born: u64,
    /// SHA-256 of the contents at the end of the window (`--hash`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// SHA-256 at the start of the window (`--hash`, when read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_before: Option<String>,
    /// A problem reading this object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One end of the window.
#[derive(Debug, Clone, Serialize)]
pub struct WindowEnd {
    /// Txg.
    pub txg: u64,
    /// When it synced.
    pub when: When,
    /// The state read for it: `snapshot NAME`, `uberblock txg N`, or None
    /// when no state of that time still reads.
    pub state: Option<String>,
}

/// Counts by kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChangeCounts {
    /// Objects created.
    pub created: usize,
    /// Objects deleted.
    pub deleted: usize,
    /// Objects whose contents changed.
    pub content: usize,
    /// Objects whose attributes changed.
    pub metadata: usize,
    /// Objects renamed.
    pub renamed: usize,
    /// Objects only accessed.
    pub accessed: usize,
}

/// The answer to `changes`.
#[derive(Debug, Clone, Serialize)]
pub struct ChangesReport {
    /// `kzrescue.changes/2`.
    pub schema: &'static str,
    /// Pool name.
    pub pool: String,
    /// Devices read.
    pub devices: Vec<String>,
    /// Dataset examined.
    pub dataset: String,
    /// Start of the window (exclusive).
    pub since: WindowEnd,
    /// End of the window (inclusive).
    pub until: WindowEnd,
    /// Every changed file-system object, by path.
    pub changes: Vec<Change>,
    /// Counts.
    pub counts: ChangeCounts,
    /// Dnode blocks born in the window (read).
    pub dnode_blocks: u64,
    /// Indirect blocks read by the walk.
    pub indirect_blocks: u64,
    /// Subtrees skipped as older than the window.
    pub pruned: u64,
    /// What could not be read.
    pub errors: Vec<String>,
    /// What the reader wants known.
    pub notes: Vec<String>,
}

/// A `changes` request.
#[derive(Debug, Clone)]
pub struct ChangesQuery {
    /// `pool/fs`.
    pub dataset: String,
    /// Start of the window.
    pub since: Since,
    /// End of the window (default: the head).
    pub until: Option<u64>,
    /// Hash the changed files.
    pub hash: bool,
}

/// Finds snapshot `spec` (`@snap` or `ds@snap`) of `dataset` in any
/// readable state, newest first.
pub fn find_snapshot<'h>(h: &'h History, dataset: &str, spec: &str) -> Result<&'h DatasetInfo> {
    let full = if let Some(s) = spec.strip_prefix('@') {
        format!("{dataset}@{s}")
    } else {
        spec.to_string()
    };
    h.states
        .iter()
        .skip(h.head)
        .filter_map(|s| s.dataset(&full))
        .next()
        .ok_or_else(|| Error::Usage(format!("no snapshot {full} in any readable state")))
}

fn zpl_dnode(fs: &Zpl, obj: u64) -> Option<(Dnode, Znode)> {
    let dn = fs.dnode(obj).ok()?;
    if !is_zpl(&dn) {
        return None;
    }
    let z = fs.znode_of(&dn).ok()?;
    Some((dn, z))
}

/// The two ends of the window, resolved, with their file systems.
struct Ends<'h> {
    /// The state the window ends at.
    until_txg: u64,
    /// The window's start (exclusive).
    since_txg: u64,
    /// How the start was read (`snapshot NAME`, `uberblock txg N`).
    since_label: Option<String>,
    /// The dataset at the window's end.
    new_fs: Zpl,
    /// The dataset at the window's start, when a state of it reads.
    old_fs: Option<Zpl>,
    /// The history read.
    h: &'h History,
}

/// Resolves the window's ends of `q` in `h`; what was substituted or could
/// not be read goes to `notes`.
fn ends<'h>(h: &'h History, q: &ChangesQuery, notes: &mut Vec<String>) -> Result<Ends<'h>> {
    let until_state = match q.until {
        Some(t) => h
            .readable_at(t)
            .ok_or_else(|| Error::Usage(format!("no readable state at or before txg {t}")))?,
        None => h.head(),
    };
    let until_txg = until_state.txg();
    if let Some(t) = q.until.filter(|t| *t != until_txg) {
        notes.push(format!(
            "no readable uberblock of txg {t}: the window ends at txg {until_txg}, the newest state before it"
        ));
    }
    let new_ds = until_state.dataset(&q.dataset).ok_or_else(|| {
        Error::Usage(format!("no dataset {} at txg {until_txg}", q.dataset))
    })?;
    let new_fs = open_fs(&h.pool, new_ds)?;
    let (since_txg, old_ds, since_label) = window_start(h, q, new_ds, notes)?;
    if since_txg >= until_txg {
        return Err(Error::Usage(format!(
            "the window ({since_txg}, {until_txg}] is empty"
        )));
    }
    let old_fs = match old_ds.map(|d| open_fs(&h.pool, d)) {
        Some(Ok(fs)) => Some(fs),
        Some(Err(e)) => {
            notes.push(format!(
                "the state at the window's start does not read ({e}): births alone are used"
            ));
            None
        }
        None => None,
    };
    Ok(Ends {
        until_txg,
        since_txg,
        since_label,
        new_fs,
        old_fs,
        h,
    })
}

/// The start of the window: its txg, the dataset there when a state of it
/// reads, and how that state was found.
fn window_start<'h>(
    h: &'h History,
    q: &ChangesQuery,
    new_ds: &DatasetInfo,
    notes: &mut Vec<String>,
) -> Result<(u64, Option<&'h DatasetInfo>, Option<String>)> {
    Ok(match &q.since {
        Since::Snapshot(s) => {
            let snap = find_snapshot(h, &q.dataset, s)?;
            (
                snap.ds.creation_txg,
                Some(snap),
                Some(format!("snapshot {}", snap.name)),
            )
        }
        Since::Txg(t) => match h.exact(*t).and_then(|s| s.dataset(&q.dataset)) {
            Some(d) if d.ds.guid == new_ds.ds.guid => {
                (*t, Some(d), Some(format!("uberblock txg {t}")))
            }
            _ => {
                notes.push(format!(
                    "no readable uberblock of txg {t} holds {}: changes are found from birth txgs alone \
                     (deletions, and attribute changes that ctime does not date, cannot be seen)",
                    q.dataset
                ));
                (*t, None, None)
            }
        },
    })
}

/// What the walk of the dnode array through blocks born in the window found.
struct Walked {
    /// Objects to look at: the dnode at the window's end (None when freed)
    /// and the birth of its dnode block.
    candidates: BTreeMap<u64, (Option<Dnode>, u64)>,
    /// Dnode blocks born in the window.
    dnode_blocks: u64,
    /// Indirect blocks read.
    indirect_blocks: u64,
    /// Subtrees skipped as older than the window.
    pruned: u64,
}

/// Walks the dnode array of the window's end through the block pointers
/// born in the window and gathers the candidate objects.
fn walk_window(w: &Ends, notes: &mut Vec<String>, errors: &mut Vec<String>) -> Walked {
    let mut blocks: Vec<(u64, crate::zfs::blkptr::BlkPtr)> = Vec::new();
    let mut holes: Vec<(u64, u64, u64)> = Vec::new();
    let meta = &w.new_fs.os.meta;
    let stats = born_after(
        &w.h.pool,
        meta,
        w.since_txg,
        &mut |b| match b {
            Born::Block { blkid, bp } => blocks.push((blkid, bp)),
            Born::Hole {
                first,
                count,
                birth,
            } => holes.push((first, count, birth)),
        },
        &mut |e| errors.push(e.to_string()),
    );
    let mut candidates: BTreeMap<u64, (Option<Dnode>, u64)> = BTreeMap::new();
    for (blkid, bp) in &blocks {
        match w.h.pool.read_block_cached(bp) {
            Ok(data) => {
                for dn in dnodes_of_block(*blkid, bp, &data) {
                    match dn {
                        Ok(dn) => {
                            let obj = dn.object;
                            let keep = if dn.is_free() { None } else { Some(dn) };
                            candidates.insert(obj, (keep, bp.birth));
                        }
                        Err(e) => errors.push(e.to_string()),
                    }
                }
            }
            Err(e) => errors.push(meta.block_error(0, *blkid, bp, e).to_string()),
        }
    }
    freed_spans(w, &holes, &mut candidates, notes, errors);
    Walked {
        candidates,
        dnode_blocks: blocks.len() as u64,
        indirect_blocks: stats.indirect_blocks,
        pruned: stats.pruned,
    }
}

/// Whole dnode blocks freed in the window: the objects the old state had
/// there become candidates (or a note says they cannot be listed).
fn freed_spans(
    w: &Ends,
    holes: &[(u64, u64, u64)],
    candidates: &mut BTreeMap<u64, (Option<Dnode>, u64)>,
    notes: &mut Vec<String>,
    errors: &mut Vec<String>,
) {
    let meta = &w.new_fs.os.meta;
    let Some(old) = &w.old_fs else {
        if !holes.is_empty() {
            notes.push(format!(
                "{} spans of the dnode array are holes whose birth is not recorded or falls in the window: \
                 objects freed there cannot be listed without the state at the window's start",
                holes.len()
            ));
        }
        return;
    };
    let mut spans = holes.to_vec();
    if old.os.meta.maxblkid > meta.maxblkid {
        spans.push((meta.maxblkid + 1, old.os.meta.maxblkid - meta.maxblkid, 0));
    }
    for (first, count, birth) in spans {
        // a hole without a recorded birth was punched by the window's end
        let birth = if birth == 0 { w.until_txg } else { birth };
        match zpl_objects_in(old, first, count) {
            Ok(objs) => {
                for dn in objs {
                    candidates.entry(dn.object).or_insert((None, birth));
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
}

/// Runs `changes`.
pub fn changes(h: &History, q: &ChangesQuery) -> Result<ChangesReport> {
    let clock = h.clock();
    let mut notes = Vec::new();
    let mut errors = Vec::new();
    let w = ends(h, q, &mut notes)?;
    let walked = walk_window(&w, &mut notes, &mut errors);
    let mut c = Classifier {
        w: &w,
        clock: &clock,
        hash: q.hash,
        new_paths: Paths::new(&w.new_fs),
        old_paths: w.old_fs.as_ref().map(Paths::new),
        out: Vec::new(),
        undetermined: 0,
        errors: &mut errors,
    };
    for (obj, (new_dn, block_birth)) in walked.candidates {
        c.object(obj, new_dn, block_birth);
    }
    let (mut out, undetermined) = (c.out, c.undetermined);
    if undetermined > 0 {
        notes.push(format!(
            "{undetermined} objects share a dnode block written in the window but show no datable change \
             (without the state at the window's start an attribute change is seen only through ctime)"
        ));
    }
    out.sort_by(|a, b| {
        let key = |c: &Change| c.path.clone().or(c.old_path.clone());
        key(a)
            .is_none()
            .cmp(&key(b).is_none())
            .then(key(a).cmp(&key(b)))
            .then(a.object.cmp(&b.object))
    });
    Ok(ChangesReport {
        schema: "kzrescue.changes/2",
        pool: h.pool.name.clone(),
        devices: h.devices.clone(),
        dataset: q.dataset.clone(),
        since: WindowEnd {
            txg: w.since_txg,
            when: clock.when(w.since_txg),
            state: w.since_label.clone().filter(|_| w.old_fs.is_some()),
        },
        until: WindowEnd {
            txg: w.until_txg,
            when: clock.when(w.until_txg),
            state: Some(format!("uberblock txg {}", w.until_txg)),
        },
        counts: ChangeCounts::of(&out),
        changes: out,
        dnode_blocks: walked.dnode_blocks,
        indirect_blocks: walked.indirect_blocks,
        pruned: walked.pruned,
        errors,
        notes,
    })
}

impl ChangeCounts {
    /// Counts the kinds of `changes`.
    fn of(changes: &[Change]) -> ChangeCounts {
        let mut counts = ChangeCounts::default();
        for k in changes.iter().flat_map(|c| &c.what) {
            match k {
                ChangeKind::Created => counts.created += 1,
                ChangeKind::Deleted => counts.deleted += 1,
                ChangeKind::Content => counts.content += 1,
                ChangeKind::Metadata => counts.metadata += 1,
                ChangeKind::Renamed => counts.renamed += 1,
                ChangeKind::Accessed => counts.accessed += 1,
            }
        }
        counts
    }
}

/// A ZPL object's dnode and znode, at one end of the window.
type Version = (Dnode, Znode);

/// Classifies candidate objects into changes.
struct Classifier<'w, 'h, 'e> {
    w: &'w Ends<'h>,
    clock: &'w super::history::TxgClock,
    hash: bool,
    new_paths: Paths<'w>,
    old_paths: Option<Paths<'w>>,
    out: Vec<Change>,
    /// Objects of a dnode block born in the window with no datable change.
    undetermined: usize,
    errors: &'e mut Vec<String>,
}

impl Classifier<'_, '_, '_> {
    /// Classifies object `obj` (its dnode at the window's end, if any, and
    /// the birth of that dnode block) and records its change.
    fn object(&mut self, obj: u64, new_dn: Option<Dnode>, block_birth: u64) {
        let new = match new_dn {
            Some(dn) if is_zpl(&dn) => match self.w.new_fs.znode_of(&dn) {
                Ok(z) => Some((dn, z)),
                Err(e) => {
                    self.errors.push(format!("object {obj}: {e}"));
                    return;
                }
            },
            _ => None,
        };
        let old = self.w.old_fs.as_ref().and_then(|fs| zpl_dnode(fs, obj));
        let Some((mut what, txg, exact)) = self.kinds(obj, &new, &old, block_birth) else {
            return;
        };
        let kind = new
            .as_ref()
            .or(old.as_ref())
            .map(|(_, z)| z.file_type())
            .unwrap_or(FileType::Unknown);
        let path = new.as_ref().and_then(|_| self.new_paths.path(obj));
        let old_path = old
            .as_ref()
            .and_then(|_| self.old_paths.as_mut().and_then(|p| p.path(obj)));
        // a file of several names has no one path to compare
        let single = new
            .as_ref()
            .is_some_and(|(_, z)| z.links <= 1 || z.file_type() == FileType::Dir);
        if single
            && old.is_some()
            && !what.contains(&ChangeKind::Created)
            && let (Some(a), Some(b)) = (&path, &old_path)
            && a != b
        {
            what.push(ChangeKind::Renamed);
        }
        let Some((dn_now, z_now)) = new.as_ref().or(old.as_ref()) else {
            return;
        };
        let blocks_born = if new.is_some()
            && what
                .iter()
                .any(|k| matches!(k, ChangeKind::Content | ChangeKind::Created))
        {
            self.blocks_born(dn_now)
        } else {
            0
        };
        what.sort();
        let mut c = Change {
            object: obj,
            generation: z_now.gen_,
            path,
            old_path: match (&new, &old_path) {
                (None, p) => p.clone(),
                (Some(_), Some(p)) if what.contains(&ChangeKind::Renamed) => Some(p.clone()),
                _ => None,
            },
            kind,
            what,
            txg,
            txg_exact: exact,
            when: self.clock.when(txg),
            size: z_now.size,
            old_size: old.as_ref().map(|(_, z)| z.size),
            mtime: z_now.mtime.sec,
            ctime: z_now.ctime.sec,
            blocks_born,
            sha256: None,
            sha256_before: None,
            error: None,
        };
        if self.hash && kind == FileType::File {
            self.hash_contents(&mut c, &new, &old);
        }
        self.out.push(c);
    }

    /// What changed in object `obj` between `old` and `new`, the txg of the
    /// latest change and whether it is exact; None when nothing datable did.
    /// A reused object number records the old file's deletion.
    fn kinds(
        &mut self,
        obj: u64,
        new: &Option<Version>,
        old: &Option<Version>,
        block_birth: u64,
    ) -> Option<(Vec<ChangeKind>, u64, bool)> {
        let mut what = Vec::new();
        let (mut txg, mut exact) = (block_birth, false);
        let since_txg = self.w.since_txg;
        match (new, old) {
            (None, None) => return None,
            (None, Some(_)) => what.push(ChangeKind::Deleted),
            (Some((dn, z)), Some((odn, oz))) if z.gen_ == oz.gen_ => {
                if same_dnode(dn, odn) {
                    return None;
                }
                if dn.blkptrs != odn.blkptrs || dn.maxblkid != odn.maxblkid {
                    what.push(ChangeKind::Content);
                    (txg, exact) = (content_birth(dn), true);
                }
                let d = znode_diff(z, oz);
                if d.metadata {
                    what.push(ChangeKind::Metadata);
                } else if d.atime && what.is_empty() {
                    what.push(ChangeKind::Accessed);
                }
                if what.is_empty() {
                    // bonus bytes differ in a field not decoded
                    what.push(ChangeKind::Metadata);
                }
            }
            (Some((dn, z)), old) => {
                if let Some((odn, oz)) = old {
                    // the object number was reused: the old file is gone
                    let path = self.old_paths.as_mut().and_then(|p| p.path(obj));
                    self.out
                        .push(deleted_change(self.clock, odn, oz, path, block_birth));
                }
                if z.gen_ > since_txg || old.is_some() || self.w.old_fs.is_some() {
                    what.push(ChangeKind::Created);
                    (txg, exact) = (z.gen_, true);
                    let cb = content_birth(dn);
                    if cb > z.gen_ {
                        what.push(ChangeKind::Content);
                        txg = cb;
                    }
                } else {
                    // births alone
                    let cb = content_birth(dn);
                    if cb > since_txg {
                        what.push(ChangeKind::Content);
                        (txg, exact) = (cb, true);
                    }
                    match self.clock.upper(since_txg) {
                        Some(t) if z.ctime.sec > t as i64 => what.push(ChangeKind::Metadata),
                        _ if what.is_empty() => {
                            self.undetermined += 1;
                            return None;
                        }
                        _ => {}
                    }
                }
            }
        }
        Some((what, txg, exact))
    }

    /// Data blocks of `dn` born in the window.
    fn blocks_born(&self, dn: &Dnode) -> u64 {
        let mut n = 0u64;
        born_after(
            &self.w.h.pool,
            dn,
            self.w.since_txg,
            &mut |b| {
                if let Born::Block { .. } = b {
                    n += 1
                }
            },
            &mut |_| {},
        );
        n
    }

    /// `--hash`: the SHA-256 of a file whose contents changed, at both ends.
    fn hash_contents(&self, c: &mut Change, new: &Option<Version>, old: &Option<Version>) {
        let content = c.what.iter().any(|k| {
            matches!(
                k,
                ChangeKind::Content | ChangeKind::Created | ChangeKind::Deleted
            )
        });
        if !content {
            return;
        }
        if let Some((dn, z)) = new {
            match sha256(&self.w.new_fs, dn, z.size) {
                Ok(s) => c.sha256 = Some(s),
                Err(e) => c.error = Some(e.to_string()),
            }
        }
        if let (Some((dn, z)), Some(fs)) = (old, &self.w.old_fs) {
            match sha256(fs, dn, z.size) {
                Ok(s) => c.sha256_before = Some(s),
                Err(e) => {
                    c.error.get_or_insert(format!("before: {e}"));
                }
            }
        }
    }
}

fn deleted_change(
    clock: &super::history::TxgClock,
    dn: &Dnode,
    z: &Znode,
    path: Option<String>,
    block_birth: u64,
) -> Change {
    Change {
        object: dn.object,
        generation: z.gen_,
        path: None,
        old_path: path,
        kind: z.file_type(),
        what: vec![ChangeKind::Deleted],
        txg: block_birth,
        txg_exact: false,
        when: clock.when(block_birth),
        size: z.size,
        old_size: Some(z.size),
        mtime: z.mtime.sec,
        ctime: z.ctime.sec,
        blocks_born: 0,
        sha256: None,
        sha256_before: None,
        error: None,
    }
}
