//! Damaged vdevs: checksums checked independently of kzrescue's own code, a
//! flipped bit in a checksum or in the nvlist, zeroed and truncated labels,
//! garbage. Each gives a one-line error naming the structure and the byte
//! offset, the other labels are still reported, and nothing panics.
//!
//! Every case runs on a pool written by kzrescue's encoder (no tools needed)
//! and, when the OpenZFS test-suite images are installed, on a real SPARC
//! (big-endian) and a real x86 (little-endian) pool.

mod common;

use common::label::*;
use kzrescue::ErrorKind;
use kzrescue::source::{FileSource, OpenMode};
use kzrescue::zfs::ByteOrder;
use kzrescue::zfs::label::{
    LabelStatus, NVLIST_MAX, VDEV_PHYS_OFFSET, VDEV_PHYS_SIZE, label_offsets, read_labels,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The images every case runs on: two made here, plus real ones if present.
fn images(dir: &Path, test: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for (n, e) in [
        ("synthetic-be.dat", ByteOrder::Big),
        ("synthetic-le.dat", ByteOrder::Little),
    ] {
        let p = dir.join(n);
        synthetic_pool(&p, e, 40);
        v.push(p);
    }
    if let Some(all) = zfs_test_images(test) {
        for want in [
            "zfs-pool-v15.dat.bz2",
            "cryptv0.dat.bz2",
            "zfs-pool-v2.dat.bz2",
        ] {
            if let Some(bz) = all.iter().find(|p| p.ends_with(want)) {
                v.push(bunzip(bz, dir));
            }
        }
    }
    v
}

fn copy(img: &Path, dir: &Path, tag: &str) -> PathBuf {
    let p = dir.join(format!(
        "{}.{tag}",
        img.file_name().unwrap().to_string_lossy()
    ));
    std::fs::copy(img, &p).unwrap();
    p
}

fn label_json(img: &Path) -> (i32, Value, String) {
    let (code, out, err) =
        common::kzrescue(&["label", img.to_str().unwrap(), "--json", "--json-int"]);
    (code, serde_json::from_str(&out).expect("json"), err)
}

fn statuses(v: &Value) -> Vec<String> {
    v["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap().to_string())
        .collect()
}

fn one_line(s: &str) {
    assert!(!s.contains('\n'), "not one line: {s}");
}

/// The label checksum recomputed here, from the recipe, with sha2 only.
#[test]
fn label_checksums_verified_independently() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for img in images(dir.path(), "label_checksums_verified_independently") {
        let data = std::fs::read(&img).unwrap();
        let size = data.len() as u64 & !(256 * 1024 - 1);
        for (l, off) in [0, 256 * 1024, size - 512 * 1024, size - 256 * 1024]
            .into_iter()
            .enumerate()
        {
            let at = (off + 16 * 1024) as usize;
            let block = &data[at..at + 114_688];
            let magic = &block[114_688 - 40..114_688 - 32];
            let big = magic == 0x0210da7ab10c7a11u64.to_be_bytes();
            let little = magic == 0x0210da7ab10c7a11u64.to_le_bytes();
            if !(big || little) {
                continue; // e.g. a missing label; covered by zdb agreement
            }
            let mut copy = block.to_vec();
            let verifier = if big {
                (at as u64).to_be_bytes()
            } else {
                (at as u64).to_le_bytes()
            };
            copy[114_688 - 32..114_688 - 24].copy_from_slice(&verifier);
            copy[114_688 - 24..].fill(0);
            let digest = Sha256::digest(&copy);
            let mut expect = digest.to_vec();
            if little {
                for w in expect.chunks_mut(8) {
                    w.reverse();
                }
            }
            assert_eq!(
                &block[114_688 - 32..],
                &expect[..],
                "{} L{l}",
                img.display()
            );
            let (_, v, _) = label_json(&img);
            assert_eq!(v["labels"][l]["status"], "valid", "{} L{l}", img.display());
            assert_eq!(
                v["labels"][l]["checksum"]["endian"],
                if big { "big" } else { "little" }
            );
            checked += 1;
        }
    }
    println!("independently verified label checksums: {checked}");
    assert!(checked >= 8);
}

#[test]
fn flipped_bit_in_checksum_marks_only_that_label() {
    let dir = tempfile::tempdir().unwrap();
    for img in images(dir.path(), "flipped_bit_in_checksum_marks_only_that_label") {
        let p = copy(&img, dir.path(), "cksum");
        let size = std::fs::metadata(&p).unwrap().len();
        let off = label_offsets(size)[2] + VDEV_PHYS_OFFSET + VDEV_PHYS_SIZE as u64 - 7;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .open(&p)
            .unwrap();
        let mut b = [0u8];
        f.read_exact_at(&mut b, off).unwrap();
        f.write_all_at(&[b[0] ^ 0x10], off).unwrap();
        let (code, v, err) = label_json(&p);
        assert_eq!(code, 1, "{err}");
        assert_eq!(statuses(&v), ["valid", "valid", "checksum_bad", "valid"]);
        // The nvlist itself is intact, so it still decodes (zdb shows it).
        assert!(v["labels"][2]["config"].is_object());
        let prob = v["labels"][2]["problem"].as_str().unwrap();
        one_line(prob);
        let trailer = label_offsets(size)[2] + VDEV_PHYS_OFFSET + NVLIST_MAX as u64;
        assert!(prob.contains("vdev label 2 checksum"), "{prob}");
        assert!(prob.contains(&format!("{trailer:#x}")), "{prob}");
        // Text: zdb's shape still groups L2 (identical nvlist), marks it BAD.
        let (_, text, _) = common::kzrescue(&["label", p.to_str().unwrap()]);
        assert!(text.contains("labels = 0 1 2 3 "), "{text}");
        assert!(text.contains("2:BAD"), "{text}");
    }
}

#[test]
fn flipped_bit_in_nvlist_is_reported_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    for img in images(
        dir.path(),
        "flipped_bit_in_nvlist_is_reported_with_its_offset",
    ) {
        let size = std::fs::metadata(&img).unwrap().len();
        // (a) In the first pair's decoded-size word: the list no longer decodes.
        let p = copy(&img, dir.path(), "nvsize");
        let at = label_offsets(size)[1] + VDEV_PHYS_OFFSET + 4 + 8 + 4 + 3;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .open(&p)
            .unwrap();
        let mut b = [0u8];
        f.read_exact_at(&mut b, at).unwrap();
        f.write_all_at(&[b[0] ^ 0x08], at).unwrap();
        let (code, v, _) = label_json(&p);
        assert_eq!(code, 1);
        assert_eq!(statuses(&v), ["valid", "checksum_bad", "valid", "valid"]);
        assert!(v["labels"][1]["config"].is_null());
        let prob = v["labels"][1]["problem"].as_str().unwrap();
        one_line(prob);
        assert!(prob.contains("vdev label 1"), "{prob}");
        assert!(prob.contains("byte offset 0x"), "{prob}");
        let (_, text, _) = common::kzrescue(&["label", p.to_str().unwrap()]);
        assert!(text.contains("failed to unpack label 1\n"), "{text}");
        if common::require_tool("zdb", "zfsutils-linux", "nvlist flip vs zdb") {
            let z = zdb("-l", &p).1;
            assert_eq!(strip_extras(&text), z, "{}", p.display());
        }
        // (b) In the pool name's characters: decodes, but the checksum fails,
        // and the labels now disagree only in content, not in txg.
        let p = copy(&img, dir.path(), "nvname");
        let phys = label_offsets(size)[3] + VDEV_PHYS_OFFSET;
        let mut buf = vec![0u8; 200];
        let f = std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .open(&p)
            .unwrap();
        f.read_exact_at(&mut buf, phys).unwrap();
        let i = buf.windows(4).position(|w| w == b"name").unwrap() + 4 + 12 + 1;
        f.write_all_at(&[buf[i] ^ 0x01], phys + i as u64).unwrap();
        let (code, v, _) = label_json(&p);
        assert_eq!(code, 1);
        assert_eq!(statuses(&v), ["valid", "valid", "valid", "checksum_bad"]);
        assert!(v["labels"][3]["config"].is_object());
        assert_eq!(v["groups"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn zeroed_and_torn_labels() {
    let dir = tempfile::tempdir().unwrap();
    for img in images(dir.path(), "zeroed_and_torn_labels") {
        let size = std::fs::metadata(&img).unwrap().len();
        let p = copy(&img, dir.path(), "zero");
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        let offs = label_offsets(size);
        f.write_all_at(&vec![0u8; VDEV_PHYS_SIZE], offs[0] + VDEV_PHYS_OFFSET)
            .unwrap();
        // A torn write: the first 4 KiB of L3's block zeroed.
        f.write_all_at(&[0u8; 4096], offs[3] + VDEV_PHYS_OFFSET)
            .unwrap();
        drop(f);
        let (code, v, _) = label_json(&p);
        assert_eq!(code, 1);
        let st = statuses(&v);
        assert_eq!(st[0], "blank");
        assert_eq!(st[1], "valid");
        assert_eq!(st[2], "valid");
        assert_eq!(st[3], "checksum_bad");
        let (_, text, _) = common::kzrescue(&["label", p.to_str().unwrap()]);
        assert!(
            text.starts_with("failed to unpack label 0\n    checksums = 0:blank\n"),
            "{text}"
        );
        if common::require_tool("zdb", "zfsutils-linux", "zeroed label vs zdb") {
            assert_eq!(strip_extras(&text), zdb("-l", &p).1);
        }
    }
}

#[test]
fn truncated_images_report_each_label() {
    let dir = tempfile::tempdir().unwrap();
    for img in images(dir.path(), "truncated_images_report_each_label") {
        let size = std::fs::metadata(&img).unwrap().len();
        // Cut 300 KiB: the end labels now sit elsewhere (one of them may be
        // the old L2, whose verifier still names its original offset).
        let p = copy(&img, dir.path(), "cut");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(size - 300 * 1024)
            .unwrap();
        let (code, v, err) = label_json(&p);
        assert_eq!(code, 1, "{err}");
        let st = statuses(&v);
        assert_eq!(&st[..2], ["valid", "valid"]);
        assert_ne!(st[2], "valid");
        for l in v["labels"].as_array().unwrap() {
            if let Some(p) = l["problem"].as_str() {
                one_line(p);
                assert!(p.contains("0x"), "{p}");
            }
        }
        if common::require_tool("zdb", "zfsutils-linux", "truncated vs zdb") {
            let (_, text, _) = common::kzrescue(&["label", p.to_str().unwrap()]);
            assert_eq!(strip_extras(&text), zdb("-l", &p).1);
        }
        // Cut inside L0's vdev_phys: every label unreadable or blank, exit 2,
        // one-line reasons naming offsets.
        let p = copy(&img, dir.path(), "tiny");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(100 * 1024)
            .unwrap();
        let src = FileSource::open(&p, OpenMode::ReadOnly).unwrap();
        let labels = read_labels(&src);
        assert_eq!(labels.len(), 4);
        for l in &labels {
            let LabelStatus::Unreadable(why) = &l.status else {
                panic!("{:?}", l.status)
            };
            one_line(&why.to_string());
            // L0/L1 reach past the end; L2/L3 have no place on so small a vdev
            let kind = if l.index < 2 {
                ErrorKind::OutOfBounds
            } else {
                ErrorKind::Corrupt
            };
            assert_eq!(why.kind(), kind, "{why}");
            let at = if l.index < 2 {
                l.offset + VDEV_PHYS_OFFSET
            } else {
                l.offset
            };
            assert_eq!(why.offset(), Some(at), "{why}");
        }
        let (code, v, _) = label_json(&p);
        assert_eq!(code, 2);
        assert_eq!(statuses(&v), ["unreadable"; 4]);
    }
}

#[test]
fn garbage_and_empty_inputs_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut data = vec![0u8; 2 << 20];
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    for (n, d) in [
        ("garbage", &data[..]),
        ("empty", &[][..]),
        ("small", &data[..5000]),
    ] {
        let p = dir.path().join(n);
        std::fs::write(&p, d).unwrap();
        for cmd in ["label", "uberblocks"] {
            let (code, out, err) = common::kzrescue(&[cmd, p.to_str().unwrap()]);
            assert_eq!(code, 2, "{cmd} {n}: {out} {err}");
            assert!(!err.contains("panicked"), "{err}");
            let (code, out, _) =
                common::kzrescue(&[cmd, p.to_str().unwrap(), "--json", "--json-int"]);
            assert_eq!(code, 2);
            let v: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["labels"].as_array().unwrap().len(), 4);
        }
    }
    let (code, _, err) = common::kzrescue(&["label", "/nonexistent/disk.img"]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A pool in slice s0 of a 4Kn GPT disk: found by itself, by `--slice 0`,
/// and read as 512-byte sectors it is refused with the GPT header's offset.
#[test]
fn four_kn_disk_read_as_512_byte_sectors() {
    use kzrescue::target::{TargetOptions, open_vdev};
    use kzrescue::zfs::label::encode_vdev_phys;
    let dir = tempfile::tempdir().unwrap();
    let img = common::unpack_fixture("gpt-sparc-4k.img", dir.path());
    let v = open_vdev(img.to_str().unwrap(), &TargetOptions::default()).unwrap();
    let part = v.partition.clone().expect("a ZFS slice");
    let cfg = file_pool_config(7, 9, 5, "/dev/dsk/c0t0d0s0");
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    for off in label_offsets(part.len) {
        let phys = encode_vdev_phys([1, 0, 0, 0], &cfg, ByteOrder::Big, off).unwrap();
        f.write_all_at(&phys, part.start + off + VDEV_PHYS_OFFSET)
            .unwrap();
    }
    drop(f);
    let path = img.to_str().unwrap();
    for args in [
        vec!["label", path, "--json", "--json-int"],
        vec!["label", path, "--slice", "0", "--json", "--json-int"],
    ] {
        let (code, out, err) = common::kzrescue(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(statuses(&v), ["valid"; 4]);
        assert_eq!(v["vdev_start"], part.start);
        assert_eq!(
            v["labels"][0]["config"]["vdev_tree"]["path"],
            "/dev/dsk/c0t0d0s0"
        );
    }
    for cmd in ["label", "uberblocks"] {
        let (code, out, err) = common::kzrescue(&[cmd, path, "--sector-size", "512"]);
        assert_eq!(code, 2, "{out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("GPT header at byte offset 0x200"), "{err}");
    }
}

/// An interrupted config sync: L0/L2 carry a newer txg than L1/L3, all four
/// with good checksums. kzrescue names the disagreement; zdb shows two groups.
#[test]
fn valid_labels_that_disagree_on_txg() {
    use kzrescue::zfs::label::encode_vdev_phys;
    use kzrescue::zfs::nvlist::NvValue;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("split.dat");
    synthetic_pool(&p, ByteOrder::Little, 40);
    let src = FileSource::open(&p, OpenMode::ReadOnly).unwrap();
    let labels = read_labels(&src);
    drop(src);
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    for l in labels.iter().filter(|l| l.index % 2 == 0) {
        let mut cfg = l.config.clone().unwrap();
        cfg.set("txg", NvValue::UInt64(41));
        let phys = encode_vdev_phys(l.header.unwrap(), &cfg, ByteOrder::Little, l.offset).unwrap();
        f.write_all_at(&phys, l.offset + VDEV_PHYS_OFFSET).unwrap();
    }
    drop(f);
    let (code, v, _) = label_json(&p);
    assert_eq!(code, 1);
    assert_eq!(statuses(&v), ["valid"; 4]);
    assert_eq!(v["groups"], serde_json::json!([[0, 2], [1, 3]]));
    let d = v["disagreements"].as_array().unwrap();
    assert_eq!(d[0]["field"], "txg");
    assert_eq!(
        d[0]["values"][0],
        serde_json::json!({"label": 0, "value": "41"})
    );
    assert_eq!(
        d[0]["values"][1],
        serde_json::json!({"label": 1, "value": "40"})
    );
    assert_eq!(d.last().unwrap()["field"], "config");
    let (_, text, _) = common::kzrescue(&["label", p.to_str().unwrap()]);
    assert!(
        text.contains("    disagree = txg 0:41 1:40 2:41 3:40\n"),
        "{text}"
    );
    assert!(text.contains("    labels = 0 2 \n") && text.contains("    labels = 1 3 \n"));
    if common::require_tool("zdb", "zfsutils-linux", "disagreeing labels vs zdb") {
        assert_eq!(strip_extras(&text), zdb("-l", &p).1);
    }
}
