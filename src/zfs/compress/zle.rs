//! ZLE: zero-length encoding, ZFS's run-length coding of zero bytes.
//!
//! A stream of items, each starting with a length byte `n`: when `n < 64`
//! the next `n + 1` bytes are literals; otherwise `n − 63` zero bytes follow
//! in the output and nothing in the input.

const N: usize = 64;

/// Decompresses `src` into exactly `dst.len()` bytes; false if `src` runs out.
pub fn decompress(src: &[u8], dst: &mut [u8]) -> bool {
    let (mut s, mut d) = (0usize, 0usize);
    while d < dst.len() {
        let Some(&b) = src.get(s) else { return false };
        s += 1;
        let len = b as usize + 1;
        if len <= N {
            let Some(lit) = src.get(s..s + len) else {
                return false;
            };
            let end = (d + len).min(dst.len());
            dst[d..end].copy_from_slice(&lit[..end - d]);
            s += len;
            d = end;
        } else {
            let end = (d + len - N).min(dst.len());
            dst[d..end].fill(0);
            d = end;
        }
    }
    true
}

/// Compresses `src` (used by tests only).
pub fn compress(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = 0;
    while s < src.len() {
        if src[s] == 0 {
            let mut n = 0;
            while s + n < src.len() && src[s + n] == 0 && n < 256 - N {
                n += 1;
            }
            out.push((n + N - 1) as u8);
            s += n;
        } else {
            let mut n = 0;
            while s + n < src.len() && n < N && !(src[s + n] == 0 && src.get(s + n + 1) == Some(&0))
            {
                n += 1;
            }
            let n = n.max(1);
            out.push((n - 1) as u8);
            out.extend_from_slice(&src[s..s + n]);
            s += n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zeros_and_literals() {
        // 3 literals, then 10 zeros
        let src = [2u8, 7, 8, 9, 64 + 9];
        let mut out = [0xffu8; 13];
        assert!(decompress(&src, &mut out));
        assert_eq!(out, [7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(prop_oneof![Just(0u8), any::<u8>()], 0..3000)) {
            let c = compress(&data);
            let mut out = vec![0u8; data.len()];
            prop_assert!(decompress(&c, &mut out));
            prop_assert_eq!(out, data);
        }

        #[test]
        fn garbage_never_panics(src in proptest::collection::vec(any::<u8>(), 0..600), n in 0usize..4000) {
            let mut out = vec![0u8; n];
            let _ = decompress(&src, &mut out);
        }
    }
}
