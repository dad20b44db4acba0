//! Copying files of a ZPL file system out, to a directory or a tar archive,
//! *confined* to the destination whatever names and symlinks the disk holds.
//!
//! The names in a directory ZAP are bytes an intruder may have chosen, so
//! nothing here joins them into a path string. Every object is created
//! relative to an open handle of the directory it belongs in
//! (`openat`/`mkdirat`/`symlinkat`/`linkat`), with `O_CREAT|O_EXCL` and
//! `O_NOFOLLOW`: a name can neither climb out (names that are empty, `.`,
//! `..`, or hold `/` or NUL are refused — or, with [`Names::Escape`],
//! written in [`escape_name`]'s form and reported), nor reuse what an
//! earlier entry made (a second entry of one name in one directory is
//! reported and not written over the first), nor pass through a symlink
//! (each directory handle is opened with `O_DIRECTORY|O_NOFOLLOW` right
//! after `mkdirat` made it; symlinks are created but never resolved). A
//! tar archive obeys the same rules: an entry's path is built only from
//! accepted names of directories already in the archive, so no entry can
//! lie under a symlink entry or outside the archive's root.
//!
//! A file whose claimed size exceeds [`Options::max_file_size`] is written
//! to a directory (as a sparse file, whose cost follows its allocated
//! blocks) but its contents are left out of a tar archive and reported:
//! streaming an intruder's 2^63-byte claim would stall the examination.

use crate::error::{Error, Result};
use crate::zfs::walk::{Node, escape_name, walk};
use crate::zfs::zpl::{FileReader, FileType, Time, Znode, Zpl};
use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps};
use std::collections::{HashMap, HashSet};
use std::fs::{File, FileTimes};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;

pub use crate::zfs::walk::name_problem;

/// What to do with a name no POSIX directory can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Names {
    /// Refuse the entry (and everything under it) and report it.
    #[default]
    Refuse,
    /// Write it under its escaped form ([`escape_name`]) and report it.
    Escape,
}

/// How an export runs.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Hostile names: refused or escaped.
    pub names: Names,
    /// Set owners (needs root; otherwise files belong to the caller).
    pub owners: bool,
    /// Largest claimed file size whose contents go into a tar archive.
    pub max_file_size: u64,
}

/// The default [`Options::max_file_size`]: 64 GiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 << 30;

impl Default for Options {
    fn default() -> Options {
        Options {
            names: Names::Refuse,
            owners: false,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        }
    }
}

impl Options {
    /// The options of an export run by this process: hostile names escaped
    /// when `escape` (refused otherwise), owners set when the process may
    /// give files away ([`may_chown`]), and the contents of files claiming
    /// more than `max_file_size` left out of a tar archive.
    pub fn for_this_process(escape: bool, max_file_size: u64) -> Options {
        Options {
            names: if escape { Names::Escape } else { Names::Refuse },
            owners: may_chown(),
            max_file_size,
        }
    }
}

/// Whether this process may give files away (chown): it runs as root.
pub fn may_chown() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// What an export did.
#[derive(Debug, Default)]
pub struct Report {
    /// Objects written (directories, files, links, symlinks).
    pub written: usize,
    /// One line per path not written, or written differently (escaped
    /// name, unsettable time, left-out contents): `PATH: why`.
    pub problems: Vec<String>,
}

fn lossy(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// The name `n` is exported under, or why it is not.
fn accepted_name(
    n: &Node,
    opts: &Options,
) -> std::result::Result<(Vec<u8>, Option<String>), String> {
    if n.duplicate {
        return Err(
            "a second entry of this name in one directory: not written over the first".into(),
        );
    }
    match (n.name_problem, opts.names) {
        (None, _) => Ok((n.name.clone(), None)),
        (Some(p), Names::Refuse) => Err(format!(
            "name refused: {p} (--escape-names would write it as {:?})",
            lossy(&escape_name(&n.name))
        )),
        (Some(p), Names::Escape) => {
            let e = escape_name(&n.name);
            let note = format!("{p}: written as {:?}", lossy(&e));
            Ok((e, Some(note)))
        }
    }
}

fn timespec(t: &Time) -> Option<Timespec> {
    t.is_valid().then_some(Timespec {
        tv_sec: t.sec,
        tv_nsec: t.nsec as _,
    })
}

fn file_times(z: &Znode) -> std::result::Result<FileTimes, String> {
    Ok(FileTimes::new()
        .set_accessed(z.atime.to_system_time()?)
        .set_modified(z.mtime.to_system_time()?))
}

/// A ZFS owner as a Unix id (`None`: not representable, left alone).
fn ugid(v: u64) -> Option<u32> {
    u32::try_from(v).ok().filter(|&v| v != u32::MAX)
}

/// Applies owner, mode and times to an object open as `f` (a file or a
/// directory we created).
fn finish(f: &File, z: &Znode, opts: &Options) -> std::result::Result<(), String> {
    if opts.owners {
        std::os::unix::fs::fchown(f, ugid(z.uid), ugid(z.gid))
            .map_err(|e| format!("chown: {e}"))?;
    }
    f.set_permissions(std::fs::Permissions::from_mode((z.mode & 0o7777) as u32))
        .map_err(|e| format!("chmod: {e}"))?;
    f.set_times(file_times(z)?)
        .map_err(|e| format!("set times: {e}"))
}

/// A directory being filled: its walk index, open handle, path relative
/// to the destination (as the names created), and attributes to apply
/// once its contents are written.
struct Open {
    index: usize,
    fd: OwnedFd,
    rel: Vec<Vec<u8>>,
    znode: Znode,
    path: Vec<u8>,
}

fn os_err(e: rustix::io::Errno) -> String {
    if e == rustix::io::Errno::EXIST {
        // the destination started empty and only this export writes in it
        "the name already exists in this directory (a duplicate, or an escaped name \
         meeting a real one): not written over"
            .into()
    } else {
        std::io::Error::from(e).to_string()
    }
}

/// Opens the directory `rel` (names we created) under `root`, never
/// following a symlink.
fn open_rel(root: &OwnedFd, rel: &[Vec<u8>]) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut fd = rustix::fs::openat(root, ".", flags, Mode::empty())?;
    for c in rel {
        fd = rustix::fs::openat(&fd, c.as_slice(), flags, Mode::empty())?;
    }
    Ok(fd)
}

/// Creates `dest` if missing, checks that it is empty and opens it.
fn open_empty(dest: &Path) -> Result<OwnedFd> {
    let io = |what: &str, e: std::io::Error| Error::io(format!("{what} {}", dest.display()), e);
    std::fs::create_dir_all(dest).map_err(|e| io("create", e))?;
    let root = rustix::fs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io("open", e.into()))?;
    let listing = rustix::fs::Dir::read_from(&root).map_err(|e| io("read", e.into()))?;
    for ent in listing {
        let ent = ent.map_err(|e| io("read", e.into()))?;
        if ent.file_name().to_bytes() != b"." && ent.file_name().to_bytes() != b".." {
            return Err(Error::Refused(format!("{} is not empty", dest.display())));
        }
    }
    Ok(root)
}

/// An export to a directory in progress.
struct DirExport<'a> {
    fs: &'a Zpl,
    opts: &'a Options,
    progress: &'a dyn Fn(u64),
    /// The destination, and its open handle.
    dest: &'a Path,
    root: OwnedFd,
    /// The directories being filled, outermost first.
    stack: Vec<Open>,
    /// First name of each file object written: (directory, name), for hard links.
    linked: HashMap<u64, (Vec<Vec<u8>>, Vec<u8>)>,
    rep: Report,
}

impl DirExport<'_> {
    /// Applies a finished directory's attributes.
    fn close(&mut self, o: Open) {
        let f = File::from(o.fd);
        if let Err(e) = finish(&f, &o.znode, self.opts) {
            self.rep.problems.push(format!("{}: {e}", lossy(&o.path)));
        }
    }

    /// The name node `n` (walk index `index`) is written under and whether
    /// it goes in the directory on top of the stack (else in the
    /// destination); None when it is not written (said in the report).
    fn place(
        &mut self,
        index: usize,
        n: &Node,
        root_name: &[u8],
    ) -> Result<Option<(Vec<u8>, bool)>> {
        let Some(p) = n.parent else {
            if n.znode.file_type() != FileType::Dir {
                return Ok(Some((root_name.to_vec(), false)));
            }
            // the walk's root directory is the destination itself
            let fd = rustix::fs::openat(
                &self.root,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::io(format!("open {}", self.dest.display()), e.into()))?;
            self.stack.push(Open {
                index,
                fd,
                rel: Vec::new(),
                znode: n.znode.clone(),
                path: n.path.clone(),
            });
            self.rep.written += 1;
            return Ok(None);
        };
        while self.stack.last().is_some_and(|o| o.index != p) {
            let o = self.stack.pop().expect("checked");
            self.close(o);
        }
        if self.stack.is_empty() {
            self.rep.problems.push(format!(
                "{}: not written: its directory was not",
                lossy(&n.path)
            ));
            return Ok(None);
        }
        match accepted_name(n, self.opts) {
            Ok((name, note)) => {
                if let Some(note) = note {
                    self.rep
                        .problems
                        .push(format!("{}: {note}", lossy(&n.path)));
                }
                Ok(Some((name, true)))
            }
            Err(why) => {
                self.rep.problems.push(format!("{}: {why}", lossy(&n.path)));
                Ok(None)
            }
        }
    }

    /// Writes node `n` as `name` in its directory.
    fn node(&mut self, index: usize, n: &Node, root_name: &[u8]) -> Result<()> {
        let Some((name, in_dir)) = self.place(index, n, root_name)? else {
            return Ok(());
        };
        let r = self.create(index, n, &name, in_dir);
        match r {
            Ok(opened) => {
                self.rep.written += 1;
                self.stack.extend(opened);
            }
            Err(e) => self.rep.problems.push(format!("{}: {e}", lossy(&n.path))),
        }
        Ok(())
    }

    /// Creates the object of node `n` as `name`; a directory is returned
    /// open, to be filled.
    fn create(
        &mut self,
        index: usize,
        n: &Node,
        name: &[u8],
        in_dir: bool,
    ) -> std::result::Result<Option<Open>, String> {
        let z = &n.znode;
        let (dirfd, dir_rel): (&OwnedFd, Vec<Vec<u8>>) = match self.stack.last() {
            Some(top) if in_dir => (&top.fd, top.rel.clone()),
            _ => (&self.root, Vec::new()),
        };
        match z.file_type() {
            FileType::Dir => {
                rustix::fs::mkdirat(dirfd, name, Mode::from_raw_mode(0o700)).map_err(os_err)?;
                let fd = rustix::fs::openat(
                    dirfd,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(os_err)?;
                let mut rel = dir_rel;
                rel.push(name.to_vec());
                return Ok(Some(Open {
                    index,
                    fd,
                    rel,
                    znode: z.clone(),
                    path: n.path.clone(),
                }));
            }
            FileType::File if self.linked.contains_key(&z.object) => {
                let (first_dir, first_name) = &self.linked[&z.object];
                let from = open_rel(&self.root, first_dir).map_err(os_err)?;
                rustix::fs::linkat(&from, first_name.as_slice(), dirfd, name, AtFlags::empty())
                    .map_err(os_err)?;
            }
            FileType::File => {
                write_file(self.fs, n, dirfd, name, self.opts, self.progress)?;
                self.linked.insert(z.object, (dir_rel, name.to_vec()));
            }
            FileType::Symlink => write_symlink(self.fs, n, dirfd, name, self.opts)?,
            other => {
                return Err(format!(
                    "{other:?} (rdev {:#x}) not created: use --tar to keep special files",
                    z.rdev
                ));
            }
        }
        Ok(None)
    }
}

/// Writes the regular file of node `n` as `name` in `dirfd`.
fn write_file(
    fs: &Zpl,
    n: &Node,
    dirfd: &OwnedFd,
    name: &[u8],
    opts: &Options,
    progress: &dyn Fn(u64),
) -> std::result::Result<(), String> {
    let z = &n.znode;
    let fd = rustix::fs::openat(
        dirfd,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(os_err)?;
    let f = File::from(fd);
    // Holes stay holes: only allocated blocks are written, so a sparse
    // file costs its data, not its size.
    let mut written = 0u64;
    fs.read_file_sparse(&n.dnode, z.size, |off, b| {
        progress(b.len() as u64);
        written += b.len() as u64;
        f.write_all_at(b, off)
    })
    .map_err(|e| e.to_string())?;
    f.set_len(z.size)
        .map_err(|e| format!("cannot make it {} bytes long here: {e}", z.size))?;
    progress(z.size.saturating_sub(written));
    finish(&f, z, opts)
}

/// Creates the symlink of node `n` as `name` in `dirfd` (never resolved),
/// with its owner and times.
fn write_symlink(
    fs: &Zpl,
    n: &Node,
    dirfd: &OwnedFd,
    name: &[u8],
    opts: &Options,
) -> std::result::Result<(), String> {
    let z = &n.znode;
    let t = fs.readlink(&n.dnode, z).map_err(|e| e.to_string())?;
    if t.contains(&0) {
        return Err("symlink target contains a NUL byte: not created".into());
    }
    // created, never resolved: nothing is ever opened through it
    rustix::fs::symlinkat(t.as_slice(), dirfd, name).map_err(os_err)?;
    if opts.owners {
        rustix::fs::chownat(
            dirfd,
            name,
            ugid(z.uid).map(rustix::fs::Uid::from_raw),
            ugid(z.gid).map(rustix::fs::Gid::from_raw),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| format!("chown: {}", os_err(e)))?;
    }
    if let (Some(a), Some(m)) = (timespec(&z.atime), timespec(&z.mtime)) {
        let ts = Timestamps {
            last_access: a,
            last_modification: m,
        };
        rustix::fs::utimensat(dirfd, name, &ts, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| format!("set times: {}", os_err(e)))?;
    }
    Ok(())
}

/// Writes `nodes` (a walk, directories before their contents) under the
/// directory `dest`, which is created if missing and must be empty.
/// `root_name` names the walk's root when it is not a directory (it is
/// then written inside `dest` under that name). `progress` is called with
/// the bytes of file data accounted for.
pub fn to_dir(
    fs: &Zpl,
    nodes: &[Node],
    dest: &Path,
    root_name: &[u8],
    opts: &Options,
    progress: &dyn Fn(u64),
) -> Result<Report> {
    let mut x = DirExport {
        fs,
        opts,
        progress,
        dest,
        root: open_empty(dest)?,
        stack: Vec::new(),
        linked: HashMap::new(),
        rep: Report::default(),
    };
    for (index, n) in nodes.iter().enumerate() {
        x.node(index, n, root_name)?;
    }
    // directory attributes last, deepest first, once their contents are written
    while let Some(o) = x.stack.pop() {
        x.close(o);
    }
    Ok(x.rep)
}

/// A tar header's mtime: octal or GNU base-256 for large values, and
/// base-256 two's complement (leading byte 0xff) for a time before 1970,
/// which GNU tar reads back as negative.
fn set_tar_mtime(h: &mut tar::Header, sec: i64) {
    if sec >= 0 {
        h.set_mtime(sec as u64);
    } else if let Some(g) = h.as_gnu_mut() {
        let mut f = [0xffu8; 12];
        f[4..].copy_from_slice(&sec.to_be_bytes());
        g.mtime = f;
    }
}

/// An export to a tar archive in progress.
struct TarExport<'a, 'w> {
    fs: &'a Zpl,
    opts: &'a Options,
    progress: &'a dyn Fn(u64),
    t: tar::Builder<&'w mut dyn Write>,
    /// Walk index of each directory in the archive → its archive path.
    dirs: HashMap<usize, Vec<u8>>,
    /// (directory, name) of every entry archived.
    names: HashSet<(usize, Vec<u8>)>,
    /// Further names of one file object are stored as hard links to the first.
    linked: HashMap<u64, Vec<u8>>,
    rep: Report,
}

impl TarExport<'_, '_> {
    /// The archive path of node `n`, or None when it is not archived (said
    /// in the report).
    fn name(&mut self, n: &Node, root_name: &[u8]) -> Option<Vec<u8>> {
        let Some(p) = n.parent else {
            return Some(if n.znode.file_type() == FileType::Dir {
                b".".to_vec()
            } else {
                root_name.to_vec()
            });
        };
        let Some(dir) = self.dirs.get(&p) else {
            self.rep.problems.push(format!(
                "{}: not archived: its directory was not",
                lossy(&n.path)
            ));
            return None;
        };
        let (nm, note) = match accepted_name(n, self.opts) {
            Ok(x) => x,
            Err(why) => {
                self.rep.problems.push(format!("{}: {why}", lossy(&n.path)));
                return None;
            }
        };
        if !self.names.insert((p, nm.clone())) {
            self.rep.problems.push(format!(
                "{}: the name already exists in this directory (an escaped name \
                 meeting a real one): not archived",
                lossy(&n.path)
            ));
            return None;
        }
        if let Some(note) = note {
            self.rep
                .problems
                .push(format!("{}: {note}", lossy(&n.path)));
        }
        Some(if dir.as_slice() == b"." {
            nm
        } else {
            [dir.as_slice(), b"/", nm.as_slice()].concat()
        })
    }

    /// Archives node `n` (walk index `index`); a failed file body is an
    /// error (it leaves the archive inconsistent), other failures are
    /// reported.
    fn node(&mut self, index: usize, n: &Node, root_name: &[u8]) -> Result<()> {
        let Some(name) = self.name(n, root_name) else {
            return Ok(());
        };
        let z = &n.znode;
        let path = Path::new(std::ffi::OsStr::from_bytes(&name));
        let mut h = tar::Header::new_gnu();
        h.set_mode((z.mode & 0o7777) as u32);
        h.set_uid(z.uid);
        h.set_gid(z.gid);
        set_tar_mtime(&mut h, z.mtime.sec);
        h.set_size(0);
        let r = match z.file_type() {
            FileType::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                let r = self.t.append_data(&mut h, path, std::io::empty());
                if r.is_ok() {
                    self.dirs.insert(index, name.clone());
                }
                r
            }
            FileType::File if self.linked.contains_key(&z.object) => {
                h.set_entry_type(tar::EntryType::Link);
                let first = Path::new(std::ffi::OsStr::from_bytes(&self.linked[&z.object]));
                self.t.append_link(&mut h, path, first)
            }
            FileType::File if z.size > self.opts.max_file_size => {
                self.rep.problems.push(format!(
                    "{}: claimed size {} exceeds --max-file-size {}: contents not archived",
                    lossy(&n.path),
                    z.size,
                    self.opts.max_file_size
                ));
                return Ok(());
            }
            FileType::File => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(z.size);
                let rd = Counting {
                    inner: FileReader::new(self.fs, n.dnode.clone(), z.size),
                    progress: self.progress,
                };
                self.t
                    .append_data(&mut h, path, rd)
                    .map_err(|e| n.dnode.error(format!("file {}", lossy(&n.path)), e))?;
                self.linked.insert(z.object, name.clone());
                Ok(())
            }
            FileType::Symlink => match self.fs.readlink(&n.dnode, z) {
                Ok(target) if target.contains(&0) => Err(std::io::Error::other(
                    "symlink target contains a NUL byte: not archived",
                )),
                Ok(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    let target = Path::new(std::ffi::OsStr::from_bytes(&target));
                    self.t.append_link(&mut h, path, target)
                }
                Err(e) => Err(std::io::Error::other(e.to_string())),
            },
            t @ (FileType::Chardev | FileType::Blockdev | FileType::Fifo) => {
                h.set_entry_type(match t {
                    FileType::Chardev => tar::EntryType::Char,
                    FileType::Blockdev => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                let (ma, mi) = z.device();
                let _ = h.set_device_major(ma as u32);
                let _ = h.set_device_minor(mi as u32);
                self.t.append_data(&mut h, path, std::io::empty())
            }
            other => Err(std::io::Error::other(format!(
                "{other:?} cannot be stored in tar"
            ))),
        };
        match r {
            Ok(()) => self.rep.written += 1,
            Err(e) => self.rep.problems.push(format!("{}: {e}", lossy(&n.path))),
        }
        Ok(())
    }
}

/// Writes `nodes` as a tar archive to `out`, under the same naming rules
/// as [`to_dir`]; special files are kept as tar entries. `root_name` names
/// the walk's root when it is not a directory.
pub fn to_tar(
    fs: &Zpl,
    nodes: &[Node],
    out: &mut dyn Write,
    root_name: &[u8],
    opts: &Options,
    progress: &dyn Fn(u64),
) -> Result<Report> {
    let mut t = tar::Builder::new(out);
    t.mode(tar::HeaderMode::Complete);
    let mut x = TarExport {
        fs,
        opts,
        progress,
        t,
        dirs: HashMap::new(),
        names: HashSet::new(),
        linked: HashMap::new(),
        rep: Report::default(),
    };
    for (index, n) in nodes.iter().enumerate() {
        x.node(index, n, root_name)?;
    }
    x.t.into_inner()
        .and_then(|w| w.flush())
        .map_err(|e| Error::io("finish tar", e))?;
    Ok(x.rep)
}

/// A reader that reports the bytes it hands out.
struct Counting<'a, R> {
    inner: R,
    progress: &'a dyn Fn(u64),
}

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// Where an export goes.
pub enum Destination<'a> {
    /// A directory (created if missing; must be empty).
    Dir(&'a Path),
    /// A tar archive written to the stream this opens (called once the
    /// start of the export is found, so nothing is created for a path
    /// that does not exist).
    Tar(Box<dyn FnOnce() -> Result<Box<dyn Write>> + 'a>),
}

impl<'a> Destination<'a> {
    /// A tar archive created at `path` ([`create_tar`]) once the start of
    /// the export is found.
    pub fn tar_file(path: &'a Path) -> Destination<'a> {
        Destination::Tar(Box::new(move || create_tar(path)))
    }
}

/// What to export from a file system.
pub struct Request<'a> {
    /// The path the export starts at (its last component names a single
    /// file exported on its own).
    pub path: &'a str,
    /// Export this object instead of the path (it is named `object-N`): a
    /// deleted file of an older state, or an orphan.
    pub object: Option<u64>,
    /// How names, owners and sizes are treated.
    pub opts: Options,
}

/// Reports an export's progress: the bytes of file data to copy, once
/// they are known, then each amount copied.
pub trait Progress {
    /// The total bytes of the regular files to copy (each object once).
    fn total(&self, bytes: u64);
    /// `bytes` more accounted for.
    fn advance(&self, bytes: u64);
}

/// What an export of a request did: the [`Report`] (walk errors first in
/// its problems) and the blocks read without a verified checksum.
pub struct Outcome {
    /// Objects written and problems.
    pub report: Report,
    /// Blocks of the pool read so far whose checksum was not verified.
    pub unverified: u64,
}

impl Outcome {
    /// Whether the export reported no problem.
    pub fn is_clean(&self) -> bool {
        self.report.problems.is_empty()
    }

    /// The closing line: paths exported, problems, and the blocks read
    /// without a verified checksum when there were any.
    pub fn summary(&self) -> String {
        let unverified = if self.unverified > 0 {
            format!(
                ", {} blocks read unverified (a checksum kzrescue does not compute, or none)",
                self.unverified
            )
        } else {
            String::new()
        };
        format!(
            "exported {} paths, {} problems{unverified}",
            self.report.written,
            self.report.problems.len()
        )
    }
}

/// Creates the tar archive `path` for a [`Destination::Tar`].
pub fn create_tar(path: &Path) -> Result<Box<dyn Write>> {
    let f = File::create(path).map_err(|e| Error::io(format!("create {}", path.display()), e))?;
    Ok(Box::new(std::io::BufWriter::new(f)))
}

/// The name a walk's root is written under when it is not a directory:
/// `object-N` for `--object N`, else the path's last component (or `file`
/// when it cannot be a file name).
pub fn root_name(path: &str, object: Option<u64>) -> Vec<u8> {
    if let Some(n) = object {
        return format!("object-{n}").into_bytes();
    }
    path.rsplit('/')
        .find(|c| !c.is_empty())
        .map(|c| c.as_bytes().to_vec())
        .filter(|c| name_problem(c).is_none())
        .unwrap_or_else(|| b"file".to_vec())
}

/// Bytes of the regular files among `nodes`, each file object once.
pub fn file_bytes(nodes: &[Node]) -> u64 {
    let mut seen = HashSet::new();
    nodes
        .iter()
        .filter(|n| n.znode.file_type() == FileType::File && seen.insert(n.znode.object))
        .map(|n| n.znode.size)
        .fold(0u64, u64::saturating_add)
}

/// Exports what `req` names from `fs` to `dest`: walks it, then writes
/// the walk confined to the destination ([`to_dir`], [`to_tar`]).
pub fn export(
    fs: &Zpl,
    req: &Request,
    dest: Destination,
    progress: &dyn Progress,
) -> Result<Outcome> {
    let start = match req.object {
        Some(n) => n,
        None => fs.lookup(req.path)?,
    };
    let mut problems = Vec::new();
    let mut nodes = Vec::new();
    walk(
        fs,
        start,
        b"/",
        |n| nodes.push(n),
        |p, e| problems.push(format!("{}: {e}", lossy(&p))),
    );
    progress.total(file_bytes(&nodes));
    let name = root_name(req.path, req.object);
    let advance = |n: u64| progress.advance(n);
    let rep = match dest {
        Destination::Dir(dir) => to_dir(fs, &nodes, dir, &name, &req.opts, &advance)?,
        Destination::Tar(open) => to_tar(fs, &nodes, &mut open()?, &name, &req.opts, &advance)?,
    };
    problems.extend(rep.problems);
    Ok(Outcome {
        report: Report {
            written: rep.written,
            problems,
        },
        unverified: fs
            .pool
            .stats
            .unverified
            .load(std::sync::atomic::Ordering::Relaxed),
    })
}
