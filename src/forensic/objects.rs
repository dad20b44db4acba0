//! Object-level tools the examiner's commands share: walking only the
//! blocks of a tree born after a txg, the dnodes of a dnode block, the path
//! of an object from its parent pointers, and checking every block of a
//! file against its checksum.

use crate::error::{Error, Result};
use crate::zfs::blkptr::{BLKPTR_SIZE, BlkPtr};
use crate::zfs::checksum;
use crate::zfs::dnode::{DNODE_SIZE, Dnode, otype};
use crate::zfs::pool::Pool;
use crate::zfs::zpl::{FileType, Znode, Zpl};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// What a born-after walk meets.
pub enum Born {
    /// A level-0 block (allocated or embedded) born after the txg.
    Block {
        /// Its block id.
        blkid: u64,
        /// Its block pointer.
        bp: BlkPtr,
    },
    /// A hole that was punched after the txg, or whose birth is not
    /// recorded (birth 0: pools without `hole_birth`): it covers `count`
    /// level-0 blocks from `first`.
    Hole {
        /// First level-0 block id covered.
        first: u64,
        /// Number of level-0 blocks covered.
        count: u64,
        /// The hole's birth txg (0 = not recorded).
        birth: u64,
    },
}

/// Counters of one walk.
#[derive(Default, Debug, Clone, Copy, Serialize)]
pub struct WalkStats {
    /// Indirect blocks read.
    pub indirect_blocks: u64,
    /// Block pointers skipped because they were born at or before the txg.
    pub pruned: u64,
}

/// Visits the level-0 block pointers of `dn`'s tree born after txg `since`
/// (logical birth), skipping every subtree whose pointer was born at or
/// before it: ZFS writes a changed block anew, with the new txg, and every
/// indirect block above it again, so an older pointer covers only older
/// blocks. `err` receives the indirect blocks that could not be read (their
/// subtrees are not visited).
pub fn born_after(
    pool: &Pool,
    dn: &Dnode,
    since: u64,
    f: &mut dyn FnMut(Born),
    err: &mut dyn FnMut(Error),
) -> WalkStats {
    let mut w = Walker {
        pool,
        dn,
        since,
        epbs: if dn.nlevels > 1 {
            dn.indblkshift as u32 - 7
        } else {
            0
        },
        seen: HashSet::new(),
        stats: WalkStats::default(),
    };
    let top = dn.nlevels.max(1) as u32 - 1;
    for (i, bp) in dn.blkptrs.iter().enumerate() {
        w.visit(bp, top, i as u64, f, err);
    }
    w.stats
}

struct Walker<'a> {
    pool: &'a Pool,
    dn: &'a Dnode,
    since: u64,
    epbs: u32,
    seen: HashSet<(u32, u64)>,
    stats: WalkStats,
}

impl Walker<'_> {
    fn visit(
        &mut self,
        bp: &BlkPtr,
        level: u32,
        blkid: u64,
        f: &mut dyn FnMut(Born),
        err: &mut dyn FnMut(Error),
    ) {
        let shift = self.epbs * level;
        let Some(first) = blkid.checked_shl(shift).filter(|f| f >> shift == blkid) else {
            return;
        };
        if first > self.dn.maxblkid {
            return;
        }
        if bp.is_hole() {
            if bp.birth == 0 || bp.birth > self.since {
                let count = 1u64.checked_shl(shift).unwrap_or(u64::MAX);
                f(Born::Hole {
                    first,
                    count,
                    birth: bp.birth,
                });
            }
            return;
        }
        if bp.birth <= self.since {
            self.stats.pruned += 1;
            return;
        }
        if bp.level as u32 != level {
            err(self.dn.block_error(
                level,
                blkid,
                bp,
                format!("block pointer says level {}", bp.level),
            ));
            return;
        }
        if level == 0 {
            f(Born::Block {
                blkid,
                bp: bp.clone(),
            });
            return;
        }
        // an indirect block met twice would make the walk revisit it
        for d in bp.dvas() {
            if !self.seen.insert((d.vdev, d.offset)) {
                err(self.dn.block_error(
                    level,
                    blkid,
                    bp,
                    "is met a second time: the block tree is not a tree",
                ));
                return;
            }
        }
        let data = match self.pool.read_block_cached(bp) {
            Ok(d) => d,
            Err(e) => {
                err(self.dn.block_error(level, blkid, bp, e));
                return;
            }
        };
        self.stats.indirect_blocks += 1;
        let per = 1u64 << self.epbs;
        for i in 0..per {
            let off = i as usize * BLKPTR_SIZE;
            let Some(raw) = data.get(off..off + BLKPTR_SIZE) else {
                break;
            };
            let child = match BlkPtr::decode(raw, bp.byteorder) {
                Ok(c) => c,
                Err(e) => {
                    err(e);
                    continue;
                }
            };
            let Some(cid) = blkid.checked_shl(self.epbs).map(|b| b | i) else {
                return;
            };
            self.visit(&child, level - 1, cid, f, err);
        }
    }
}

/// The dnodes of dnode block `blkid` (of `data`, written in `bp`'s byte
/// order), as (object, dnode); free slots come back as free dnodes.
pub fn dnodes_of_block(blkid: u64, bp: &BlkPtr, data: &[u8]) -> Vec<Result<Dnode>> {
    let per = (data.len() / DNODE_SIZE) as u64;
    let mut out = Vec::new();
    let mut i = 0u64;
    while i < per {
        let obj = blkid.saturating_mul(per).saturating_add(i);
        let off = i as usize * DNODE_SIZE;
        // a dnode block always has a DVA (it is never embedded or a hole)
        let phys = bp.phys_offset().unwrap_or_default() + off as u64;
        match Dnode::decode_at(&data[off..], bp.byteorder, obj, phys) {
            Ok(dn) => {
                i += 1 + dn.extra_slots as u64;
                out.push(Ok(dn));
            }
            Err(e) => {
                i += 1;
                out.push(Err(e));
            }
        }
    }
    out
}

/// Dnodes per block of the object set whose meta-dnode is `meta`.
pub fn dnodes_per_block(meta: &Dnode) -> u64 {
    (meta.datablksz / DNODE_SIZE as u64).max(1)
}

/// Whether `dn` is a file-system object (has a znode).
pub fn is_zpl(dn: &Dnode) -> bool {
    !dn.is_free() && (dn.bonustype == otype::ZNODE || dn.bonustype == otype::SA)
}

/// Whether two dnodes describe the same object state: same type, tree,
/// size and bonus bytes.
pub fn same_dnode(a: &Dnode, b: &Dnode) -> bool {
    a.dtype == b.dtype
        && a.bonustype == b.bonustype
        && a.nlevels == b.nlevels
        && a.datablksz == b.datablksz
        && a.maxblkid == b.maxblkid
        && a.used == b.used
        && a.blkptrs == b.blkptrs
        && a.bonus == b.bonus
        && a.spill == b.spill
}

/// The newest logical birth among a dnode's top-level block pointers (and
/// spill): the txg its contents were last written.
pub fn content_birth(dn: &Dnode) -> u64 {
    dn.blkptrs
        .iter()
        .chain(dn.spill.iter())
        .map(|b| b.birth)
        .max()
        .unwrap_or(0)
}

/// How two versions of one object's attributes differ.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ZnodeDiff {
    /// Anything but the access time differs.
    pub metadata: bool,
    /// The access time differs.
    pub atime: bool,
    /// The parent directory differs.
    pub parent: bool,
}

/// Compares two znodes of one object.
pub fn znode_diff(a: &Znode, b: &Znode) -> ZnodeDiff {
    ZnodeDiff {
        metadata: a.mode != b.mode
            || a.size != b.size
            || a.uid != b.uid
            || a.gid != b.gid
            || a.links != b.links
            || a.parent != b.parent
            || a.mtime != b.mtime
            || a.ctime != b.ctime
            || a.crtime != b.crtime
            || a.rdev != b.rdev
            || a.flags != b.flags
            || a.xattr != b.xattr
            || a.symlink != b.symlink,
        atime: a.atime != b.atime,
        parent: a.parent != b.parent,
    }
}

/// Paths of objects from their parent pointers, with the directories
/// listed on the way kept for the next lookup.
pub struct Paths<'a> {
    fs: &'a Zpl,
    dirs: HashMap<u64, Option<HashMap<u64, Vec<u8>>>>,
}

/// Deepest directory nesting a path lookup follows.
const MAX_DEPTH: usize = 1024;

impl<'a> Paths<'a> {
    /// Path lookups in `fs`.
    pub fn new(fs: &'a Zpl) -> Paths<'a> {
        Paths {
            fs,
            dirs: HashMap::new(),
        }
    }

    /// The name of `obj` in directory `dir`, when that directory lists it.
    fn name_in(&mut self, dir: u64, obj: u64) -> Option<Vec<u8>> {
        let fs = self.fs;
        let listing = self.dirs.entry(dir).or_insert_with(|| {
            let (dn, z) = fs.znode(dir).ok()?;
            if z.file_type() != FileType::Dir {
                return None;
            }
            let mut m = HashMap::new();
            for e in fs.readdir(&dn).ok()? {
                m.entry(e.object).or_insert(e.name);
            }
            Some(m)
        });
        listing.as_ref()?.get(&obj).cloned()
    }

    /// The path of `obj` (from the root, starting with `/`), following
    /// parent pointers and finding each name in its parent's listing; None
    /// when a parent does not list it (an unlinked object, or one reached
    /// only by another of its hard links' directories).
    pub fn path(&mut self, obj: u64) -> Option<String> {
        let root = self.fs.root;
        if obj == root {
            return Some("/".into());
        }
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut cur = obj;
        let mut seen = HashSet::new();
        while cur != root {
            if parts.len() > MAX_DEPTH || !seen.insert(cur) {
                return None;
            }
            let (_, z) = self.fs.znode(cur).ok()?;
            let parent = z.parent;
            let name = self.name_in(parent, cur)?;
            parts.push(name);
            cur = parent;
        }
        let mut p = Vec::new();
        for n in parts.iter().rev() {
            p.push(b'/');
            p.extend_from_slice(n);
        }
        Some(String::from_utf8_lossy(&p).into_owned())
    }
}

/// What reading every block of a file found.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct BlockCheck {
    /// Level-0 blocks within the file's size (holes not counted).
    pub blocks: u64,
    /// Read and checksum-verified.
    pub verified: u64,
    /// Read, but with a checksum kzrescue does not compute (or none).
    pub unverified: u64,
    /// Stored inside their block pointer (covered by the block holding it).
    pub embedded: u64,
    /// Unreadable or failing their checksum.
    pub bad: u64,
    /// Whether every block of the tree could be reached (an unreadable
    /// indirect block hides the blocks below it).
    pub complete: bool,
    /// The first failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// Integrity of a file's contents as read.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Integrity {
    /// Every block read and verified against its checksum.
    Good,
    /// No block failed, but some were read without a computed checksum.
    Unverified,
    /// Some block (or an indirect block above some) failed: the contents
    /// are not what was written, wholly or in part.
    Damaged,
}

impl BlockCheck {
    /// The verdict.
    pub fn integrity(&self) -> Integrity {
        if self.bad > 0 || !self.complete {
            Integrity::Damaged
        } else if self.unverified > 0 {
            Integrity::Unverified
        } else {
            Integrity::Good
        }
    }
}

/// Reads (and checksums) every block of `dn` within its first `size` bytes.
pub fn check_blocks(pool: &Pool, dn: &Dnode, size: u64) -> BlockCheck {
    let mut c = BlockCheck {
        complete: true,
        ..BlockCheck::default()
    };
    let bs = dn.datablksz.max(1);
    let mut blkid = 0u64;
    while blkid.checked_mul(bs).is_some_and(|o| o < size) {
        let (b, bp) = match dn.next_block(pool, blkid, None) {
            Ok(Some(x)) => x,
            Ok(None) => break,
            Err(e) => {
                c.complete = false;
                c.bad += 1;
                c.first_error.get_or_insert(e.to_string());
                break;
            }
        };
        if b.checked_mul(bs).is_none_or(|o| o >= size) {
            break;
        }
        c.blocks += 1;
        match pool.read_block(&bp) {
            Ok(_) if bp.is_embedded() => c.embedded += 1,
            Ok(_) if checksum::computable(pool.version, bp.checksum) => c.verified += 1,
            Ok(_) => c.unverified += 1,
            Err(e) => {
                c.bad += 1;
                c.first_error
                    .get_or_insert(dn.block_error(0, b, &bp, e).to_string());
            }
        }
        blkid = b + 1;
    }
    c
}

/// SHA-256 of a regular file's `size` bytes (holes as zeros), every block
/// checksummed on the way.
pub fn sha256(fs: &Zpl, dn: &Dnode, size: u64) -> Result<String> {
    let mut h = Sha256::new();
    fs.read_file(dn, size, |b| {
        h.update(b);
        Ok(())
    })?;
    Ok(hex::encode(h.finalize()))
}

/// Objects of the dnode array of `fs` within `[first, first + count)`
/// blocks of it that are file-system objects, read from `fs`.
pub fn zpl_objects_in(fs: &Zpl, first: u64, count: u64) -> Result<Vec<Dnode>> {
    let meta = &fs.os.meta;
    let mut out = Vec::new();
    let end = first.saturating_add(count);
    let mut b = first;
    while b < end {
        let Some((blkid, bp)) = meta.next_block(&fs.pool, b, None)? else {
            break;
        };
        if blkid >= end {
            break;
        }
        let data = fs
            .pool
            .read_block_cached(&bp)
            .map_err(|e| meta.block_error(0, blkid, &bp, e))?;
        for dn in dnodes_of_block(blkid, &bp, &data).into_iter().flatten() {
            if is_zpl(&dn) {
                out.push(dn);
            }
        }
        b = blkid + 1;
    }
    Ok(out)
}
