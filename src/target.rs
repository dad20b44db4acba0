//! Targets: from what the user typed to the bytes of one vdev.
//!
//! A target names a disk (an image file, a block device or a storage URI,
//! opened by [`open_source`]) and optionally a slice. [`open_vdev`] opens
//! the disk, reads its partition table and returns a [`DiskSlice`] whose
//! [`DiskSlice::source`] is a window on the pool's slice, or the whole
//! device when the disk has no partition table (file vdevs, whole-LUN
//! pools).

use crate::error::{Error, Result};
use crate::partition::{self, Partition, PartitionTable, TableKind};
pub use crate::source::uri::AccessOptions;
use crate::source::{FileSource, OpenMode, SharedSource, Window};
use std::path::Path;
use std::sync::Arc;

/// How to resolve a target.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// Solaris slice number to use instead of the automatic choice.
    pub slice: Option<u32>,
    /// Logical sector size to assume (512 or 4096) instead of detecting it.
    pub sector_size: Option<u32>,
    /// Open the disk for writing (the repair paths only).
    pub write: bool,
    /// How to reach URIs (NFS mounts, portal, iSCSI initiator settings).
    pub access: AccessOptions,
}

/// A disk and the slice of it that is the vdev: the disk, its table, the
/// slice, and the bytes ZFS sees (not [`crate::zfs::pool::Vdev`], a node of
/// the pool's vdev tree).
pub struct DiskSlice {
    /// The whole disk.
    pub disk: SharedSource,
    /// The disk's partition table ([`TableKind::None`] for a bare vdev).
    pub table: PartitionTable,
    /// The slice holding the vdev; `None` when the whole disk is the vdev.
    pub partition: Option<Partition>,
    /// The vdev's bytes: a window on the slice, or the whole disk.
    pub source: SharedSource,
}

impl DiskSlice {
    /// A short description: "disk.img s1 (minor b, bytes 0x10000000+0x3fe00000)"
    /// or "pool.img (whole device)".
    pub fn describe(&self) -> String {
        match &self.partition {
            Some(p) => format!(
                "{} {} (minor {}, bytes {:#x}+{:#x})",
                self.disk.name(),
                p.label(),
                p.letter,
                p.start,
                p.len
            ),
            None => format!("{} (whole device)", self.disk.name()),
        }
    }

    /// The vdev's first byte on the disk (0 for a whole-device vdev).
    pub fn start(&self) -> u64 {
        self.partition.as_ref().map_or(0, |p| p.start)
    }

    /// When the disk is shorter than its partition table says (an image
    /// copied incompletely, a LUN shrunk), the warning to give: the
    /// expected and actual sizes and what is missing. The vdev is then read
    /// as far as the disk goes: labels 0 and 1 and what they reach; reads
    /// past the end fail with the usual out-of-bounds error.
    pub fn shortfall(&self) -> Option<String> {
        let p = self.partition.as_ref()?;
        short_message(self.disk.name().as_str(), p, self.disk.size())
    }
}

/// The shortfall warning for slice `p` on a disk of `size` bytes, if the
/// slice ends past the disk's end.
fn short_message(disk: &str, p: &Partition, size: u64) -> Option<String> {
    let end = p.start.saturating_add(p.len);
    if end <= size {
        return None;
    }
    let missing = end - size;
    let labels = if size <= p.start.saturating_add(p.len / 2) {
        "labels 2 and 3 (and more than half the slice)"
    } else {
        "labels 2 and 3"
    };
    Some(format!(
        "{disk} is {size} bytes but its partition table puts slice {} at bytes {:#x}+{:#x}, \
         ending at byte {end} ({missing} bytes past the end: an image copied incompletely or \
         a LUN that shrank); reading what is there — {labels} missing, reads past the end fail, \
         writing refused",
        p.label(),
        p.start,
        p.len
    ))
}

/// Opens the disk `spec` names: a path to an image file or a block device,
/// or a storage URI (`file:`, `dev:`, `lu:`, `iscsi:`, `nfs:`; see
/// [`crate::source::uri`], reached as `access` says). Read-only unless
/// `write`.
pub fn open_source(spec: &str, write: bool, access: &AccessOptions) -> Result<SharedSource> {
    if crate::source::uri::is_uri(spec) {
        let uri = crate::source::uri::StorageUri::parse(spec)?;
        return crate::source::uri::open(&uri, write, access);
    }
    let mode = if write {
        OpenMode::ReadWrite
    } else {
        OpenMode::ReadOnly
    };
    Ok(Arc::new(FileSource::open(Path::new(spec), mode)?))
}

/// `spec` as a transaction records it (how a journal reopens the disk):
/// a path made absolute with its symbolic links resolved; a URI, or a path
/// that does not resolve, as given.
pub fn canonical(spec: &str) -> String {
    std::fs::canonicalize(spec)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| spec.to_string())
}

/// The partition table of the disk `spec` names, with the pool slice
/// chosen ([`partition::report::TableReport::read`]).
pub fn table_report(
    spec: &str,
    sector_size: Option<u32>,
    slice: Option<u32>,
    access: &AccessOptions,
) -> Result<partition::report::TableReport> {
    let disk = open_source(spec, false, access)?;
    partition::report::TableReport::read(disk.as_ref(), sector_size, slice)
}

/// Resolves `spec` to a vdev: opens it, reads the partition table and picks
/// the slice (`opts.slice`, else the one ZFS slice; no table → whole device).
pub fn open_vdev(spec: &str, opts: &TargetOptions) -> Result<DiskSlice> {
    vdev_of(open_source(spec, opts.write, &opts.access)?, opts)
}

/// Resolves an opened disk to a vdev as [`open_vdev`] does (`opts.access`
/// is not used: the disk is open already).
pub fn vdev_of(disk: SharedSource, opts: &TargetOptions) -> Result<DiskSlice> {
    let table = partition::read(disk.as_ref(), opts.sector_size)?;
    let partition = match (table.kind, opts.slice) {
        (TableKind::None, Some(n)) => {
            return Err(Error::Usage(format!(
                "--slice {n}: {} has no partition table (it is a whole-device vdev)",
                disk.name()
            )));
        }
        (TableKind::None, None) => None,
        (_, Some(n)) => Some(table.slice(n)?.clone()),
        (_, None) => Some(table.zfs_slice()?.clone()),
    };
    let source: SharedSource = match &partition {
        Some(p) => {
            if p.start >= disk.size() {
                return Err(Error::OutOfBounds {
                    what: format!("{} slice {}", disk.name(), p.label()),
                    offset: p.start,
                    len: p.len,
                    size: disk.size(),
                });
            }
            if opts.write
                && let Some(m) = short_message(disk.name().as_str(), p, disk.size())
            {
                return Err(Error::Refused(format!("not writing: {m}")));
            }
            // a short disk keeps the slice's size: the labels at its end
            // are missing (reads there fail), not found at the wrong place
            Arc::new(Window::new(disk.clone(), p.start, p.len, p.label()))
        }
        None => disk.clone(),
    };
    Ok(DiskSlice {
        disk,
        table,
        partition,
        source,
    })
}
