//! Sources: the one seam through which kzrescue reads and writes bytes.
//!
//! A [`Source`] is a flat array of bytes with a size: an image file, a block
//! device, a window (partition) on another source, or an iSCSI logical unit.
//! Reads past the end are errors naming the offset; nothing is silently padded.

mod bytes;
pub mod fault;
mod file;
pub mod iscsi;
mod mem;
mod pread;
pub mod uri;
mod window;

pub use bytes::Bytes;
pub use fault::{Fault, FaultSource};
pub use file::{FileSource, OpenMode};
pub use mem::MemSource;
pub use pread::PreadFile;
pub use window::Window;

use crate::error::{Error, Result};
use std::sync::Arc;

/// A random-access byte store.
///
/// All methods take `&self`: implementations that need mutable state (a
/// network session) keep it behind a lock, so a source can be shared by
/// windows and readers.
pub trait Source: Send + Sync {
    /// Human-readable name (path or URI) used in messages.
    fn name(&self) -> String;
    /// Size in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`. Errors if any byte lies past the end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// Replaces the contents of `buf` with the `len` bytes at `offset`,
    /// reusing its allocation (after an error `buf` holds no useful bytes).
    /// The default zeroes `len` bytes and fills them with
    /// [`Source::read_at`]; a source that can read straight into a vector's
    /// spare capacity (files) or copy from bytes it already holds (maps,
    /// memory) overrides it to skip the zero-fill.
    fn read_into_vec(&self, offset: u64, len: usize, buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        buf.resize(len, 0);
        self.read_at(offset, buf)
    }
    /// Reads `len` bytes at `offset` into a new vector (through
    /// [`Source::read_into_vec`]).
    fn read_vec_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_into_vec(offset, len, &mut buf)?;
        Ok(buf)
    }
    /// The `len` bytes at `offset`, as they are now. The default copies them
    /// into a new vector; a read-only image file hands out the range of its
    /// memory map instead (no copy, no fresh pages), so a caller that keeps
    /// the bytes across a write of its own must copy them (`to_vec`).
    fn read_bytes(&self, offset: u64, len: usize) -> Result<Bytes> {
        Ok(self.read_vec_at(offset, len)?.into())
    }
    /// Writes `buf` at `offset`. Errors on a read-only source.
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        let _ = buf;
        Err(Error::Refused(format!(
            "{} is open read-only (write at {offset:#x})",
            self.name()
        )))
    }
    /// Makes previous writes durable (fsync / cache flush).
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    /// Whether the source was opened for writing.
    fn writable(&self) -> bool {
        false
    }
    /// Logical sector size the device reports, when it reports one.
    fn logical_sector_size(&self) -> Option<u32> {
        None
    }
    /// A stable identity of the underlying object (device number and inode,
    /// or a LUN's NAA id) used to match undo journals to targets.
    fn identity(&self) -> String {
        self.name()
    }
    /// Fills `buf` from `offset` with bytes read from the medium itself,
    /// never from a cache this host keeps (the page cache of a block device
    /// or of an image file), and says how. Another host writing a shared LU
    /// is only seen this way. The default reads through [`Source::read_at`]:
    /// right for sources without a host-side cache (memory, the iSCSI
    /// initiator overrides it to say so).
    fn read_uncached(&self, offset: u64, buf: &mut [u8]) -> Result<ReadPath> {
        self.read_at(offset, buf)?;
        Ok(ReadPath::Plain)
    }
    /// Hands the `len` bytes at `offset` to `sink`, in order, in pieces of
    /// the source's choosing; a range past the end is refused before
    /// anything is read. The default reads `chunk` bytes at a time with
    /// [`Source::read_at`] into one reused buffer. The iSCSI initiator
    /// overrides it to keep its READs in flight across the whole range
    /// (no pause at the end of each piece) and hands out each command's
    /// data as it arrives.
    fn stream(
        &self,
        offset: u64,
        len: u64,
        chunk: usize,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let end = range_end(&|| self.name(), offset, len, self.size())?;
        let mut buf = vec![0u8; (chunk.max(1) as u64).min(len) as usize];
        let mut pos = offset;
        while pos < end {
            let n = ((end - pos) as usize).min(buf.len());
            self.read_at(pos, &mut buf[..n])?;
            sink(&buf[..n])?;
            pos += n as u64;
        }
        Ok(())
    }
}

/// How [`Source::read_uncached`] reached the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadPath {
    /// `O_DIRECT` with an aligned buffer: the device (or the file system's
    /// backing store) was read, bypassing this host's page cache.
    Direct,
    /// `O_DIRECT` was refused (the reason given); this host's page cache for
    /// the range was dropped (`posix_fadvise(POSIX_FADV_DONTNEED)`) right
    /// before a buffered read.
    CacheDropped(String),
    /// Every read is a SCSI READ sent to the logical unit over iSCSI; the
    /// initiator keeps no cache.
    Lu,
    /// An ordinary read of a source with no host-side cache to bypass
    /// (memory, a test double).
    Plain,
}

impl ReadPath {
    /// One phrase for reports: "O_DIRECT (device, not the page cache)".
    pub fn describe(&self) -> String {
        match self {
            ReadPath::Direct => "O_DIRECT (the device, not this host's page cache)".into(),
            ReadPath::CacheDropped(why) => format!(
                "buffered after dropping this host's page cache (posix_fadvise DONTNEED; O_DIRECT refused: {why})"
            ),
            ReadPath::Lu => {
                "iSCSI READ(16) from the logical unit (the initiator caches nothing)".into()
            }
            ReadPath::Plain => "ordinary read (no host cache involved)".into(),
        }
    }

    /// A short machine-readable name: `direct`, `cache-dropped`, `iscsi`, `plain`.
    pub fn kind(&self) -> &'static str {
        match self {
            ReadPath::Direct => "direct",
            ReadPath::CacheDropped(_) => "cache-dropped",
            ReadPath::Lu => "iscsi",
            ReadPath::Plain => "plain",
        }
    }
}

/// A view of the environment: the value of a variable, if set. The caller
/// passes one (the CLI: the process environment); the library reads none
/// itself.
pub type Vars<'a> = &'a dyn Fn(&str) -> Option<std::ffi::OsString>;

/// A shared, dynamically typed source.
pub type SharedSource = Arc<dyn Source>;

/// Checks that `len` bytes at `offset` lie within `size`.
pub fn check_bounds(name: &dyn Fn() -> String, offset: u64, len: usize, size: u64) -> Result<()> {
    range_end(name, offset, len as u64, size).map(|_| ())
}

/// The end of `len` bytes at `offset` of a source of `size` bytes, or the
/// [`Error::OutOfBounds`] of [`check_bounds`] when they reach past it.
pub fn range_end(name: &dyn Fn() -> String, offset: u64, len: u64, size: u64) -> Result<u64> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(end),
        _ => Err(Error::OutOfBounds {
            what: name(),
            offset,
            len,
            size,
        }),
    }
}

/// Reads `len` bytes at `offset` into a new vector.
pub fn read_vec(src: &dyn Source, offset: u64, len: usize) -> Result<Vec<u8>> {
    src.read_vec_at(offset, len)
}
