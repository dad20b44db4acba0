//! Block decompression with ZFS's own framing of each algorithm.
//!
//! A block pointer names the compression function (`zio_compress`) and gives
//! the physical and logical sizes; a compressed block decompresses to exactly
//! `lsize` bytes. ZFS wraps some algorithms in its own header: LZ4 blocks
//! start with a 4-byte big-endian length of the LZ4 block; zstd blocks start
//! with an 8-byte header (big-endian compressed length, then a word holding
//! the zstd version and level) followed by a magic-less zstd frame. gzip-N
//! blocks are zlib streams. See `formats/compression.md`.

pub mod lzjb;
pub mod zle;

use crate::error::{Error, Result};

/// `zio_compress` numbers.
pub mod kind {
    /// Inherit (never on disk).
    pub const INHERIT: u8 = 0;
    /// "on" (never on disk).
    pub const ON: u8 = 1;
    /// Not compressed.
    pub const OFF: u8 = 2;
    /// LZJB.
    pub const LZJB: u8 = 3;
    /// "empty" (all zeros, never written as data).
    pub const EMPTY: u8 = 4;
    /// gzip-1 (gzip-N is 4 + N).
    pub const GZIP_1: u8 = 5;
    /// gzip-9.
    pub const GZIP_9: u8 = 13;
    /// ZLE.
    pub const ZLE: u8 = 14;
    /// LZ4.
    pub const LZ4: u8 = 15;
    /// zstd.
    pub const ZSTD: u8 = 16;
}

/// The zstd frame magic that ZFS leaves out of its frames.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Decompresses `src` (a block's physical bytes) with function `algo` into
/// a buffer of exactly `lsize` bytes.
pub fn decompress(algo: u8, src: &[u8], lsize: usize) -> Result<Vec<u8>> {
    let mut dst = vec![0u8; lsize];
    decompress_into(algo, src, &mut dst)?;
    Ok(dst)
}

fn bad(algo: u8, detail: impl std::fmt::Display) -> Error {
    Error::corrupt(
        format!("{} block", crate::zfs::blkptr::compress_name(algo)),
        0,
        detail,
    )
}

/// Whether blocks of `algo` are stored as they are: their physical bytes
/// are their logical bytes (zero-extended to the logical size).
pub fn is_stored(algo: u8) -> bool {
    matches!(algo, kind::OFF | kind::INHERIT | kind::ON)
}

/// Like [`decompress`], for physical bytes the caller owns: a block stored
/// uncompressed is returned as it is (cut or zero-extended to `lsize`)
/// instead of copied.
pub fn decompress_owned(algo: u8, src: Vec<u8>, lsize: usize) -> Result<Vec<u8>> {
    if is_stored(algo) {
        let mut v = src;
        v.resize(lsize, 0);
        Ok(v)
    } else {
        decompress(algo, &src, lsize)
    }
}

/// Decompresses `src` into all of `dst`.
pub fn decompress_into(algo: u8, src: &[u8], dst: &mut [u8]) -> Result<()> {
    match algo {
        kind::OFF | kind::INHERIT | kind::ON => {
            let n = src.len().min(dst.len());
            dst[..n].copy_from_slice(&src[..n]);
            dst[n..].fill(0);
            Ok(())
        }
        kind::EMPTY => {
            dst.fill(0);
            Ok(())
        }
        kind::LZJB => {
            if lzjb::decompress(src, dst) {
                Ok(())
            } else {
                Err(bad(algo, "stream ends early or refers before its start"))
            }
        }
        kind::ZLE => {
            if zle::decompress(src, dst) {
                Ok(())
            } else {
                Err(bad(algo, "stream ends early"))
            }
        }
        kind::LZ4 => lz4(src, dst),
        kind::GZIP_1..=kind::GZIP_9 => gzip(src, dst),
        kind::ZSTD => zstd(src, dst),
        other => Err(Error::unsupported(
            "compression",
            format!("function {other} is not known"),
        )),
    }
}

fn lz4(src: &[u8], dst: &mut [u8]) -> Result<()> {
    let Some(hdr) = src.get(0..4) else {
        return Err(bad(kind::LZ4, "shorter than its 4-byte length header"));
    };
    let n = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
    let Some(body) = src.get(4..4usize.saturating_add(n)) else {
        return Err(bad(
            kind::LZ4,
            format!("length header {n} exceeds the {}-byte block", src.len()),
        ));
    };
    let got = lz4_flex::block::decompress_into(body, dst).map_err(|e| bad(kind::LZ4, e))?;
    // ZFS compresses whole blocks: a short result leaves zeros, as ZFS would.
    dst[got..].fill(0);
    Ok(())
}

fn gzip(src: &[u8], dst: &mut [u8]) -> Result<()> {
    use std::io::Read;
    let mut dec = flate2::read::ZlibDecoder::new(src);
    let mut filled = 0;
    while filled < dst.len() {
        match dec.read(&mut dst[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(bad(kind::GZIP_1, e)),
        }
    }
    if filled < dst.len() {
        return Err(bad(
            kind::GZIP_1,
            format!("zlib stream gives {filled} of {} bytes", dst.len()),
        ));
    }
    Ok(())
}

fn zstd(src: &[u8], dst: &mut [u8]) -> Result<()> {
    let Some(hdr) = src.get(0..8) else {
        return Err(bad(kind::ZSTD, "shorter than its 8-byte header"));
    };
    let n = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
    let Some(body) = src.get(8..8usize.saturating_add(n)) else {
        return Err(bad(
            kind::ZSTD,
            format!("length header {n} exceeds the {}-byte block", src.len()),
        ));
    };
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&ZSTD_MAGIC);
    frame.extend_from_slice(body);
    let mut dec = ruzstd::decoding::FrameDecoder::new();
    let got = dec
        .decode_all(&frame, dst)
        .map_err(|e| bad(kind::ZSTD, e))?;
    dst[got..].fill(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        (0..8192u32).map(|i| (i / 7 % 13) as u8).collect()
    }

    #[test]
    fn owned_uncompressed_is_kept_and_sized() {
        let data = sample();
        let ptr = data.as_ptr();
        let same = decompress_owned(kind::OFF, data.clone(), data.len()).unwrap();
        assert_eq!(same, data);
        let kept = decompress_owned(kind::OFF, data, 8192).unwrap();
        assert_eq!(kept.as_ptr(), ptr, "an uncompressed block is not copied");
        assert_eq!(
            decompress_owned(kind::ON, vec![7; 4], 6).unwrap(),
            [7, 7, 7, 7, 0, 0]
        );
        assert_eq!(
            decompress_owned(kind::INHERIT, vec![7; 4], 2).unwrap(),
            [7, 7]
        );
        let body = lz4_flex::block::compress(&sample());
        let mut src = (body.len() as u32).to_be_bytes().to_vec();
        src.extend_from_slice(&body);
        assert_eq!(decompress_owned(kind::LZ4, src, 8192).unwrap(), sample());
    }

    #[test]
    fn lz4_framed() {
        let data = sample();
        let body = lz4_flex::block::compress(&data);
        let mut src = (body.len() as u32).to_be_bytes().to_vec();
        src.extend_from_slice(&body);
        src.resize(src.len().div_ceil(512) * 512, 0);
        assert_eq!(decompress(kind::LZ4, &src, data.len()).unwrap(), data);
    }

    #[test]
    fn gzip_levels_are_zlib() {
        use std::io::Write;
        let data = sample();
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(&data).unwrap();
        let mut src = e.finish().unwrap();
        src.resize(src.len().div_ceil(512) * 512, 0);
        for level in kind::GZIP_1..=kind::GZIP_9 {
            assert_eq!(decompress(level, &src, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn zstd_magicless_with_header() {
        let data = sample();
        let framed = ruzstd::encoding::compress_to_vec(
            &data[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert_eq!(framed[0..4], ZSTD_MAGIC);
        let body = &framed[4..];
        let mut src = (body.len() as u32).to_be_bytes().to_vec();
        src.extend_from_slice(&[0, 0x27, 0x1e, 3]);
        src.extend_from_slice(body);
        src.resize(src.len().div_ceil(512) * 512, 0);
        assert_eq!(decompress(kind::ZSTD, &src, data.len()).unwrap(), data);
    }

    #[test]
    fn lengths_past_block_are_errors() {
        let src = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(decompress(kind::LZ4, &src, 100).is_err());
        assert!(decompress(kind::ZSTD, &src, 100).is_err());
        assert!(decompress(kind::GZIP_1, &src, 100).is_err());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(algo in 0u8..20, src in proptest::collection::vec(any::<u8>(), 0..700), n in 0usize..5000) {
            let _ = decompress(algo, &src, n);
        }
    }
}
