//! Dnodes (`dnode_phys_t`): the 512-byte (or larger) header of every DMU
//! object, and reads of an object's blocks through its tree of indirect
//! blocks.
//!
//! A dnode holds the object's type, its data block size, the height of its
//! block tree, 1–3 top-level block pointers, a bonus buffer (a typed record
//! such as a znode or a DSL directory) and, when flagged, a spill block
//! pointer in its last 128 bytes. Large dnodes occupy `1 + extra_slots`
//! consecutive 512-byte slots. See `formats/dnode.md`.

use crate::error::{Error, Result};
use crate::zfs::blkptr::{BLKPTR_SIZE, BlkPtr, ByteOrder, Dva};
use crate::zfs::pool::Pool;
use std::collections::HashMap;
use std::sync::Arc;

/// Size of one dnode slot.
pub const DNODE_SIZE: usize = 512;
/// Offset of the first block pointer in a dnode.
const BLKPTR_OFFSET: usize = 64;
/// Largest block ZFS writes (`SPA_MAXBLOCKSIZE`, 16 MiB).
pub const MAX_BLOCK_SIZE: u64 = 16 << 20;
/// Dnode flag: the last 128 bytes are a spill block pointer.
pub const FLAG_SPILL_BLKPTR: u8 = 4;

/// DMU object types we name (`dmu_object_type_t`).
pub mod otype {
    /// Free slot.
    pub const NONE: u8 = 0;
    /// Object directory (MOS object 1).
    pub const OBJECT_DIRECTORY: u8 = 1;
    /// Dnode array (the meta-dnode's data).
    pub const DNODE: u8 = 10;
    /// Object set.
    pub const OBJSET: u8 = 11;
    /// DSL directory.
    pub const DSL_DIR: u8 = 12;
    /// DSL dataset.
    pub const DSL_DATASET: u8 = 16;
    /// Legacy znode (bonus type).
    pub const ZNODE: u8 = 17;
    /// Plain file contents.
    pub const PLAIN_FILE_CONTENTS: u8 = 19;
    /// Directory contents (a ZAP).
    pub const DIRECTORY_CONTENTS: u8 = 20;
    /// Master node (a ZAP).
    pub const MASTER_NODE: u8 = 21;
    /// System attributes (bonus type).
    pub const SA: u8 = 44;
}

/// Where a level-0 block id led in a dnode's tree.
enum Found {
    /// An allocated (or embedded) block.
    Block(BlkPtr),
    /// A hole at this level: it covers `2^(epbs × level)` level-0 blocks.
    Hole(u32),
    /// Past the last block the tree can hold.
    End,
}

/// The indirect blocks met so far in one walk of one object's tree, by
/// place. ZFS writes every indirect block once, for one place in one tree
/// (dedup and block cloning share only level-0 blocks), so an indirect
/// block met at a second place means the "tree" is a graph that could
/// make a walk revisit it without end.
#[derive(Default)]
pub struct TreeGuard {
    at: HashMap<(u32, u64), (u32, u64)>,
}

impl TreeGuard {
    /// A guard for a new walk.
    pub fn new() -> TreeGuard {
        TreeGuard::default()
    }

    fn visit(&mut self, dn: &Dnode, bp: &BlkPtr, level: u32, blkid: u64) -> Result<()> {
        for d in bp.dvas() {
            if let Some(&(l, b)) = self.at.get(&(d.vdev, d.offset)) {
                if (l, b) != (level, blkid) {
                    return Err(dn.block_error(
                        level,
                        blkid,
                        bp,
                        format!(
                            "is also the level-{l} block {b} of this object: the block tree is not a tree"
                        ),
                    ));
                }
            } else {
                self.at.insert((d.vdev, d.offset), (level, blkid));
            }
        }
        Ok(())
    }
}

/// A decoded dnode.
#[derive(Clone, Debug)]
pub struct Dnode {
    /// Object number (for messages).
    pub object: u64,
    /// `dmu_object_type_t` (0 = free).
    pub dtype: u8,
    /// log2 of the indirect block size.
    pub indblkshift: u8,
    /// Height of the block tree (1 = block pointers point at data).
    pub nlevels: u8,
    /// Bonus buffer type.
    pub bonustype: u8,
    /// Checksum function for new blocks.
    pub checksum: u8,
    /// Compression function for new blocks.
    pub compress: u8,
    /// Flags (`DNODE_FLAG_*`).
    pub flags: u8,
    /// Data block size in bytes.
    pub datablksz: u64,
    /// Extra 512-byte slots this dnode occupies.
    pub extra_slots: u8,
    /// Highest allocated level-0 block id.
    pub maxblkid: u64,
    /// Bytes (or sectors, on old pools) used.
    pub used: u64,
    /// Top-level block pointers.
    pub blkptrs: Vec<BlkPtr>,
    /// Bonus buffer bytes (`bonuslen` of them).
    pub bonus: Vec<u8>,
    /// Spill block pointer, when flagged.
    pub spill: Option<BlkPtr>,
    /// Byte order of the dnode (that of the block holding it).
    pub byteorder: ByteOrder,
    /// Byte offset of the dnode on its vdev (the first DVA of the block
    /// holding it, plus its place in that block), for messages; see
    /// [`Dnode::decode_at`].
    pub phys: u64,
}

/// Byte 0 of the dnode: the place of an error about the dnode as a whole
/// ([`Dnode::decode_at`] makes it the dnode's offset on disk).
const WHOLE: usize = 0;

/// An error about the dnode of `object`, at byte `field` of the dnode
/// (the field found wrong); [`Dnode::decode_at`] adds the dnode's place.
fn corrupt(object: u64, field: usize, detail: impl std::fmt::Display) -> Error {
    Error::corrupt(format!("dnode of object {object}"), field as u64, detail)
}

impl Dnode {
    /// Decodes the dnode at the start of `raw` (at least one 512-byte slot;
    /// more for a large dnode), written in byte order `bo`.
    pub fn decode(raw: &[u8], bo: ByteOrder, object: u64) -> Result<Dnode> {
        if raw.len() < DNODE_SIZE {
            return Err(corrupt(
                object,
                WHOLE,
                format!("{} bytes, need 512", raw.len()),
            ));
        }
        let b = |i: usize| raw[i];
        let dtype = b(0);
        let extra_slots = b(12);
        let size = DNODE_SIZE * (1 + extra_slots as usize);
        if size > raw.len() {
            return Err(corrupt(
                object,
                12,
                format!("{} extra slots run past the dnode block", extra_slots),
            ));
        }
        let raw = &raw[..size];
        let nblkptr = b(3) as usize;
        let flags = b(7);
        let bonuslen = bo.u16(raw, 10).unwrap_or(0) as usize;
        let mut dn = Dnode {
            phys: 0,
            object,
            dtype,
            indblkshift: b(1),
            nlevels: b(2),
            bonustype: b(4),
            checksum: b(5),
            compress: b(6),
            flags,
            datablksz: bo.u16(raw, 8).unwrap_or(0) as u64 * 512,
            extra_slots,
            maxblkid: bo.u64(raw, 16).unwrap_or(0),
            used: bo.u64(raw, 24).unwrap_or(0),
            blkptrs: Vec::new(),
            bonus: Vec::new(),
            spill: None,
            byteorder: bo,
        };
        if dtype == otype::NONE {
            return Ok(dn);
        }
        check_fields(&dn, nblkptr)?;
        let spill = flags & FLAG_SPILL_BLKPTR != 0;
        let bonus_off = BLKPTR_OFFSET + nblkptr * BLKPTR_SIZE;
        let bonus_end = size - if spill { BLKPTR_SIZE } else { 0 };
        if bonus_off + bonuslen > bonus_end {
            return Err(corrupt(
                object,
                10,
                format!("bonus of {bonuslen} bytes at {bonus_off} overruns the {size}-byte dnode"),
            ));
        }
        for i in 0..nblkptr {
            let off = BLKPTR_OFFSET + i * BLKPTR_SIZE;
            dn.blkptrs.push(
                BlkPtr::decode(&raw[off..off + BLKPTR_SIZE], bo)
                    .map_err(|e| e.shifted(off as u64))?,
            );
        }
        dn.bonus = raw[bonus_off..bonus_off + bonuslen].to_vec();
        if spill {
            dn.spill = Some(
                BlkPtr::decode(&raw[size - BLKPTR_SIZE..], bo)
                    .map_err(|e| e.shifted((size - BLKPTR_SIZE) as u64))?,
            );
        }
        Ok(dn)
    }

    /// [`Dnode::decode`] of a dnode that lies at byte `phys` of its vdev:
    /// errors name that offset (plus the field's place in the dnode) and the
    /// dnode remembers it.
    pub fn decode_at(raw: &[u8], bo: ByteOrder, object: u64, phys: u64) -> Result<Dnode> {
        let mut dn = Dnode::decode(raw, bo, object).map_err(|e| e.shifted(phys))?;
        dn.phys = phys;
        Ok(dn)
    }

    /// Byte offset of the bonus buffer on disk (it follows the block
    /// pointers in the dnode).
    pub fn bonus_phys(&self) -> u64 {
        self.phys + (BLKPTR_OFFSET + self.blkptrs.len() * BLKPTR_SIZE) as u64
    }

    /// An error about this object's attributes or contents, at the dnode's
    /// place on disk.
    pub fn error(&self, structure: impl Into<String>, detail: impl std::fmt::Display) -> Error {
        Error::corrupt(structure, self.phys, detail)
    }

    /// Whether the slot is free.
    pub fn is_free(&self) -> bool {
        self.dtype == otype::NONE
    }

    /// Number of block pointers per indirect block, as a shift.
    fn epbs(&self) -> u32 {
        self.indblkshift as u32 - 7
    }

    /// The level-0 block pointer of block `blkid`, None for a hole (also
    /// past the end of the tree).
    pub fn block_ptr(&self, pool: &Pool, blkid: u64) -> Result<Option<BlkPtr>> {
        self.block_ptr_guarded(pool, blkid, None)
    }

    /// Like [`Dnode::block_ptr`], recording the indirect blocks passed in
    /// `guard` (one guard per walk of this object).
    pub fn block_ptr_guarded(
        &self,
        pool: &Pool,
        blkid: u64,
        guard: Option<&mut TreeGuard>,
    ) -> Result<Option<BlkPtr>> {
        Ok(match self.lookup(pool, blkid, guard)? {
            Found::Block(bp) => Some(bp),
            Found::Hole(_) | Found::End => None,
        })
    }

    /// The first level-0 block at or after `blkid` that is not a hole, or
    /// None; whole holes above level 0 are skipped without visiting their
    /// span, so the cost follows the allocated blocks, not the file size.
    pub fn next_block(
        &self,
        pool: &Pool,
        blkid: u64,
        mut guard: Option<&mut TreeGuard>,
    ) -> Result<Option<(u64, BlkPtr)>> {
        let epbs = if self.nlevels > 1 { self.epbs() } else { 0 };
        let mut b = blkid;
        while b <= self.maxblkid {
            match self.lookup(pool, b, guard.as_deref_mut())? {
                Found::Block(bp) => return Ok(Some((b, bp))),
                Found::End => return Ok(None),
                Found::Hole(level) => {
                    let span = epbs * level;
                    match shr(b, span)
                        .checked_add(1)
                        .and_then(|n| n.checked_shl(span))
                    {
                        Some(n) if n > b && shr(n, span) == shr(b, span) + 1 => b = n,
                        _ => return Ok(None),
                    }
                }
            }
        }
        Ok(None)
    }

    /// Follows the tree to level-0 block `blkid`.
    fn lookup(&self, pool: &Pool, blkid: u64, mut guard: Option<&mut TreeGuard>) -> Result<Found> {
        if blkid > self.maxblkid {
            return Ok(Found::End);
        }
        let levels = self.nlevels as u32;
        let epbs = if levels > 1 { self.epbs() } else { 0 };
        let top_shift = epbs * (levels - 1);
        let top = shr(blkid, top_shift);
        let Some(mut bp) = self.blkptrs.get(top as usize).cloned() else {
            return Ok(Found::End);
        };
        // The indirect blocks above the current pointer, by level: a block
        // tree never points back at one of them (ZFS writes every indirect
        // block anew), so meeting one again means the tree loops.
        let mut held: Vec<(u32, BlkPtr)> = Vec::with_capacity(levels as usize);
        for level in (1..levels).rev() {
            let lblkid = shr(blkid, epbs * level);
            if bp.is_hole() {
                return Ok(Found::Hole(level));
            }
            self.check_no_loop(&held, &bp, level, lblkid)?;
            if bp.level as u32 != level {
                return Err(self.block_error(
                    level,
                    lblkid,
                    &bp,
                    format!("block pointer says level {}", bp.level),
                ));
            }
            if let Some(g) = guard.as_deref_mut() {
                g.visit(self, &bp, level, lblkid)?;
            }
            let data = self.read_meta(pool, &bp, level, lblkid)?;
            let idx = (shr(blkid, epbs * (level - 1)) & ((1u64 << epbs) - 1)) as usize;
            let off = idx * BLKPTR_SIZE;
            let Some(raw) = data.get(off..off + BLKPTR_SIZE) else {
                return Err(self.block_error(
                    level,
                    lblkid,
                    &bp,
                    format!("indirect block of {} bytes is too short", data.len()),
                ));
            };
            let child = BlkPtr::decode(raw, bp.byteorder)?;
            held.push((level, std::mem::replace(&mut bp, child)));
        }
        if bp.is_hole() {
            return Ok(Found::Hole(0));
        }
        self.check_no_loop(&held, &bp, 0, blkid)?;
        if bp.level != 0 {
            return Err(self.block_error(
                0,
                blkid,
                &bp,
                format!("block pointer says level {}", bp.level),
            ));
        }
        Ok(Found::Block(bp))
    }

    /// Fails when `bp` (at `level`, block `blkid` of that level) names the
    /// same place as one of the indirect blocks `held` above it.
    fn check_no_loop(
        &self,
        held: &[(u32, BlkPtr)],
        bp: &BlkPtr,
        level: u32,
        blkid: u64,
    ) -> Result<()> {
        let same = |a: &Dva, b: &Dva| a.vdev == b.vdev && a.offset == b.offset;
        for (up, anc) in held {
            if bp
                .dvas()
                .iter()
                .any(|d| anc.dvas().iter().any(|a| same(a, d)))
            {
                return Err(self.block_error(
                    level,
                    blkid,
                    bp,
                    format!("points back at its own level-{up} block: the block tree loops"),
                ));
            }
        }
        Ok(())
    }

    fn read_meta(&self, pool: &Pool, bp: &BlkPtr, level: u32, blkid: u64) -> Result<Arc<Vec<u8>>> {
        pool.read_block_cached(bp)
            .map_err(|e| self.block_error(level, blkid, bp, e))
    }

    /// An error naming this object, the level, block id and DVA.
    pub fn block_error(
        &self,
        level: u32,
        blkid: u64,
        bp: &BlkPtr,
        detail: impl std::fmt::Display,
    ) -> Error {
        Error::corrupt(
            format!(
                "object {} level {} block {} (DVA {})",
                self.object,
                level,
                blkid,
                bp.where_()
            ),
            bp.phys_offset().unwrap_or(self.phys),
            detail,
        )
    }

    /// Reads data block `blkid` (exactly `datablksz` bytes; holes are zeros).
    pub fn read_block(&self, pool: &Pool, blkid: u64) -> Result<Vec<u8>> {
        match self.block_ptr(pool, blkid)? {
            None => Ok(vec![0u8; self.datablksz as usize]),
            Some(bp) => {
                let mut d = pool
                    .read_block(&bp)
                    .map_err(|e| self.block_error(0, blkid, &bp, e))?;
                d.resize(self.datablksz as usize, 0);
                Ok(d)
            }
        }
    }

    /// Like [`Dnode::read_block`], through the pool's metadata cache.
    pub fn read_block_cached(&self, pool: &Pool, blkid: u64) -> Result<Arc<Vec<u8>>> {
        match self.block_ptr(pool, blkid)? {
            None => Ok(Arc::new(vec![0u8; self.datablksz as usize])),
            Some(bp) => {
                let d = self.read_meta(pool, &bp, 0, blkid)?;
                if d.len() as u64 == self.datablksz {
                    Ok(d)
                } else {
                    let mut v = d.as_ref().clone();
                    v.resize(self.datablksz as usize, 0);
                    Ok(Arc::new(v))
                }
            }
        }
    }

    /// Reads `len` bytes at byte `offset` of the object (holes are zeros).
    pub fn read(&self, pool: &Pool, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len.min(64 << 20));
        let bs = self.datablksz;
        let mut pos = offset;
        let end = offset.saturating_add(len as u64);
        while pos < end {
            let blkid = pos / bs;
            let within = (pos % bs) as usize;
            let take = ((bs - within as u64).min(end - pos)) as usize;
            let blk = self.read_block_cached_or_plain(pool, blkid)?;
            out.extend_from_slice(&blk[within..within + take]);
            pos += take as u64;
        }
        Ok(out)
    }

    fn read_block_cached_or_plain(&self, pool: &Pool, blkid: u64) -> Result<Arc<Vec<u8>>> {
        if self.datablksz <= 128 << 10 {
            self.read_block_cached(pool, blkid)
        } else {
            Ok(Arc::new(self.read_block(pool, blkid)?))
        }
    }

    /// Reads the spill block (system attributes that did not fit the bonus).
    pub fn read_spill(&self, pool: &Pool) -> Result<Option<Vec<u8>>> {
        match &self.spill {
            None => Ok(None),
            Some(bp) if bp.is_hole() => Ok(None),
            Some(bp) => Ok(Some(pool.read_block(bp).map_err(|e| {
                self.block_error(0, u64::MAX, bp, format!("spill: {e}"))
            })?)),
        }
    }
}

/// `x >> n`, zero when the shift is 64 or more.
fn shr(x: u64, n: u32) -> u64 {
    x.checked_shr(n).unwrap_or(0)
}

/// The deepest block tree a dnode can need: enough levels of `2^(shift−7)`
/// pointers above 512-byte data blocks to address 2^64 bytes (ZFS's own
/// bound: 12 levels with the smallest indirect blocks modern pools write,
/// 20 with the 1 KiB ones older pools allowed).
fn max_levels(indblkshift: u8) -> u8 {
    let per_level = u32::from(indblkshift) - 7;
    (1 + (64 - 9u32).div_ceil(per_level)) as u8
}

/// Checks the fields of an allocated dnode that bound what may be read
/// through it: pointer count, levels, indirect and data block sizes.
fn check_fields(dn: &Dnode, nblkptr: usize) -> Result<()> {
    if !(1..=3).contains(&nblkptr) {
        return Err(corrupt(
            dn.object,
            3,
            format!("nblkptr {nblkptr} (must be 1–3)"),
        ));
    }
    if dn.nlevels == 0 {
        return Err(corrupt(dn.object, 2, "nlevels 0 (must be at least 1)"));
    }
    if dn.nlevels > 1 {
        if !(10..=17).contains(&dn.indblkshift) {
            return Err(corrupt(
                dn.object,
                1,
                format!("indirect block shift {} (must be 10–17)", dn.indblkshift),
            ));
        }
        let max = max_levels(dn.indblkshift);
        if dn.nlevels > max {
            return Err(corrupt(
                dn.object,
                2,
                format!(
                    "nlevels {} (at most {max} with {}-byte indirect blocks)",
                    dn.nlevels,
                    1u32 << dn.indblkshift
                ),
            ));
        }
    }
    if dn.datablksz == 0 {
        return Err(corrupt(dn.object, 8, "data block size 0"));
    }
    if dn.datablksz > MAX_BLOCK_SIZE {
        return Err(corrupt(
            dn.object,
            8,
            format!(
                "data block size {} exceeds ZFS's largest block ({MAX_BLOCK_SIZE} bytes)",
                dn.datablksz
            ),
        ));
    }
    if (u128::from(dn.maxblkid) + 1) * u128::from(dn.datablksz) > 1u128 << 64 {
        return Err(corrupt(
            dn.object,
            16,
            format!(
                "maxblkid {} of {}-byte blocks reaches past the 2^64 bytes an object can address",
                dn.maxblkid, dn.datablksz
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A plain-file dnode with the given indirect shift and level count.
    fn file_dnode(indblkshift: u8, nlevels: u8) -> Vec<u8> {
        let mut raw = vec![0u8; 512];
        raw[0] = otype::PLAIN_FILE_CONTENTS;
        raw[1] = indblkshift;
        raw[2] = nlevels;
        raw[3] = 1;
        raw[8] = 1;
        raw
    }

    #[test]
    fn errors_name_the_field_on_disk() {
        let bo = ByteOrder::Little;
        let mut raw = file_dnode(12, 1);
        raw[3] = 4; // nblkptr
        let e = Dnode::decode_at(&raw, bo, 9, 0x1000).unwrap_err();
        assert_eq!(
            (e.kind(), e.offset()),
            (crate::ErrorKind::Corrupt, Some(0x1003))
        );
        let mut raw = file_dnode(12, 1);
        raw[8] = 0; // data block size
        let e = Dnode::decode_at(&raw, bo, 9, 0x1000).unwrap_err();
        assert_eq!(e.offset(), Some(0x1008), "{e}");
        let e = Dnode::decode_at(&raw[..100], bo, 9, 0x1000).unwrap_err();
        assert_eq!(e.offset(), Some(0x1000), "{e}");
        let dn = Dnode::decode_at(&file_dnode(12, 1), bo, 9, 0x1000).unwrap();
        assert_eq!(dn.bonus_phys(), 0x1000 + 64 + 128);
    }

    #[test]
    fn deep_trees_follow_the_indirect_block_size() {
        // ztest makes 12-level files (4 KiB indirect blocks, 2^64 offsets)
        let bo = ByteOrder::Little;
        assert!(Dnode::decode(&file_dnode(12, 12), bo, 77).is_ok());
        let e = Dnode::decode(&file_dnode(12, 13), bo, 77).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{e}");
        assert_eq!(e.structure(), Some("dnode of object 77"));
        // nlevels is byte 2 of the dnode, which lies at 0x4000 + 512
        let e = Dnode::decode_at(&file_dnode(12, 13), bo, 77, 0x4200).unwrap_err();
        assert_eq!(e.offset(), Some(0x4202), "{e}");
        assert!(Dnode::decode(&file_dnode(17, 7), bo, 77).is_ok());
        assert!(Dnode::decode(&file_dnode(17, 8), bo, 77).is_err());
        assert!(Dnode::decode(&file_dnode(10, 20), bo, 77).is_ok());
        assert!(Dnode::decode(&file_dnode(12, 0), bo, 77).is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..2048), be in any::<bool>()) {
            let bo = if be { ByteOrder::Big } else { ByteOrder::Little };
            if let Ok(dn) = Dnode::decode(&raw, bo, 7).map(Some).unwrap_or(None).filter(|d| !d.is_free()).ok_or(()) {
                prop_assert!((1..=3).contains(&dn.blkptrs.len()));
                prop_assert!(dn.bonus.len() <= 512 * (1 + dn.extra_slots as usize));
            }
        }
    }
}
