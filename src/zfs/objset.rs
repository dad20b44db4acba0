//! Object sets (`objset_phys_t`): a dataset's (or the MOS's) array of
//! dnodes, held in the data of its *meta-dnode*.
//!
//! The block an object-set block pointer points to starts with the
//! meta-dnode (512 bytes), then the ZIL header (192 bytes), the object-set
//! type at byte 704 and flags at 712. Newer pools append the user/group
//! (and project) accounting dnodes at 1024, 1536 and 2048. Object N's dnode
//! is at byte N × 512 of the meta-dnode's data.

use crate::error::{Error, Result};
use crate::zfs::blkptr::BlkPtr;
use crate::zfs::dnode::{DNODE_SIZE, Dnode};
use crate::zfs::pool::Pool;

/// `dmu_objset_type_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjsetType {
    /// No type (0).
    None,
    /// The pool's meta object set (1).
    Meta,
    /// A ZPL file system (2).
    Zfs,
    /// A volume (3).
    Zvol,
    /// Other, e.g. ztest's (4).
    Other,
    /// Anything else.
    Unknown(u64),
}

impl ObjsetType {
    /// From the on-disk number.
    pub fn from_u64(v: u64) -> ObjsetType {
        match v {
            0 => ObjsetType::None,
            1 => ObjsetType::Meta,
            2 => ObjsetType::Zfs,
            3 => ObjsetType::Zvol,
            4 => ObjsetType::Other,
            n => ObjsetType::Unknown(n),
        }
    }
    /// zdb's name for it ("ZPL", "ZVOL", "META", "OTHER", "NONE").
    pub fn name(&self) -> String {
        match self {
            ObjsetType::None => "NONE".into(),
            ObjsetType::Meta => "META".into(),
            ObjsetType::Zfs => "ZPL".into(),
            ObjsetType::Zvol => "ZVOL".into(),
            ObjsetType::Other => "OTHER".into(),
            ObjsetType::Unknown(n) => format!("type {n}"),
        }
    }
}

/// An opened object set.
pub struct ObjSet {
    /// Its type.
    pub os_type: ObjsetType,
    /// `os_flags`.
    pub flags: u64,
    /// The meta-dnode, whose data is the dnode array.
    pub meta: Dnode,
    /// The block pointer it was opened from.
    pub bp: BlkPtr,
}

impl ObjSet {
    /// Reads the object set `bp` points to.
    pub fn open(pool: &Pool, bp: &BlkPtr) -> Result<ObjSet> {
        Self::open_from(pool, bp, 0)
    }

    /// Reads the object set `bp` points to; `holder` is the byte offset of
    /// the structure holding `bp` (a dataset's dnode, the uberblock), named
    /// when `bp` itself has no place on disk (a hole, an embedded pointer).
    pub fn open_from(pool: &Pool, bp: &BlkPtr, holder: u64) -> Result<ObjSet> {
        let at = bp.phys_offset().unwrap_or(holder);
        if bp.is_hole() {
            return Err(Error::corrupt("objset block pointer", holder, "is a hole"));
        }
        let data = pool
            .read_block(bp)
            .map_err(|e| Error::corrupt(format!("objset block (DVA {})", bp.where_()), at, e))?;
        if data.len() < 720 {
            return Err(Error::corrupt(
                "objset",
                at,
                format!("block of {} bytes, need at least 720", data.len()),
            ));
        }
        let bo = bp.byteorder;
        let meta = Dnode::decode_at(&data[..DNODE_SIZE], bo, 0, at)?;
        if meta.is_free() {
            return Err(Error::corrupt("objset", at, "meta-dnode is free"));
        }
        Ok(ObjSet {
            os_type: ObjsetType::from_u64(bo.u64(&data, 704).unwrap_or(0)),
            flags: bo.u64(&data, 712).unwrap_or(0),
            meta,
            bp: bp.clone(),
        })
    }

    /// Number of dnode slots in the array (highest object + 1).
    pub fn slots(&self) -> u64 {
        (self.meta.maxblkid.saturating_add(1))
            .saturating_mul(self.meta.datablksz / DNODE_SIZE as u64)
    }

    /// Reads the dnode of object `obj`.
    pub fn dnode(&self, pool: &Pool, obj: u64) -> Result<Dnode> {
        let bs = self.meta.datablksz;
        let per = bs / DNODE_SIZE as u64;
        if per == 0 {
            return Err(self.meta.error(
                "objset meta-dnode",
                format!(
                    "data block size {} is smaller than a dnode",
                    self.meta.datablksz
                ),
            ));
        }
        let blkid = obj / per;
        if blkid > self.meta.maxblkid {
            return Err(self.meta.error(
                format!("object {obj}"),
                format!(
                    "beyond the object set's {} dnode slots (objset meta-dnode here)",
                    self.slots()
                ),
            ));
        }
        let bp = self.meta.block_ptr(pool, blkid)?;
        let Some(bp) = bp else {
            // a hole in the dnode array: a free dnode
            return Dnode::decode_at(&[0u8; DNODE_SIZE], self.meta.byteorder, obj, self.meta.phys);
        };
        let blk = self.meta.read_block_cached(pool, blkid)?;
        let off = ((obj % per) * DNODE_SIZE as u64) as usize;
        let phys = bp.phys_offset().unwrap_or(self.meta.phys) + off as u64;
        Dnode::decode_at(&blk[off..], bp.byteorder, obj, phys)
    }

    /// Calls `f` with every allocated dnode, in object order; a dnode
    /// block that cannot be read is reported through `err` and skipped.
    pub fn for_each_dnode(
        &self,
        pool: &Pool,
        mut f: impl FnMut(Dnode),
        mut err: impl FnMut(Error),
    ) {
        let per = self.meta.datablksz / DNODE_SIZE as u64;
        if per == 0 {
            return;
        }
        for blkid in 0..=self.meta.maxblkid {
            let bp = match self.meta.block_ptr(pool, blkid) {
                Ok(Some(bp)) => bp,
                Ok(None) => continue,
                Err(e) => {
                    err(e);
                    continue;
                }
            };
            let blk = match self.meta.read_block_cached(pool, blkid) {
                Ok(b) => b,
                Err(e) => {
                    err(e);
                    continue;
                }
            };
            let mut i = 0u64;
            while i < per {
                let obj = blkid * per + i;
                let off = (i * DNODE_SIZE as u64) as usize;
                let phys = bp.phys_offset().unwrap_or(self.meta.phys) + off as u64;
                match Dnode::decode_at(&blk[off..], bp.byteorder, obj, phys) {
                    Ok(dn) => {
                        let step = 1 + dn.extra_slots as u64;
                        if !dn.is_free() {
                            f(dn);
                        }
                        i += step;
                    }
                    Err(e) => {
                        err(e);
                        i += 1;
                    }
                }
            }
        }
    }
}
