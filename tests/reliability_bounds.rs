//! Resource bounds: hostile sizes in the structures we parse end in an error
//! within bounded CPU time and memory. Each case runs the real CLI on a
//! crafted image (a real fixture patched, or a hand-built structure), reaps
//! it with `wait4` to read its own peak RSS and CPU time, and asserts
//! generous bounds (< 512 MiB, < 30 s of CPU; killed after 120 s of wall
//! time). These are bounds, not speed targets.

mod common;

use common::bounded::{MAX_CPU_S, MAX_RSS_KIB, run};
use kzrescue::zfs::ByteOrder;
use kzrescue::zfs::eck;
use kzrescue::zfs::label::{VDEV_PHYS_OFFSET, VDEV_PHYS_SIZE};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Asserts the bounds and that the run ended in a reported error, not a
/// crash; returns the output for further checks.
fn bounded_error(what: &str, args: &[&str]) -> String {
    let o = run(args);
    println!(
        "{what}: exit {} in {:.2} s CPU, peak RSS {} KiB",
        o.code, o.cpu_s, o.rss_kib
    );
    assert!(
        o.code >= 0,
        "{what}: killed by signal {}\n{}",
        -o.code,
        o.out()
    );
    assert!(!o.out().contains("panicked"), "{what}: panic\n{}", o.out());
    assert!(o.code != 0, "{what}: hostile input accepted\n{}", o.out());
    assert!(
        o.rss_kib < MAX_RSS_KIB,
        "{what}: peak RSS {} KiB",
        o.rss_kib
    );
    assert!(o.cpu_s < MAX_CPU_S, "{what}: {:.1} s CPU", o.cpu_s);
    o.out()
}

// ---- nvlists (XDR, as in vdev labels) ----

fn be32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes());
}

fn xdr_str(v: &mut Vec<u8>, s: &str) {
    be32(v, s.len() as u32);
    v.extend_from_slice(s.as_bytes());
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

/// An XDR nvlist header (encoding XDR, big-endian host), version 0, nvflag 1.
fn xdr_head() -> Vec<u8> {
    let mut v = vec![1, 1, 0, 0];
    be32(&mut v, 0);
    be32(&mut v, 1);
    v
}

/// A pair header: encoded size, decoded size, name, type, nelem.
fn pair(v: &mut Vec<u8>, esize: u32, dsize: u32, name: &str, dtype: u32, nelem: u32) {
    be32(v, esize);
    be32(v, dsize);
    xdr_str(v, name);
    be32(v, dtype);
    be32(v, nelem);
}

/// A 1 MiB vdev whose four labels all carry `nvlist` as their (sealed)
/// vdev_phys: the checksum is right, so the decoder behind it is reached.
fn vdev_with_nvlist(dir: &Path, name: &str, nvlist: &[u8]) -> String {
    let size = 1usize << 20;
    let mut img = vec![0u8; size];
    for l in 0..4usize {
        let base = if l < 2 {
            l * 256 * 1024
        } else {
            size - (4 - l) * 256 * 1024
        };
        let off = base + VDEV_PHYS_OFFSET as usize;
        let phys = &mut img[off..off + VDEV_PHYS_SIZE];
        let n = nvlist.len().min(VDEV_PHYS_SIZE - 40);
        phys[..n].copy_from_slice(&nvlist[..n]);
        eck::seal(phys, off as u64, ByteOrder::Little);
    }
    let p = dir.join(name);
    std::fs::write(&p, img).unwrap();
    p.to_string_lossy().into_owned()
}

/// The hostile nvlists: element counts and sizes at the top of their 32-bit
/// fields (XDR and native nvlists store nelem and the pair sizes as 32-bit
/// integers, so "2^60 elements" is not expressible on disk; 2^31−1 elements
/// of 8 bytes = 16 GiB and 2^32−1-byte pairs are the largest claims), and a
/// list nested thousands of levels deep.
fn hostile_nvlists() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    // UINT64_ARRAY (16) claiming 2^31-1 elements (16 GiB)
    let mut v = xdr_head();
    pair(&mut v, 64, 64, "guid", 16, 0x7fff_ffff);
    be32(&mut v, 0x7fff_ffff);
    v.extend_from_slice(&[0xab; 64]);
    out.push(("uint64 array of 2^31-1 elements", v));
    // same, nelem as unsigned 0xffffffff
    let mut v = xdr_head();
    pair(&mut v, 64, 64, "guid", 16, 0xffff_ffff);
    be32(&mut v, 0xffff_ffff);
    out.push(("uint64 array of 2^32-1 elements", v));
    // NVLIST_ARRAY (20) of 2^31-1 lists
    let mut v = xdr_head();
    pair(&mut v, 64, 64, "children", 20, 0x7fff_ffff);
    for _ in 0..8 {
        be32(&mut v, 0);
        be32(&mut v, 1);
        be32(&mut v, 0);
        be32(&mut v, 0);
    }
    out.push(("nvlist array of 2^31-1 lists", v));
    // STRING_ARRAY (17) of 2^31-1 strings
    let mut v = xdr_head();
    pair(&mut v, 64, 64, "path", 17, 0x7fff_ffff);
    be32(&mut v, 0x7fff_ffff);
    out.push(("string array of 2^31-1 strings", v));
    // a 4 GiB pair: encoded and decoded size 0xffffffff on a plain uint64
    let mut v = xdr_head();
    pair(&mut v, 0xffff_ffff, 0xffff_ffff, "txg", 8, 1);
    v.extend_from_slice(&7u64.to_be_bytes());
    be32(&mut v, 0);
    be32(&mut v, 0);
    out.push(("pair claiming 4 GiB", v));
    // a string claiming 4 GiB
    let mut v = xdr_head();
    pair(&mut v, 64, 64, "name", 9, 1);
    be32(&mut v, 0xffff_fff0);
    v.extend_from_slice(b"rpool");
    out.push(("string claiming 4 GiB", v));
    // a name claiming 4 GiB
    let mut v = xdr_head();
    be32(&mut v, 64);
    be32(&mut v, 64);
    be32(&mut v, 0xffff_fff0);
    v.extend_from_slice(b"name");
    out.push(("pair name claiming 4 GiB", v));
    // nested NVLIST (19) pairs 3000 levels deep
    let mut v = xdr_head();
    for _ in 0..3000 {
        pair(&mut v, 0x100, 0x100, "a", 19, 1);
        be32(&mut v, 0);
        be32(&mut v, 1);
    }
    out.push(("nvlists nested 3000 deep", v));
    out
}

#[test]
fn hostile_nvlists_in_labels_end_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (what, nv)) in hostile_nvlists().into_iter().enumerate() {
        // in-process: both decoders return an error
        assert!(
            kzrescue::zfs::nvlist::xdr::decode(&nv).is_err(),
            "{what}: xdr accepted"
        );
        assert!(
            kzrescue::zfs::nvlist::decode_packed(&nv).is_err(),
            "{what}: accepted"
        );
        let mut native = nv.clone();
        native[0] = 0;
        assert!(
            kzrescue::zfs::nvlist::native::decode(&native).is_err(),
            "{what}: native accepted"
        );
        // through the CLI, in a sealed label
        let img = vdev_with_nvlist(dir.path(), &format!("nv{i}.img"), &nv);
        let out = bounded_error(what, &["label", &img]);
        assert!(
            out.contains("nvlist") || out.contains("label"),
            "{what}: {out}"
        );
        bounded_error(what, &["uberblocks", &img]);
    }
}

// ---- GPT ----

fn reseal_gpt_header(img: &mut [u8], at: usize) {
    img[at + 16..at + 20].fill(0);
    let size = u32::from_le_bytes(img[at + 12..at + 16].try_into().unwrap()) as usize;
    let c = crc32fast::hash(&img[at..at + size.min(512)]);
    img[at + 16..at + 20].copy_from_slice(&c.to_le_bytes());
}

#[test]
fn hostile_gpt_entry_count_and_size_end_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let real = common::unpack_fixture("gptdisk-x86-512.img", dir.path());
    let orig = std::fs::read(&real).unwrap();
    let last = orig.len() - 512;
    // (what, header field offset, width, value)
    let cases: [(&str, usize, usize, u64); 4] = [
        ("entry count 2^32-1", 80, 4, 0xffff_ffff),
        ("entry size 2^31", 84, 4, 0x8000_0000),
        ("entry array at LBA 2^63", 72, 8, 1 << 63),
        ("header size 2^32-1", 12, 4, 0xffff_ffff),
    ];
    for (what, at, width, val) in cases {
        let mut img = orig.clone();
        for hdr in [512, last] {
            img[hdr + at..hdr + at + width].copy_from_slice(&val.to_le_bytes()[..width]);
            reseal_gpt_header(&mut img, hdr);
        }
        let p = dir.path().join("hostile-gpt.img");
        std::fs::write(&p, &img).unwrap();
        let p = p.to_string_lossy().into_owned();
        let o = run(&["partitions", &p]);
        println!(
            "GPT {what}: exit {} in {:.2} s CPU, peak RSS {} KiB",
            o.code, o.cpu_s, o.rss_kib
        );
        assert!(
            o.code >= 0 && !o.out().contains("panicked"),
            "GPT {what}: crash\n{}",
            o.out()
        );
        assert!(
            o.rss_kib < MAX_RSS_KIB && o.cpu_s < MAX_CPU_S,
            "GPT {what}: over bounds"
        );
        // either refused, or (a valid protective MBR remains) reported as a problem
        assert!(
            o.code != 0 || o.out().to_lowercase().contains("gpt"),
            "GPT {what}: silently accepted\n{}",
            o.out()
        );
        bounded_error(&format!("GPT {what} (label)"), &["label", &p]);
    }
}

// ---- undo journals ----

fn le_str(v: &mut Vec<u8>, s: &str) {
    v.extend_from_slice(&(s.len() as u16).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
}

/// A sealed journal: one target (`path`, 1 MiB) with `ranges` range count and
/// one range claiming `len` bytes at offset 0, followed by `body` bytes.
fn journal(path: &str, targets: u32, ranges: u32, len: u32, body: usize) -> Vec<u8> {
    let mut v = b"KZJRNL\r\n".to_vec();
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&targets.to_le_bytes());
    v.extend_from_slice(&0u64.to_le_bytes());
    le_str(&mut v, "physpath set --device-id 0");
    le_str(&mut v, path);
    le_str(&mut v, "dev=0x1,ino=1");
    v.extend_from_slice(&(1u64 << 20).to_le_bytes());
    v.extend_from_slice(&ranges.to_le_bytes());
    v.extend_from_slice(&0u64.to_le_bytes());
    v.extend_from_slice(&len.to_le_bytes());
    le_str(&mut v, "s1 label 0 vdev_phys");
    v.extend(std::iter::repeat_n(0x5a, body));
    let d = Sha256::digest(&v);
    v.extend_from_slice(&d);
    v
}

#[test]
fn hostile_journal_lengths_end_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.img");
    std::fs::write(&img, vec![0u8; 1 << 20]).unwrap();
    let img = img.to_string_lossy().into_owned();
    let cases = [
        (
            "range length 2^32-1",
            journal(&img, 1, 1, 0xffff_ffff, 4096),
        ),
        (
            "range length 16 MiB + 1",
            journal(&img, 1, 1, (16 << 20) + 1, 4096),
        ),
        (
            "range count 2^32-1",
            journal(&img, 1, 0xffff_ffff, 512, 1024),
        ),
        (
            "target count 2^32-1",
            journal(&img, 0xffff_ffff, 1, 512, 1024),
        ),
        (
            "range length 16 MiB, 8 KiB present",
            journal(&img, 1, 1, 16 << 20, 8192),
        ),
    ];
    for (what, j) in cases {
        assert!(
            kzrescue::repair::journal::Journal::decode(&j).is_err(),
            "{what}: decoded"
        );
        let p = dir.path().join("hostile.kzj");
        std::fs::write(&p, &j).unwrap();
        let p = p.to_string_lossy().into_owned();
        let out = bounded_error(&format!("journal {what}"), &["undo", &p]);
        assert!(out.contains("journal"), "journal {what}: {out}");
        bounded_error(
            &format!("journal {what} (--write)"),
            &["undo", "--write", &p],
        );
        assert_eq!(
            std::fs::read(&img).unwrap(),
            vec![0u8; 1 << 20],
            "{what}: disk written"
        );
    }
    // a sparse 2 GiB "journal" is refused before it is read
    let big = dir.path().join("big.kzj");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(2 << 30).unwrap();
    drop(f);
    bounded_error("2 GiB journal file", &["undo", &big.to_string_lossy()]);
}
