//! A synthetic pool writer for tests: one file vdev laid out from scratch
//! with four sealed labels (a version-28 config, no feature flags), an
//! uberblock, a MOS (object directory, DSL directories, datasets, a
//! snapshot, child-directory and snapshot-name ZAPs) and ZPL object sets
//! with legacy znodes. Every block is uncompressed, little-endian and
//! carries a correct fletcher4 checksum; blocks are allocated one after the
//! other from the start of the allocatable area.
//!
//! The model ([`Spec`], [`Fs`]) is laid out bottom-up by [`Spec::build`];
//! hostile variants change the model, or replace a dnode through a hook
//! that gets the [`Writer`] (so it can place blocks that point at each
//! other, at itself or at an ancestor, with checksums that verify).

use kzrescue::zfs::ByteOrder;
use kzrescue::zfs::checksum;
use kzrescue::zfs::eck;
use kzrescue::zfs::label::{self, LABEL_SIZE};
use kzrescue::zfs::nvlist::{NvList, NvValue};
use std::collections::BTreeMap;

/// Bytes before the allocatable area (labels 0–1 and the boot area).
pub const ALLOC_START: u64 = 4 << 20;
/// Transaction group every block is born in.
pub const TXG: u64 = 10;
/// Pool, top-level vdev and leaf guids.
pub const POOL_GUID: u64 = 0x5157_4e54_4845_5449;
/// The leaf (and only top-level vdev) guid.
pub const VDEV_GUID: u64 = 0x1eaf_0000_0000_0001;

/// `zio_checksum` numbers.
pub const CK_OFF: u8 = 2;
/// fletcher4.
pub const CK_FLETCHER4: u8 = 7;
/// `zio_compress` "off".
pub const COMP_OFF: u8 = 2;

/// DMU object types.
pub mod ot {
    pub const OBJECT_DIRECTORY: u8 = 1;
    pub const DNODE: u8 = 10;
    pub const OBJSET: u8 = 11;
    pub const DSL_DIR: u8 = 12;
    pub const DSL_DIR_CHILD_MAP: u8 = 13;
    pub const DSL_DS_SNAP_MAP: u8 = 14;
    pub const DSL_DATASET: u8 = 16;
    pub const ZNODE: u8 = 17;
    pub const PLAIN_FILE: u8 = 19;
    pub const DIRECTORY: u8 = 20;
    pub const MASTER_NODE: u8 = 21;
    pub const DELETE_QUEUE: u8 = 22;
}

/// A block pointer as its sixteen words (host order; written little-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bp(pub [u64; 16]);

impl Bp {
    /// A hole.
    pub const HOLE: Bp = Bp([0; 16]);
    /// The 128 bytes, little-endian.
    pub fn bytes(&self) -> [u8; 128] {
        let mut b = [0u8; 128];
        for (i, w) in self.0.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        b
    }
    /// Decodes 128 little-endian bytes.
    pub fn from_bytes(b: &[u8]) -> Bp {
        let mut w = [0u64; 16];
        for (i, x) in w.iter_mut().enumerate() {
            *x = u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
        }
        Bp(w)
    }
    /// Replaces the level field.
    pub fn with_level(mut self, level: u8) -> Bp {
        self.0[6] = (self.0[6] & !(0x1f << 56)) | (u64::from(level) << 56);
        self
    }
    /// Replaces the checksum function (the words are kept).
    pub fn with_checksum(mut self, ck: u8) -> Bp {
        self.0[6] = (self.0[6] & !(0xff << 40)) | (u64::from(ck) << 40);
        self
    }
    /// Sets the gang bit of DVA 0.
    pub fn with_gang(mut self) -> Bp {
        self.0[1] |= 1 << 63;
        self
    }
    /// Replaces the fill count.
    pub fn with_fill(mut self, fill: u64) -> Bp {
        self.0[11] = fill;
        self
    }
    /// Replaces lsize and psize (bytes, multiples of 512).
    pub fn with_size(mut self, lsize: u64, psize: u64) -> Bp {
        self.0[6] = (self.0[6] & !0xffff_ffff) | ((psize / 512 - 1) << 16) | (lsize / 512 - 1);
        self
    }
    /// Offset of DVA 0 in the allocatable area.
    pub fn offset(&self) -> u64 {
        (self.0[1] & !(1 << 63)) << 9
    }
    /// Fill count.
    pub fn fill(&self) -> u64 {
        self.0[11]
    }
    /// Whether this is a hole.
    pub fn is_hole(&self) -> bool {
        self.0[0] == 0 && self.0[1] == 0
    }
}

/// A block pointer for `data` stored at allocatable offset `off`.
pub fn bp_for(off: u64, data: &[u8], dtype: u8, level: u8, fill: u64) -> Bp {
    let size = data.len() as u64;
    assert!(size.is_multiple_of(512) && size > 0 && size <= 128 << 10);
    let mut w = [0u64; 16];
    w[0] = size >> 9; // vdev 0, asize
    w[1] = off >> 9;
    w[6] = (1 << 63)
        | (u64::from(level) << 56)
        | (u64::from(dtype) << 48)
        | (u64::from(CK_FLETCHER4) << 40)
        | (u64::from(COMP_OFF) << 32)
        | ((size / 512 - 1) << 16)
        | (size / 512 - 1);
    w[10] = TXG;
    w[11] = fill;
    let ck = checksum::fletcher4(data, ByteOrder::Little);
    w[12..16].copy_from_slice(&ck);
    Bp(w)
}

/// The vdev image under construction and its sequential allocator.
pub struct Writer {
    /// The whole vdev.
    pub img: Vec<u8>,
    next: u64,
}

impl Writer {
    /// An empty vdev of `size` bytes (a multiple of 256 KiB).
    pub fn new(size: usize) -> Writer {
        Writer {
            img: vec![0; size],
            next: 0,
        }
    }
    /// Reserves `len` bytes (rounded up to 512) of allocatable space.
    pub fn reserve(&mut self, len: usize) -> u64 {
        let off = self.next;
        self.next += (len as u64).div_ceil(512) * 512;
        let end = ALLOC_START + self.next;
        assert!(
            end <= self.img.len() as u64 - 2 * LABEL_SIZE,
            "synthetic vdev full"
        );
        off
    }
    /// Stores `data` at allocatable offset `off`.
    pub fn put(&mut self, off: u64, data: &[u8]) {
        let at = (ALLOC_START + off) as usize;
        self.img[at..at + data.len()].copy_from_slice(data);
    }
    /// Writes `data` (a multiple of 512 bytes) and returns its block pointer.
    pub fn write(&mut self, data: &[u8], dtype: u8, level: u8, fill: u64) -> Bp {
        let off = self.reserve(data.len());
        self.put(off, data);
        bp_for(off, data, dtype, level, fill)
    }
    /// The bytes at allocatable offset `off`.
    pub fn get(&self, off: u64, len: usize) -> &[u8] {
        let at = (ALLOC_START + off) as usize;
        &self.img[at..at + len]
    }
    /// Entry `i` of the indirect block `bp` points to.
    pub fn child(&self, bp: &Bp, i: usize) -> Bp {
        Bp::from_bytes(self.get(bp.offset() + i as u64 * 128, 128))
    }
    /// Rewrites entry `i` of the indirect block `bp` points to (in place)
    /// and returns `bp` with the checksum of the changed block.
    pub fn set_child(&mut self, bp: &Bp, i: usize, child: &Bp) -> Bp {
        let size = ((bp.0[6] >> 16 & 0xffff) + 1) as usize * 512;
        let mut blk = self.get(bp.offset(), size).to_vec();
        blk[i * 128..i * 128 + 128].copy_from_slice(&child.bytes());
        self.put(bp.offset(), &blk);
        let mut new = *bp;
        new.0[12..16].copy_from_slice(&checksum::fletcher4(&blk, ByteOrder::Little));
        new
    }

    /// Writes level-0 blocks `blocks` (None = hole) of an object and the
    /// indirect blocks above them (`2^(indblkshift-7)` pointers each) until
    /// the top fits in `nblkptr` block pointers. Returns (top pointers, nlevels).
    pub fn tree(
        &mut self,
        blocks: &[Option<Vec<u8>>],
        dtype: u8,
        indblkshift: u8,
        nblkptr: usize,
    ) -> (Vec<Bp>, u8) {
        let fill_of = |b: &[u8]| -> u64 {
            if dtype == ot::DNODE {
                b.chunks(512).filter(|d| d[0] != 0).count() as u64
            } else {
                1
            }
        };
        let mut level: Vec<Bp> = blocks
            .iter()
            .map(|b| match b {
                Some(d) => self.write(d, dtype, 0, fill_of(d)),
                None => Bp::HOLE,
            })
            .collect();
        let per = 1usize << (indblkshift - 7);
        let mut nlevels = 1u8;
        while level.len() > nblkptr {
            let mut up = Vec::new();
            for group in level.chunks(per) {
                if group.iter().all(|b| b.is_hole()) {
                    up.push(Bp::HOLE);
                    continue;
                }
                let mut ind = vec![0u8; 1 << indblkshift];
                for (i, b) in group.iter().enumerate() {
                    ind[i * 128..i * 128 + 128].copy_from_slice(&b.bytes());
                }
                let fill = group.iter().map(|b| b.fill()).sum();
                up.push(self.write(&ind, dtype, nlevels, fill));
            }
            level = up;
            nlevels += 1;
        }
        if level.is_empty() {
            level.push(Bp::HOLE);
        }
        (level, nlevels)
    }
}

/// A dnode (`dnode_phys_t`, one 512-byte slot).
#[derive(Clone, Debug)]
pub struct Dn {
    pub dtype: u8,
    pub indblkshift: u8,
    pub nlevels: u8,
    pub bonustype: u8,
    pub datablksz: u32,
    pub maxblkid: u64,
    pub used: u64,
    pub blkptrs: Vec<Bp>,
    pub bonus: Vec<u8>,
}

impl Dn {
    /// The 512-byte slot.
    pub fn encode(&self) -> [u8; 512] {
        let mut d = [0u8; 512];
        d[0] = self.dtype;
        d[1] = self.indblkshift;
        d[2] = self.nlevels;
        d[3] = self.blkptrs.len() as u8;
        d[4] = self.bonustype;
        d[5] = CK_FLETCHER4;
        d[6] = COMP_OFF;
        d[7] = 1; // DNODE_FLAG_USED_BYTES
        d[8..10].copy_from_slice(&((self.datablksz / 512) as u16).to_le_bytes());
        d[10..12].copy_from_slice(&(self.bonus.len() as u16).to_le_bytes());
        d[16..24].copy_from_slice(&self.maxblkid.to_le_bytes());
        d[24..32].copy_from_slice(&self.used.to_le_bytes());
        for (i, b) in self.blkptrs.iter().enumerate() {
            d[64 + i * 128..64 + i * 128 + 128].copy_from_slice(&b.bytes());
        }
        let at = 64 + self.blkptrs.len() * 128;
        d[at..at + self.bonus.len()].copy_from_slice(&self.bonus);
        d
    }
}

/// Writes an object whose contents are `data` in blocks of `datablksz`
/// (all-zero blocks become holes) and returns its dnode.
pub fn object(
    w: &mut Writer,
    dtype: u8,
    datablksz: u32,
    data: &[u8],
    bonustype: u8,
    bonus: Vec<u8>,
) -> Dn {
    let bs = datablksz as usize;
    let mut blocks: Vec<Option<Vec<u8>>> = data
        .chunks(bs)
        .map(|c| {
            let mut b = c.to_vec();
            b.resize(bs, 0);
            if b.iter().all(|&x| x == 0) {
                None
            } else {
                Some(b)
            }
        })
        .collect();
    if blocks.is_empty() {
        blocks.push(None);
    }
    let maxblkid = (blocks.len() - 1) as u64;
    let used = blocks.iter().flatten().count() as u64 * datablksz as u64;
    // the bonus takes the room of block pointers 2 and 3 when it needs it
    let nblkptr = ((448 - bonus.len()) / 128).clamp(1, 3);
    let (blkptrs, nlevels) = w.tree(&blocks, dtype, 14, nblkptr);
    Dn {
        dtype,
        indblkshift: 14,
        nlevels,
        bonustype,
        datablksz,
        maxblkid: if used == 0 { 0 } else { maxblkid },
        used,
        blkptrs,
        bonus,
    }
}

/// A micro ZAP of `entries` (block size: the smallest power of two ≥ 512 that holds them).
pub fn micro_zap(entries: &[(&str, u64)]) -> Vec<u8> {
    let need = 64 * (entries.len() + 1);
    let size = need.next_power_of_two().max(512);
    let mut b = vec![0u8; size];
    b[0..8].copy_from_slice(&((1u64 << 63) + 3).to_le_bytes());
    b[8..16].copy_from_slice(&0x5a17u64.to_le_bytes()); // salt
    for (i, (name, v)) in entries.iter().enumerate() {
        assert!(name.len() < 50);
        let at = 64 * (i + 1);
        b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        b[at + 14..at + 14 + name.len()].copy_from_slice(name.as_bytes());
    }
    b
}

/// A fat ZAP of `entries` in `bs`-byte blocks: the header (with an
/// embedded pointer table of one entry, zt_shift 0) and one leaf.
pub fn fat_zap(entries: &[(&str, u64)], bs: usize) -> Vec<Vec<u8>> {
    let mut hdr = vec![0u8; bs];
    let put = |b: &mut [u8], at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put(&mut hdr, 0, (1 << 63) + 1);
    put(&mut hdr, 8, 0x2F52AB2AB);
    put(&mut hdr, 32, 0); // zt_shift
    put(&mut hdr, 56, 2); // zap_freeblk
    put(&mut hdr, 64, 1); // zap_num_leafs
    put(&mut hdr, 72, entries.len() as u64);
    put(&mut hdr, 80, 0x5a17);
    put(&mut hdr, bs / 2, 1); // pointer table entry 0 → leaf block 1
    let mut leaf = vec![0u8; bs];
    put(&mut leaf, 0, 1 << 63);
    leaf[24..28].copy_from_slice(&0x2AB1EAFu32.to_le_bytes());
    leaf[30..32].copy_from_slice(&(entries.len() as u16).to_le_bytes());
    let hash_ents = bs / 32;
    let chunk0 = 48 + 2 * hash_ents;
    let mut next = 0usize;
    let mut chunk = |leaf: &mut Vec<u8>, bytes: &[u8]| -> u16 {
        let i = next;
        next += 1;
        let at = chunk0 + 24 * i;
        leaf[at..at + 24].copy_from_slice(bytes);
        i as u16
    };
    for (name, v) in entries {
        let mut nm = name.as_bytes().to_vec();
        nm.push(0);
        let e = chunk(&mut leaf, &[0; 24]);
        // name: array chunks, 21 bytes each
        let mut name_first = None;
        let mut prev: Option<u16> = None;
        for part in nm.chunks(21) {
            let mut c = [0u8; 24];
            c[0] = 251;
            c[1..1 + part.len()].copy_from_slice(part);
            c[22..24].copy_from_slice(&0xffffu16.to_le_bytes());
            let idx = chunk(&mut leaf, &c);
            if let Some(p) = prev {
                let at = chunk0 + 24 * p as usize + 22;
                leaf[at..at + 2].copy_from_slice(&idx.to_le_bytes());
            }
            name_first.get_or_insert(idx);
            prev = Some(idx);
        }
        let mut c = [0u8; 24];
        c[0] = 251;
        c[1..9].copy_from_slice(&v.to_be_bytes());
        c[22..24].copy_from_slice(&0xffffu16.to_le_bytes());
        let val = chunk(&mut leaf, &c);
        let at = chunk0 + 24 * e as usize;
        leaf[at] = 252;
        leaf[at + 1] = 8;
        leaf[at + 2..at + 4].copy_from_slice(&0xffffu16.to_le_bytes());
        leaf[at + 4..at + 6].copy_from_slice(&name_first.unwrap().to_le_bytes());
        leaf[at + 6..at + 8].copy_from_slice(&(nm.len() as u16).to_le_bytes());
        leaf[at + 8..at + 10].copy_from_slice(&val.to_le_bytes());
        leaf[at + 10..at + 12].copy_from_slice(&1u16.to_le_bytes());
    }
    vec![hdr, leaf]
}

/// A legacy `znode_phys_t` (264 bytes) followed by `tail` (a symlink target).
pub fn znode(mode: u64, size: u64, parent: u64, links: u64, tail: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 264];
    let put = |b: &mut [u8], at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    for t in [0, 16, 32, 48] {
        put(&mut b, t, 1_700_000_000);
    }
    put(&mut b, 64, TXG);
    put(&mut b, 72, mode);
    put(&mut b, 80, size);
    put(&mut b, 88, parent);
    put(&mut b, 96, links);
    put(&mut b, 128, 1000);
    put(&mut b, 136, 1000);
    b.extend_from_slice(tail);
    b
}

/// One ZPL object of the model.
#[derive(Clone, Debug)]
pub enum Node {
    /// A directory: its entries (name → object).
    Dir(Vec<(String, u64)>),
    /// A directory stored as a fat ZAP.
    FatDir(Vec<(String, u64)>),
    /// A regular file: its bytes and data block size.
    File(Vec<u8>, u32),
    /// A symbolic link.
    Symlink(String),
}

/// A ZPL file system: objects by number (1 and 2 are made by the writer:
/// the master node and the delete queue); the root directory is object 3.
#[derive(Clone, Debug, Default)]
pub struct Fs {
    pub objects: BTreeMap<u64, Node>,
}

/// The root directory's object number.
pub const ROOT: u64 = 3;

impl Fs {
    /// The positive-control file system:
    /// `/hello.txt`, `/dir/`, `/dir/big.bin` (20 KiB in 1 KiB blocks: an
    /// indirect block), `/dir/sub/`, `/dir/sub/deep.txt`, `/link -> dir/big.bin`,
    /// `/fat/` (a fat-ZAP directory with `a`, `b`).
    pub fn standard() -> Fs {
        let mut o = BTreeMap::new();
        o.insert(
            ROOT,
            Node::Dir(vec![
                ("hello.txt".into(), 4),
                ("dir".into(), 5),
                ("link".into(), 9),
                ("fat".into(), 10),
            ]),
        );
        o.insert(4, Node::File(b"hello, synthetic pool\n".to_vec(), 512));
        o.insert(5, Node::Dir(vec![("big.bin".into(), 6), ("sub".into(), 7)]));
        o.insert(6, Node::File(big_bytes(), 1024));
        o.insert(7, Node::Dir(vec![("deep.txt".into(), 8)]));
        o.insert(8, Node::File(b"deep\n".to_vec(), 512));
        o.insert(9, Node::Symlink("dir/big.bin".into()));
        o.insert(10, Node::FatDir(vec![("a".into(), 11), ("b".into(), 12)]));
        o.insert(11, Node::File(b"a\n".to_vec(), 512));
        o.insert(12, Node::File(b"b\n".to_vec(), 512));
        Fs { objects: o }
    }
    /// A small file system: `/readme` only.
    pub fn small() -> Fs {
        let mut o = BTreeMap::new();
        o.insert(ROOT, Node::Dir(vec![("readme".into(), 4)]));
        o.insert(4, Node::File(b"child dataset\n".to_vec(), 512));
        Fs { objects: o }
    }
}

/// `/dir/big.bin`'s contents: 20 KiB of a counting pattern.
pub fn big_bytes() -> Vec<u8> {
    (0..20480u32).map(|i| (i * 7 + i / 1024) as u8).collect()
}

/// Entry value of a directory: file type in the top four bits.
fn dirent(obj: u64, node: Option<&Node>) -> u64 {
    let t = match node {
        Some(Node::Dir(_)) | Some(Node::FatDir(_)) => 4,
        Some(Node::Symlink(_)) => 10,
        _ => 8,
    };
    (t << 60) | obj
}

/// A hook that may replace an object's dnode: (writer, object, dnode);
/// called for every object of a file system, the master node (1) and the
/// delete queue (2) included.
pub type Hook<'a> = &'a mut dyn FnMut(&mut Writer, u64, &mut Dn);

/// Writes the dnode array of an object set and its objset block; returns its block pointer.
pub fn objset(w: &mut Writer, os_type: u64, dnodes: &BTreeMap<u64, Dn>) -> Bp {
    let max = dnodes.keys().max().copied().unwrap_or(0);
    let per = 32u64; // 16 KiB dnode blocks
    let nblocks = (max / per + 1) as usize;
    let mut blocks = vec![vec![0u8; 16 << 10]; nblocks];
    for (obj, dn) in dnodes {
        let b = &mut blocks[(obj / per) as usize];
        let at = ((obj % per) * 512) as usize;
        b[at..at + 512].copy_from_slice(&dn.encode());
    }
    let blocks: Vec<Option<Vec<u8>>> = blocks
        .into_iter()
        .map(|b| {
            if b.iter().all(|&x| x == 0) {
                None
            } else {
                Some(b)
            }
        })
        .collect();
    let (blkptrs, nlevels) = w.tree(&blocks, ot::DNODE, 14, 3);
    let meta = Dn {
        dtype: ot::DNODE,
        indblkshift: 14,
        nlevels,
        bonustype: 0,
        datablksz: 16 << 10,
        maxblkid: nblocks as u64 - 1,
        used: 0,
        blkptrs,
        bonus: Vec::new(),
    };
    let mut os = vec![0u8; 1024];
    os[..512].copy_from_slice(&meta.encode());
    os[704..712].copy_from_slice(&os_type.to_le_bytes());
    let fill = dnodes.len() as u64;
    w.write(&os, ot::OBJSET, 0, fill)
}

/// Lays out a ZPL file system; returns its objset block pointer.
pub fn write_fs(w: &mut Writer, fs: &Fs, hook: Hook) -> Bp {
    let mut dnodes = BTreeMap::new();
    let master = micro_zap(&[("VERSION", 4), ("ROOT", ROOT), ("DELETE_QUEUE", 2)]);
    let mut dn = object(w, ot::MASTER_NODE, master.len() as u32, &master, 0, vec![]);
    hook(w, 1, &mut dn);
    dnodes.insert(1, dn);
    let dq = micro_zap(&[]);
    let mut dn = object(w, ot::DELETE_QUEUE, 512, &dq, 0, vec![]);
    hook(w, 2, &mut dn);
    dnodes.insert(2, dn);
    // parents, for the znodes
    let mut parent: BTreeMap<u64, u64> = BTreeMap::new();
    for (obj, n) in &fs.objects {
        if let Node::Dir(e) | Node::FatDir(e) = n {
            for (_, child) in e {
                parent.entry(*child).or_insert(*obj);
            }
        }
    }
    for (obj, n) in &fs.objects {
        let par = parent.get(obj).copied().unwrap_or(ROOT);
        let mut dn = match n {
            Node::Dir(e) => {
                let ents: Vec<(&str, u64)> = e
                    .iter()
                    .map(|(name, o)| (name.as_str(), dirent(*o, fs.objects.get(o))))
                    .collect();
                let z = micro_zap(&ents);
                let subdirs = e
                    .iter()
                    .filter(|(_, o)| {
                        matches!(fs.objects.get(o), Some(Node::Dir(_) | Node::FatDir(_)))
                    })
                    .count() as u64;
                let bonus = znode(0o40755, e.len() as u64 + 2, par, 2 + subdirs, &[]);
                object(w, ot::DIRECTORY, z.len() as u32, &z, ot::ZNODE, bonus)
            }
            Node::FatDir(e) => {
                let ents: Vec<(&str, u64)> = e
                    .iter()
                    .map(|(name, o)| (name.as_str(), dirent(*o, fs.objects.get(o))))
                    .collect();
                let data = fat_zap(&ents, 4096).concat();
                let bonus = znode(0o40755, e.len() as u64 + 2, par, 2, &[]);
                object(w, ot::DIRECTORY, 4096, &data, ot::ZNODE, bonus)
            }
            Node::File(data, bs) => {
                let bonus = znode(0o100644, data.len() as u64, par, 1, &[]);
                object(w, ot::PLAIN_FILE, *bs, data, ot::ZNODE, bonus)
            }
            Node::Symlink(t) => {
                let bonus = znode(0o120777, t.len() as u64, par, 1, t.as_bytes());
                object(w, ot::PLAIN_FILE, 512, &[], ot::ZNODE, bonus)
            }
        };
        hook(w, *obj, &mut dn);
        dnodes.insert(*obj, dn);
    }
    objset(w, 2, &dnodes)
}

/// A `dsl_dir_phys_t` bonus (256 bytes).
pub fn dsl_dir(head: u64, parent: u64, child_map: u64) -> Vec<u8> {
    let mut b = vec![0u8; 256];
    let put = |b: &mut [u8], at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put(&mut b, 0, 1_700_000_000);
    put(&mut b, 8, head);
    put(&mut b, 16, parent);
    put(&mut b, 32, child_map);
    put(&mut b, 40, 1 << 20);
    b
}

/// A `dsl_dataset_phys_t` bonus (320 bytes).
pub fn dsl_dataset(
    dir: u64,
    prev_snap: u64,
    next_snap: u64,
    snapnames: u64,
    bp: &Bp,
    guid: u64,
) -> Vec<u8> {
    let mut b = vec![0u8; 320];
    let put = |b: &mut [u8], at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put(&mut b, 0, dir);
    put(&mut b, 8, prev_snap);
    put(&mut b, 24, next_snap);
    put(&mut b, 32, snapnames);
    put(&mut b, 48, 1_700_000_000);
    put(&mut b, 56, TXG - 5);
    put(&mut b, 72, 64 << 10);
    put(&mut b, 112, guid);
    b[128..256].copy_from_slice(&bp.bytes());
    b
}

/// A MOS object with no data (a bonus-only dnode).
pub fn bonus_only(dtype: u8, bonus: Vec<u8>) -> Dn {
    Dn {
        dtype,
        indblkshift: 14,
        nlevels: 1,
        bonustype: dtype,
        datablksz: 512,
        maxblkid: 0,
        used: 0,
        blkptrs: vec![Bp::HOLE],
        bonus,
    }
}

/// The whole pool model.
pub struct Spec {
    /// Pool name.
    pub name: String,
    /// The head file system (`NAME`).
    pub fs: Fs,
    /// The child file system (`NAME/home`).
    pub home: Fs,
    /// Snapshots of the head: name → MOS object (made with the head's objset).
    pub snapshots: Vec<(String, u64)>,
    /// Vdev size in bytes.
    pub size: usize,
}

/// MOS object numbers of the standard layout.
pub mod mos {
    pub const OBJDIR: u64 = 1;
    pub const ROOT_DIR: u64 = 2;
    pub const HEAD_DS: u64 = 3;
    pub const ROOT_CHILD_MAP: u64 = 4;
    pub const HEAD_SNAPNAMES: u64 = 5;
    pub const HOME_DIR: u64 = 6;
    pub const HOME_DS: u64 = 7;
    pub const HOME_CHILD_MAP: u64 = 8;
    pub const HOME_SNAPNAMES: u64 = 9;
    pub const SNAP_DS: u64 = 10;
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            name: "synth".into(),
            fs: Fs::standard(),
            home: Fs::small(),
            snapshots: vec![("s1".into(), mos::SNAP_DS)],
            size: 8 << 20,
        }
    }
}

/// Hooks applied while laying out: (writer, object, dnode) for each ZPL
/// object of the head file system and for each MOS object.
#[derive(Default)]
pub struct Hooks<'a> {
    pub fs: Option<Hook<'a>>,
    pub mos: Option<Hook<'a>>,
}

impl Spec {
    /// Lays the pool out and returns the vdev image.
    pub fn build(&self) -> Vec<u8> {
        self.build_with(Hooks::default())
    }

    /// Lays the pool out, letting `hooks` change dnodes as they are made.
    pub fn build_with(&self, mut hooks: Hooks) -> Vec<u8> {
        let mut w = Writer::new(self.size);
        let mut nop = |_: &mut Writer, _: u64, _: &mut Dn| {};
        let head_os = write_fs(&mut w, &self.fs, hooks.fs.take().unwrap_or(&mut nop));
        let home_os = write_fs(&mut w, &self.home, &mut nop);
        let mut m: BTreeMap<u64, Dn> = BTreeMap::new();
        let objdir = micro_zap(&[("root_dataset", mos::ROOT_DIR)]);
        m.insert(
            mos::OBJDIR,
            object(&mut w, ot::OBJECT_DIRECTORY, 512, &objdir, 0, vec![]),
        );
        m.insert(
            mos::ROOT_DIR,
            bonus_only(ot::DSL_DIR, dsl_dir(mos::HEAD_DS, 0, mos::ROOT_CHILD_MAP)),
        );
        let snap_prev = self.snapshots.first().map(|s| s.1).unwrap_or(0);
        m.insert(
            mos::HEAD_DS,
            bonus_only(
                ot::DSL_DATASET,
                dsl_dataset(
                    mos::ROOT_DIR,
                    snap_prev,
                    0,
                    mos::HEAD_SNAPNAMES,
                    &head_os,
                    0x4ead,
                ),
            ),
        );
        let kids = micro_zap(&[("home", mos::HOME_DIR)]);
        m.insert(
            mos::ROOT_CHILD_MAP,
            object(&mut w, ot::DSL_DIR_CHILD_MAP, 512, &kids, 0, vec![]),
        );
        let snaps: Vec<(&str, u64)> = self
            .snapshots
            .iter()
            .map(|(n, o)| (n.as_str(), *o))
            .collect();
        let sz = micro_zap(&snaps);
        m.insert(
            mos::HEAD_SNAPNAMES,
            object(&mut w, ot::DSL_DS_SNAP_MAP, sz.len() as u32, &sz, 0, vec![]),
        );
        m.insert(
            mos::HOME_DIR,
            bonus_only(
                ot::DSL_DIR,
                dsl_dir(mos::HOME_DS, mos::ROOT_DIR, mos::HOME_CHILD_MAP),
            ),
        );
        m.insert(
            mos::HOME_DS,
            bonus_only(
                ot::DSL_DATASET,
                dsl_dataset(mos::HOME_DIR, 0, 0, mos::HOME_SNAPNAMES, &home_os, 0x40e),
            ),
        );
        let empty = micro_zap(&[]);
        m.insert(
            mos::HOME_CHILD_MAP,
            object(&mut w, ot::DSL_DIR_CHILD_MAP, 512, &empty, 0, vec![]),
        );
        m.insert(
            mos::HOME_SNAPNAMES,
            object(&mut w, ot::DSL_DS_SNAP_MAP, 512, &empty, 0, vec![]),
        );
        for (_, obj) in &self.snapshots {
            m.entry(*obj).or_insert_with(|| {
                bonus_only(
                    ot::DSL_DATASET,
                    dsl_dataset(mos::ROOT_DIR, 0, mos::HEAD_DS, 0, &head_os, 0x5a + obj),
                )
            });
        }
        if let Some(h) = hooks.mos.as_mut() {
            for (obj, dn) in m.iter_mut() {
                h(&mut w, *obj, dn);
            }
        }
        let rootbp = objset(&mut w, 1, &m);
        self.seal(&mut w.img, &rootbp);
        w.img
    }

    /// Writes the four labels (config and uberblock ring).
    fn seal(&self, img: &mut [u8], rootbp: &Bp) {
        let size = img.len() as u64;
        let asize = (size - ALLOC_START - 2 * LABEL_SIZE) & !((1 << 20) - 1);
        let mut tree = NvList::new();
        tree.set("type", NvValue::String("file".into()));
        tree.set("id", NvValue::UInt64(0));
        tree.set("guid", NvValue::UInt64(VDEV_GUID));
        tree.set(
            "path",
            NvValue::String(format!("/synthetic/{}.img", self.name)),
        );
        tree.set("metaslab_array", NvValue::UInt64(0));
        tree.set("metaslab_shift", NvValue::UInt64(20));
        tree.set("ashift", NvValue::UInt64(9));
        tree.set("asize", NvValue::UInt64(asize));
        tree.set("is_log", NvValue::UInt64(0));
        tree.set("create_txg", NvValue::UInt64(4));
        let mut c = NvList::new();
        c.set("version", NvValue::UInt64(28));
        c.set("name", NvValue::String(self.name.clone()));
        c.set("state", NvValue::UInt64(1));
        c.set("txg", NvValue::UInt64(TXG));
        c.set("pool_guid", NvValue::UInt64(POOL_GUID));
        c.set("hostid", NvValue::UInt64(0));
        c.set("hostname", NvValue::String("synth".into()));
        c.set("top_guid", NvValue::UInt64(VDEV_GUID));
        c.set("guid", NvValue::UInt64(VDEV_GUID));
        c.set("vdev_children", NvValue::UInt64(1));
        c.set("vdev_tree", NvValue::NvList(tree));
        for off in label::label_offsets(size) {
            let phys = label::encode_vdev_phys([1, 1, 0, 0], &c, ByteOrder::Little, off).unwrap();
            let at = (off + label::VDEV_PHYS_OFFSET) as usize;
            img[at..at + phys.len()].copy_from_slice(&phys);
            // uberblock in slot txg mod 128 of the 1 KiB-slot ring
            let slot_off = off + 128 * 1024 + (TXG % 128) * 1024;
            let mut ub = vec![0u8; 1024];
            let words = [
                0x00ba_b10c,
                28,
                TXG,
                POOL_GUID.wrapping_add(VDEV_GUID),
                1_700_000_000,
            ];
            for (i, v) in words.iter().enumerate() {
                ub[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
            }
            ub[40..168].copy_from_slice(&rootbp.bytes());
            eck::seal(&mut ub, slot_off, ByteOrder::Little);
            img[slot_off as usize..slot_off as usize + 1024].copy_from_slice(&ub);
        }
    }
}

/// Writes `img` to `dir/name` and returns the path as text. With
/// `SYNTHPOOL_KEEP=DIR` in the environment, a copy is also left in DIR (to
/// look at a failing case with the CLI or zdb).
pub fn save(dir: &std::path::Path, name: &str, img: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, img).unwrap();
    if let Some(keep) = std::env::var_os("SYNTHPOOL_KEEP") {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::fs::write(
            std::path::Path::new(&keep).join(format!("{n:02}-{name}")),
            img,
        )
        .unwrap();
    }
    p.to_string_lossy().into_owned()
}

/// The standard pool ([`Spec::default`]) with ZPL object `obj` of the head
/// file system changed by `f`.
pub fn with_fs_object(obj: u64, mut f: impl FnMut(&mut Writer, &mut Dn)) -> Vec<u8> {
    let mut hook = |w: &mut Writer, o: u64, dn: &mut Dn| {
        if o == obj {
            f(w, dn)
        }
    };
    Spec::default().build_with(Hooks {
        fs: Some(&mut hook),
        mos: None,
    })
}
