//! Fuzzes every decompressor with ZFS's framing (lzjb, gzip 1–9, zle, lz4,
//! zstd, and the trivial ones): the first byte picks the function, the next
//! two the logical size (up to 64 KiB), the rest is the physical block. Any
//! input must decompress to exactly that size or give an error.
#![no_main]

use kzrescue::zfs::compress;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let algo = data[0] % 18;
    let lsize = u16::from_le_bytes([data[1], data[2]]) as usize;
    if let Ok(out) = compress::decompress(algo, &data[3..], lsize) {
        assert_eq!(out.len(), lsize);
    }
});
