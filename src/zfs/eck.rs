//! The embedded checksum (`zio_eck_t`) that seals vdev label blocks.
//!
//! On disk, the last 40 bytes of a label block (the 112 KiB `vdev_phys`,
//! each uberblock slot, the 8 KiB boot-environment block) hold a u64 magic
//! `0x0210da7ab10c7a11` followed by four u64 checksum words, all in the
//! writer's byte order. The checksum is SHA-256 of the whole block with the
//! four words replaced by a *verifier*: the block's absolute byte offset on
//! the vdev, then three zero words, encoded in the block's byte order. The
//! 32-byte digest is read as four big-endian u64 words, which are then stored
//! in the block's byte order.

use crate::error::{Error, Result};
use crate::zfs::ByteOrder;
use sha2::{Digest, Sha256};

/// `ZEC_MAGIC`: the magic word of an embedded checksum trailer.
pub const ZEC_MAGIC: u64 = 0x0210_da7a_b10c_7a11;
/// Size of the `zio_eck_t` trailer: magic + four checksum words.
pub const ECK_SIZE: usize = 40;

/// What checking one block's embedded checksum found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EckCheck {
    /// Byte order told by the trailer's magic; `None` when there is no magic.
    pub endian: Option<ByteOrder>,
    /// The four checksum words stored in the trailer (decoded in `endian`).
    pub stored: [u64; 4],
    /// The four words the block should carry (when `endian` is known).
    pub computed: [u64; 4],
}

impl EckCheck {
    /// Whether the magic was found and the stored checksum matches.
    pub fn valid(&self) -> bool {
        self.endian.is_some() && self.stored == self.computed
    }
}

/// Byte order of the trailer magic of `block`, if the magic is there.
pub fn trailer_endian(block: &[u8]) -> Option<ByteOrder> {
    let n = block.len().checked_sub(ECK_SIZE)?;
    let b: [u8; 8] = block.get(n..n + 8)?.try_into().ok()?;
    ByteOrder::of_magic(b, ZEC_MAGIC)
}

/// The checksum words `block` should carry at `abs_offset` in byte order
/// `endian` (the magic bytes are hashed as they are in `block`).
pub fn compute(block: &[u8], abs_offset: u64, endian: ByteOrder) -> [u64; 4] {
    let n = block.len().saturating_sub(32);
    let mut h = Sha256::new();
    h.update(&block[..n]);
    h.update(endian.put_u64(abs_offset));
    h.update([0u8; 24]);
    let d = h.finalize();
    let mut words = [0u64; 4];
    for (i, w) in words.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[8 * i..8 * i + 8]);
        *w = u64::from_be_bytes(b);
    }
    words
}

/// Checks the embedded checksum of `block`, which lies at `abs_offset` on
/// its vdev, and reports what it found (never fails).
pub fn inspect(block: &[u8], abs_offset: u64) -> EckCheck {
    let endian = if block.len() >= ECK_SIZE {
        trailer_endian(block)
    } else {
        None
    };
    let Some(e) = endian else {
        return EckCheck {
            endian: None,
            stored: [0; 4],
            computed: [0; 4],
        };
    };
    let base = block.len() - 32;
    let mut stored = [0u64; 4];
    for (i, w) in stored.iter_mut().enumerate() {
        *w = e.u64(block, base + 8 * i).unwrap_or(0);
    }
    EckCheck {
        endian,
        stored,
        computed: compute(block, abs_offset, e),
    }
}

/// Verifies the embedded checksum of `block` at `abs_offset`; returns the
/// block's byte order. `Corrupt` names the trailer's offset when the magic
/// is missing or the checksum does not match.
pub fn verify(block: &[u8], abs_offset: u64) -> Result<ByteOrder> {
    let trailer = abs_offset.saturating_add(block.len().saturating_sub(ECK_SIZE) as u64);
    if block.len() < ECK_SIZE {
        return Err(Error::corrupt(
            "embedded checksum",
            abs_offset,
            format!("block of {} bytes is too small for a trailer", block.len()),
        ));
    }
    let c = inspect(block, abs_offset);
    match c.endian {
        None => Err(Error::corrupt(
            "embedded checksum",
            trailer,
            "no zio_eck magic 0x0210da7ab10c7a11 (either byte order)",
        )),
        Some(e) if c.stored != c.computed => Err(Error::corrupt(
            "embedded checksum",
            trailer,
            format!(
                "SHA-256 mismatch ({e}): stored {}, computed {}",
                words_hex(&c.stored),
                words_hex(&c.computed)
            ),
        )),
        Some(e) => Ok(e),
    }
}

/// Seals `block` (which will lie at `abs_offset`): writes the trailer magic
/// in `endian`, then the checksum words. Blocks shorter than the trailer are
/// left as they are.
pub fn seal(block: &mut [u8], abs_offset: u64, endian: ByteOrder) {
    let Some(n) = block.len().checked_sub(ECK_SIZE) else {
        return;
    };
    block[n..n + 8].copy_from_slice(&endian.put_u64(ZEC_MAGIC));
    let words = compute(block, abs_offset, endian);
    for (i, w) in words.iter().enumerate() {
        let at = n + 8 + 8 * i;
        block[at..at + 8].copy_from_slice(&endian.put_u64(*w));
    }
}

/// Four checksum words as `w0:w1:w2:w3` in hex (zdb's style).
pub fn words_hex(w: &[u64; 4]) -> String {
    format!("{:x}:{:x}:{:x}:{:x}", w[0], w[1], w[2], w[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FreeBSD's zfsboot hardcodes this checksum of a zeroed, little-endian
    /// 8 KiB pad2 block at offset 8192.
    #[test]
    fn zero_pad2_little_endian_vector() {
        let mut b = vec![0u8; 8192];
        seal(&mut b, 8192, ByteOrder::Little);
        let c = inspect(&b, 8192);
        assert_eq!(
            c.stored,
            [
                0x97f48f807f6e2a3f,
                0xaf909f1658aacefc,
                0xcbd1ea57ff6db48b,
                0x6ec692db0d465fab
            ]
        );
        assert_eq!(verify(&b, 8192).unwrap(), ByteOrder::Little);
    }

    #[test]
    fn zero_pad2_big_endian_vector() {
        let mut b = vec![0u8; 8192];
        seal(&mut b, 8192, ByteOrder::Big);
        assert_eq!(
            hex::encode(&b[8192 - 32..]),
            "6f118554f2b8986482659e0928f7255ed9bf008cc84e819b37fd0eb6fc991501"
        );
        assert_eq!(verify(&b, 8192).unwrap(), ByteOrder::Big);
    }

    #[test]
    fn wrong_offset_or_flipped_bit_fails() {
        let mut b = vec![7u8; 1024];
        seal(&mut b, 0x20000, ByteOrder::Big);
        assert!(verify(&b, 0x20000).is_ok());
        assert!(verify(&b, 0x20400).is_err());
        b[17] ^= 1;
        let e = verify(&b, 0x20000).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{e}");
        assert_eq!(e.offset(), Some(0x203d8), "{e}");
    }

    #[test]
    fn no_magic_is_an_error_not_a_panic() {
        assert!(verify(&[0u8; 1024], 0).is_err());
        assert!(verify(&[0u8; 3], 0).is_err());
        assert!(!inspect(&[1u8; 7], 0).valid());
    }
}
