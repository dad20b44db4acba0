//! Bytes already in memory, seen as a read-only device: a buffer read from
//! elsewhere, or a crafted image in tests and fuzzing.

use super::{Source, check_bounds};
use crate::error::Result;

/// A byte slice as a [`Source`]; reads past its end are errors that name
/// the offset, like any other source.
pub struct MemSource<'a> {
    bytes: &'a [u8],
}

impl<'a> MemSource<'a> {
    /// Wraps `bytes`.
    pub fn new(bytes: &'a [u8]) -> MemSource<'a> {
        MemSource { bytes }
    }
}

impl Source for MemSource<'_> {
    fn name(&self) -> String {
        "memory".into()
    }
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_bounds(&|| self.name(), offset, buf.len(), self.size())?;
        let o = offset as usize;
        buf.copy_from_slice(&self.bytes[o..o + buf.len()]);
        Ok(())
    }
    fn read_into_vec(&self, offset: u64, len: usize, buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        check_bounds(&|| self.name(), offset, len, self.size())?;
        let o = offset as usize;
        buf.extend_from_slice(&self.bytes[o..o + len]);
        Ok(())
    }
}
