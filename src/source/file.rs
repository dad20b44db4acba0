//! Image files and block devices.
//!
//! This is kzrescue's one audited `unsafe` corner: memory-mapping a read-only
//! image file. Everything else in the crate is `#![forbid(unsafe_code)]`-clean.

use super::{Source, check_bounds};
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How to open a file or device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read-only: the default for everything.
    ReadOnly,
    /// Read-write; block devices are opened exclusively (`O_EXCL`) on Linux so
    /// that a mounted or imported device is refused by the kernel.
    ReadWrite,
}

enum Backing {
    /// A read-only regular file, memory-mapped.
    Mapped(memmap2::Mmap),
    /// A block device, a writable file, or an empty file: positioned I/O.
    Positioned,
}

/// A regular image file or a block device.
pub struct FileSource {
    path: PathBuf,
    file: File,
    size: u64,
    backing: Backing,
    writable: bool,
    block_device: bool,
    sector_size: Option<u32>,
    identity: String,
}

impl FileSource {
    /// Opens `path` in `mode`.
    pub fn open(path: &Path, mode: OpenMode) -> Result<Self> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| Error::io(format!("open {shown}"), e))?;
        let block_device = meta.file_type().is_block_device();
        if !block_device && !meta.is_file() {
            return Err(Error::Usage(format!(
                "{shown} is neither a regular file nor a block device"
            )));
        }
        let mut opts = OpenOptions::new();
        opts.read(true);
        if mode == OpenMode::ReadWrite {
            opts.write(true);
            if block_device && cfg!(target_os = "linux") {
                opts.custom_flags(libc::O_EXCL);
            }
        }
        let mut file = opts
            .open(path)
            .map_err(|e| Error::io(format!("open {shown} ({mode:?})"), e))?;
        let size = if block_device {
            file.seek(SeekFrom::End(0))
                .map_err(|e| Error::io(format!("size of {shown}"), e))?
        } else {
            meta.len()
        };
        let backing = if mode == OpenMode::ReadOnly && !block_device && size > 0 {
            // SAFETY: the map is read-only and private to this process. Another
            // process truncating the image while we read it could fault; that
            // is the documented risk of memmap2 and acceptable for an offline
            // tool whose targets are not in use (we check liveness before
            // writing, and never write through the map).
            #[allow(unsafe_code)]
            let map = unsafe { memmap2::Mmap::map(&file) }
                .map_err(|e| Error::io(format!("mmap {shown}"), e))?;
            Backing::Mapped(map)
        } else {
            Backing::Positioned
        };
        let sector_size = if block_device {
            sysfs_logical_block_size(meta.rdev())
        } else {
            None
        };
        let identity = format!("dev={:#x},ino={}", meta.dev(), meta.ino());
        Ok(FileSource {
            path: path.to_path_buf(),
            file,
            size,
            backing,
            writable: mode == OpenMode::ReadWrite,
            block_device,
            sector_size,
            identity,
        })
    }

    /// Whether this is a block device.
    pub fn is_block_device(&self) -> bool {
        self.block_device
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads the logical block size of a Linux block device from sysfs.
fn sysfs_logical_block_size(rdev: u64) -> Option<u32> {
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let base = format!("/sys/dev/block/{major}:{minor}");
    for rel in ["queue/logical_block_size", "../queue/logical_block_size"] {
        if let Ok(s) = std::fs::read_to_string(format!("{base}/{rel}"))
            && let Ok(v) = s.trim().parse()
        {
            return Some(v);
        }
    }
    None
}

impl Source for FileSource {
    fn name(&self) -> String {
        self.path.display().to_string()
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_bounds(&|| self.name(), offset, buf.len(), self.size)?;
        match &self.backing {
            Backing::Mapped(map) => {
                // Bounds checked above; `size` equals the map length.
                let start = offset as usize;
                buf.copy_from_slice(&map[start..start + buf.len()]);
                Ok(())
            }
            Backing::Positioned => self.file.read_exact_at(buf, offset).map_err(|e| {
                Error::io(
                    format!("read {} bytes at {offset:#x} of {}", buf.len(), self.name()),
                    e,
                )
            }),
        }
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        if !self.writable {
            return Err(Error::Refused(format!(
                "{} is open read-only (write at {offset:#x})",
                self.name()
            )));
        }
        check_bounds(&|| self.name(), offset, buf.len(), self.size)?;
        self.file.write_all_at(buf, offset).map_err(|e| {
            Error::io(
                format!(
                    "write {} bytes at {offset:#x} of {}",
                    buf.len(),
                    self.name()
                ),
                e,
            )
        })
    }
    fn flush(&self) -> Result<()> {
        if !self.writable {
            return Ok(());
        }
        self.file
            .sync_all()
            .map_err(|e| Error::io(format!("fsync {}", self.name()), e))
    }
    fn writable(&self) -> bool {
        self.writable
    }
    fn logical_sector_size(&self) -> Option<u32> {
        self.sector_size
    }
    fn identity(&self) -> String {
        self.identity.clone()
    }
}
