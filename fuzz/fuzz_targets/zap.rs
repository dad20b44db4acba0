//! Fuzzes the ZAP block decoders: a micro-ZAP block and a fat-ZAP leaf block,
//! in both byte orders. The first byte picks the byte order and whether keys
//! are uint64 arrays.
#![no_main]

use kzrescue::zfs::blkptr::ByteOrder;
use kzrescue::zfs::zap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, b)) = data.split_first() else {
        return;
    };
    let bo = if mode & 1 == 0 { ByteOrder::Little } else { ByteOrder::Big };
    if let Ok(ents) = zap::micro(b, bo, 1) {
        for e in &ents {
            let _ = e.name_str();
            let _ = e.as_u64();
        }
    }
    let mut out = Vec::new();
    let _ = zap::leaf_entries(b, bo, mode & 2 != 0, &mut out);
    for e in &out {
        let _ = e.name_str();
        let _ = e.as_bytes();
    }
});
