//! Fuzzes ZAP block decoding: the input is used as a micro-ZAP block and,
//! with the leaf block type and magic stamped on, as a fat-ZAP leaf of the
//! next power-of-two size, in both byte orders. Errors are fine, panics and
//! unbounded loops are not.
#![no_main]

use kzrescue::zfs::blkptr::ByteOrder;
use kzrescue::zfs::zap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for bo in [ByteOrder::Little, ByteOrder::Big] {
        let _ = zap::micro(data, bo, 1);
        let size = data.len().clamp(512, 1 << 17).next_power_of_two();
        let mut leaf = vec![0u8; size];
        let n = data.len().min(size);
        leaf[..n].copy_from_slice(&data[..n]);
        leaf[..8].copy_from_slice(&bo.put_u64(zap::ZBT_LEAF));
        let m = match bo {
            ByteOrder::Little => zap::ZAP_LEAF_MAGIC.to_le_bytes(),
            ByteOrder::Big => zap::ZAP_LEAF_MAGIC.to_be_bytes(),
        };
        leaf[24..28].copy_from_slice(&m);
        let mut out = Vec::new();
        let _ = zap::leaf_entries(&leaf, bo, data.first() == Some(&1), &mut out);
    }
});
