//! Files gone from a dataset's head that an older state still shows, and
//! objects the head holds but no directory reaches.
//!
//! Older states are the dataset as every readable older uberblock shows it
//! and every snapshot of it (those of the head, and those older uberblocks
//! still list after they were destroyed). The head's dnode array is walked
//! once through the blocks born after the oldest of them; an object in a
//! dnode block born after a state's txg that the state holds as a file
//! and the head does not (freed, or its number reused by a newer file) was
//! deleted after that state. Each is reported from the newest state that
//! still holds it, with every block of it read against its checksum.
//!
//! Orphans are allocated file-system objects of the head that no
//! directory entry reaches from the root (nor from an extended-attribute
//! directory of a reached object): the ZFS delete queue (files unlinked
//! while open) and damage.

use super::changes::{Since, find_snapshot};
use super::history::{History, When, open_fs};
use super::objects::{
    BlockCheck, Born, Integrity, Paths, born_after, check_blocks, dnodes_of_block, is_zpl,
    zpl_objects_in,
};
use crate::error::{Error, Result};
use crate::zfs::blkptr::BlkPtr;
use crate::zfs::dnode::Dnode;
use crate::zfs::dsl::DatasetInfo;
use crate::zfs::zap;
use crate::zfs::zpl::{FileType, Znode, Zpl};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// A state of the dataset examined.
#[derive(Debug, Clone, Serialize)]
pub struct StateRef {
    /// The txg the state shows (a snapshot's creation txg).
    pub txg: u64,
    /// When it synced.
    pub when: When,
    /// The snapshot (full name) when the state is one; else the state is
    /// the dataset as the uberblock of `txg` shows it.
    pub snapshot: Option<String>,
}

/// A state examined, and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct Examined {
    /// Which state.
    #[serde(flatten)]
    pub state: StateRef,
    /// Whether its object set and file system opened.
    pub readable: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Deleted files first seen (newest first) in this state.
    pub found: usize,
}

/// A deleted file.
#[derive(Debug, Clone, Serialize)]
pub struct DeletedFile {
    /// Object number (in the state that holds it).
    pub object: u64,
    /// ZPL generation: the txg it was created in.
    pub generation: u64,
    /// Its last path (in the newest state that holds it), None when no
    /// directory there named it.
    pub path: Option<String>,
    /// File type.
    #[serde(rename = "type")]
    pub kind: FileType,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (octal text).
    pub mode: String,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time (seconds).
    pub mtime: i64,
    /// Change time (seconds).
    pub ctime: i64,
    /// Creation time (seconds).
    pub crtime: i64,
    /// The newest state that holds it.
    pub last_seen: StateRef,
    /// The next newer state examined (or the head), which does not.
    pub gone_by: StateRef,
    /// Every block read against its checksum in `last_seen`.
    pub blocks: BlockCheck,
    /// The verdict on its contents.
    pub integrity: Integrity,
}

/// An object of the head that no directory reaches.
#[derive(Debug, Clone, Serialize)]
pub struct Orphan {
    /// Object number.
    pub object: u64,
    /// ZPL generation (creation txg).
    pub generation: u64,
    /// File type.
    #[serde(rename = "type")]
    pub kind: FileType,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (octal text).
    pub mode: String,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Link count (0 for an unlinked file).
    pub links: u64,
    /// Modification time (seconds).
    pub mtime: i64,
    /// Change time (seconds).
    pub ctime: i64,
    /// Parent directory object its znode names.
    pub parent: u64,
    /// Listed in the file system's delete queue (unlinked while open).
    pub in_delete_queue: bool,
    /// Its path in the newest older state that names it.
    pub last_path: Option<String>,
    /// Every block read against its checksum.
    pub blocks: BlockCheck,
    /// The verdict on its contents.
    pub integrity: Integrity,
}

/// Counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeletedCounts {
    /// Deleted files found.
    pub deleted: usize,
    /// Of those, contents wholly verified.
    pub good: usize,
    /// Contents read without a computed checksum.
    pub unverified: usize,
    /// Contents damaged (blocks overwritten or unreadable).
    pub damaged: usize,
    /// Orphans.
    pub orphans: usize,
}

/// The answer to `deleted`.
#[derive(Debug, Clone, Serialize)]
pub struct DeletedReport {
    /// `kzrescue.deleted/2`.
    pub schema: &'static str,
    /// Pool name.
    pub pool: String,
    /// Devices read.
    pub devices: Vec<String>,
    /// Dataset examined.
    pub dataset: String,
    /// The head state.
    pub head: StateRef,
    /// Older states examined, newest first.
    pub states: Vec<Examined>,
    /// Deleted files, by path.
    pub deleted: Vec<DeletedFile>,
    /// Orphans of the head.
    pub orphans: Vec<Orphan>,
    /// Counts.
    pub counts: DeletedCounts,
    /// What could not be read.
    pub errors: Vec<String>,
    /// What the reader wants known.
    pub notes: Vec<String>,
}

/// A `deleted` request.
#[derive(Debug, Clone)]
pub struct DeletedQuery {
    /// `pool/fs`.
    pub dataset: String,
    /// Only states from this txg or snapshot on.
    pub since: Option<Since>,
}

struct Older<'h> {
    state: StateRef,
    ds: &'h DatasetInfo,
}

fn mode(z: &Znode) -> String {
    format!("{:04o}", z.mode & 0o7777)
}

/// The blocks of a regular file checked; other types hold no data to check.
fn file_blocks(h: &History, dn: &Dnode, z: &Znode) -> BlockCheck {
    if z.file_type() == FileType::File {
        check_blocks(&h.pool, dn, z.size)
    } else {
        BlockCheck {
            complete: true,
            ..BlockCheck::default()
        }
    }
}

/// The key telling object-set trees apart: first DVA and birth.
fn tree_key(bp: &BlkPtr) -> (u32, u64, u64) {
    bp.dvas()
        .first()
        .map(|d| (d.vdev, d.offset, bp.birth))
        .unwrap_or((u32::MAX, 0, bp.birth))
}

/// The older states of the dataset to compare with the head: uberblocks,
/// then snapshots, from `since_txg` on, each tree once, newest first.
fn older_states<'h>(
    h: &'h History,
    dataset: &str,
    head_ds: &DatasetInfo,
    since_txg: u64,
    notes: &mut Vec<String>,
) -> Vec<Older<'h>> {
    let clock = h.clock();
    let head_txg = h.head().txg();
    let state_ref = |txg: u64, snapshot: Option<String>| StateRef {
        txg,
        when: clock.when(txg),
        snapshot,
    };
    let mut older: Vec<Older> = Vec::new();
    let mut trees: HashSet<(u32, u64, u64)> = HashSet::new();
    trees.insert(tree_key(&head_ds.ds.bp));
    let mut snap_seen = HashSet::new();
    let prefix = format!("{dataset}@");
    for s in h.states.iter().skip(h.head) {
        if s.txg() < since_txg || !s.readable() {
            continue;
        }
        if let Some(d) = s.dataset(dataset) {
            if d.ds.guid != head_ds.ds.guid {
                notes.push(format!(
                    "at txg {} {dataset} is another dataset (guid {:#x}): not compared",
                    s.txg(),
                    d.ds.guid
                ));
            } else if s.txg() < head_txg && trees.insert(tree_key(&d.ds.bp)) {
                older.push(Older {
                    state: state_ref(s.txg(), None),
                    ds: d,
                });
            }
        }
        for d in s
            .datasets
            .iter()
            .filter(|d| d.snapshot && d.name.starts_with(&prefix))
        {
            if d.ds.creation_txg >= since_txg
                && snap_seen.insert(d.ds.guid)
                && trees.insert(tree_key(&d.ds.bp))
            {
                older.push(Older {
                    state: state_ref(d.ds.creation_txg, Some(d.name.clone())),
                    ds: d,
                });
            }
        }
    }
    older.sort_by_key(|o| std::cmp::Reverse(o.state.txg));
    older
}

/// What one walk of the head through everything born after `min_txg` found.
#[derive(Default)]
struct HeadWalk {
    /// Object → (head dnode if a file-system object, birth of its dnode block).
    cand: BTreeMap<u64, (Option<(Dnode, Znode)>, u64)>,
    /// Spans of the dnode array that are holes: (first, count, birth).
    holes: Vec<(u64, u64, u64)>,
}

/// Walks the head's dnode array through the blocks born after `min_txg`.
fn walk_head(h: &History, head_fs: &Zpl, min_txg: u64, errors: &mut Vec<String>) -> HeadWalk {
    let meta = &head_fs.os.meta;
    let mut w = HeadWalk::default();
    let mut blocks = Vec::new();
    born_after(
        &h.pool,
        meta,
        min_txg,
        &mut |b| match b {
            Born::Block { blkid, bp } => blocks.push((blkid, bp)),
            Born::Hole {
                first,
                count,
                birth,
            } => w.holes.push((first, count, birth)),
        },
        &mut |e| errors.push(e.to_string()),
    );
    for (blkid, bp) in blocks {
        match h.pool.read_block_cached(&bp) {
            Ok(data) => {
                for dn in dnodes_of_block(blkid, &bp, &data).into_iter().flatten() {
                    let z = if is_zpl(&dn) {
                        head_fs.znode_of(&dn).ok().map(|z| (dn.clone(), z))
                    } else {
                        None
                    };
                    w.cand.insert(dn.object, (z, bp.birth));
                }
            }
            Err(e) => errors.push(meta.block_error(0, blkid, &bp, e).to_string()),
        }
    }
    w
}

/// The files found deleted so far, each (object, generation) once.
#[derive(Default)]
struct Found {
    seen: HashSet<(u64, u64)>,
    files: Vec<DeletedFile>,
}

/// Compares older state `o` (gone by `gone_by`) with the head walk and
/// records the files it holds that the head does not.
fn examine(
    h: &History,
    head_fs: &Zpl,
    walk: &HeadWalk,
    o: &Older,
    gone_by: &StateRef,
    found: &mut Found,
    errors: &mut Vec<String>,
) -> Examined {
    let fs = match open_fs(&h.pool, o.ds) {
        Ok(fs) => fs,
        Err(e) => {
            return Examined {
                state: o.state.clone(),
                readable: false,
                problem: Some(e.to_string()),
                found: 0,
            };
        }
    };
    let mut paths = Paths::new(&fs);
    let mut n = 0;
    let mut consider = |dn: Dnode, z: Znode| {
        let obj = dn.object;
        if !found.seen.insert((obj, z.gen_)) {
            return;
        }
        n += 1;
        let blocks = file_blocks(h, &dn, &z);
        found.files.push(DeletedFile {
            object: obj,
            generation: z.gen_,
            path: paths.path(obj),
            kind: z.file_type(),
            size: z.size,
            mode: mode(&z),
            uid: z.uid,
            gid: z.gid,
            mtime: z.mtime.sec,
            ctime: z.ctime.sec,
            crtime: z.crtime.sec,
            last_seen: o.state.clone(),
            gone_by: gone_by.clone(),
            integrity: blocks.integrity(),
            blocks,
        });
    };
    for (obj, (head, birth)) in &walk.cand {
        if *birth <= o.state.txg {
            continue;
        }
        let Ok(dn) = fs.dnode(*obj) else { continue };
        if !is_zpl(&dn) {
            continue;
        }
        let Ok(z) = fs.znode_of(&dn) else { continue };
        if head.as_ref().is_some_and(|(_, hz)| hz.gen_ == z.gen_) {
            continue;
        }
        consider(dn, z);
    }
    // spans of the head's dnode array that are holes now
    let meta = &head_fs.os.meta;
    let mut spans: Vec<(u64, u64)> = walk
        .holes
        .iter()
        .filter(|(_, _, b)| *b == 0 || *b > o.state.txg)
        .map(|(f, c, _)| (*f, *c))
        .collect();
    if fs.os.meta.maxblkid > meta.maxblkid {
        spans.push((meta.maxblkid + 1, fs.os.meta.maxblkid - meta.maxblkid));
    }
    for (first, count) in spans {
        match zpl_objects_in(&fs, first, count) {
            Ok(objs) => {
                for dn in objs {
                    if let Ok(z) = fs.znode_of(&dn) {
                        consider(dn, z);
                    }
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    Examined {
        state: o.state.clone(),
        readable: true,
        problem: None,
        found: n,
    }
}

/// Runs `deleted`.
pub fn deleted(h: &History, q: &DeletedQuery) -> Result<DeletedReport> {
    let clock = h.clock();
    let mut notes = Vec::new();
    let mut errors = Vec::new();
    let head_state = h.head();
    let head_ds = head_state.dataset(&q.dataset).ok_or_else(|| {
        Error::Usage(format!(
            "no dataset {} at txg {}",
            q.dataset,
            head_state.txg()
        ))
    })?;
    let head_fs = open_fs(&h.pool, head_ds)?;
    let since_txg = match &q.since {
        None => 0,
        Some(Since::Txg(t)) => *t,
        Some(Since::Snapshot(s)) => find_snapshot(h, &q.dataset, s)?.ds.creation_txg,
    };
    let older = older_states(h, &q.dataset, head_ds, since_txg, &mut notes);
    let head_ref = StateRef {
        txg: head_state.txg(),
        when: clock.when(head_state.txg()),
        snapshot: None,
    };
    // one walk of the head through everything born after the oldest state
    let walk = match older.iter().map(|o| o.state.txg).min() {
        Some(min_txg) => walk_head(h, &head_fs, min_txg, &mut errors),
        None => HeadWalk::default(),
    };
    // each older state, newest first
    let mut found = Found::default();
    let mut examined = Vec::new();
    for (i, o) in older.iter().enumerate() {
        let gone_by = if i == 0 { &head_ref } else { &older[i - 1].state };
        examined.push(examine(
            h,
            &head_fs,
            &walk,
            o,
            gone_by,
            &mut found,
            &mut errors,
        ));
    }
    let orphans = orphans(h, &head_fs, &older, &mut errors);
    let mut out = found.files;
    out.sort_by(|a, b| {
        a.path
            .is_none()
            .cmp(&b.path.is_none())
            .then(a.path.cmp(&b.path))
            .then(a.object.cmp(&b.object))
    });
    let mut counts = DeletedCounts {
        deleted: out.len(),
        orphans: orphans.len(),
        ..DeletedCounts::default()
    };
    for d in &out {
        match d.integrity {
            Integrity::Good => counts.good += 1,
            Integrity::Unverified => counts.unverified += 1,
            Integrity::Damaged => counts.damaged += 1,
        }
    }
    if older.is_empty() {
        notes.push(format!(
            "no older readable state of {} (uberblock or snapshot){}: only orphans can be listed",
            q.dataset,
            if since_txg > 0 {
                format!(" from txg {since_txg} on")
            } else {
                String::new()
            }
        ));
    }
    Ok(DeletedReport {
        schema: "kzrescue.deleted/2",
        pool: h.pool.name.clone(),
        devices: h.devices.clone(),
        dataset: q.dataset.clone(),
        head: head_ref,
        states: examined,
        deleted: out,
        orphans,
        counts,
        errors,
        notes,
    })
}

/// Allocated file-system objects of `fs` that no directory reaches.
fn orphans(h: &History, fs: &Zpl, older: &[Older], errors: &mut Vec<String>) -> Vec<Orphan> {
    // every file-system object, with what the reachability walk needs
    let mut objs: BTreeMap<u64, (Dnode, Znode)> = BTreeMap::new();
    let mut non_zpl: HashMap<u64, Dnode> = HashMap::new();
    let mut znode_errors = Vec::new();
    fs.os.for_each_dnode(
        &h.pool,
        |dn| {
            if is_zpl(&dn) {
                match fs.znode_of(&dn) {
                    Ok(z) => {
                        objs.insert(dn.object, (dn, z));
                    }
                    Err(e) => znode_errors.push(e.to_string()),
                }
            } else {
                non_zpl.insert(dn.object, dn);
            }
        },
        |e| errors.push(e.to_string()),
    );
    errors.extend(znode_errors);
    // starting points: the root, and what the master node names (the
    // shares directory and other internal objects are not orphans)
    let mut reached: HashSet<u64> = HashSet::new();
    let mut queue: VecDeque<u64> = VecDeque::new();
    let mut delete_queue: HashSet<u64> = HashSet::new();
    queue.push_back(fs.root);
    if let Ok(master) = fs.dnode(1)
        && let Ok(entries) = zap::entries(&h.pool, &master)
    {
        for e in entries {
            let Some(v) = e.as_u64() else { continue };
            if e.name == b"DELETE_QUEUE" {
                if let Some(dq) = non_zpl.get(&v).or(objs.get(&v).map(|(d, _)| d)) {
                    match zap::entries(&h.pool, dq) {
                        Ok(list) => delete_queue.extend(list.iter().filter_map(|x| x.as_u64())),
                        Err(e) => errors.push(format!("delete queue: {e}")),
                    }
                }
            } else if e.name == b"SHARES" {
                queue.push_back(v);
            }
        }
    }
    while let Some(obj) = queue.pop_front() {
        if !reached.insert(obj) {
            continue;
        }
        let Some((dn, z)) = objs.get(&obj) else {
            continue;
        };
        if z.xattr != 0 {
            queue.push_back(z.xattr);
        }
        if z.file_type() == FileType::Dir {
            match fs.readdir(dn) {
                Ok(entries) => queue.extend(entries.iter().map(|e| e.object)),
                Err(e) => errors.push(format!("directory object {obj}: {e}")),
            }
        }
    }
    let mut out = Vec::new();
    let mut old_fs: Vec<Option<Zpl>> = Vec::new();
    for (obj, (dn, z)) in &objs {
        if reached.contains(obj) {
            continue;
        }
        if old_fs.is_empty() {
            old_fs = older.iter().map(|o| open_fs(&h.pool, o.ds).ok()).collect();
        }
        let mut last_path = None;
        for f in old_fs.iter().flatten() {
            let same = f
                .dnode(*obj)
                .ok()
                .filter(is_zpl)
                .and_then(|d| f.znode_of(&d).ok())
                .is_some_and(|oz| oz.gen_ == z.gen_);
            if same && let Some(p) = Paths::new(f).path(*obj) {
                last_path = Some(p);
                break;
            }
        }
        let blocks = file_blocks(h, dn, z);
        out.push(Orphan {
            object: *obj,
            generation: z.gen_,
            kind: z.file_type(),
            size: z.size,
            mode: mode(z),
            uid: z.uid,
            gid: z.gid,
            links: z.links,
            mtime: z.mtime.sec,
            ctime: z.ctime.sec,
            parent: z.parent,
            in_delete_queue: delete_queue.contains(obj),
            last_path,
            integrity: blocks.integrity(),
            blocks,
        });
    }
    out
}
