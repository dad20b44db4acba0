//! A leaf vdev (a disk or file) as ZFS lays it out: labels 0 and 1
//! (2 × 256 KiB) and the 3.5 MiB boot area in front, the allocatable space
//! that DVA offsets count from, labels 2 and 3 (2 × 256 KiB) behind it.
//! The labels themselves are [`crate::zfs::label`]; this module is where the
//! allocatable space lies and how it is read.

use crate::error::{Error, Result};
use crate::source::Source;

/// Bytes in front of a leaf's allocatable space: labels 0 and 1 (2 × 256 KiB)
/// and the 3.5 MiB boot area. A DVA offset `o` is byte `o + LABEL_START` of
/// the leaf.
pub const LABEL_START: u64 = 4 << 20;
/// Bytes behind it: labels 2 and 3.
pub const LABEL_END: u64 = 512 << 10;

/// Reads `size` bytes at `offset` of `src`'s allocatable space (past the
/// front labels); an offset or size that reaches into the back labels, or
/// past the end, is an error naming the leaf and the byte.
pub fn read(src: &dyn Source, offset: u64, size: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_into(src, offset, size, &mut buf)?;
    Ok(buf)
}

/// [`read`] into `buf`, whose contents it replaces (reusing its allocation).
pub fn read_into(src: &dyn Source, offset: u64, size: usize, buf: &mut Vec<u8>) -> Result<()> {
    let phys = offset
        .checked_add(LABEL_START)
        .ok_or_else(|| Error::corrupt("DVA", offset, "offset overflows"))?;
    let end = phys.saturating_add(size as u64);
    if end > src.size().saturating_sub(LABEL_END) {
        return Err(Error::corrupt(
            "DVA",
            phys,
            format!(
                "{size} bytes reach past the allocatable end of {}",
                src.name()
            ),
        ));
    }
    src.read_into_vec(phys, size, buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::source::MemSource;

    #[test]
    fn reads_past_the_front_labels_and_stops_at_the_back_ones() {
        let size = (LABEL_START + LABEL_END + 8192) as usize;
        let mut bytes = vec![0u8; size];
        bytes[LABEL_START as usize..LABEL_START as usize + 4].copy_from_slice(b"zfs!");
        let src = MemSource::new(&bytes);
        assert_eq!(read(&src, 0, 4).unwrap(), b"zfs!");
        assert_eq!(read(&src, 0, 8192).unwrap().len(), 8192);
        let e = read(&src, 4096, 8192).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert_eq!(e.offset(), Some(LABEL_START + 4096));
        assert_eq!(
            read(&src, u64::MAX - 1, 1).unwrap_err().kind(),
            ErrorKind::Corrupt
        );
    }
}
