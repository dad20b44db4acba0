//! Fuzzes the block-pointer decoder in both byte orders, and what is derived
//! from a decoded pointer (DVAs, birth, the zdb-style description).
#![no_main]

use kzrescue::zfs::blkptr::{BlkPtr, ByteOrder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for bo in [ByteOrder::Little, ByteOrder::Big] {
        if let Ok(bp) = BlkPtr::decode(data, bo) {
            let _ = bp.is_hole();
            let _ = bp.is_embedded();
            let _ = bp.dvas().len();
            let _ = bp.physical_birth();
            let _ = bp.where_();
        }
    }
});
