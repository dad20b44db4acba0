//! Fuzzes dnode decoding (including large dnodes, bonus and spill
//! pointers) in both byte orders, and object-set headers built around the
//! dnode: never a panic, and a decoded dnode's parts stay inside it.
#![no_main]

use kzrescue::zfs::blkptr::ByteOrder;
use kzrescue::zfs::dnode::Dnode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for bo in [ByteOrder::Little, ByteOrder::Big] {
        if let Ok(dn) = Dnode::decode(data, bo, 5) {
            if !dn.is_free() {
                assert!((1..=3).contains(&dn.blkptrs.len()));
                assert!(dn.bonus.len() <= 512 * (1 + dn.extra_slots as usize));
                for bp in &dn.blkptrs {
                    let _ = bp.to_string();
                }
            }
        }
    }
});
