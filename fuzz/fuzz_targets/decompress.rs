//! Fuzzes every decompressor with ZFS's framing (lzjb, gzip 1–9, zle, lz4,
//! zstd, and the trivial ones): the first byte picks the function, the next
//! two the logical size (up to 64 KiB), the rest is the physical block. Any
//! input must decompress to exactly that size or give an error.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::decompress::run(data));
