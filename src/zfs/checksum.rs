//! Block checksums: fletcher2, fletcher4 and SHA-256 over a block's physical
//! bytes, compared with the four checksum words of its block pointer.
//!
//! Fletcher sums read the data as 64-bit (fletcher2) or 32-bit (fletcher4)
//! words in the byte order the block was written in; SHA-256 stores its
//! digest as four big-endian words. In feature-flag pools (version 5000),
//! number 11 is SHA-512/256, whose digest is stored as four words in the
//! writer's byte order. Other algorithms (Skein, Edon-R, BLAKE3, and numbers
//! above 10 in Oracle's pools, whose meaning is not public) are reported as
//! unverified rather than failed.

use crate::zfs::blkptr::ByteOrder;
use sha2::{Digest, Sha256, Sha512_256};

/// `ZIO_CHECKSUM_*` numbers used on disk.
pub mod kind {
    /// Inherit (never on disk in a block pointer).
    pub const INHERIT: u8 = 0;
    /// "on" (never on disk in a block pointer).
    pub const ON: u8 = 1;
    /// No checksum.
    pub const OFF: u8 = 2;
    /// Label (SHA-256 embedded, verifier = offset).
    pub const LABEL: u8 = 3;
    /// Gang header (SHA-256 embedded, verifier = DVA and birth).
    pub const GANG_HEADER: u8 = 4;
    /// ZIL block (fletcher2 embedded).
    pub const ZILOG: u8 = 5;
    /// fletcher2.
    pub const FLETCHER_2: u8 = 6;
    /// fletcher4.
    pub const FLETCHER_4: u8 = 7;
    /// SHA-256.
    pub const SHA256: u8 = 8;
    /// ZIL block (fletcher4 embedded).
    pub const ZILOG2: u8 = 9;
    /// No parity checksum.
    pub const NOPARITY: u8 = 10;
    /// SHA-512/256 (feature-flag pools only).
    pub const SHA512: u8 = 11;
}

/// SPA version of feature-flag pools.
const FEATURE_FLAGS_VERSION: u64 = 5000;

/// Result of checking a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Computed and matching.
    Good,
    /// Computed and different: the copy is damaged.
    Bad([u64; 4]),
    /// Not computed (checksum off or an algorithm we do not implement).
    Unverified,
}

/// fletcher2 over 64-bit words (two interleaved lanes) in byte order `bo`.
pub fn fletcher2(data: &[u8], bo: ByteOrder) -> [u64; 4] {
    let (mut a0, mut a1, mut b0, mut b1) = (0u64, 0u64, 0u64, 0u64);
    for pair in data.chunks_exact(16) {
        let w0 = bo.u64(pair, 0).unwrap_or(0);
        let w1 = bo.u64(pair, 8).unwrap_or(0);
        a0 = a0.wrapping_add(w0);
        a1 = a1.wrapping_add(w1);
        b0 = b0.wrapping_add(a0);
        b1 = b1.wrapping_add(a1);
    }
    [a0, a1, b0, b1]
}

/// fletcher4 over 32-bit words in byte order `bo`.
pub fn fletcher4(data: &[u8], bo: ByteOrder) -> [u64; 4] {
    let (mut a, mut b, mut c, mut d) = (0u64, 0u64, 0u64, 0u64);
    for w in data.chunks_exact(4) {
        let v = bo.u32(w, 0).unwrap_or(0) as u64;
        a = a.wrapping_add(v);
        b = b.wrapping_add(a);
        c = c.wrapping_add(b);
        d = d.wrapping_add(c);
    }
    [a, b, c, d]
}

/// SHA-256 as ZFS stores it: the digest as four big-endian words.
pub fn sha256(data: &[u8]) -> [u64; 4] {
    let digest = Sha256::digest(data);
    let mut out = [0u64; 4];
    for (i, w) in out.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&digest[i * 8..i * 8 + 8]);
        *w = u64::from_be_bytes(b);
    }
    out
}

/// SHA-512/256 as OpenZFS stores it: the digest's four 8-byte words read in
/// the byte order `bo` of the block (the writer's native order).
pub fn sha512_256(data: &[u8], bo: ByteOrder) -> [u64; 4] {
    let digest = Sha512_256::digest(data);
    let mut out = [0u64; 4];
    for (i, w) in out.iter_mut().enumerate() {
        *w = bo.u64(&digest, i * 8).unwrap_or(0);
    }
    out
}

/// Whether kzrescue computes checksum `algo` in a pool of SPA `version`
/// (feature-flag pools add SHA-512/256 as number 11; elsewhere numbers
/// above 10 are Oracle's and unknown).
pub fn computable(version: u64, algo: u8) -> bool {
    match algo {
        kind::FLETCHER_2 | kind::ZILOG | kind::FLETCHER_4 | kind::ZILOG2 => true,
        kind::SHA256 | kind::LABEL | kind::GANG_HEADER => true,
        kind::SHA512 => version >= FEATURE_FLAGS_VERSION,
        _ => false,
    }
}

/// Computes checksum `algo` of `data` (written in byte order `bo`) as a pool
/// of SPA `version` numbers it, or None when it is not [`computable`].
pub fn compute(version: u64, algo: u8, data: &[u8], bo: ByteOrder) -> Option<[u64; 4]> {
    if !computable(version, algo) {
        return None;
    }
    Some(match algo {
        kind::FLETCHER_2 | kind::ZILOG => fletcher2(data, bo),
        kind::FLETCHER_4 | kind::ZILOG2 => fletcher4(data, bo),
        kind::SHA512 => sha512_256(data, bo),
        _ => sha256(data),
    })
}

/// Checks `data` against `expected` with algorithm `algo` of a pool of SPA
/// `version`.
pub fn verify(version: u64, algo: u8, data: &[u8], bo: ByteOrder, expected: &[u64; 4]) -> Verdict {
    match compute(version, algo, data, bo) {
        Some(got) if &got == expected => Verdict::Good,
        Some(got) => Verdict::Bad(got),
        None => Verdict::Unverified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_256_words_follow_the_block_byte_order() {
        // FIPS 180-4 example: SHA-512/256("abc") = 53048e26 81941ef9 …
        let be = sha512_256(b"abc", ByteOrder::Big);
        assert_eq!(be[0], 0x5304_8e26_8194_1ef9);
        assert_eq!(be[3], 0xe0e2_f131_07e7_af23);
        let le = sha512_256(b"abc", ByteOrder::Little);
        assert_eq!(le[0], 0x5304_8e26_8194_1ef9u64.swap_bytes());
        // only feature-flag pools give number 11 that meaning
        let v = verify(28, kind::SHA512, b"abc", ByteOrder::Big, &be);
        assert_eq!(v, Verdict::Unverified);
        let v = verify(5000, kind::SHA512, b"abc", ByteOrder::Big, &be);
        assert_eq!(v, Verdict::Good);
        let v = verify(5000, kind::SHA512, b"abd", ByteOrder::Big, &be);
        assert!(matches!(v, Verdict::Bad(_)));
    }

    #[test]
    fn fletcher4_small() {
        // words 1,2 little endian: a=3, b=1+3=4, c=1+4=5, d=1+5=6
        let data = [1, 0, 0, 0, 2, 0, 0, 0];
        assert_eq!(fletcher4(&data, ByteOrder::Little), [3, 4, 5, 6]);
        let data = [0, 0, 0, 1, 0, 0, 0, 2];
        assert_eq!(fletcher4(&data, ByteOrder::Big), [3, 4, 5, 6]);
    }

    #[test]
    fn fletcher2_small() {
        let mut data = vec![0u8; 32];
        data[0] = 1;
        data[8] = 2;
        data[16] = 3;
        data[24] = 4;
        assert_eq!(fletcher2(&data, ByteOrder::Little), [4, 6, 5, 8]);
    }

    #[test]
    fn sha256_words_big_endian() {
        let w = sha256(b"abc");
        assert_eq!(w[0], 0xba7816bf8f01cfea);
    }
}
