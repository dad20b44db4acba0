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

use crate::zfs::ByteOrder;
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

/// fletcher4 over 32-bit words in byte order `bo`: four running sums, each
/// adding the one before it after every word (a += w, b += a, c += b,
/// d += c), modulo 2^64. On CPUs with AVX2 the bulk is summed in `LANES`
/// interleaved lanes of vector adds and the lanes' sums are then combined
/// into those of the one sequential stream (about five times the word-by-word
/// speed); elsewhere it is [`fletcher4_scalar`], the definition itself (the
/// baseline SSE2 build of the lane loop is slower than the scalar loop).
pub fn fletcher4(data: &[u8], bo: ByteOrder) -> [u64; 4] {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        return fletcher4_lanes(
            data,
            bo,
            simd::lane_sums_avx2::<false>,
            simd::lane_sums_avx2::<true>,
        );
    }
    fletcher4_scalar(data, bo)
}

/// A lane sum function for each byte order.
type LaneSums = fn(&[[[u8; 4]; LANES]]) -> [[u64; LANES]; 4];

/// fletcher4 through a lane loop: the whole groups of [`LANES`] words in
/// lanes, combined, then the remaining words one by one.
fn fletcher4_lanes(data: &[u8], bo: ByteOrder, little: LaneSums, big: LaneSums) -> [u64; 4] {
    let (words, _) = data.as_chunks::<4>();
    let (groups, tail) = words.as_chunks::<LANES>();
    let lanes = match bo {
        ByteOrder::Little => little(groups),
        ByteOrder::Big => big(groups),
    };
    let mut s = combine(&lanes);
    for w in tail {
        add_word(&mut s, word(*w, bo));
    }
    s
}

/// fletcher4 word by word: the definition the lanes of [`fletcher4`] must
/// reproduce.
pub fn fletcher4_scalar(data: &[u8], bo: ByteOrder) -> [u64; 4] {
    let mut s = [0u64; 4];
    for w in data.as_chunks::<4>().0 {
        add_word(&mut s, word(*w, bo));
    }
    s
}

/// Interleaved lanes of [`fletcher4`]: lane `j` sums words `j`, `j + LANES`,
/// `j + 2·LANES`… Eight 64-bit lanes fill two AVX2 (four SSE2) registers per
/// sum.
const LANES: usize = 8;

fn word(w: [u8; 4], bo: ByteOrder) -> u64 {
    u64::from(match bo {
        ByteOrder::Little => u32::from_le_bytes(w),
        ByteOrder::Big => u32::from_be_bytes(w),
    })
}

fn add_word(s: &mut [u64; 4], w: u64) {
    s[0] = s[0].wrapping_add(w);
    s[1] = s[1].wrapping_add(s[0]);
    s[2] = s[2].wrapping_add(s[1]);
    s[3] = s[3].wrapping_add(s[2]);
}

/// The four sums of each lane over `groups` (one word per lane each), as
/// plain array code the optimiser vectorises (built for AVX2 in [`simd`]).
#[inline(always)]
fn lane_sums_generic<const BIG: bool>(groups: &[[[u8; 4]; LANES]]) -> [[u64; LANES]; 4] {
    let (mut a, mut b, mut c, mut d) = ([0u64; LANES], [0u64; LANES], [0u64; LANES], [0u64; LANES]);
    for g in groups {
        for l in 0..LANES {
            let w = u64::from(if BIG {
                u32::from_be_bytes(g[l])
            } else {
                u32::from_le_bytes(g[l])
            });
            a[l] = a[l].wrapping_add(w);
            b[l] = b[l].wrapping_add(a[l]);
            c[l] = c[l].wrapping_add(b[l]);
            d[l] = d[l].wrapping_add(c[l]);
        }
    }
    [a, b, c, d]
}

/// The one place fletcher4 needs `unsafe`: calling the AVX2 build of the
/// lane loop. The code is the same safe array code as the baseline; only
/// the instructions the compiler may choose differ.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod simd {
    use super::{LANES, lane_sums_generic};

    #[target_feature(enable = "avx2")]
    fn avx2<const BIG: bool>(groups: &[[[u8; 4]; LANES]]) -> [[u64; LANES]; 4] {
        lane_sums_generic::<BIG>(groups)
    }

    /// The lane loop built for AVX2. Callers have checked
    /// `is_x86_feature_detected!("avx2")`.
    pub(super) fn lane_sums_avx2<const BIG: bool>(
        groups: &[[[u8; 4]; LANES]],
    ) -> [[u64; LANES]; 4] {
        debug_assert!(std::is_x86_feature_detected!("avx2"));
        // SAFETY: the only precondition of a `target_feature` function is
        // that the CPU has the feature; the one caller has just asked the
        // CPU (`is_x86_feature_detected!`, cpuid) and got yes.
        unsafe { avx2::<BIG>(groups) }
    }
}

/// The sums of the whole stream from the sums of its [`LANES`] lanes.
///
/// With `m` words per lane, word `k` of lane `j` is word `kL + j` of the
/// stream (L lanes, 0-based), which leaves `u = L·t − j` words to the end
/// counting itself, where `t = m − k` is its own count within the lane. The
/// stream weighs it by `u`, `C(u+1, 2)` and `C(u+2, 3)` in b, c and d; the
/// lane by `t`, `C(t+1, 2)` and `C(t+2, 3)`. Each stream weight is a cubic
/// in t and so a fixed integer mix of the lane weights 1, t, C(t+1,2),
/// C(t+2,3) — those mixes are the factors below (negative ones wrap, as the
/// sums themselves do modulo 2^64):
///
/// * b: `L·b_j − j·a_j`
/// * c: `L²·c_j + (L − 2jL − L²)/2·b_j + C(j,2)·a_j`
/// * d: `L³·d_j + L²(1 − j − L)·c_j + (L³ − 3L²(1−j) + L(3j² − 6j + 2))/6·b_j − C(j,3)·a_j`
#[allow(clippy::needless_range_loop)] // j is a weight as well as an index
fn combine<const L: usize>(lanes: &[[u64; L]; 4]) -> [u64; 4] {
    let n = L as i128;
    let f = |x: i128| x as u64; // modulo 2^64, two's complement for negatives
    let mut s = [0u64; 4];
    for j in 0..L {
        let [a, b, c, d] = [lanes[0][j], lanes[1][j], lanes[2][j], lanes[3][j]];
        let k = j as i128;
        let c2 = k * (k - 1) / 2;
        let c3 = k * (k - 1) * (k - 2) / 6;
        s[0] = s[0].wrapping_add(a);
        s[1] = s[1]
            .wrapping_add(b.wrapping_mul(f(n)))
            .wrapping_sub(a.wrapping_mul(f(k)));
        s[2] = s[2]
            .wrapping_add(c.wrapping_mul(f(n * n)))
            .wrapping_add(b.wrapping_mul(f((n - 2 * k * n - n * n) / 2)))
            .wrapping_add(a.wrapping_mul(f(c2)));
        s[3] = s[3]
            .wrapping_add(d.wrapping_mul(f(n * n * n)))
            .wrapping_add(c.wrapping_mul(f(n * n * (1 - k - n))))
            .wrapping_add(b.wrapping_mul(f((n * n * n - 3 * n * n * (1 - k)
                + n * (3 * k * k - 6 * k + 2))
                / 6)))
            .wrapping_sub(a.wrapping_mul(f(c3)));
    }
    s
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
    fn fletcher4_lanes_combine_to_the_stream() {
        // every length around the lane group size, both byte orders, data
        // with high bits set so that the sums wrap
        let data: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80)
            .collect();
        for len in (0..=300).chain([511, 512, 513, 4095, 4096]) {
            for bo in [ByteOrder::Little, ByteOrder::Big] {
                let d = &data[..len];
                assert_eq!(fletcher4(d, bo), fletcher4_scalar(d, bo), "{len} {bo:?}");
                let generic =
                    fletcher4_lanes(d, bo, lane_sums_generic::<false>, lane_sums_generic::<true>);
                assert_eq!(generic, fletcher4_scalar(d, bo), "{len} {bo:?}");
            }
        }
        // all-ones words: the sums wrap many times over 1 MiB
        let ones = vec![0xffu8; 1 << 20];
        assert_eq!(
            fletcher4(&ones, ByteOrder::Big),
            fletcher4_scalar(&ones, ByteOrder::Big)
        );
        // the generic combination at other lane counts
        for_lanes::<1>(&data);
        for_lanes::<2>(&data);
        for_lanes::<3>(&data);
        for_lanes::<4>(&data);
        for_lanes::<16>(&data);
    }

    fn for_lanes<const L: usize>(data: &[u8]) {
        let words: Vec<u64> = data
            .as_chunks::<4>()
            .0
            .iter()
            .map(|w| word(*w, ByteOrder::Little))
            .collect();
        let n = words.len() / L * L;
        let mut lanes = [[0u64; L]; 4];
        for g in words[..n].chunks_exact(L) {
            for (j, w) in g.iter().enumerate() {
                lanes[0][j] = lanes[0][j].wrapping_add(*w);
                lanes[1][j] = lanes[1][j].wrapping_add(lanes[0][j]);
                lanes[2][j] = lanes[2][j].wrapping_add(lanes[1][j]);
                lanes[3][j] = lanes[3][j].wrapping_add(lanes[2][j]);
            }
        }
        assert_eq!(
            combine(&lanes),
            fletcher4_scalar(&data[..n * 4], ByteOrder::Little),
            "L={L}"
        );
    }

    proptest::proptest! {
        #[test]
        fn fletcher4_matches_the_word_by_word_sums(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            big in proptest::prelude::any::<bool>(),
        ) {
            let bo = if big { ByteOrder::Big } else { ByteOrder::Little };
            proptest::prop_assert_eq!(fletcher4(&data, bo), fletcher4_scalar(&data, bo));
        }
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
