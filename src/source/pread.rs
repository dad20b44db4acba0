//! A read-only regular file read with positioned reads instead of a memory
//! map: whole-image scans (manifests of large datasets) then leave the data
//! in the page cache without counting it in the process's resident memory.

use crate::error::{Error, Result};
use crate::source::{Source, check_bounds};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A regular file opened read-only, read with `pread`.
pub struct PreadFile {
    file: std::fs::File,
    size: u64,
    name: String,
}

impl PreadFile {
    /// Opens `path` read-only.
    pub fn open(path: &Path) -> Result<PreadFile> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| Error::io(format!("open {name}"), e))?;
        let size = file
            .metadata()
            .map_err(|e| Error::io(format!("stat {name}"), e))?
            .len();
        Ok(PreadFile { file, size, name })
    }
}

impl Source for PreadFile {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_bounds(&|| self.name.clone(), offset, buf.len(), self.size)?;
        self.file.read_exact_at(buf, offset).map_err(|e| {
            Error::io(
                format!("read {} bytes at {offset:#x} of {}", buf.len(), self.name),
                e,
            )
        })
    }
    fn read_into_vec(&self, offset: u64, len: usize, buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        check_bounds(&|| self.name.clone(), offset, len, self.size)?;
        super::file::pread_into(&self.file, offset, len, buf).map_err(|e| {
            Error::io(
                format!("read {len} bytes at {offset:#x} of {}", self.name),
                e,
            )
        })
    }
}
