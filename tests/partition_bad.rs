//! Damaged and hostile partition tables: backup fallback, one-line errors
//! naming the structure and byte offset, and no panic on any input.

mod common;

use common::unpack_fixture;
use kzrescue::partition::{self, PartitionTable, TableKind};
use kzrescue::{Error, ErrorKind};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use kzrescue::source::MemSource as Mem;

/// The unpacked bytes of a fixture (unpacked once per test binary).
fn fixture(name: &str) -> Vec<u8> {
    static CACHE: OnceLock<Mutex<HashMap<String, Vec<u8>>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    cache
        .entry(name.to_string())
        .or_insert_with(|| {
            let d = tempfile::tempdir().unwrap();
            std::fs::read(unpack_fixture(name, d.path())).unwrap()
        })
        .clone()
}

fn read(bytes: &[u8], ss: Option<u32>) -> kzrescue::Result<PartitionTable> {
    partition::read(&Mem::new(bytes), ss)
}

fn crc32(b: &[u8]) -> u32 {
    crc32fast::hash(b)
}

/// Recomputes the CRC32 of the header at byte `off` (92 bytes).
fn reseal_header(img: &mut [u8], off: usize) {
    img[off + 16..off + 20].fill(0);
    let c = crc32(&img[off..off + 92]);
    img[off + 16..off + 20].copy_from_slice(&c.to_le_bytes());
}

fn le64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// `e` is a one-line [`ErrorKind::Corrupt`] naming `structure` at `offset`.
fn one_line_corrupt(e: &Error, structure: &str, offset: u64) {
    let s = e.to_string();
    assert_eq!(s.lines().count(), 1, "{s}");
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{s}");
    assert!(e.structure().unwrap().contains(structure), "{s}");
    assert_eq!(e.offset(), Some(offset), "{s}");
}

#[test]
fn bad_primary_header_falls_back_to_backup() {
    for (name, ss) in [
        ("gpt-x86-efi-512.img", 512usize),
        ("gpt-sparc-4k.img", 4096),
    ] {
        let good = fixture(name);
        let want = read(&good, None).unwrap();
        let mut img = good.clone();
        img[ss + 40] ^= 1; // first usable LBA, under the header CRC
        let t = read(&img, None).unwrap();
        assert_eq!(t.partitions, want.partitions, "{name}");
        assert!(t.gpt.as_ref().unwrap().used_backup);
        let last = img.len() / ss - 1;
        assert_eq!(t.notes.len(), 1, "{:?}", t.notes);
        let n = &t.notes[0];
        assert!(
            n.starts_with("primary GPT is bad, used the backup")
                && n.contains(&format!("LBA {last}"))
                && n.contains("header CRC32"),
            "{n}"
        );
    }
}

#[test]
fn bad_primary_entry_array_falls_back_to_backup() {
    let good = fixture("gpt-x86-bios-512.img");
    let mut img = good.clone();
    img[2 * 512 + 32] ^= 0x80; // entry 1's first LBA
    let t = read(&img, None).unwrap();
    assert_eq!(t.partitions, read(&good, None).unwrap().partitions);
    assert!(
        t.notes[0].contains("entry array") && t.notes[0].contains("CRC32"),
        "{:?}",
        t.notes
    );
}

#[test]
fn zeroed_primary_is_found_through_the_backup() {
    // Both LBA 0..34 wiped: only the backup at the last LBA is left.
    let good = fixture("gpt-sparc-512.img");
    let mut img = good.clone();
    img[..34 * 512].fill(0);
    let t = read(&img, None).unwrap();
    assert_eq!(t.kind, TableKind::Gpt);
    assert_eq!(t.partitions, read(&good, None).unwrap().partitions);
    assert!(
        t.notes[0].contains("no \"EFI PART\" signature at LBA 1"),
        "{:?}",
        t.notes
    );
}

#[test]
fn damaged_backup_is_noted_and_primary_used() {
    let good = fixture("gpt-sparc-512.img");
    let mut img = good.clone();
    let n = img.len();
    img[n - 512 + 20] ^= 0xff;
    let t = read(&img, None).unwrap();
    assert!(!t.gpt.as_ref().unwrap().used_backup);
    assert!(t.notes[0].starts_with("backup GPT is bad"), "{:?}", t.notes);
    // A truncated image loses its backup: still readable, and said so.
    let t = read(&good[..8 << 20], None).unwrap();
    assert_eq!(t.partitions.len(), 2);
    assert!(
        t.notes.iter().any(|n| n.contains("truncated")),
        "{:?}",
        t.notes
    );
    assert!(
        t.notes.iter().any(|n| n.contains("past the end")),
        "{:?}",
        t.notes
    );
}

#[test]
fn both_headers_bad_is_one_error() {
    let mut img = fixture("gpt-x86-efi-512.img");
    let n = img.len();
    img[512 + 40] ^= 1;
    img[n - 512 + 40] ^= 1;
    let e = read(&img, None).unwrap_err();
    one_line_corrupt(&e, "GPT", 512);
    let s = e.to_string();
    assert!(s.contains("primary") && s.contains("backup"), "{s}");
}

#[test]
fn wrong_sector_size_is_named() {
    let img = fixture("gpt-sparc-4k.img");
    let e = read(&img, Some(512)).unwrap_err();
    one_line_corrupt(&e, "GPT header", 512);
    assert!(e.to_string().contains("--sector-size 4096"), "{e}");
    let img = fixture("gpt-sparc-512.img");
    let e = read(&img, Some(4096)).unwrap_err();
    one_line_corrupt(&e, "GPT header", 4096);
    assert!(e.to_string().contains("--sector-size 512"), "{e}");
}

#[test]
fn protective_mbr_without_gpt() {
    let mut img = fixture("gpt-sparc-512.img");
    img[512..].fill(0);
    let e = read(&img, None).unwrap_err();
    one_line_corrupt(&e, "GPT header", 512);
    assert!(e.to_string().contains("protective MBR"), "{e}");
}

#[test]
fn hostile_header_fields_are_errors_not_allocations() {
    let good = fixture("gpt-sparc-512.img");
    let n = good.len();
    // (field offset, value, expected words in the message)
    for (field, value, words) in [
        (80usize, u32::MAX, "entry count"), // NumberOfPartitionEntries
        (80, 0, "entry count"),
        (84, 256, "only 128"),     // SizeOfPartitionEntry
        (12, 4096, "header size"), // HeaderSize
    ] {
        let mut img = good.clone();
        for off in [512, n - 512] {
            img[off + field..off + field + 4].copy_from_slice(&value.to_le_bytes());
            reseal_header(&mut img, off);
        }
        let e = read(&img, None).unwrap_err();
        // both copies bad: one error at the primary, naming the rule broken
        one_line_corrupt(&e, "GPT", 512);
        assert!(e.to_string().contains(words), "{field}: {e}");
    }
    // An entry array placed past the end of the disk.
    let mut img = good.clone();
    for off in [512, n - 512] {
        img[off + 72..off + 80].copy_from_slice(&(u64::MAX / 512).to_le_bytes());
        reseal_header(&mut img, off);
    }
    let e = read(&img, None).unwrap_err();
    one_line_corrupt(&e, "GPT", 512);
    assert!(e.to_string().contains("does not fit"), "{e}");
}

#[test]
fn entry_with_last_before_first_is_named() {
    let mut img = fixture("gpt-sparc-512.img");
    let n = img.len();
    for hdr in [512, n - 512] {
        let arr = le64(&img, hdr + 72) as usize * 512;
        // entry 1: first LBA 256 → 60000 (after its last LBA)
        img[arr + 32..arr + 40].copy_from_slice(&60000u64.to_le_bytes());
        let c = crc32(&img[arr..arr + 9 * 128]);
        img[hdr + 88..hdr + 92].copy_from_slice(&c.to_le_bytes());
        reseal_header(&mut img, hdr);
    }
    let e = read(&img, None).unwrap_err();
    one_line_corrupt(&e, "GPT partition entry 1", 1024);
}

/// Found by the `gpt` fuzz target: an entry spanning LBA 0 to 2^64 − 1.
#[test]
fn entry_spanning_all_lbas_is_named() {
    let mut img = fixture("gpt-sparc-512.img");
    let n = img.len();
    for hdr in [512, n - 512] {
        let arr = le64(&img, hdr + 72) as usize * 512;
        img[arr + 32..arr + 40].copy_from_slice(&0u64.to_le_bytes());
        img[arr + 40..arr + 48].copy_from_slice(&u64::MAX.to_le_bytes());
        let c = crc32(&img[arr..arr + 9 * 128]);
        img[hdr + 88..hdr + 92].copy_from_slice(&c.to_le_bytes());
        reseal_header(&mut img, hdr);
    }
    let e = read(&img, None).unwrap_err();
    one_line_corrupt(&e, "GPT partition entry 1", 1024);
}

#[test]
fn smi_checksum_and_x86_sanity() {
    let mut img = fixture("smi-sparc.img");
    img[444 + 4] ^= 1; // slice 0's start cylinder
    let e = read(&img, None).unwrap_err();
    one_line_corrupt(&e, "SMI disk label", 510);
    let mut img = fixture("x86-vtoc.img");
    let label = (2048 + 1) * 512;
    img[label + 12] ^= 1;
    let e = read(&img, None).unwrap_err();
    one_line_corrupt(&e, "x86 VTOC label", label as u64 + 12);
    let mut img = fixture("x86-vtoc.img");
    img[label + 72 + 4] ^= 1; // slice 0 start
    let e = read(&img, None).unwrap_err();
    one_line_corrupt(&e, "x86 VTOC label", label as u64 + 510);
    // In a legacy 0x82 partition a missing VTOC just means Linux swap.
    let mut img = fixture("x86-vtoc-legacy.img");
    img[label + 12] ^= 1;
    let t = read(&img, None).unwrap();
    assert_eq!(t.kind, TableKind::None);
    assert!(t.notes[0].contains("p1=0x82"), "{:?}", t.notes);
}

#[test]
fn tiny_and_empty_devices() {
    for len in [0usize, 1, 100, 511, 512, 1024, 1536] {
        let t = read(&vec![0u8; len], None).unwrap();
        assert_eq!(t.kind, TableKind::None);
    }
}

/// Checks what any successful read must satisfy.
fn check_invariants(t: &PartitionTable) {
    for p in &t.partitions {
        assert!(p.start.checked_add(p.len).is_some());
        assert!(p.len > 0);
        assert_eq!(
            partition::solaris::letter_slice(p.letter).unwrap_or(99),
            if p.slice < 16 { p.slice } else { 99 }
        );
    }
    if t.kind == TableKind::Gpt {
        assert!(t.gpt.is_some());
    }
}

/// The images whose table areas the property tests damage.
const IMAGES: &[&str] = &[
    "gpt-x86-efi-512.img",
    "gpt-sparc-4k.img",
    "smi-sparc.img",
    "x86-vtoc.img",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// Random byte changes in the table areas, with the GPT CRCs re-sealed
    /// half of the time so that the parser behind them is reached.
    #[test]
    fn damaged_tables_never_panic(
        which in 0..IMAGES.len(),
        edits in proptest::collection::vec((0usize..20480, any::<u8>(), any::<bool>()), 1..12),
        reseal in any::<bool>(),
        ss in prop_oneof![Just(None), Just(Some(512u32)), Just(Some(4096u32))],
    ) {
        let mut img = fixture(IMAGES[which]);
        let n = img.len();
        for (off, val, at_end) in edits {
            // Edit near the start (MBR, primary GPT, VTOC) or the end (backup).
            let pos = if at_end { n - 1 - off % n.min(20480) } else { off % n };
            let pos = if IMAGES[which].starts_with("x86") && !at_end { (2049 * 512 + off % 1024) % n } else { pos };
            img[pos] = val;
        }
        if reseal {
            for ss in [512usize, 4096] {
                for hdr in [ss, n - ss] {
                    if &img[hdr..hdr + 8] == b"EFI PART" {
                        let arr = le64(&img, hdr + 72).saturating_mul(ss as u64);
                        let cnt = u32::from_le_bytes(img[hdr + 80..hdr + 84].try_into().unwrap()) as u64;
                        if cnt <= 4096 && arr.saturating_add(cnt * 128) <= n as u64 {
                            let (a, e) = (arr as usize, (arr + cnt * 128) as usize);
                            let c = crc32(&img[a..e]);
                            img[hdr + 88..hdr + 92].copy_from_slice(&c.to_le_bytes());
                        }
                        reseal_header(&mut img, hdr);
                    }
                }
            }
        }
        match read(&img, ss) {
            Ok(t) => check_invariants(&t),
            Err(e) => prop_assert_eq!(e.to_string().lines().count(), 1),
        }
    }

    /// Arbitrary bytes as a whole small device.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..9000), sig in any::<bool>()) {
        let mut img = bytes;
        if sig && img.len() >= 520 {
            img[512..520].copy_from_slice(b"EFI PART");
        }
        match read(&img, None) {
            Ok(t) => check_invariants(&t),
            Err(e) => prop_assert_eq!(e.to_string().lines().count(), 1),
        }
    }
}

#[test]
fn solaris_fdisk_partition_choice_follows_cmlb() {
    let base = fixture("x86-vtoc.img");
    let label = base[2049 * 512..2050 * 512].to_vec();
    let with = |p1_active: bool, p2_active: bool| {
        let mut img = base.clone();
        img[446] = if p1_active { 0x80 } else { 0 };
        // p2: a second Solaris2 partition at sector 8192 with the same label.
        let e = 446 + 16;
        img[e] = if p2_active { 0x80 } else { 0 };
        img[e + 4] = 0xbf;
        img[e + 8..e + 12].copy_from_slice(&8192u32.to_le_bytes());
        img[e + 12..e + 16].copy_from_slice(&8192u32.to_le_bytes());
        img[8193 * 512..8194 * 512].copy_from_slice(&label);
        read(&img, None).unwrap()
    };
    let fdisk = |t: &PartitionTable| t.vtoc.as_ref().unwrap().fdisk.as_ref().unwrap().number;
    let t = with(false, true);
    assert_eq!(fdisk(&t), 2);
    assert!(t.notes[0].contains("used p2"), "{:?}", t.notes);
    // Slices count from the chosen partition's start.
    assert_eq!(t.partitions[0].start, (8192 + 1536) * 512);
    assert_eq!(fdisk(&with(false, false)), 1);
    assert_eq!(fdisk(&with(true, false)), 1);
    assert_eq!(fdisk(&with(true, true)), 2);
}
