//! A window on another source: a partition or slice.

use super::{Bytes, ReadPath, SharedSource, Source, check_bounds, range_end};
use crate::error::Result;

/// Bytes `[start, start + len)` of a parent source, addressed from 0.
pub struct Window {
    parent: SharedSource,
    start: u64,
    len: u64,
    label: String,
}

impl Window {
    /// A window of `len` bytes at `start` of `parent`, called `label` in messages
    /// (e.g. "s1").
    pub fn new(parent: SharedSource, start: u64, len: u64, label: impl Into<String>) -> Self {
        Window {
            parent,
            start,
            len,
            label: label.into(),
        }
    }

    /// Offset of the window in its parent.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The parent source.
    pub fn parent(&self) -> &SharedSource {
        &self.parent
    }
}

impl Source for Window {
    fn name(&self) -> String {
        format!("{} ({})", self.parent.name(), self.label)
    }
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_bounds(&|| self.name(), offset, buf.len(), self.len)?;
        self.parent.read_at(self.start + offset, buf)
    }
    fn read_into_vec(&self, offset: u64, len: usize, buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        check_bounds(&|| self.name(), offset, len, self.len)?;
        self.parent.read_into_vec(self.start + offset, len, buf)
    }
    fn read_bytes(&self, offset: u64, len: usize) -> Result<Bytes> {
        check_bounds(&|| self.name(), offset, len, self.len)?;
        self.parent.read_bytes(self.start + offset, len)
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        check_bounds(&|| self.name(), offset, buf.len(), self.len)?;
        self.parent.write_at(self.start + offset, buf)
    }
    fn flush(&self) -> Result<()> {
        self.parent.flush()
    }
    fn writable(&self) -> bool {
        self.parent.writable()
    }
    fn logical_sector_size(&self) -> Option<u32> {
        self.parent.logical_sector_size()
    }
    fn identity(&self) -> String {
        format!("{}+{}:{}", self.parent.identity(), self.start, self.len)
    }
    fn stream(
        &self,
        offset: u64,
        len: u64,
        chunk: usize,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        range_end(&|| self.name(), offset, len, self.len)?;
        self.parent.stream(self.start + offset, len, chunk, sink)
    }
    fn read_uncached(&self, offset: u64, buf: &mut [u8]) -> Result<ReadPath> {
        check_bounds(&|| self.name(), offset, buf.len(), self.len)?;
        self.parent.read_uncached(self.start + offset, buf)
    }
}
