//! The byte order a ZFS structure was written in.
//!
//! ZFS writes in the host's order and records which: a magic number read
//! one way or the other (uberblock, embedded checksum trailer, SA header,
//! ZAP), bit 63 of a block pointer's property word, or byte 1 of a packed
//! nvlist's header. Readers find it once and pass it down; this is the one
//! type that carries it.

use std::fmt;

/// Byte order of an on-disk structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Written by a little-endian host (x86).
    Little,
    /// Written by a big-endian host (SPARC).
    Big,
}

impl ByteOrder {
    /// The 8 bytes `b` as a u64 in this order.
    pub fn word(self, b: [u8; 8]) -> u64 {
        match self {
            ByteOrder::Little => u64::from_le_bytes(b),
            ByteOrder::Big => u64::from_be_bytes(b),
        }
    }

    /// The u64 at `off` of `b`; `None` when it does not lie wholly inside.
    pub fn u64(self, b: &[u8], off: usize) -> Option<u64> {
        let s: [u8; 8] = b.get(off..off.checked_add(8)?)?.try_into().ok()?;
        Some(self.word(s))
    }

    /// The u32 at `off` of `b`; `None` when it does not lie wholly inside.
    pub fn u32(self, b: &[u8], off: usize) -> Option<u32> {
        let s: [u8; 4] = b.get(off..off.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            ByteOrder::Little => u32::from_le_bytes(s),
            ByteOrder::Big => u32::from_be_bytes(s),
        })
    }

    /// The u16 at `off` of `b`; `None` when it does not lie wholly inside.
    pub fn u16(self, b: &[u8], off: usize) -> Option<u16> {
        let s: [u8; 2] = b.get(off..off.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            ByteOrder::Little => u16::from_le_bytes(s),
            ByteOrder::Big => u16::from_be_bytes(s),
        })
    }

    /// `v` encoded in this order.
    pub fn put_u64(self, v: u64) -> [u8; 8] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }

    /// `v` encoded in this order.
    pub fn put_u32(self, v: u32) -> [u8; 4] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }

    /// `v` encoded in this order.
    pub fn put_u16(self, v: u16) -> [u8; 2] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }

    /// The order in which the 8 bytes `b` read as `magic`, if any.
    pub fn of_magic(b: [u8; 8], magic: u64) -> Option<ByteOrder> {
        if u64::from_le_bytes(b) == magic {
            Some(ByteOrder::Little)
        } else if u64::from_be_bytes(b) == magic {
            Some(ByteOrder::Big)
        } else {
            None
        }
    }

    /// `"little"` or `"big"`.
    pub fn name(self) -> &'static str {
        match self {
            ByteOrder::Little => "little",
            ByteOrder::Big => "big",
        }
    }

    /// The byte order of the machine we run on.
    pub fn native() -> ByteOrder {
        if cfg!(target_endian = "big") {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        }
    }
}

impl fmt::Display for ByteOrder {
    /// `little-endian` or `big-endian`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ByteOrder::Little => "little-endian",
            ByteOrder::Big => "big-endian",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_agree() {
        for bo in [ByteOrder::Little, ByteOrder::Big] {
            let b = bo.put_u64(0x0102_0304_0506_0708);
            assert_eq!(bo.word(b), 0x0102_0304_0506_0708);
            assert_eq!(bo.u64(&b, 0), Some(0x0102_0304_0506_0708));
            assert_eq!(bo.u64(&b, 1), None);
            assert_eq!(bo.u32(&bo.put_u32(7), 0), Some(7));
            assert_eq!(bo.u16(&bo.put_u16(9), 0), Some(9));
            assert_eq!(ByteOrder::of_magic(b, 0x0102_0304_0506_0708), Some(bo));
        }
        assert_eq!(ByteOrder::Big.put_u64(1)[7], 1);
        assert_eq!(ByteOrder::of_magic([0; 8], 1), None);
    }
}
