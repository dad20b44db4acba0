//! Block pointers (`blkptr_t`): the 128-byte address of every ZFS block.
//!
//! A block pointer is sixteen 64-bit words in the byte order of the block
//! that contains it: three DVAs (words 0–5), the property word (6), two
//! padding words (7–8), the physical birth txg (9), the logical birth txg
//! (10), the fill count (11) and four checksum words (12–15). An *embedded*
//! block pointer instead carries up to 112 bytes of (compressed) data in
//! every word except the property word and the logical birth. See
//! `formats/blkptr.md`.

use crate::error::{Error, Result};
use std::fmt;

/// Size of an on-disk block pointer.
pub const BLKPTR_SIZE: usize = 128;

pub use crate::zfs::byteorder::ByteOrder;

/// A data virtual address: which top-level vdev, where, how much.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Dva {
    /// Top-level vdev id (bits 32–55 of word 0).
    pub vdev: u32,
    /// Gang/RAID-Z "grid" byte (bits 24–31 of word 0), unused by readers.
    pub grid: u8,
    /// Allocated size in bytes (bits 0–23 of word 0, in 512-byte sectors).
    pub asize: u64,
    /// Byte offset inside the vdev's allocatable area (bits 0–62 of word 1,
    /// in 512-byte sectors); the leaf byte is this plus 4 MiB.
    pub offset: u64,
    /// Gang flag (bit 63 of word 1): the DVA points at a gang header.
    pub gang: bool,
}

impl Dva {
    /// Decodes a DVA from its two words.
    pub fn from_words(w0: u64, w1: u64) -> Dva {
        Dva {
            vdev: ((w0 >> 32) & 0x00ff_ffff) as u32,
            grid: ((w0 >> 24) & 0xff) as u8,
            asize: (w0 & 0x00ff_ffff) << 9,
            offset: (w1 & !(1u64 << 63)) << 9,
            gang: w1 >> 63 != 0,
        }
    }
    /// A DVA is empty when both its words are zero.
    pub fn is_empty(&self) -> bool {
        self.asize == 0 && self.offset == 0 && self.vdev == 0 && !self.gang && self.grid == 0
    }
}

impl fmt::Display for Dva {
    /// zdb's `<vdev:offset:asize>` notation (hex), with a `G` suffix for gang DVAs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<{}:{:x}:{:x}{}>",
            self.vdev,
            self.offset,
            self.asize,
            if self.gang { "G" } else { "" }
        )
    }
}

/// Where a block's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// A hole: nothing allocated, reads as zeros (birth txg may say when it was punched).
    Hole,
    /// Up to three copies on vdevs.
    Dvas(Vec<Dva>),
    /// Data stored inside the block pointer itself (`psize` bytes, maybe compressed).
    Embedded {
        /// Embedded-data type (0 = normal data, 1 = reserved, 2 = redacted).
        etype: u8,
        /// The payload bytes.
        data: Vec<u8>,
    },
}

/// A decoded block pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlkPtr {
    /// Copies, embedded payload or hole.
    pub payload: Payload,
    /// Logical (uncompressed) size in bytes.
    pub lsize: u64,
    /// Physical (compressed) size in bytes.
    pub psize: u64,
    /// Compression function (`zio_compress` number).
    pub compress: u8,
    /// Checksum function (`zio_checksum` number); meaningless for embedded.
    pub checksum: u8,
    /// DMU object type of the block.
    pub object_type: u8,
    /// Indirection level (0 = data).
    pub level: u8,
    /// Dedup bit.
    pub dedup: bool,
    /// Encryption/authentication bit (bit 61).
    pub crypt: bool,
    /// Byte order of the block's contents.
    pub byteorder: ByteOrder,
    /// Physical birth txg (0 means "same as logical").
    pub phys_birth: u64,
    /// Logical birth txg.
    pub birth: u64,
    /// Fill count (number of non-hole blocks below; objects for dnode blocks).
    pub fill: u64,
    /// The four checksum words.
    pub cksum: [u64; 4],
}

/// Embedded-data type "data" (`BP_EMBEDDED_TYPE_DATA`).
pub const EMBEDDED_DATA: u8 = 0;

impl BlkPtr {
    /// Decodes 128 bytes written in byte order `bo`.
    pub fn decode(raw: &[u8], bo: ByteOrder) -> Result<BlkPtr> {
        if raw.len() < BLKPTR_SIZE {
            return Err(Error::corrupt(
                "blkptr",
                0,
                format!("{} bytes, need 128", raw.len()),
            ));
        }
        let mut w = [0u64; 16];
        for (i, word) in w.iter_mut().enumerate() {
            *word = bo.u64(raw, i * 8).unwrap_or(0);
        }
        Ok(Self::from_words(&w))
    }

    /// Decodes the sixteen words of a block pointer (already in host order).
    pub fn from_words(w: &[u64; 16]) -> BlkPtr {
        let prop = w[6];
        let embedded = prop >> 39 & 1 != 0;
        let byteorder = if prop >> 63 != 0 {
            ByteOrder::Little
        } else {
            ByteOrder::Big
        };
        let compress = ((prop >> 32) & 0x7f) as u8;
        let object_type = ((prop >> 48) & 0xff) as u8;
        let level = ((prop >> 56) & 0x1f) as u8;
        let dedup = prop >> 62 & 1 != 0;
        let crypt = prop >> 61 & 1 != 0;
        if embedded {
            let lsize = (prop & 0x1ff_ffff) + 1;
            let psize = ((prop >> 25) & 0x7f) + 1;
            let etype = ((prop >> 40) & 0xff) as u8;
            // Payload words: every word but 6 (prop) and 10 (birth); bytes
            // are taken least significant first from each word's value.
            let mut data = Vec::with_capacity(psize as usize);
            'outer: for (i, word) in w.iter().enumerate() {
                if i == 6 || i == 10 {
                    continue;
                }
                for j in 0..8 {
                    if data.len() as u64 >= psize {
                        break 'outer;
                    }
                    data.push((word >> (8 * j)) as u8);
                }
            }
            return BlkPtr {
                payload: Payload::Embedded { etype, data },
                lsize,
                psize,
                compress,
                checksum: 0,
                object_type,
                level,
                dedup,
                crypt,
                byteorder,
                phys_birth: 0,
                birth: w[10],
                fill: 1,
                cksum: [0; 4],
            };
        }
        let dvas: Vec<Dva> = (0..3)
            .map(|i| Dva::from_words(w[2 * i], w[2 * i + 1]))
            .filter(|d| !d.is_empty())
            .collect();
        let first_empty = w[0] == 0 && w[1] == 0;
        let payload = if first_empty {
            Payload::Hole
        } else {
            Payload::Dvas(dvas)
        };
        BlkPtr {
            payload,
            lsize: ((prop & 0xffff) + 1) << 9,
            psize: (((prop >> 16) & 0xffff) + 1) << 9,
            compress,
            checksum: ((prop >> 40) & 0xff) as u8,
            object_type,
            level,
            dedup,
            crypt,
            byteorder,
            phys_birth: w[9],
            birth: w[10],
            fill: w[11],
            cksum: [w[12], w[13], w[14], w[15]],
        }
    }

    /// Whether this is a hole.
    pub fn is_hole(&self) -> bool {
        matches!(self.payload, Payload::Hole)
    }

    /// Whether the data is embedded in the pointer.
    pub fn is_embedded(&self) -> bool {
        matches!(self.payload, Payload::Embedded { .. })
    }

    /// The DVAs (empty for holes and embedded pointers).
    pub fn dvas(&self) -> &[Dva] {
        match &self.payload {
            Payload::Dvas(d) => d,
            _ => &[],
        }
    }

    /// Physical birth txg, falling back to the logical one.
    pub fn physical_birth(&self) -> u64 {
        if self.phys_birth != 0 {
            self.phys_birth
        } else {
            self.birth
        }
    }

    /// Byte offset of the first DVA on its vdev (past the front labels and
    /// boot area), for messages; `None` for a hole or an embedded pointer.
    pub fn phys_offset(&self) -> Option<u64> {
        self.dvas()
            .first()
            .map(|d| d.offset.saturating_add(crate::zfs::leaf::LABEL_START))
    }

    /// The DVAs as text (`vdev:offset:asize`, comma-separated), or "hole" /
    /// "embedded".
    pub fn where_(&self) -> String {
        match &self.payload {
            Payload::Hole => "hole".into(),
            Payload::Embedded { .. } => "embedded".into(),
            Payload::Dvas(d) => d
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

impl fmt::Display for BlkPtr {
    /// A one-line summary in the spirit of zdb's `snprintf_blkptr`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.payload {
            Payload::Hole => write!(f, "HOLE [L{}] birth={}L", self.level, self.birth),
            Payload::Embedded { etype, .. } => write!(
                f,
                "EMBEDDED et={} [L{} type {}] {} {} size={:x}L/{:x}P birth={}L",
                etype,
                self.level,
                self.object_type,
                compress_name(self.compress),
                byteorder_name(self.byteorder),
                self.lsize,
                self.psize,
                self.birth
            ),
            Payload::Dvas(d) => {
                for (i, dva) in d.iter().enumerate() {
                    write!(f, "DVA[{i}]={dva} ")?;
                }
                write!(
                    f,
                    "[L{} type {}] {} {} {} size={:x}L/{:x}P birth={}L/{}P fill={} cksum={:x}:{:x}:{:x}:{:x}",
                    self.level,
                    self.object_type,
                    checksum_name(self.checksum),
                    compress_name(self.compress),
                    byteorder_name(self.byteorder),
                    self.lsize,
                    self.psize,
                    self.birth,
                    self.physical_birth(),
                    self.fill,
                    self.cksum[0],
                    self.cksum[1],
                    self.cksum[2],
                    self.cksum[3]
                )
            }
        }
    }
}

fn byteorder_name(b: ByteOrder) -> &'static str {
    match b {
        ByteOrder::Little => "LE",
        ByteOrder::Big => "BE",
    }
}

/// Name of a `zio_checksum` value, as zdb prints it.
pub fn checksum_name(c: u8) -> &'static str {
    match c {
        0 => "inherit",
        1 => "on",
        2 => "off",
        3 => "label",
        4 => "gang_header",
        5 => "zilog",
        6 => "fletcher2",
        7 => "fletcher4",
        8 => "sha256",
        9 => "zilog2",
        10 => "noparity",
        11 => "sha512",
        12 => "skein",
        13 => "edonr",
        14 => "blake3",
        _ => "unknown",
    }
}

/// Name of a `zio_compress` value, as zdb prints it.
pub fn compress_name(c: u8) -> &'static str {
    match c {
        0 => "inherit",
        1 => "on",
        2 => "uncompressed",
        3 => "lzjb",
        4 => "empty",
        5 => "gzip-1",
        6 => "gzip-2",
        7 => "gzip-3",
        8 => "gzip-4",
        9 => "gzip-5",
        10 => "gzip-6",
        11 => "gzip-7",
        12 => "gzip-8",
        13 => "gzip-9",
        14 => "zle",
        15 => "lz4",
        16 => "zstd",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dva_fields() {
        let d = Dva::from_words(0x0000_0001_0000_0003, (1u64 << 63) | 0x21);
        assert_eq!(d.vdev, 1);
        assert_eq!(d.asize, 3 * 512);
        assert_eq!(d.offset, 0x21 * 512);
        assert!(d.gang);
    }

    #[test]
    fn embedded_payload_skips_prop_and_birth() {
        let mut w = [0u64; 16];
        for (i, x) in w.iter_mut().enumerate() {
            *x = 0x0101_0101_0101_0101u64 * i as u64;
        }
        // embedded, psize 112, lsize 200, little endian
        w[6] = (1 << 63) | (1 << 39) | (111 << 25) | 199;
        let bp = BlkPtr::from_words(&w);
        let Payload::Embedded { data, .. } = &bp.payload else {
            panic!("not embedded")
        };
        assert_eq!(data.len(), 112);
        assert_eq!(bp.lsize, 200);
        assert_eq!(&data[0..8], &[0; 8]);
        assert_eq!(&data[48..56], &[7; 8]);
        assert_eq!(&data[72..80], &[11; 8]);
    }

    proptest! {
        #[test]
        fn decode_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..200), be in any::<bool>()) {
            let bo = if be { ByteOrder::Big } else { ByteOrder::Little };
            if let Ok(bp) = BlkPtr::decode(&raw, bo) {
                let _ = bp.to_string();
                prop_assert!(bp.lsize >= 1);
                if let Payload::Embedded { data, .. } = &bp.payload {
                    prop_assert!(data.len() as u64 == bp.psize.min(112));
                }
            }
        }
    }
}
