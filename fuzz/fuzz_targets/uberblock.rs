//! Fuzzes uberblock ring decoding and the choice of the active uberblock.
//! The input fills a 128 KiB ring (repeated); slots whose first word is the
//! uberblock magic (either byte order) are optionally re-sealed so that they
//! verify. Any input must decode without panicking, every slot must lie in
//! the ring, and the chosen uberblock must be a checksum-valid one with
//! txg > 0 that no other valid slot beats.
#![no_main]

use kzrescue::zfs::eck;
use kzrescue::zfs::uberblock::{self, RING_SIZE, SlotStatus, UBERBLOCK_MAGIC};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    if body.is_empty() {
        return;
    }
    let shift = 10 + u32::from(mode % 8);
    let size = 1usize << shift;
    let mut ring: Vec<u8> = body.iter().copied().cycle().take(RING_SIZE).collect();
    let at = 0x20000u64;
    if mode & 0x80 != 0 {
        for (i, s) in ring.chunks_exact_mut(size).enumerate() {
            let m: [u8; 8] = s[..8].try_into().unwrap();
            let e = if m == UBERBLOCK_MAGIC.to_be_bytes() {
                Some(eck::Endian::Big)
            } else if m == UBERBLOCK_MAGIC.to_le_bytes() {
                Some(eck::Endian::Little)
            } else {
                None
            };
            if let Some(e) = e {
                eck::seal(s, at + (i * size) as u64, e);
            }
        }
    }
    let slots = uberblock::decode_ring(2, at, &ring, shift);
    assert_eq!(slots.len(), RING_SIZE / size);
    for s in &slots {
        assert!(s.offset >= at && s.offset + s.slot_size as u64 <= at + RING_SIZE as u64);
        if let SlotStatus::ChecksumBad(p) = &s.status {
            assert_eq!(p.lines().count(), 1);
        }
    }
    if let Some(b) = uberblock::best(&slots) {
        assert!(b.txg > 0);
        for s in &slots {
            if s.status == SlotStatus::Valid {
                let u = s.uberblock.as_ref().unwrap();
                assert!(u.txg == 0 || uberblock::compare(u, b).is_le());
            }
        }
    }
});
