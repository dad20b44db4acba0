//! Reading a pool from the targets a user names: each device opened once,
//! the pool assembled at the txg asked for, and a file system found from a
//! spec `POOL/DATASET[@SNAP][:/path]`.
//!
//! A regular image file is opened for positioned reads (`pread`), not
//! mapped: scanning a whole image then does not count against resident
//! memory. Block devices and storage URIs are opened as
//! [`target::open_source`] opens them. What the user should know while
//! opening (a short disk, missing devices, the uberblock a `--txg` chose)
//! is handed to a [`Notice`] callback; nothing here prints.

use crate::error::{Error, Result};
use crate::source::{PreadFile, SharedSource};
use crate::target::{self, AccessOptions, TargetOptions};
use crate::zfs::dsl::DatasetInfo;
use crate::zfs::objset::ObjSet;
use crate::zfs::pool::Pool;
use crate::zfs::spa::{self, OpenPool};
use crate::zfs::zpl::Zpl;
use std::path::Path;
use std::sync::Arc;

mod catalog;
mod listing;
pub use catalog::{Catalog, CatalogDoc, catalog};
pub use listing::{Listed, Listing, Ls, LsDoc, list, ls};

/// Something the user should know, said while opening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A condition that may make the answer incomplete (a disk shorter
    /// than its partition table).
    Warning(String),
    /// Information (missing devices, unsupported features, the state read).
    Note(String),
    /// Something that did not read; the work goes on without it.
    Problem(String),
}

/// How to open a pool for reading.
#[derive(Debug, Clone, Default)]
pub struct PoolOptions {
    /// Solaris slice to use on every disk instead of the one ZFS slice.
    pub slice: Option<u32>,
    /// Logical sector size to assume (512 or 4096) instead of detecting it.
    pub sector_size: Option<u32>,
    /// Read the pool as of this txg (the newest uberblock at or before it).
    pub txg: Option<u64>,
    /// How to reach storage URIs.
    pub access: AccessOptions,
}

impl PoolOptions {
    fn target(&self) -> TargetOptions {
        TargetOptions {
            slice: self.slice,
            sector_size: self.sector_size,
            write: false,
            access: self.access.clone(),
        }
    }
}

/// Opens the disk `spec` names read-only: a regular file for positioned
/// reads, anything else as [`target::open_source`] does.
fn open_disk(spec: &str, access: &AccessOptions) -> Result<SharedSource> {
    let path = Path::new(spec);
    if !crate::source::uri::is_uri(spec) && std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(Arc::new(PreadFile::open(path)?));
    }
    target::open_source(spec, false, access)
}

/// Opens every target read-only, once, as the vdev source ZFS sees (the
/// ZFS slice of a disk, or a bare vdev). A disk shorter than its
/// partition table is a [`Notice::Warning`].
pub fn open_sources(
    targets: &[String],
    opts: &PoolOptions,
    notice: &mut dyn FnMut(Notice),
) -> Result<Vec<SharedSource>> {
    let topts = opts.target();
    let mut sources = Vec::new();
    for t in targets {
        let v = target::vdev_of(open_disk(t, &opts.access)?, &topts)?;
        if let Some(w) = v.shortfall() {
            notice(Notice::Warning(w));
        }
        sources.push(v.source);
    }
    Ok(sources)
}

/// Opens every target and assembles the pool at `opts.txg` (the newest
/// state by default). The pool's notes, and with a `--txg` the uberblock
/// chosen, are [`Notice::Note`]s.
pub fn open_pool(
    targets: &[String],
    opts: &PoolOptions,
    notice: &mut dyn FnMut(Notice),
) -> Result<OpenPool> {
    let sources = open_sources(targets, opts, notice)?;
    let opened = spa::open(&sources, opts.txg)?;
    for n in &opened.notes {
        notice(Notice::Note(n.clone()));
    }
    if opts.txg.is_some() {
        let u = &opened.uberblock;
        notice(Notice::Note(format!(
            "reading txg {} (uberblock in label {} slot {}, written {})",
            u.txg,
            u.label,
            u.slot,
            crate::time::utc_unsigned(u.timestamp)
        )));
    }
    Ok(opened)
}

/// Splits command-line words "TARGET… SPEC" into the targets and the last
/// word.
pub fn split_targets(args: &[String]) -> (&[String], &str) {
    match args.split_last() {
        Some((last, rest)) => (rest, last.as_str()),
        None => (&[], ""),
    }
}

/// A place in a pool: `DATASET[@SNAP][:/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathSpec {
    /// `pool/fs` or `pool/fs@snap`.
    pub dataset: String,
    /// The path inside it (`/` when none is given).
    pub path: String,
}

impl PathSpec {
    /// Parses `DATASET[@SNAP][:/path]`; an empty or missing path is `/`.
    pub fn parse(spec: &str) -> PathSpec {
        let (ds, p) = spec.split_once(':').unwrap_or((spec, ""));
        PathSpec {
            dataset: ds.to_string(),
            path: if p.is_empty() { "/".into() } else { p.into() },
        }
    }
}

/// Opens the ZPL file system of `ds`. An encrypted dataset is refused
/// (kind `Unsupported`): its blocks are ciphertext, and kzrescue lists it
/// but reads nothing inside.
pub fn dataset_fs(pool: &Arc<Pool>, ds: &DatasetInfo) -> Result<Zpl> {
    if ds.encrypted {
        return Err(Error::unsupported(
            "dataset",
            format!(
                "{} is encrypted; kzrescue lists it but reads nothing inside",
                ds.name
            ),
        ));
    }
    let os = ObjSet::open(pool, &ds.ds.bp)?;
    Zpl::open(pool.clone(), os)
}

/// Opens the ZPL file system of dataset `name` (`pool/fs` or
/// `pool/fs@snap`) of an opened pool.
pub fn open_fs(o: &OpenPool, name: &str) -> Result<Zpl> {
    dataset_fs(&o.pool, &o.mos.find(&o.pool, name)?)
}

/// A file system opened from a spec: the pool, the file system and where
/// in it the spec points.
pub struct Place {
    /// The pool as read.
    pub opened: OpenPool,
    /// The dataset's file system.
    pub fs: Zpl,
    /// The spec.
    pub spec: PathSpec,
}

/// Opens the pool on `targets` and the file system `spec` names; the file
/// system's warnings (an impossible version, a root that is not a
/// directory) are [`Notice::Warning`]s.
pub fn open_place(
    targets: &[String],
    spec: &str,
    opts: &PoolOptions,
    notice: &mut dyn FnMut(Notice),
) -> Result<Place> {
    let spec = PathSpec::parse(spec);
    let opened = open_pool(targets, opts, notice)?;
    let fs = open_fs(&opened, &spec.dataset)?;
    for w in &fs.warnings {
        notice(Notice::Warning(w.to_string()));
    }
    Ok(Place { opened, fs, spec })
}

/// Links a path is followed through at most (Linux's and illumos'
/// `MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;

/// Resolves `path` through symlinks inside the file system — an absolute
/// target from the dataset's root, `..` never above it — never a file of
/// the machine reading it: the object and the path it was found at. Each
/// link followed is a [`Notice::Note`].
pub fn follow(fs: &Zpl, path: &str, notice: &mut dyn FnMut(Notice)) -> Result<(u64, String)> {
    use crate::zfs::zpl::FileType;
    let mut cur = path.to_string();
    for _ in 0..=MAX_SYMLINKS {
        let obj = fs.lookup(&cur)?;
        let (dn, z) = fs.znode(obj)?;
        if z.file_type() != FileType::Symlink {
            return Ok((obj, cur));
        }
        let t = String::from_utf8_lossy(&fs.readlink(&dn, &z)?).into_owned();
        let next = if t.starts_with('/') {
            t.clone()
        } else {
            let dir = cur.rsplit_once('/').map_or("", |(d, _)| d);
            format!("{dir}/{t}")
        };
        notice(Notice::Note(format!(
            "{cur} is a symbolic link to {t}; following it inside the dataset"
        )));
        cur = next;
    }
    Err(Error::Usage(format!(
        "{path}: more than {MAX_SYMLINKS} symbolic links (a loop?)"
    )))
}

/// Writes the contents of the file at `path` of `fs` to `out`. A symlink
/// is refused (kind `Usage`) unless `follow_links`, which resolves it
/// inside the file system as [`follow`] does; a file claiming more than
/// `max_file_size` bytes is refused (kind `Refused`): a hostile size on a
/// one-block file would stream zeros for hours.
pub fn cat(
    fs: &Zpl,
    path: &str,
    follow_links: bool,
    max_file_size: u64,
    notice: &mut dyn FnMut(Notice),
    out: &mut dyn std::io::Write,
) -> Result<()> {
    use crate::zfs::zpl::FileType;
    let (obj, path) = if follow_links {
        follow(fs, path, notice)?
    } else {
        (fs.lookup(path)?, path.to_string())
    };
    let (dn, z) = fs.znode(obj)?;
    match z.file_type() {
        FileType::File if z.size > max_file_size => Err(Error::Refused(format!(
            "{path} claims {} bytes, more than --max-file-size {max_file_size} (its default is 64G): \
             pass a larger --max-file-size to stream it",
            z.size
        ))),
        FileType::File => fs.read_file(&dn, z.size, |b| out.write_all(b)),
        FileType::Symlink => {
            let t = fs.readlink(&dn, &z)?;
            Err(Error::Usage(format!(
                "{path} is a symbolic link to {}; pass --follow to read what it points to \
                 (resolved inside the dataset)",
                String::from_utf8_lossy(&t)
            )))
        }
        t => Err(Error::Usage(format!("{path} is a {t:?}, not a file"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let p = PathSpec::parse("rpool/ROOT@s:/etc/passwd");
        assert_eq!(p.dataset, "rpool/ROOT@s");
        assert_eq!(p.path, "/etc/passwd");
        assert_eq!(PathSpec::parse("rpool").path, "/");
        assert_eq!(PathSpec::parse("rpool:").path, "/");
        let args: Vec<String> = ["a.img", "b.img", "rpool"].map(String::from).to_vec();
        let (t, s) = split_targets(&args);
        assert_eq!((t.len(), s), (2, "rpool"));
        assert_eq!(split_targets(&[]), (&[][..], ""));
    }

    #[test]
    fn missing_target_is_an_io_error_without_notices() {
        let mut seen = Vec::new();
        let r = open_pool(
            &["/nonexistent/kz.img".into()],
            &PoolOptions::default(),
            &mut |n| seen.push(n),
        );
        assert_eq!(r.err().map(|e| e.kind()), Some(crate::ErrorKind::Io));
        assert!(seen.is_empty());
    }
}
