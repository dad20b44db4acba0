//! ZAP objects: ZFS's on-disk name → value maps (directories, the MOS
//! object directory, DSL child lists, properties, SA registries).
//!
//! A *micro* ZAP is one block: a 64-byte header whose first word is
//! `ZBT_MICRO`, then 64-byte entries (value u64, collision differentiator
//! u32, 2 pad bytes, a NUL-terminated name of up to 50 bytes). A *fat* ZAP
//! has a header block (`ZBT_HEADER`, magic `0x2F52AB2AB`, pointer table),
//! and leaf blocks (`ZBT_LEAF`) of 24-byte chunks: entry chunks point at
//! chains of array chunks holding the key and the value; values are arrays
//! of 1-, 2-, 4- or 8-byte integers stored big-endian. See `formats/zap.md`.

use crate::error::{Error, Result};
use crate::zfs::ByteOrder;
use crate::zfs::dnode::Dnode;
use crate::zfs::dnode::TreeGuard;
use crate::zfs::pool::Pool;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// First word of a leaf block.
pub const ZBT_LEAF: u64 = 1 << 63;
/// First word of a fat ZAP header block.
pub const ZBT_HEADER: u64 = (1 << 63) + 1;
/// First word of a micro ZAP.
pub const ZBT_MICRO: u64 = (1 << 63) + 3;
/// Fat ZAP header magic.
pub const ZAP_MAGIC: u64 = 0x2F52AB2AB;
/// Leaf magic.
pub const ZAP_LEAF_MAGIC: u32 = 0x2AB1EAF;
const MZAP_ENT_LEN: usize = 64;
const MZAP_NAME_LEN: usize = 50;
const CHUNK: usize = 24;
const ARRAY_BYTES: usize = 21;
const CHUNK_ENTRY: u8 = 252;
const CHUNK_ARRAY: u8 = 251;
/// Flag in `zap_flags`: the hash is 64 bits wide (48 of them index the
/// pointer table) instead of 28.
const ZAP_FLAG_HASH64: u64 = 1;
/// Flag in `zap_flags`: keys are arrays of u64, not strings.
const ZAP_FLAG_UINT64_KEY: u64 = 2;

/// One entry: its key bytes (without the trailing NUL) and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Key bytes (a name, not necessarily UTF-8).
    pub name: Vec<u8>,
    /// Integer width of the value (1, 2, 4 or 8).
    pub int_len: u8,
    /// The value's integers.
    pub values: Vec<u64>,
}

impl Entry {
    /// The key as text (lossy).
    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
    /// The first integer, when the value is one u64.
    pub fn as_u64(&self) -> Option<u64> {
        self.values.first().copied()
    }
    /// The value as bytes (for 1-byte integer arrays: strings).
    pub fn as_bytes(&self) -> Vec<u8> {
        self.values.iter().map(|v| *v as u8).collect()
    }
}

/// An error about ZAP object `obj`'s `what`, found at byte `at` on disk.
fn corrupt(obj: u64, what: &str, at: u64, detail: impl std::fmt::Display) -> Error {
    Error::corrupt(format!("ZAP object {obj} {what}"), at, detail)
}

/// Byte offset on disk of block `blkid` of `dn` (its first DVA), or of
/// the dnode when the block has no DVA.
fn block_at(pool: &Pool, dn: &Dnode, blkid: u64) -> u64 {
    dn.block_ptr(pool, blkid)
        .ok()
        .flatten()
        .and_then(|b| b.phys_offset())
        .unwrap_or(dn.phys)
}

/// Reads every entry of the ZAP object `dn`.
pub fn entries(pool: &Pool, dn: &Dnode) -> Result<Vec<Entry>> {
    let b0 = dn.read_block_cached(pool, 0)?;
    let at0 = block_at(pool, dn, 0);
    let bo = dn
        .blkptrs
        .first()
        .map(|b| b.byteorder)
        .unwrap_or(dn.byteorder);
    let kind = bo.u64(&b0, 0).unwrap_or(0);
    match kind {
        ZBT_MICRO => micro(&b0, bo, dn.object).map_err(|e| e.shifted(at0)),
        ZBT_HEADER => fat(pool, dn, &b0, at0, bo),
        other => Err(corrupt(
            dn.object,
            "block 0",
            at0,
            format!("block type {other:#x} is not a ZAP"),
        )),
    }
}

/// Looks `name` up (exact byte match).
pub fn lookup(pool: &Pool, dn: &Dnode, name: &str) -> Result<Option<Entry>> {
    Ok(entries(pool, dn)?
        .into_iter()
        .find(|e| e.name == name.as_bytes()))
}

/// Looks `name` up and returns its single u64 value.
pub fn lookup_u64(pool: &Pool, dn: &Dnode, name: &str) -> Result<Option<u64>> {
    Ok(lookup(pool, dn, name)?.and_then(|e| e.as_u64()))
}

/// Decodes a micro ZAP block (errors are placed relative to the block).
pub fn micro(b: &[u8], bo: ByteOrder, obj: u64) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let n = (b.len() / MZAP_ENT_LEN).saturating_sub(1);
    for i in 0..n {
        let off = MZAP_ENT_LEN * (i + 1);
        let ent = &b[off..off + MZAP_ENT_LEN];
        let name_raw = &ent[14..14 + MZAP_NAME_LEN];
        if name_raw[0] == 0 {
            continue;
        }
        let len = name_raw
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(MZAP_NAME_LEN);
        let value = bo
            .u64(ent, 0)
            .ok_or_else(|| corrupt(obj, "micro entry", off as u64, "short"))?;
        out.push(Entry {
            name: name_raw[..len].to_vec(),
            int_len: 8,
            values: vec![value],
        });
    }
    Ok(out)
}

/// Decodes a fat ZAP whose header block `b0` lies at byte `at0`.
fn fat(pool: &Pool, dn: &Dnode, b0: &[u8], at0: u64, bo: ByteOrder) -> Result<Vec<Entry>> {
    let obj = dn.object;
    if bo.u64(b0, 8) != Some(ZAP_MAGIC) {
        return Err(corrupt(obj, "header", at0 + 8, "bad magic"));
    }
    let bs = dn.datablksz as usize;
    let shift = bs.trailing_zeros();
    if !bs.is_power_of_two() || !(9..=17).contains(&shift) {
        return Err(corrupt(
            obj,
            "header",
            dn.phys + 8,
            format!("block size {bs} is not a power of two 512..128K"),
        ));
    }
    let zt_blk = bo.u64(b0, 16).unwrap_or(0);
    let zt_numblks = bo.u64(b0, 24).unwrap_or(0);
    let zt_shift = bo.u64(b0, 32).unwrap_or(0);
    let flags = bo.u64(b0, 96).unwrap_or(0);
    let uint64_key = flags & ZAP_FLAG_UINT64_KEY != 0;
    let limit = dn.maxblkid;
    // Every block of a fat ZAP is read through one guard, and no block may
    // stand at two places: ZFS writes each ZAP block once (metadata is
    // never deduplicated), so a shared block would let a hostile table or
    // tree be walked again and again without end.
    let mut guard = TreeGuard::new();
    let mut placed: HashMap<(u32, u64), u64> = HashMap::new();
    // Reads block `blkid` and says where it lies.
    let mut read = |blkid: u64, what: &str| -> Result<(Arc<Vec<u8>>, u64)> {
        let Some(bp) = dn.block_ptr_guarded(pool, blkid, Some(&mut guard))? else {
            // a hole has no place of its own: name the dnode that lists it
            return Err(corrupt(
                obj,
                what,
                dn.phys,
                format!("block {blkid} is a hole"),
            ));
        };
        let at = bp.phys_offset().unwrap_or(dn.phys);
        if let Some(d) = bp.dvas().first() {
            if let Some(&prev) = placed.get(&(d.vdev, d.offset))
                && prev != blkid
            {
                return Err(corrupt(
                    obj,
                    what,
                    at,
                    format!(
                        "block {blkid} is the same block as block {prev} (DVA {})",
                        bp.where_()
                    ),
                ));
            }
            placed.insert((d.vdev, d.offset), blkid);
        }
        Ok((dn.read_block_cached(pool, blkid)?, at))
    };
    // `v` is the pointer-table entry at byte `at`.
    let leaf_ok = |v: u64, at: u64| -> Result<u64> {
        if v == 0 || v > limit {
            return Err(corrupt(
                obj,
                "pointer table",
                at,
                format!("points at block {v} of {}", limit.saturating_add(1)),
            ));
        }
        Ok(v)
    };
    let mut leaves = BTreeSet::new();
    if zt_numblks == 0 {
        // embedded pointer table: second half of block 0
        let n = 1usize << (shift - 4);
        let ents = 1u64
            .checked_shl(zt_shift as u32)
            .unwrap_or(u64::MAX)
            .min(n as u64) as usize;
        for i in 0..ents {
            if let Some(v) = bo.u64(b0, bs / 2 + i * 8) {
                leaves.insert(leaf_ok(v, at0 + (bs / 2 + i * 8) as u64)?);
            }
        }
    } else {
        check_table(obj, at0, b0, bo, bs, limit)?;
        for k in 0..zt_numblks {
            let (blk, at) = read(zt_blk + k, "pointer table")?;
            for i in 0..bs / 8 {
                if let Some(v) = bo.u64(&blk, i * 8) {
                    leaves.insert(leaf_ok(v, at + (i * 8) as u64)?);
                }
            }
        }
    }
    let mut out = Vec::new();
    for leaf in leaves {
        let (b, at) = read(leaf, "leaf")?;
        leaf_entries(&b, bo, uint64_key, &mut out).map_err(|e| {
            let off = e.offset().unwrap_or(0);
            let detail = match &e {
                Error::Corrupt { detail, .. } => detail.clone(),
                other => other.to_string(),
            };
            corrupt(obj, &format!("leaf block {leaf}"), at + off, detail)
        })?;
    }
    Ok(out)
}

/// Checks the external pointer table that the fat-ZAP header `b0` (at
/// byte `at0`, blocks of `bs` bytes, `limit` the last block id) describes.
fn check_table(obj: u64, at0: u64, b0: &[u8], bo: ByteOrder, bs: usize, limit: u64) -> Result<()> {
    let zt_blk = bo.u64(b0, 16).unwrap_or(0);
    let zt_numblks = bo.u64(b0, 24).unwrap_or(0);
    let zt_shift = bo.u64(b0, 32).unwrap_or(0);
    let flags = bo.u64(b0, 96).unwrap_or(0);
    let shift = bs.trailing_zeros();
    // ZFS grows the table only while the hash has bits left to index it
    // with (48 with ZAP_FLAG_HASH64, else 28), and an external table
    // fills its blocks exactly: 2^zt_shift entries of 8 bytes.
    let hashbits = if flags & ZAP_FLAG_HASH64 != 0 { 48 } else { 28 };
    let fits = zt_shift <= hashbits && zt_numblks == (8u64 << zt_shift) >> shift;
    if !fits {
        return Err(corrupt(
            obj,
            "pointer table",
            at0 + 16,
            format!(
                "{zt_numblks} blocks of {bs} bytes for 2^{zt_shift} entries (at most 2^{hashbits})"
            ),
        ));
    }
    if zt_blk
        .checked_add(zt_numblks)
        .is_none_or(|end| end > limit.saturating_add(1))
    {
        return Err(corrupt(
            obj,
            "pointer table",
            at0 + 16,
            format!(
                "blocks {zt_blk}+{zt_numblks} run past the object's {} blocks",
                limit.saturating_add(1)
            ),
        ));
    }
    Ok(())
}

/// Decodes the entries of one fat-ZAP leaf block. Errors name the
/// structure "ZAP leaf" at their byte offset in the block.
pub fn leaf_entries(b: &[u8], bo: ByteOrder, uint64_key: bool, out: &mut Vec<Entry>) -> Result<()> {
    let bad = |at: usize, detail: String| Error::corrupt("ZAP leaf", at as u64, detail);
    if bo.u64(b, 0) != Some(ZBT_LEAF) {
        return Err(bad(0, "not a leaf block".into()));
    }
    if bo.u32(b, 24) != Some(ZAP_LEAF_MAGIC) {
        return Err(bad(24, "bad leaf magic".into()));
    }
    let bs = b.len();
    let hash_ents = bs / 32;
    let chunk0 = 48 + 2 * hash_ents;
    let nchunks = ((bs - 2 * hash_ents) / CHUNK).saturating_sub(2);
    let chunk_at = |i: usize| chunk0 + i * CHUNK;
    let chunk = |i: usize| -> Option<&[u8]> {
        if i >= nchunks {
            return None;
        }
        b.get(chunk_at(i)..chunk_at(i + 1))
    };
    // Reads `n` bytes from the array chain starting at chunk `first`,
    // named by the entry chunk `from`.
    let read_array = |from: usize, first: u16, nbytes: usize| -> Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(nbytes.min(bs));
        let mut c = first as usize;
        let mut prev = from;
        let mut hops = 0;
        let mut visited: Vec<usize> = Vec::new();
        while bytes.len() < nbytes {
            if visited.contains(&c) {
                return Err(bad(
                    chunk_at(prev),
                    format!("array chain loops back to chunk {c}"),
                ));
            }
            visited.push(c);
            let ch = chunk(c)
                .ok_or_else(|| bad(chunk_at(prev), format!("array chunk {c} out of range")))?;
            if ch[0] != CHUNK_ARRAY {
                return Err(bad(chunk_at(c), format!("chunk {c} is not an array chunk")));
            }
            let take = (nbytes - bytes.len()).min(ARRAY_BYTES);
            bytes.extend_from_slice(&ch[1..1 + take]);
            prev = c;
            c = bo.u16(ch, 22).unwrap_or(0xffff) as usize;
            hops += 1;
            if hops > nchunks {
                return Err(bad(chunk_at(prev), "array chain loops".into()));
            }
        }
        Ok(bytes)
    };
    for i in 0..nchunks {
        let Some(ch) = chunk(i) else { break };
        if ch[0] != CHUNK_ENTRY {
            continue;
        }
        let int_len = ch[1];
        let name_chunk = bo.u16(ch, 4).unwrap_or(0);
        let name_numints = bo.u16(ch, 6).unwrap_or(0) as usize;
        let value_chunk = bo.u16(ch, 8).unwrap_or(0);
        let value_numints = bo.u16(ch, 10).unwrap_or(0) as usize;
        if !matches!(int_len, 1 | 2 | 4 | 8) {
            return Err(bad(
                chunk_at(i),
                format!("entry chunk {i} has integer length {int_len}"),
            ));
        }
        let name_len = if uint64_key {
            name_numints * 8
        } else {
            name_numints
        };
        let mut name = read_array(i, name_chunk, name_len)?;
        if !uint64_key && name.last() == Some(&0) {
            name.pop();
        }
        let raw = read_array(i, value_chunk, value_numints * int_len as usize)?;
        let values = raw
            .chunks_exact(int_len as usize)
            .map(|c| c.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64))
            .collect();
        out.push(Entry {
            name,
            int_len,
            values,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_bad_leaf_magic_is_at_byte_24() {
        let mut raw = vec![0u8; 512];
        raw[..8].copy_from_slice(&ByteOrder::Little.put_u64(ZBT_LEAF));
        let e = leaf_entries(&raw, ByteOrder::Little, false, &mut Vec::new()).unwrap_err();
        assert_eq!((e.structure(), e.offset()), (Some("ZAP leaf"), Some(24)));
        raw[..8].fill(0);
        let e = leaf_entries(&raw, ByteOrder::Little, false, &mut Vec::new()).unwrap_err();
        assert_eq!(e.offset(), Some(0));
    }

    proptest! {
        #[test]
        fn leaf_never_panics(mut raw in proptest::collection::vec(any::<u8>(), 512..4096), be in any::<bool>()) {
            let bo = if be { ByteOrder::Big } else { ByteOrder::Little };
            let len = raw.len().next_power_of_two() / 2;
            raw.truncate(len.max(512));
            raw[..8].copy_from_slice(&bo.put_u64(ZBT_LEAF));
            let m = bo.put_u64(ZAP_LEAF_MAGIC as u64);
            match bo { ByteOrder::Little => raw[24..28].copy_from_slice(&m[..4]), ByteOrder::Big => raw[24..28].copy_from_slice(&m[4..]) }
            let mut out = Vec::new();
            let _ = leaf_entries(&raw, bo, false, &mut out);
        }

        #[test]
        fn leaf_errors_are_placed_in_the_block(raw in proptest::collection::vec(any::<u8>(), 512..1024)) {
            let mut out = Vec::new();
            if let Err(e) = leaf_entries(&raw, ByteOrder::Little, false, &mut out) {
                prop_assert_eq!(e.kind(), crate::ErrorKind::Corrupt);
                prop_assert!(e.offset().unwrap() < raw.len() as u64);
            }
        }

        #[test]
        fn micro_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = micro(&raw, ByteOrder::Little, 1);
        }
    }
}
