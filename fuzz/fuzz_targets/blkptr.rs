//! Fuzzes block-pointer decoding in both byte orders: any 128 bytes must
//! decode to a pointer whose summary prints, never a panic.
#![no_main]

use kzrescue::zfs::blkptr::{BlkPtr, ByteOrder, Payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for bo in [ByteOrder::Little, ByteOrder::Big] {
        if let Ok(bp) = BlkPtr::decode(data, bo) {
            let _ = bp.to_string();
            let _ = bp.where_();
            if let Payload::Embedded { data, .. } = &bp.payload {
                assert!(data.len() <= 112);
            }
        }
    }
});
