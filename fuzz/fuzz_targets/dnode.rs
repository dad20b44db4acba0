//! Fuzzes the dnode decoder (512-byte slots, large dnodes, bonus and spill
//! areas) in both byte orders.
#![no_main]

use kzrescue::zfs::blkptr::ByteOrder;
use kzrescue::zfs::dnode::Dnode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for bo in [ByteOrder::Little, ByteOrder::Big] {
        if let Ok(dn) = Dnode::decode(data, bo, 7) {
            let _ = dn.is_free();
        }
    }
});
