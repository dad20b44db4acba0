//! The pool as a block reader: the vdev tree with a source under every leaf
//! we were given, and reads of block pointers through it.
//!
//! A block pointer's DVA names a top-level vdev and an offset in its
//! allocatable space. A leaf (disk or file) stores that space after its two
//! front labels and boot area, at +4 MiB. A mirror (also "replacing" and
//! "spare") holds the same bytes on every child: we read any child whose copy
//! verifies. A RAID-Z vdev spreads a block over its children in columns:
//! `nparity` parity columns then the data columns; we read the data columns
//! and, when a child is missing or a copy fails the block's checksum, rebuild
//! from parity (P = XOR, Q and R = Reed–Solomon over GF(2^8) with
//! generators 2 and 4). See `formats/blkptr.md`.

use crate::error::{Error, Result};
use crate::source::SharedSource;
use crate::zfs::blkptr::{BlkPtr, ByteOrder, Dva, Payload};
use crate::zfs::checksum::{self, Verdict};
use crate::zfs::compress;
use crate::zfs::leaf::{self, LABEL_START};
use crate::zfs::nvlist::NvList;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes of metadata blocks (indirect, dnode) kept decoded in memory.
const CACHE_BYTES: usize = 48 << 20;

/// Decoded metadata blocks keyed by (vdev, offset, birth) of their first DVA.
#[derive(Default)]
struct BlockCache {
    map: HashMap<(u32, u64, u64), Arc<Vec<u8>>>,
    bytes: usize,
}

/// Size of a gang header (`SPA_GANGBLOCKSIZE`).
pub const GANG_HEADER_SIZE: usize = 512;
/// Bytes of spent block buffers kept for reuse ([`Pool::recycle`]).
const SPARE_BYTES: usize = 4 << 20;

/// Block buffers given back by readers: their pages are already faulted in,
/// so the next read into one neither faults nor zero-fills.
#[derive(Default)]
struct Spare {
    bufs: Vec<Vec<u8>>,
    bytes: usize,
}

/// Gang-header embedded-checksum magic (`ZEC_MAGIC`).
const ZEC_MAGIC: u64 = 0x0210_da7a_b10c_7a11;
/// Deepest gang nesting we follow.
const MAX_GANG_DEPTH: u32 = 8;

/// One node of the vdev tree.
#[derive(Clone)]
pub enum Vdev {
    /// A disk or file; `source` is None when it was not given (or unreadable).
    Leaf {
        /// Leaf guid.
        guid: u64,
        /// Path recorded in the config (for messages).
        path: String,
        /// Where its bytes are, when we have it.
        source: Option<SharedSource>,
    },
    /// Mirror, replacing or spare: every child holds every block.
    Mirror {
        /// Node type as written ("mirror", "replacing", "spare").
        kind: String,
        /// Children.
        children: Vec<Vdev>,
    },
    /// RAID-Z with `nparity` parity columns.
    Raidz {
        /// 1, 2 or 3.
        nparity: usize,
        /// Children in column order.
        children: Vec<Vdev>,
    },
    /// A vdev type we cannot read ("draid", "indirect", "hole", "missing").
    Other {
        /// Its type string.
        kind: String,
    },
}

/// A top-level vdev: its tree and allocation unit.
#[derive(Clone)]
pub struct TopVdev {
    /// `id` from the config (the DVA's vdev number).
    pub id: u64,
    /// log2 of its sector size.
    pub ashift: u32,
    /// The tree below it.
    pub vdev: Vdev,
}

/// Counters the CLI reports after a run.
#[derive(Default, Debug)]
pub struct ReadStats {
    /// Blocks read and verified.
    pub verified: AtomicU64,
    /// Blocks read whose checksum algorithm we do not compute.
    pub unverified: AtomicU64,
    /// Copies that failed their checksum before another copy or a parity
    /// rebuild gave good data.
    pub repaired: AtomicU64,
}

/// An assembled (possibly incomplete) pool, ready to read blocks.
pub struct Pool {
    /// Pool name from the config.
    pub name: String,
    /// Pool guid.
    pub guid: u64,
    /// SPA version from the config.
    pub version: u64,
    /// Top-level vdevs by id.
    pub tops: BTreeMap<u64, TopVdev>,
    /// Counters.
    pub stats: ReadStats,
    cache: Mutex<BlockCache>,
    spare: Mutex<Spare>,
}

fn node_from_nvlist(
    nv: &NvList,
    leaves: &dyn Fn(u64) -> Option<SharedSource>,
    depth: u32,
) -> Result<Vdev> {
    // A decoded nvlist keeps no byte positions: errors here name the level
    // and are placed at 0 in the packed config; the caller, which knows where
    // that config lies, shifts them (see `TopVdev::from_nvlist`).
    if depth > 8 {
        return Err(Error::corrupt(
            format!("vdev_tree level {depth}"),
            0,
            "nested more than 8 levels",
        ));
    }
    let kind = nv.get_str("type").unwrap_or("missing").to_string();
    let guid = nv.get_u64("guid").unwrap_or(0);
    let children = || -> Result<Vec<Vdev>> {
        nv.get_list_array("children")
            .unwrap_or(&[])
            .iter()
            .map(|c| node_from_nvlist(c, leaves, depth + 1))
            .collect()
    };
    Ok(match kind.as_str() {
        "disk" | "file" => Vdev::Leaf {
            guid,
            path: nv.get_str("path").unwrap_or("").to_string(),
            source: leaves(guid),
        },
        "mirror" | "replacing" | "spare" => Vdev::Mirror {
            kind,
            children: children()?,
        },
        "raidz" => {
            let nparity = nv.get_u64("nparity").unwrap_or(1) as usize;
            let ch = children()?;
            if !(1..=3).contains(&nparity) || ch.len() <= nparity {
                return Err(Error::corrupt(
                    format!("vdev_tree level {depth}"),
                    0,
                    format!("raidz with {nparity} parity and {} children", ch.len()),
                ));
            }
            Vdev::Raidz {
                nparity,
                children: ch,
            }
        }
        _ => Vdev::Other { kind },
    })
}

impl TopVdev {
    /// Builds a top-level vdev from its `vdev_tree` nvlist; `leaves` maps a
    /// leaf guid to the source we hold for it. `config_offset` is the byte
    /// offset of the packed label config the tree was decoded from: errors
    /// are reported there.
    pub fn from_nvlist(
        nv: &NvList,
        leaves: &dyn Fn(u64) -> Option<SharedSource>,
        config_offset: u64,
    ) -> Result<TopVdev> {
        Ok(TopVdev {
            id: nv.get_u64("id").unwrap_or(0),
            ashift: nv.get_u64("ashift").unwrap_or(9).clamp(9, 17) as u32,
            vdev: node_from_nvlist(nv, leaves, 0).map_err(|e| e.shifted(config_offset))?,
        })
    }
}

/// A copy that failed, for the error message.
fn describe(dva: &Dva) -> String {
    dva.to_string()
}

impl Pool {
    /// A pool from its top-level vdevs.
    pub fn new(name: String, guid: u64, version: u64, tops: Vec<TopVdev>) -> Pool {
        Pool {
            name,
            guid,
            version,
            tops: tops.into_iter().map(|t| (t.id, t)).collect(),
            stats: ReadStats::default(),
            cache: Mutex::new(BlockCache::default()),
            spare: Mutex::new(Spare::default()),
        }
    }

    /// Gives a block buffer back once its bytes are used (hashed, copied
    /// out): the next [`Pool::read_block`] reads into it instead of into
    /// fresh memory. At most 4 MiB of buffers are kept; the rest are freed.
    pub fn recycle(&self, buf: Vec<u8>) {
        if buf.capacity() < 4096 {
            return;
        }
        if let Ok(mut s) = self.spare.lock()
            && s.bytes + buf.capacity() <= SPARE_BYTES
        {
            s.bytes += buf.capacity();
            s.bufs.push(buf);
        }
    }

    /// A buffer given back by [`Pool::recycle`], or an empty one.
    fn spare_buffer(&self) -> Vec<u8> {
        let Ok(mut s) = self.spare.lock() else {
            return Vec::new();
        };
        match s.bufs.pop() {
            Some(b) => {
                s.bytes -= b.capacity();
                b
            }
            None => Vec::new(),
        }
    }

    /// Like [`Pool::read_block`] but keeps the result in a bounded cache;
    /// for metadata (indirect blocks, dnode blocks, ZAP blocks).
    pub fn read_block_cached(&self, bp: &BlkPtr) -> Result<Arc<Vec<u8>>> {
        let key = match bp.dvas().first() {
            Some(d) => (d.vdev, d.offset, bp.birth),
            None => return Ok(Arc::new(self.read_block(bp)?)),
        };
        if let Some(hit) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.map.get(&key).cloned())
        {
            return Ok(hit);
        }
        let data = Arc::new(self.read_block(bp)?);
        if let Ok(mut c) = self.cache.lock() {
            if c.bytes + data.len() > CACHE_BYTES {
                c.map.clear();
                c.bytes = 0;
            }
            c.bytes += data.len();
            c.map.insert(key, data.clone());
        }
        Ok(data)
    }

    /// Reads, verifies and decompresses the block `bp` points to; returns
    /// its `lsize` logical bytes. Holes read as zeros.
    pub fn read_block(&self, bp: &BlkPtr) -> Result<Vec<u8>> {
        let lsize = bp.lsize as usize;
        match &bp.payload {
            Payload::Hole => Ok(vec![0u8; lsize]),
            Payload::Embedded { etype, data } => {
                if *etype != crate::zfs::blkptr::EMBEDDED_DATA {
                    return Err(Error::unsupported(
                        "embedded block pointer",
                        format!("type {etype} (only data, 0, is readable)"),
                    ));
                }
                if (data.len() as u64) < bp.psize {
                    return Err(Error::corrupt(
                        "embedded block pointer",
                        0,
                        format!("psize {} exceeds the 112-byte payload", bp.psize),
                    ));
                }
                compress::decompress(bp.compress, data, lsize)
            }
            Payload::Dvas(_) => {
                let phys = self.read_physical(bp, &[])?;
                if compress::is_stored(bp.compress) {
                    return compress::decompress_owned(bp.compress, phys, lsize);
                }
                let mut out = self.spare_buffer();
                out.clear();
                out.resize(lsize, 0);
                let r = compress::decompress_into(bp.compress, &phys, &mut out);
                self.recycle(phys);
                r.map(|()| out)
            }
        }
    }

    /// `bp`'s checksum over `data` (physical bytes), by this pool's numbering.
    fn verify(&self, bp: &BlkPtr, data: &[u8]) -> Verdict {
        checksum::verify(self.version, bp.checksum, data, bp.byteorder, &bp.cksum)
    }

    /// Whether `data` (physical bytes) matches `bp`'s checksum (unverifiable
    /// blocks pass).
    fn check(&self, bp: &BlkPtr, data: &[u8]) -> bool {
        match self.verify(bp, data) {
            Verdict::Good => true,
            Verdict::Unverified => true,
            Verdict::Bad(_) => false,
        }
    }

    /// Reads the `psize` physical bytes of `bp` from any DVA that verifies;
    /// `gangs` are the gang headers this block is a member of.
    fn read_physical(&self, bp: &BlkPtr, gangs: &[Dva]) -> Result<Vec<u8>> {
        let psize = bp.psize as usize;
        let mut errors = Vec::new();
        for dva in bp.dvas() {
            let r = if dva.gang {
                self.read_gang(bp, dva, gangs)
            } else {
                self.read_dva(dva, psize, &|d| self.check(bp, d))
            };
            match r {
                Ok(d) => {
                    // the copy passed check() above; only count how
                    if checksum::computable(self.version, bp.checksum) {
                        self.stats.verified.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.stats.unverified.fetch_add(1, Ordering::Relaxed);
                    }
                    if !errors.is_empty() {
                        self.stats.repaired.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(d);
                }
                Err(e) => errors.push(format!("DVA {}: {e}", describe(dva))),
            }
        }
        if errors.is_empty() {
            errors.push("no DVA".into());
        }
        Err(Error::corrupt(
            "block",
            bp.dvas()
                .first()
                .map(|d| d.offset + LABEL_START)
                .unwrap_or(0),
            errors.join("; "),
        ))
    }

    /// Reads a gang block: the 512-byte header's three child pointers, whose
    /// physical bytes concatenate to this block's physical bytes. A member
    /// that is (or contains) one of the gang headers `gangs` it belongs to
    /// would make the gang tree loop.
    fn read_gang(&self, bp: &BlkPtr, dva: &Dva, gangs: &[Dva]) -> Result<Vec<u8>> {
        let at = dva.offset.saturating_add(LABEL_START);
        if gangs
            .iter()
            .any(|g| g.vdev == dva.vdev && g.offset == dva.offset)
        {
            return Err(Error::corrupt(
                "gang header",
                at,
                "is a member of itself: the gang tree loops",
            ));
        }
        if gangs.len() as u32 >= MAX_GANG_DEPTH {
            return Err(Error::corrupt(
                "gang header",
                at,
                format!("gang blocks nested more than {MAX_GANG_DEPTH} deep"),
            ));
        }
        let mut chain = gangs.to_vec();
        chain.push(*dva);
        let hdr_dva = Dva {
            gang: false,
            asize: GANG_HEADER_SIZE as u64,
            ..*dva
        };
        let birth = bp.physical_birth();
        let hdr = self.read_dva(&hdr_dva, GANG_HEADER_SIZE, &|h| {
            gang_header_ok(h, dva, birth)
        })?;
        let bo = gang_byteorder(&hdr).ok_or_else(|| {
            Error::corrupt(
                "gang header",
                dva.offset + LABEL_START,
                "no embedded checksum magic",
            )
        })?;
        let mut out = Vec::with_capacity(bp.psize as usize);
        for i in 0..3 {
            let child = BlkPtr::decode(&hdr[i * 128..i * 128 + 128], bo)?;
            if child.is_hole() || out.len() as u64 >= bp.psize {
                continue;
            }
            let data = match &child.payload {
                Payload::Embedded { .. } => self.read_block(&child)?,
                _ => self.read_physical(&child, &chain)?,
            };
            out.extend_from_slice(&data);
        }
        if (out.len() as u64) < bp.psize {
            return Err(Error::corrupt(
                "gang header",
                dva.offset + LABEL_START,
                format!("members hold {} of {} bytes", out.len(), bp.psize),
            ));
        }
        out.truncate(bp.psize as usize);
        if !self.check(bp, &out) {
            return Err(Error::corrupt(
                "gang block",
                dva.offset + LABEL_START,
                "assembled members fail the block checksum",
            ));
        }
        Ok(out)
    }

    /// Reads `size` bytes at a DVA, accepting the first copy/reconstruction
    /// for which `ok` holds.
    pub fn read_dva(&self, dva: &Dva, size: usize, ok: &dyn Fn(&[u8]) -> bool) -> Result<Vec<u8>> {
        let top = self.tops.get(&(dva.vdev as u64)).ok_or_else(|| {
            Error::corrupt(
                "DVA",
                dva.offset,
                format!(
                    "names top-level vdev {} which the config does not have",
                    dva.vdev
                ),
            )
        })?;
        self.read_vdev(&top.vdev, top.ashift, dva.offset, size, ok, 0)
    }
}

/// Byte order of a gang header from its trailing magic.
fn gang_byteorder(hdr: &[u8]) -> Option<ByteOrder> {
    let off = GANG_HEADER_SIZE - 40;
    if ByteOrder::Little.u64(hdr, off) == Some(ZEC_MAGIC) {
        Some(ByteOrder::Little)
    } else if ByteOrder::Big.u64(hdr, off) == Some(ZEC_MAGIC) {
        Some(ByteOrder::Big)
    } else {
        None
    }
}

/// Verifies a gang header's embedded SHA-256, whose verifier is (vdev,
/// offset, physical birth, 0) of the gang DVA.
fn gang_header_ok(hdr: &[u8], dva: &Dva, birth: u64) -> bool {
    let Some(bo) = gang_byteorder(hdr) else {
        return false;
    };
    let off = GANG_HEADER_SIZE - 32;
    let stored: Vec<u64> = (0..4)
        .map(|i| bo.u64(hdr, off + 8 * i).unwrap_or(0))
        .collect();
    let mut copy = hdr.to_vec();
    for (i, v) in [dva.vdev as u64, dva.offset, birth, 0].iter().enumerate() {
        copy[off + 8 * i..off + 8 * i + 8].copy_from_slice(&bo.put_u64(*v));
    }
    checksum::sha256(&copy).as_slice() == stored.as_slice()
}

impl Pool {
    /// Reads `size` bytes at `offset` of `v`'s allocatable space: a leaf's
    /// copy, any mirror child's, or a RAID-Z reconstruction, whichever
    /// first satisfies `ok`.
    fn read_vdev(
        &self,
        v: &Vdev,
        ashift: u32,
        offset: u64,
        size: usize,
        ok: &dyn Fn(&[u8]) -> bool,
        depth: u32,
    ) -> Result<Vec<u8>> {
        if depth > 8 {
            return Err(Error::corrupt(
                format!("vdev_tree level {depth}"),
                offset,
                "nested too deep",
            ));
        }
        match v {
            Vdev::Leaf { source, path, guid } => {
                let src = source.as_ref().ok_or_else(|| {
                    Error::unsupported(
                        "vdev",
                        format!("leaf {guid} ({path}) was not given as a target"),
                    )
                })?;
                let mut d = self.spare_buffer();
                leaf::read_into(src.as_ref(), offset, size, &mut d)?;
                if ok(&d) {
                    Ok(d)
                } else {
                    self.recycle(d);
                    Err(Error::corrupt(
                        "block",
                        offset + LABEL_START,
                        format!("checksum mismatch on {}", src.name()),
                    ))
                }
            }
            Vdev::Mirror { children, kind } => {
                let mut errs = Vec::new();
                for c in children {
                    match self.read_vdev(c, ashift, offset, size, ok, depth + 1) {
                        Ok(d) => return Ok(d),
                        Err(e) => errs.push(e.to_string()),
                    }
                }
                Err(Error::corrupt(
                    format!("{kind} block"),
                    offset + LABEL_START,
                    format!("no child has a good copy: {}", errs.join("; ")),
                ))
            }
            Vdev::Raidz { nparity, children } => crate::zfs::raidz::read(
                children.len(),
                *nparity,
                ashift,
                offset,
                size,
                ok,
                &|i, off, len| match children.get(i) {
                    Some(c) => self.read_vdev(c, ashift, off, len, &|_| true, depth + 1),
                    None => Err(Error::corrupt(
                        "raidz block",
                        offset + LABEL_START,
                        format!("column on child {i} of {}", children.len()),
                    )),
                },
            ),
            Vdev::Other { kind } => Err(Error::unsupported("vdev", format!("type {kind}"))),
        }
    }
}
