//! Image files and block devices.
//!
//! This is kzrescue's one audited `unsafe` corner: memory-mapping a read-only
//! image file, `posix_fadvise` where `O_DIRECT` is refused, and `pread`
//! into a vector's spare capacity ([`pread_into`], so that block reads skip
//! a zero-fill). Everything else in the crate is `#![deny(unsafe_code)]`-clean.
//!
//! [`Source::read_uncached`] (the liveness check's and the read-back's way of
//! reading) opens the same inode a second time with `O_DIRECT` and reads
//! through a 4 KiB-aligned sub-slice of an over-allocated buffer, whole
//! 4 KiB blocks around the range asked for: the bytes come from the device
//! (or, for an image file, from the file system's backing store), not from
//! this host's page cache, which a loop device or a shared LU written by
//! another host leaves stale. Where `O_DIRECT` is refused (tmpfs, some
//! FUSE and network file systems) the page cache for the range is dropped
//! with `posix_fadvise(POSIX_FADV_DONTNEED)` before a buffered read, and the
//! caller is told which way was taken.

use super::{Bytes, ReadPath, Source, check_bounds};
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// A read-only regular file, memory-mapped (shared with the
    /// [`Bytes`] handed out by [`Source::read_bytes`]).
    Mapped(Arc<memmap2::Mmap>),
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
    /// The `O_DIRECT` handle of [`Source::read_uncached`], opened on first
    /// use: `Ok(file)`, or why it could not be used.
    direct: std::sync::Mutex<Option<std::result::Result<File, String>>>,
}

/// Alignment of `O_DIRECT` offsets, lengths and buffers: 4 KiB covers 512-byte
/// and 4Kn devices and every common file-system block size.
const DIRECT_ALIGN: usize = 4096;

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
            Backing::Mapped(Arc::new(map))
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
            direct: std::sync::Mutex::new(None),
        })
    }

    /// Opens the same inode again with `O_DIRECT` (read-only) and checks it
    /// is still the object this source was opened on.
    fn open_direct(&self) -> std::result::Result<File, String> {
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(&self.path)
            .map_err(|e| e.to_string())?;
        let m = f.metadata().map_err(|e| e.to_string())?;
        let now = format!("dev={:#x},ino={}", m.dev(), m.ino());
        if now != self.identity {
            return Err(format!(
                "{} is now a different object ({now}, opened as {})",
                self.path.display(),
                self.identity
            ));
        }
        Ok(f)
    }

    /// Reads `buf.len()` bytes at `offset` through `direct` (an `O_DIRECT`
    /// handle): whole aligned blocks into an aligned buffer, then the bytes
    /// asked for are copied out.
    fn read_direct(direct: &File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let a = offset / DIRECT_ALIGN as u64 * DIRECT_ALIGN as u64;
        let end = offset + buf.len() as u64;
        let b = end.div_ceil(DIRECT_ALIGN as u64) * DIRECT_ALIGN as u64;
        let len = (b - a) as usize;
        // Over-allocate and use the aligned sub-slice: no unsafe needed.
        let mut raw = vec![0u8; len + DIRECT_ALIGN];
        let skip = raw.as_ptr().align_offset(DIRECT_ALIGN);
        if skip >= DIRECT_ALIGN {
            return Err(std::io::Error::other("cannot align the O_DIRECT buffer"));
        }
        let aligned = &mut raw[skip..skip + len];
        let want = (end - a) as usize;
        let mut got = 0usize;
        while got < want {
            // Whole blocks only: a short read (the end of a file whose size
            // is not a multiple of 4 KiB) ends the loop.
            match direct.read_at(&mut aligned[got..], a + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            if !got.is_multiple_of(DIRECT_ALIGN) {
                break;
            }
        }
        if got < want {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        }
        let s = (offset - a) as usize;
        buf.copy_from_slice(&aligned[s..s + buf.len()]);
        Ok(())
    }

    /// Drops this host's cached pages of `[offset, offset+len)` and reads
    /// them again with a buffered read.
    fn read_dropping_cache(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: posix_fadvise only takes an open descriptor (owned by
        // `self.file` for the whole call) and plain integers; it touches no
        // memory of this process. Its result is an advisory error code.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::posix_fadvise(
                self.file.as_raw_fd(),
                offset as libc::off_t,
                buf.len() as libc::off_t,
                libc::POSIX_FADV_DONTNEED,
            )
        };
        if rc != 0 {
            return Err(Error::io(
                format!(
                    "drop the page cache of {} bytes at {offset:#x} of {} (O_DIRECT refused)",
                    buf.len(),
                    self.name()
                ),
                std::io::Error::from_raw_os_error(rc),
            ));
        }
        self.file.read_exact_at(buf, offset).map_err(|e| {
            Error::io(
                format!("read {} bytes at {offset:#x} of {}", buf.len(), self.name()),
                e,
            )
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

/// Replaces the contents of `v` with the `len` bytes at `offset` of
/// `file`, read with `pread` straight into the vector's spare capacity: no
/// zero-fill first. Short reads are continued; end of file before `len`
/// bytes is `UnexpectedEof`.
pub(super) fn pread_into(
    file: &File,
    offset: u64,
    len: usize,
    v: &mut Vec<u8>,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    v.clear();
    v.reserve(len);
    while v.len() < len {
        let done = v.len();
        let at = offset
            .checked_add(done as u64)
            .and_then(|o| libc::off_t::try_from(o).ok())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        let spare = v.spare_capacity_mut();
        // SAFETY: `spare` is the vector's unused capacity, `len - done`
        // bytes long (capacity is at least `len`); pread writes at most that
        // many bytes there and reads no memory of ours. The descriptor is
        // owned by `file` for the whole call.
        #[allow(unsafe_code)]
        let n = unsafe { libc::pread(file.as_raw_fd(), spare.as_mut_ptr().cast(), len - done, at) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        // SAFETY: pread reported `n` (≤ len − done) bytes written at
        // `done`: bytes 0..done + n are now initialised.
        #[allow(unsafe_code)]
        unsafe {
            v.set_len(done + n as usize)
        };
    }
    Ok(())
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
    fn read_into_vec(&self, offset: u64, len: usize, buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        check_bounds(&|| self.name(), offset, len, self.size)?;
        match &self.backing {
            Backing::Mapped(map) => {
                // Bounds checked above; `size` equals the map length.
                let start = offset as usize;
                buf.extend_from_slice(&map[start..start + len]);
                Ok(())
            }
            Backing::Positioned => pread_into(&self.file, offset, len, buf).map_err(|e| {
                Error::io(
                    format!("read {len} bytes at {offset:#x} of {}", self.name()),
                    e,
                )
            }),
        }
    }
    fn read_bytes(&self, offset: u64, len: usize) -> Result<Bytes> {
        check_bounds(&|| self.name(), offset, len, self.size)?;
        match &self.backing {
            // Bounds checked above; `size` equals the map length.
            Backing::Mapped(map) => Ok(Bytes::shared(
                map.clone(),
                offset as usize..offset as usize + len,
            )),
            Backing::Positioned => Ok(self.read_vec_at(offset, len)?.into()),
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
    fn read_uncached(&self, offset: u64, buf: &mut [u8]) -> Result<ReadPath> {
        check_bounds(&|| self.name(), offset, buf.len(), self.size)?;
        if buf.is_empty() {
            return Ok(ReadPath::Direct);
        }
        let mut g = self.direct.lock().unwrap_or_else(|p| p.into_inner());
        let state = g.get_or_insert_with(|| self.open_direct());
        let refused = match state {
            Ok(f) => match Self::read_direct(f, offset, buf) {
                Ok(()) => return Ok(ReadPath::Direct),
                // The file system accepted O_DIRECT at open but not this
                // read (alignment rules stricter than 4 KiB): fall back.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    let why = format!("read: {e}");
                    *state = Err(why.clone());
                    why
                }
                Err(e) => {
                    return Err(Error::io(
                        format!(
                            "read {} bytes at {offset:#x} of {} (O_DIRECT)",
                            buf.len(),
                            self.name()
                        ),
                        e,
                    ));
                }
            },
            Err(why) => why.clone(),
        };
        drop(g);
        self.read_dropping_cache(offset, buf)?;
        Ok(ReadPath::CacheDropped(refused))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::source::PreadFile;
    use std::io::Write;

    fn image() -> (tempfile::NamedTempFile, Vec<u8>) {
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes).unwrap();
        f.flush().unwrap();
        (f, bytes)
    }

    #[test]
    fn pread_into_reads_into_spare_capacity() {
        let (f, bytes) = image();
        let file = File::open(f.path()).unwrap();
        let mut v = vec![9u8; 7];
        pread_into(&file, 0, 0, &mut v).unwrap();
        assert_eq!(v, b"");
        pread_into(&file, 1000, 131_072, &mut v).unwrap();
        assert_eq!(v, &bytes[1000..1000 + 131_072]);
        let reused = v.as_ptr();
        pread_into(&file, 299_990, 10, &mut v).unwrap();
        assert_eq!(v, &bytes[299_990..]);
        assert_eq!(v.as_ptr(), reused, "the allocation is reused");
        let eof = pread_into(&file, 299_990, 11, &mut v).unwrap_err();
        assert_eq!(eof.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(pread_into(&file, u64::MAX - 4, 8, &mut v).is_err());
    }

    #[test]
    fn read_vec_at_agrees_with_read_at_on_every_backing() {
        let (f, bytes) = image();
        let mapped = FileSource::open(f.path(), OpenMode::ReadOnly).unwrap();
        let positioned = FileSource::open(f.path(), OpenMode::ReadWrite).unwrap();
        let pread = PreadFile::open(f.path()).unwrap();
        let sources: [&dyn Source; 3] = [&mapped, &positioned, &pread];
        for s in sources {
            for (off, len) in [(0u64, 512usize), (4097, 65_536), (299_000, 1000)] {
                let mut want = vec![0u8; len];
                s.read_at(off, &mut want).unwrap();
                assert_eq!(want, &bytes[off as usize..off as usize + len]);
                assert_eq!(s.read_vec_at(off, len).unwrap(), want);
                let mut reused = vec![1u8; 100_000];
                s.read_into_vec(off, len, &mut reused).unwrap();
                assert_eq!(reused, want);
                assert_eq!(&*s.read_bytes(off, len).unwrap(), &want[..]);
                // a stream in pieces of at most `chunk` bytes, in order
                let mut got = Vec::new();
                s.stream(off, len as u64, 700, &mut |p| {
                    assert!(!p.is_empty() && p.len() <= 700);
                    got.extend_from_slice(p);
                    Ok(())
                })
                .unwrap();
                assert_eq!(got, want);
            }
            let mut called = false;
            let e = s
                .stream(299_000, 1001, 4096, &mut |_| {
                    called = true;
                    Ok(())
                })
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::OutOfBounds, "{}", s.name());
            assert!(!called, "nothing handed out before the bounds check");
            let e = s.read_vec_at(299_000, 1001).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::OutOfBounds, "{}", s.name());
            let e = s.read_bytes(299_000, 1001).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::OutOfBounds, "{}", s.name());
        }
        // a window over the map hands out the parent's bytes, within its own bounds
        let w = crate::source::Window::new(Arc::new(mapped), 97, 1000, "w");
        assert_eq!(&*w.read_bytes(3, 997).unwrap(), &bytes[100..1097]);
        let e = w.read_bytes(3, 998).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OutOfBounds);
        // and streams them, from its own offset 0
        let mut got = Vec::new();
        w.stream(3, 997, 64, &mut |p| {
            got.extend_from_slice(p);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, &bytes[100..1097]);
        let e = w.stream(3, 998, 64, &mut |_| Ok(())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OutOfBounds);
    }
}
