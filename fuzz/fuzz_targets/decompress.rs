//! Fuzzes the block decompressors (lzjb, zle, lz4, gzip, zstd, ...): the
//! first byte picks the function, the next two the logical size (at most
//! 64 KiB here), the rest is the compressed stream. Must fill the buffer or
//! return an error; never panic or write past `lsize`.
#![no_main]

use kzrescue::zfs::compress;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let algo = data[0] % 20;
    let lsize = u16::from_le_bytes([data[1], data[2]]) as usize;
    if let Ok(out) = compress::decompress(algo, &data[3..], lsize) {
        assert_eq!(out.len(), lsize);
    }
});
