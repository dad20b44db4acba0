//! The ZFS POSIX layer: files, directories and their attributes inside a
//! file-system object set.
//!
//! Object 1 is the *master node*, a ZAP naming the root directory (`ROOT`),
//! the ZPL version and, from ZPL 5 on, the system-attribute master object
//! (`SA_ATTRS`). A file's attributes (mode, size, owner, times, links, …)
//! are either a legacy `znode_phys_t` in the dnode's bonus buffer (ZPL ≤ 4)
//! or *system attributes*: a header naming a layout (a list of attribute
//! numbers from the SA registry) followed by the packed values, in the
//! bonus and, if they do not fit, a spill block. Directories are ZAPs whose
//! values carry the object number in the low 48 bits and the file type in
//! the top 4. See `formats/zpl.md`.

use crate::error::{Error, Result};
use crate::zfs::dnode::{Dnode, otype};
use crate::zfs::objset::{ObjSet, ObjsetType};
use crate::zfs::pool::Pool;
use crate::zfs::sa::SaTables;
use crate::zfs::zap;
use std::collections::HashMap;
use std::sync::Arc;

/// Master node object number.
pub const MASTER_NODE_OBJ: u64 = 1;
/// Size of the legacy znode.
const ZNODE_PHYS_SIZE: usize = 264;
/// Bytes of zeros handed to a sink at a time for a hole.
const ZERO_RUN: u64 = 1 << 20;
/// Longest symlink target we accept.
const MAX_SYMLINK: u64 = 1 << 16;

/// File type from the mode's `S_IFMT` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Character device.
    Chardev,
    /// Block device.
    Blockdev,
    /// FIFO.
    Fifo,
    /// Socket.
    Socket,
    /// Solaris door.
    Door,
    /// Solaris event port.
    Port,
    /// Anything else.
    Unknown,
}

impl FileType {
    /// From a mode word.
    pub fn from_mode(mode: u64) -> FileType {
        match mode & 0o170000 {
            0o100000 => FileType::File,
            0o040000 => FileType::Dir,
            0o120000 => FileType::Symlink,
            0o020000 => FileType::Chardev,
            0o060000 => FileType::Blockdev,
            0o010000 => FileType::Fifo,
            0o140000 => FileType::Socket,
            0o150000 => FileType::Door,
            0o160000 => FileType::Port,
            _ => FileType::Unknown,
        }
    }
    /// `ls -l`'s type letter.
    pub fn letter(&self) -> char {
        match self {
            FileType::File => '-',
            FileType::Dir => 'd',
            FileType::Symlink => 'l',
            FileType::Chardev => 'c',
            FileType::Blockdev => 'b',
            FileType::Fifo => 'p',
            FileType::Socket => 's',
            FileType::Door => 'D',
            FileType::Port => 'P',
            FileType::Unknown => '?',
        }
    }
}

/// A time stamp as ZFS stores it: two 64-bit words, seconds since the
/// epoch read as a *signed* number (a file may predate 1970) and
/// nanoseconds. A hostile disk may put anything in either word: the
/// conversions below report what is out of range instead of panicking.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Time {
    /// Seconds since 1970-01-01 00:00:00 UTC (negative: before).
    pub sec: i64,
    /// Nanoseconds, as stored (valid below 10^9).
    pub nsec: u64,
}

impl Time {
    /// Decodes the two stored words.
    pub fn from_words(sec: u64, nsec: u64) -> Time {
        Time {
            sec: sec as i64,
            nsec,
        }
    }

    /// Whether the nanoseconds are below one second.
    pub fn is_valid(&self) -> bool {
        self.nsec < 1_000_000_000
    }

    /// Nanoseconds since the epoch as one signed 128-bit number (exact for
    /// every stored value).
    pub fn as_nanos(&self) -> i128 {
        i128::from(self.sec) * 1_000_000_000 + i128::from(self.nsec)
    }

    /// The time as a [`std::time::SystemTime`], or why it cannot be one
    /// (nanoseconds ≥ 10^9, or a value the platform cannot represent).
    pub fn to_system_time(&self) -> std::result::Result<std::time::SystemTime, String> {
        use std::time::{Duration, SystemTime};
        if !self.is_valid() {
            return Err(format!(
                "time {}.{} has {} nanoseconds (not below 10^9)",
                self.sec, self.nsec, self.nsec
            ));
        }
        let ns = Duration::from_nanos(self.nsec);
        let t = if self.sec >= 0 {
            SystemTime::UNIX_EPOCH
                .checked_add(Duration::from_secs(self.sec as u64))
                .and_then(|t| t.checked_add(ns))
        } else {
            SystemTime::UNIX_EPOCH
                .checked_sub(Duration::from_secs(self.sec.unsigned_abs()))
                .and_then(|t| t.checked_add(ns))
        };
        t.ok_or_else(|| format!("time {} s is out of this system's range", self.sec))
    }
}

impl std::fmt::Display for Time {
    /// `SECONDS.NNNNNNNNN`, seconds signed (as `stat -c %.9Y` prints).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:09}", self.sec, self.nsec)
    }
}

/// A file's attributes.
#[derive(Clone, Debug, Default)]
pub struct Znode {
    /// Object number.
    pub object: u64,
    /// Mode (type and permission bits).
    pub mode: u64,
    /// Size in bytes.
    pub size: u64,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Link count.
    pub links: u64,
    /// Parent directory object.
    pub parent: u64,
    /// Access time.
    pub atime: Time,
    /// Modification time.
    pub mtime: Time,
    /// Change time.
    pub ctime: Time,
    /// Creation time.
    pub crtime: Time,
    /// Device number (device nodes).
    pub rdev: u64,
    /// `ZFS_*` flags.
    pub flags: u64,
    /// Extended-attribute directory object (0 = none).
    pub xattr: u64,
    /// Generation.
    pub gen_: u64,
    /// Symlink target when stored among the attributes.
    pub symlink: Option<Vec<u8>>,
}

impl Znode {
    /// (major, minor) of a device node. Solaris and OpenZFS store the
    /// 64-bit form (major in the high 32 bits); zfs-fuse stores the Linux
    /// `dev_t` (12-bit major at bits 8–19, minor in bits 0–7 and 20–31).
    /// A value below 2^32 is read as the Linux form.
    pub fn device(&self) -> (u64, u64) {
        let r = self.rdev;
        if r >> 32 != 0 {
            (r >> 32, r & 0xffff_ffff)
        } else {
            ((r >> 8) & 0xfff, (r & 0xff) | ((r >> 12) & 0xfff00))
        }
    }

    /// The file type.
    pub fn file_type(&self) -> FileType {
        FileType::from_mode(self.mode)
    }
}

/// A directory entry.
#[derive(Clone, Debug)]
pub struct DirEntry {
    /// Name bytes.
    pub name: Vec<u8>,
    /// Object number.
    pub object: u64,
    /// Type from the entry (may be 0 on old pools).
    pub dtype: u8,
}

/// An opened ZPL file system (a head dataset or a snapshot).
pub struct Zpl {
    /// The pool.
    pub pool: Arc<Pool>,
    /// The object set.
    pub os: ObjSet,
    /// ZPL version.
    pub version: u64,
    /// Root directory object.
    pub root: u64,
    /// What is wrong but did not stop the file system from opening (an
    /// impossible version, a root that is not a directory): each to be shown
    /// as a warning, and the command to end with "problems found".
    pub warnings: Vec<Error>,
    sa: Option<SaTables>,
}

/// Highest ZPL version a master node may plausibly hold: OpenZFS defines
/// 1–5, Oracle Solaris has added a few since (their numbers are not
/// public); a larger value is not a version at all.
pub const MAX_PLAUSIBLE_ZPL_VERSION: u64 = 63;

/// An error about ZPL object `dn`, at its dnode's place on disk.
fn zpl_err(dn: &Dnode, detail: impl std::fmt::Display) -> Error {
    dn.error(format!("ZPL object {}", dn.object), detail)
}

impl Zpl {
    /// Opens the file system in object set `os`.
    pub fn open(pool: Arc<Pool>, os: ObjSet) -> Result<Zpl> {
        if os.os_type != ObjsetType::Zfs {
            return Err(Error::unsupported(
                "dataset",
                format!("object set type {} is not a file system", os.os_type.name()),
            ));
        }
        let master = os.dnode(&pool, MASTER_NODE_OBJ)?;
        let entries = zap::entries(&pool, &master)?;
        let get = |n: &str| {
            entries
                .iter()
                .find(|e| e.name == n.as_bytes())
                .and_then(|e| e.as_u64())
        };
        let root = get("ROOT").ok_or_else(|| zpl_err(&master, "master node has no ROOT"))?;
        let version = get("VERSION").unwrap_or(1);
        let sa = match get("SA_ATTRS") {
            Some(obj) if obj != 0 => Some(load_sa(&pool, &os, obj)?),
            _ => None,
        };
        let mut warnings = Vec::new();
        if version == 0 || version > MAX_PLAUSIBLE_ZPL_VERSION {
            warnings.push(master.error(
                "ZPL master node (object 1) VERSION",
                format!(
                    "{version} is not a ZPL version (OpenZFS defines 1–5; anything above \
                     {MAX_PLAUSIBLE_ZPL_VERSION} is implausible): read as the layout its bonus buffers show"
                ),
            ));
        }
        let mut fs = Zpl {
            pool,
            os,
            version,
            root,
            warnings,
            sa,
        };
        // an unreadable root is reported by the command that reads it, once
        if let Ok((dn, z)) = fs.znode(root) {
            if z.file_type() != FileType::Dir {
                fs.warnings.push(zpl_err(
                        &dn,
                        format!(
                            "the root directory (master node ROOT) is a {:?} (mode {:#o}), not a directory",
                            z.file_type(),
                            z.mode
                        ),
                    ));
            } else if dn.dtype != otype::DIRECTORY_CONTENTS {
                fs.warnings.push(zpl_err(
                        &dn,
                        format!(
                            "the root directory (master node ROOT) has dnode type {}, not {} (directory contents)",
                            dn.dtype,
                            otype::DIRECTORY_CONTENTS
                        ),
                    ));
            }
        }
        Ok(fs)
    }

    /// The system-attribute registry and layouts (ZPL 5 and later).
    pub fn sa_tables(&self) -> Option<&SaTables> {
        self.sa.as_ref()
    }

    /// Reads object `obj`'s dnode.
    pub fn dnode(&self, obj: u64) -> Result<Dnode> {
        self.os.dnode(&self.pool, obj)
    }

    /// Reads the attributes of object `obj`.
    pub fn znode(&self, obj: u64) -> Result<(Dnode, Znode)> {
        let dn = self.dnode(obj)?;
        if dn.is_free() {
            return Err(zpl_err(&dn, "is a free dnode"));
        }
        let z = match dn.bonustype {
            otype::ZNODE => legacy_znode(&dn)?,
            otype::SA => self.sa_znode(&dn)?,
            t => {
                return Err(zpl_err(
                    &dn,
                    format!("bonus type {t} is neither a znode nor SA"),
                ));
            }
        };
        Ok((dn, z))
    }

    /// The attributes of an object whose dnode the caller already holds
    /// (read from a dnode block it walked itself).
    pub fn znode_of(&self, dn: &Dnode) -> Result<Znode> {
        if dn.is_free() {
            return Err(zpl_err(dn, "is a free dnode"));
        }
        match dn.bonustype {
            otype::ZNODE => legacy_znode(dn),
            otype::SA => self.sa_znode(dn),
            t => Err(zpl_err(
                dn,
                format!("bonus type {t} is neither a znode nor SA"),
            )),
        }
    }

    fn sa_znode(&self, dn: &Dnode) -> Result<Znode> {
        let tables = self
            .sa
            .as_ref()
            .ok_or_else(|| zpl_err(dn, "SA bonus but no SA_ATTRS in the master node"))?;
        let mut vals: HashMap<String, Vec<u8>> = HashMap::new();
        let mut bo = dn.byteorder;
        // an SA error names this object, at its place in the bonus or spill
        let sa_err = |e: Error, at: u64, prefix: &str| {
            Error::corrupt(
                format!("ZPL object {}", dn.object),
                at + e.offset().unwrap_or(0),
                format!("{prefix}{}", e.detail().unwrap_or_default()),
            )
        };
        if !dn.bonus.is_empty() {
            bo = tables
                .parse(&dn.bonus, &mut vals)
                .map_err(|e| sa_err(e, dn.bonus_phys(), ""))?;
        }
        if let Some(spill) = dn.read_spill(&self.pool)? {
            let at = dn.spill.as_ref().and_then(|b| b.phys_offset());
            tables
                .parse(&spill, &mut vals)
                .map_err(|e| sa_err(e, at.unwrap_or(dn.phys), "spill: "))?;
        }
        let u = |n: &str| vals.get(n).and_then(|v| bo.u64(v, 0)).unwrap_or(0);
        let t = |n: &str| {
            vals.get(n)
                .map(|v| Time::from_words(bo.u64(v, 0).unwrap_or(0), bo.u64(v, 8).unwrap_or(0)))
                .unwrap_or_default()
        };
        Ok(Znode {
            object: dn.object,
            mode: u("ZPL_MODE"),
            size: u("ZPL_SIZE"),
            uid: u("ZPL_UID"),
            gid: u("ZPL_GID"),
            links: u("ZPL_LINKS"),
            parent: u("ZPL_PARENT"),
            atime: t("ZPL_ATIME"),
            mtime: t("ZPL_MTIME"),
            ctime: t("ZPL_CTIME"),
            crtime: t("ZPL_CRTIME"),
            rdev: u("ZPL_RDEV"),
            flags: u("ZPL_FLAGS"),
            xattr: u("ZPL_XATTR"),
            gen_: u("ZPL_GEN"),
            symlink: vals.get("ZPL_SYMLINK").cloned(),
        })
    }

    /// Lists a directory.
    pub fn readdir(&self, dir: &Dnode) -> Result<Vec<DirEntry>> {
        let mut out: Vec<DirEntry> = zap::entries(&self.pool, dir)?
            .into_iter()
            .map(|e| {
                let v = e.as_u64().unwrap_or(0);
                DirEntry {
                    name: e.name,
                    object: v & ((1u64 << 48) - 1),
                    dtype: (v >> 60) as u8,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Resolves an absolute path (no symlinks followed) to an object.
    pub fn lookup(&self, path: &str) -> Result<u64> {
        let mut obj = self.root;
        for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
            let (dn, z) = self.znode(obj)?;
            if comp == ".." {
                obj = if obj == self.root { obj } else { z.parent };
                continue;
            }
            if z.file_type() != FileType::Dir {
                return Err(Error::Usage(format!(
                    "{path}: looking up {comp:?}: object {obj} (dnode at byte offset {:#x}) \
                     is a {:?}, not a directory",
                    dn.phys,
                    z.file_type()
                )));
            }
            let e = zap::lookup(&self.pool, &dn, comp)?.ok_or_else(|| {
                Error::Usage(format!(
                    "{path}: no such file or directory ({comp} in directory object {obj}, \
                     dnode at byte offset {:#x})",
                    dn.phys
                ))
            })?;
            obj = e.as_u64().unwrap_or(0) & ((1u64 << 48) - 1);
        }
        Ok(obj)
    }

    /// The target of a symlink.
    pub fn readlink(&self, dn: &Dnode, z: &Znode) -> Result<Vec<u8>> {
        if let Some(t) = &z.symlink {
            return Ok(t.clone());
        }
        if z.size > MAX_SYMLINK {
            return Err(zpl_err(dn, format!("symlink of {} bytes", z.size)));
        }
        // legacy: inline after the znode in the bonus, else in block 0
        if dn.bonustype == otype::ZNODE && ZNODE_PHYS_SIZE + z.size as usize <= dn.bonus.len() {
            return Ok(dn.bonus[ZNODE_PHYS_SIZE..ZNODE_PHYS_SIZE + z.size as usize].to_vec());
        }
        dn.read(&self.pool, 0, z.size as usize)
    }

    /// Streams a regular file's contents to `sink` block by block (holes
    /// as zeros), `size` bytes in all.
    pub fn read_file(
        &self,
        dn: &Dnode,
        size: u64,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<()> {
        let zeros = vec![0u8; (dn.datablksz.max(ZERO_RUN) as usize).min(size as usize)];
        let mut pos = 0u64;
        let gap = |sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>, to: u64, pos: &mut u64| {
            while *pos < to {
                let n = (to - *pos).min(zeros.len() as u64) as usize;
                sink(&zeros[..n])?;
                *pos += n as u64;
            }
            Ok(())
        };
        self.read_file_sparse(dn, size, |off, data| {
            gap(&mut sink, off, &mut pos)?;
            sink(data)?;
            pos += data.len() as u64;
            Ok(())
        })?;
        gap(&mut sink, size, &mut pos)
            .map_err(|e| Error::io(format!("write out object {}", dn.object), e))
    }

    /// Calls `data(offset, bytes)` for every allocated block of a regular
    /// file within its first `size` bytes, in order; holes (however large)
    /// are skipped without being visited, and a block shorter than the
    /// record size leaves the rest of its span to the caller as zeros.
    pub fn read_file_sparse(
        &self,
        dn: &Dnode,
        size: u64,
        mut data: impl FnMut(u64, &[u8]) -> std::io::Result<()>,
    ) -> Result<()> {
        let bs = dn.datablksz;
        let mut blkid = 0u64;
        while blkid.checked_mul(bs).is_some_and(|o| o < size) {
            let Some((b, bp)) = dn.next_block(&self.pool, blkid, None)? else {
                break;
            };
            let off = match b.checked_mul(bs) {
                Some(o) if o < size => o,
                _ => break,
            };
            let d = self
                .pool
                .read_block(&bp)
                .map_err(|e| dn.block_error(0, b, &bp, e))?;
            let take = ((size - off).min(bs) as usize).min(d.len());
            data(off, &d[..take])
                .map_err(|e| Error::io(format!("write out object {}", dn.object), e))?;
            blkid = b + 1;
        }
        Ok(())
    }
}

/// A regular file's contents as a [`std::io::Read`], one block at a time.
pub struct FileReader<'a> {
    fs: &'a Zpl,
    dn: Dnode,
    size: u64,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'a> FileReader<'a> {
    /// Reads `size` bytes of object `dn`.
    pub fn new(fs: &'a Zpl, dn: Dnode, size: u64) -> FileReader<'a> {
        FileReader {
            fs,
            dn,
            size,
            pos: 0,
            buf: Vec::new(),
            buf_start: 0,
        }
    }
}

impl std::io::Read for FileReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size || out.is_empty() {
            return Ok(0);
        }
        let bs = self.dn.datablksz;
        let in_buf =
            self.pos >= self.buf_start && self.pos < self.buf_start + self.buf.len() as u64;
        if !in_buf {
            let blkid = self.pos / bs;
            self.buf = if blkid > self.dn.maxblkid {
                vec![0u8; bs as usize]
            } else {
                self.dn
                    .read_block(&self.fs.pool, blkid)
                    .map_err(|e| std::io::Error::other(e.to_string()))?
            };
            self.buf_start = blkid * bs;
        }
        let off = (self.pos - self.buf_start) as usize;
        let n = out
            .len()
            .min(self.buf.len() - off)
            .min((self.size - self.pos) as usize);
        out[..n].copy_from_slice(&self.buf[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

fn legacy_znode(dn: &Dnode) -> Result<Znode> {
    let b = &dn.bonus;
    if b.len() < ZNODE_PHYS_SIZE {
        return Err(zpl_err(
            dn,
            format!("znode bonus of {} bytes, need 264", b.len()),
        ));
    }
    let bo = dn.byteorder;
    let w = |o: usize| bo.u64(b, o).unwrap_or(0);
    let t = |o: usize| Time::from_words(w(o), w(o + 8));
    Ok(Znode {
        object: dn.object,
        atime: t(0),
        mtime: t(16),
        ctime: t(32),
        crtime: t(48),
        gen_: w(64),
        mode: w(72),
        size: w(80),
        parent: w(88),
        links: w(96),
        xattr: w(104),
        rdev: w(112),
        flags: w(120),
        uid: w(128),
        gid: w(136),
        symlink: None,
    })
}

fn load_sa(pool: &Pool, os: &ObjSet, master: u64) -> Result<SaTables> {
    let m = os.dnode(pool, master)?;
    let entries = zap::entries(pool, &m)?;
    let get = |n: &str| {
        entries
            .iter()
            .find(|e| e.name == n.as_bytes())
            .and_then(|e| e.as_u64())
    };
    let mut t = SaTables::default();
    if let Some(reg) = get("REGISTRY") {
        let d = os.dnode(pool, reg)?;
        for e in zap::entries(pool, &d)? {
            let v = e.as_u64().unwrap_or(0);
            t.register(v, e.name_str());
        }
    }
    if let Some(lay) = get("LAYOUTS") {
        let d = os.dnode(pool, lay)?;
        for e in zap::entries(pool, &d)? {
            if let Ok(n) = e.name_str().parse::<u64>() {
                t.add_layout(n, e.values.iter().map(|v| *v as u16).collect());
            }
        }
    }
    Ok(t)
}
