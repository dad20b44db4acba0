//! LZJB: Jeff Bonwick's byte-oriented Lempel–Ziv, ZFS's original compressor.
//!
//! The stream is groups of one *copy map* byte followed by eight items; bit i
//! (LSB first) of the map says whether item i is a literal byte (0) or a
//! two-byte back reference (1): the top 6 bits of the first byte are the
//! match length minus 3, the low 10 bits of the pair (big-endian) the
//! distance back into the output.

const MATCH_BITS: u32 = 6;
const MATCH_MIN: usize = 3;
const OFFSET_MASK: usize = (1 << (16 - MATCH_BITS)) - 1;
const LEMPEL_SIZE: usize = 1024;

/// Decompresses `src` into exactly `dst.len()` bytes. Returns false when the
/// stream ends early or points before the start of the output.
pub fn decompress(src: &[u8], dst: &mut [u8]) -> bool {
    let (mut s, mut d) = (0usize, 0usize);
    let mut copymap = 0u8;
    let mut copymask = 0x80u32;
    while d < dst.len() {
        copymask <<= 1;
        if copymask == 0x100 {
            copymask = 1;
            let Some(&m) = src.get(s) else { return false };
            copymap = m;
            s += 1;
        }
        if copymap as u32 & copymask != 0 {
            let (Some(&b0), Some(&b1)) = (src.get(s), src.get(s + 1)) else {
                return false;
            };
            s += 2;
            let mlen = (b0 as usize >> (8 - MATCH_BITS)) + MATCH_MIN;
            let off = ((b0 as usize) << 8 | b1 as usize) & OFFSET_MASK;
            if off == 0 || off > d {
                return false;
            }
            let n = mlen.min(dst.len() - d);
            if off >= n {
                // source and destination do not overlap: one block copy
                dst.copy_within(d - off..d - off + n, d);
            } else {
                // a run repeating the last `off` bytes: byte by byte
                for i in d..d + n {
                    dst[i] = dst[i - off];
                }
            }
            d += n;
        } else {
            let Some(&b) = src.get(s) else { return false };
            dst[d] = b;
            s += 1;
            d += 1;
        }
    }
    true
}

/// Compresses `src`; returns None when the result would not be smaller than
/// `max_len` (ZFS then stores the block uncompressed). Used by tests to
/// produce streams and by nothing that writes to disk.
pub fn compress(src: &[u8], max_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(max_len);
    let mut table = [0usize; LEMPEL_SIZE];
    let mut copymask = 0x80u32;
    let mut map_pos = 0usize;
    let mut s = 0usize;
    while s < src.len() {
        copymask <<= 1;
        if copymask == 0x100 {
            if out.len() >= max_len.saturating_sub(1 + 2 * 8) {
                return None;
            }
            copymask = 1;
            map_pos = out.len();
            out.push(0);
        }
        if s + MATCH_MIN + 2 > src.len() {
            out.push(src[s]);
            s += 1;
            continue;
        }
        let mut hash =
            ((src[s] as usize) << 16) + ((src[s + 1] as usize) << 8) + src[s + 2] as usize;
        hash += hash >> 9;
        hash += hash >> 5;
        let slot = hash & (LEMPEL_SIZE - 1);
        let cand = table[slot];
        table[slot] = s;
        let off = s.wrapping_sub(cand) & OFFSET_MASK;
        let cpy = s.wrapping_sub(off);
        if cpy < s
            && off != 0
            && src[s] == src[cpy]
            && src[s + 1] == src[cpy + 1]
            && src[s + 2] == src[cpy + 2]
        {
            out[map_pos] |= copymask as u8;
            let max_mlen = (MATCH_MIN + (1 << MATCH_BITS) - 1).min(src.len() - s);
            let mut mlen = MATCH_MIN;
            while mlen < max_mlen && src[s + mlen] == src[cpy + mlen] {
                mlen += 1;
            }
            out.push((((mlen - MATCH_MIN) << (8 - MATCH_BITS)) | (off >> 8)) as u8);
            out.push(off as u8);
            s += mlen;
        } else {
            out.push(src[s]);
            s += 1;
        }
    }
    if out.len() >= max_len {
        None
    } else {
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn repeats_compress_and_round_trip() {
        let data: Vec<u8> = b"abcabcabcabcabcabcabcabc hello hello hello"
            .iter()
            .cycle()
            .take(4096)
            .copied()
            .collect();
        let c = compress(&data, data.len()).expect("compressible");
        assert!(c.len() < 1000);
        let mut out = vec![0u8; data.len()];
        assert!(decompress(&c, &mut out));
        assert_eq!(out, data);
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(0u8..4, 0..3000)) {
            if let Some(c) = compress(&data, data.len() + 64) {
                let mut out = vec![0u8; data.len()];
                prop_assert!(decompress(&c, &mut out));
                prop_assert_eq!(out, data);
            }
        }

        #[test]
        fn garbage_never_panics(src in proptest::collection::vec(any::<u8>(), 0..600), n in 0usize..4000) {
            let mut out = vec![0u8; n];
            let _ = decompress(&src, &mut out);
        }
    }
}
