//! The target resolver and `kzrescue partitions` on the partition test images.

mod common;

use common::{kzrescue, unpack_fixture};
use kzrescue::partition::TableKind;
use kzrescue::target::{TargetOptions, open_vdev};
use serde_json::Value;

fn opts(slice: Option<u32>, sector_size: Option<u32>) -> TargetOptions {
    TargetOptions {
        slice,
        sector_size,
        write: false,
        access: Default::default(),
    }
}

#[test]
fn zfs_slice_is_found_on_each_layout() {
    let d = tempfile::tempdir().unwrap();
    // (image, expected slice, letter, sector size)
    for (name, slice, letter, ss) in [
        ("gpt-x86-efi-512.img", 1, 'b', 512),
        ("gpt-x86-bios-512.img", 1, 'b', 512),
        ("gpt-sparc-512.img", 0, 'a', 512),
        ("gpt-sparc-4k.img", 0, 'a', 4096),
        ("gpt-x86-efi-4k.img", 1, 'b', 4096),
        ("x86-vtoc.img", 0, 'a', 512),
        ("smi-sparc.img", 0, 'a', 512),
    ] {
        let img = unpack_fixture(name, d.path());
        let v = open_vdev(img.to_str().unwrap(), &opts(None, None)).unwrap();
        let p = v.partition.as_ref().unwrap();
        assert_eq!((p.slice, p.letter), (slice, letter), "{name}");
        assert_eq!(v.table.sector_size, ss, "{name}");
        assert_eq!(v.source.size(), p.len, "{name}");
        // The window reads the slice's bytes.
        let mut a = [0u8; 512];
        let mut b = [0u8; 512];
        v.source.read_at(0, &mut a).unwrap();
        v.disk.read_at(p.start, &mut b).unwrap();
        assert_eq!(a, b);
        assert!(v.describe().contains(&format!("s{slice}")), "{name}");
    }
}

#[test]
fn slice_option_and_reserved() {
    let d = tempfile::tempdir().unwrap();
    let img = unpack_fixture("gpt-x86-efi-512.img", d.path());
    let spec = img.to_str().unwrap();
    let v = open_vdev(spec, &opts(Some(0), None)).unwrap();
    assert_eq!(v.partition.as_ref().unwrap().type_name, "EFI System");
    let r = v.table.reserved().unwrap();
    assert_eq!((r.slice, r.letter, r.len), (8, 'i', 8 << 20));
    let e = open_vdev(spec, &opts(Some(5), None))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no slice 5") && e.contains("s1 usr"), "{e}");
}

#[test]
fn bare_vdev_is_the_whole_device() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("pool.img");
    std::fs::write(&f, vec![0u8; 1 << 20]).unwrap();
    let spec = f.to_str().unwrap();
    let v = open_vdev(spec, &opts(None, None)).unwrap();
    assert_eq!(v.table.kind, TableKind::None);
    assert!(v.partition.is_none());
    assert_eq!(v.source.size(), 1 << 20);
    let e = open_vdev(spec, &opts(Some(1), None))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no partition table"), "{e}");
}

#[test]
fn several_zfs_slices_ask_for_slice() {
    // sgdisk-free: two usr slices on a VTOC (s0 root + s3 usr).
    let d = tempfile::tempdir().unwrap();
    let img = unpack_fixture("smi-sparc.img", d.path());
    let mut bytes = std::fs::read(&img).unwrap();
    // Retag s3 (home, tag bytes at 142 + 4*3) as usr and fix the checksum.
    bytes[142 + 12..142 + 14].copy_from_slice(&4u16.to_be_bytes());
    let mut x = 0u16;
    for w in bytes[..510].chunks(2) {
        x ^= u16::from_be_bytes([w[0], w[1]]);
    }
    bytes[510..512].copy_from_slice(&x.to_be_bytes());
    std::fs::write(&img, &bytes).unwrap();
    let e = open_vdev(img.to_str().unwrap(), &opts(None, None))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--slice") && e.contains("s0, s3"), "{e}");
    let v = open_vdev(img.to_str().unwrap(), &opts(Some(3), None)).unwrap();
    assert_eq!(v.partition.unwrap().type_name, "usr");
}

#[test]
fn cli_partitions_text_and_json() {
    let d = tempfile::tempdir().unwrap();
    let img = unpack_fixture("gpt-x86-efi-4k.img", d.path());
    let spec = img.to_str().unwrap();
    let (code, out, err) = kzrescue(&["partitions", spec]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("4096-byte sectors"), "{out}");
    assert!(out.contains("* s1     b"), "{out}");
    let (code, out, _) = kzrescue(&["partitions", spec, "--json", "--json-int"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "gpt");
    assert_eq!(v["sector_size"], 4096);
    assert_eq!(v["pool_slice"], 1);
    assert_eq!(v["gpt"]["num_entries"], 9);
    assert_eq!(v["gpt"]["first_usable_lba"], 6);
    let p = &v["partitions"][2];
    assert_eq!(p["slice"], 8);
    assert_eq!(p["letter"], "i");
    assert_eq!(p["type_name"], "reserved");
    assert_eq!(p["first_lba"], 6139);
    assert_eq!(p["last_lba"], 8186);
    // Forcing 512-byte sectors on a 4Kn image is a clear one-line error.
    let (code, _, err) = kzrescue(&["partitions", spec, "--sector-size", "512"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--sector-size 4096") && err.lines().count() == 1,
        "{err}"
    );
    let (code, _, err) = kzrescue(&["partitions", spec, "--sector-size", "1024"]);
    assert_eq!(code, 2, "{err}");
}
