//! Uberblock rings: both byte orders in one ring, slot geometry from ashift
//! (and the older uncapped rule), damaged slots, and ZFS's choice of the
//! active uberblock.

mod common;

use common::label::*;
use kzrescue::source::{FileSource, OpenMode};
use kzrescue::zfs::ByteOrder;
use kzrescue::zfs::eck;
use kzrescue::zfs::label::{label_offsets, read_labels};
use kzrescue::zfs::uberblock::{self, RING_OFFSET, SlotStatus, decode_ring};
use proptest::prelude::*;
use serde_json::Value;
use std::os::unix::fs::FileExt;
use std::path::Path;

fn ub_json(img: &Path) -> (i32, Value) {
    let (code, out, err) =
        common::kzrescue(&["uberblocks", img.to_str().unwrap(), "--json", "--json-int"]);
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}")),
    )
}

#[test]
fn rings_holding_both_byte_orders() {
    let test = "rings_holding_both_byte_orders";
    let Some(all) = zfs_test_images(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for want in ["zfs-pool-v2.dat.bz2", "zfs-pool-v10.dat.bz2"] {
        let bz = all.iter().find(|p| p.ends_with(want)).unwrap();
        let img = bunzip(bz, dir.path());
        let (code, v) = ub_json(&img);
        assert_eq!(code, 0, "{want}");
        for ring in v["labels"].as_array().unwrap() {
            let ubs = ring["uberblocks"].as_array().unwrap();
            assert!(ubs.iter().all(|u| u["status"] == "valid"), "{want}");
            let big = ubs.iter().filter(|u| u["endian"] == "big").count();
            let little = ubs.iter().filter(|u| u["endian"] == "little").count();
            assert!(big > 0 && little > 0, "{want}: {big} BE, {little} LE");
        }
        // The active one is the newest, whatever its byte order.
        let max = v["labels"][0]["uberblocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["txg"].as_u64().unwrap())
            .max()
            .unwrap();
        assert_eq!(v["active"]["txg"], max);
    }
}

#[test]
fn damaged_active_slot_falls_back_like_zfs() {
    let dir = tempfile::tempdir().unwrap();
    for e in [ByteOrder::Big, ByteOrder::Little] {
        let p = dir.path().join(format!("pool-{}", e.name()));
        synthetic_pool(&p, e, 40);
        let (code, v) = ub_json(&p);
        assert_eq!(code, 0);
        assert_eq!(v["active"]["txg"], 40);
        assert_eq!(v["active"]["slot"], 40);
        assert_eq!(v["labels"][0]["counts"]["valid"], 40);
        let size = std::fs::metadata(&p).unwrap().len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .open(&p)
            .unwrap();
        let flip = |label: usize| {
            let at = label_offsets(size)[label] + RING_OFFSET + 40 * 1024 + 16;
            let mut b = [0u8];
            f.read_exact_at(&mut b, at).unwrap();
            f.write_all_at(&[b[0] ^ 0x80], at).unwrap();
        };
        // One label damaged: the same txg is still found in the others.
        flip(0);
        let (code, v) = ub_json(&p);
        assert_eq!(code, 1, "a bad slot is a problem");
        assert_eq!(v["active"]["txg"], 40);
        assert_eq!(v["active"]["label"], 1);
        let bad = &v["labels"][0]["uberblocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["slot"] == 40)
            .unwrap()["problem"];
        assert!(bad.as_str().unwrap().contains("byte offset 0x"), "{bad}");
        // All four damaged: the previous txg becomes active.
        for l in 1..4 {
            flip(l);
        }
        let (_, v) = ub_json(&p);
        assert_eq!(v["active"]["txg"], 39);
        let (_, text, _) = common::kzrescue(&["uberblocks", p.to_str().unwrap()]);
        assert!(text.contains("active = yes (txg 39,"), "{text}");
        assert!(
            text.contains("checksums = 0:BAD 1:BAD 2:BAD 3:BAD"),
            "{text}"
        );
    }
}

#[test]
fn slot_geometry_from_ashift_and_uncapped_rule() {
    let dir = tempfile::tempdir().unwrap();
    for (ashift, slot) in [
        (9u64, 1024usize),
        (12, 4096),
        (13, 8192),
        (16, 8192),
        (14, 16384),
    ] {
        let p = dir.path().join(format!("a{ashift}-{slot}"));
        synthetic_pool_with(&p, ByteOrder::Little, 20, ashift, slot);
        let src = FileSource::open(&p, OpenMode::ReadOnly).unwrap();
        let labels = read_labels(&src);
        let ring = uberblock::read_ring(&src, &labels[0], None);
        assert_eq!(ring[0].slot_size, slot, "ashift {ashift}");
        let valid = ring
            .iter()
            .filter(|s| s.status == SlotStatus::Valid)
            .count();
        let count = 128 * 1024 / slot;
        assert_eq!(valid, 20.min(count), "ashift {ashift}");
        let best = uberblock::best(&ring).unwrap();
        assert_eq!(best.txg, 20);
        // With no ashift at all, trying every size finds the same ring.
        let ring2 = uberblock::read_ring(&src, &labels[0], Some(0));
        if slot == 1024 {
            assert_eq!(ring2[0].slot_size, 1024);
        }
        let (_, v) = ub_json(&p);
        assert_eq!(v["labels"][0]["slot_size"], slot);
        assert_eq!(v["active"]["txg"], 20);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ring_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096),
                                  fill in any::<u8>(), shift in 0u32..20) {
        let mut ring = vec![fill; uberblock::RING_SIZE];
        ring[..bytes.len()].copy_from_slice(&bytes);
        let slots = decode_ring(0, 0x20000, &ring, shift);
        prop_assert!(!slots.is_empty());
        let _ = uberblock::best(&slots);
    }

    #[test]
    fn seal_then_verify_and_any_flip_fails(data in proptest::collection::vec(any::<u8>(), 40..3000),
                                           off in any::<u64>(), big in any::<bool>(),
                                           bit in any::<usize>()) {
        let e = if big { ByteOrder::Big } else { ByteOrder::Little };
        let mut b = data.clone();
        eck::seal(&mut b, off, e);
        prop_assert_eq!(eck::verify(&b, off).unwrap(), e);
        let i = bit % (b.len() * 8);
        b[i / 8] ^= 1 << (i % 8);
        prop_assert!(eck::verify(&b, off).is_err());
    }
}

/// Oracle Solaris pool versions (29–46) and 5000 change the pool, not the
/// label or uberblock format: such labels are valid and the active
/// uberblock is chosen as for any other.
#[test]
fn solaris_pool_versions_are_accepted() {
    use kzrescue::zfs::label::{VDEV_PHYS_OFFSET, encode_vdev_phys};
    use kzrescue::zfs::nvlist::NvValue;
    let dir = tempfile::tempdir().unwrap();
    for version in [1u64, 28, 35, 44, 46, 5000] {
        let p = dir.path().join(format!("v{version}"));
        synthetic_pool(&p, ByteOrder::Big, 3);
        let size = std::fs::metadata(&p).unwrap().len();
        let src = FileSource::open(&p, OpenMode::ReadOnly).unwrap();
        let labels = read_labels(&src);
        drop(src);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .open(&p)
            .unwrap();
        for l in &labels {
            let mut cfg = l.config.clone().unwrap();
            cfg.set("version", NvValue::UInt64(version));
            let phys = encode_vdev_phys(l.header.unwrap(), &cfg, ByteOrder::Big, l.offset).unwrap();
            f.write_all_at(&phys, l.offset + VDEV_PHYS_OFFSET).unwrap();
            let at = label_offsets(size)[l.index] + RING_OFFSET + 3 * 1024;
            let mut slot = vec![0u8; 1024];
            f.read_exact_at(&mut slot, at).unwrap();
            slot[8..16].copy_from_slice(&version.to_be_bytes());
            eck::seal(&mut slot, at, ByteOrder::Big);
            f.write_all_at(&slot, at).unwrap();
        }
        drop(f);
        let (code, out, err) =
            common::kzrescue(&["label", p.to_str().unwrap(), "--json", "--json-int"]);
        assert_eq!(code, 0, "v{version}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["labels"][3]["config"]["version"], version);
        let (code, v) = ub_json(&p);
        assert_eq!(code, 0, "v{version}");
        assert_eq!(v["active"]["version"], version);
        assert_eq!(v["active"]["txg"], 3);
    }
}
