//! Partition tables against the real tools: util-linux `sfdisk --json`,
//! gdisk `sgdisk -p`/`-v` and libblkid `partx` read the same images.
//!
//! The images come from `testimages/make-partition-images.py`; the tools'
//! outputs were recorded as goldens under `testimages/golden/partitions/`.
//! Without the tools the tests compare with the goldens; with them they also
//! run the tools again and check the goldens are still what they print.

mod common;

use common::loopdev::Loop;
use common::{require_tool, root, unpack_fixture};
use kzrescue::partition::{self, PartitionTable, TableKind};
use kzrescue::source::{FileSource, OpenMode};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn golden(name: &str) -> String {
    let p = root().join("testimages/golden/partitions").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn table_of(path: &Path, ss: Option<u32>) -> PartitionTable {
    let src = FileSource::open(path, OpenMode::ReadOnly).unwrap();
    partition::read(&src, ss).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn unpack(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = unpack_fixture(name, dir.path());
    (dir, p)
}

/// Partition number at the end of an sfdisk node name ("x.img2", "x.imgp9").
fn node_number(node: &str) -> u32 {
    let digits: String = node
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().unwrap()
}

/// Compares our table with `sfdisk --json` output; returns the number of
/// partitions that agree.
fn compare_sfdisk(t: &PartitionTable, json: &str) -> usize {
    let v: Value = serde_json::from_str(json).unwrap();
    let pt = &v["partitiontable"];
    assert_eq!(pt["sectorsize"].as_u64().unwrap(), u64::from(t.sector_size));
    let theirs = pt["partitions"].as_array().unwrap();
    assert_eq!(theirs.len(), t.partitions.len(), "partition count");
    let ss = u64::from(t.sector_size);
    match pt["label"].as_str().unwrap() {
        "gpt" => {
            assert_eq!(t.kind, TableKind::Gpt);
            let g = t.gpt.as_ref().unwrap();
            assert_eq!(pt["id"].as_str().unwrap(), g.disk_guid);
            assert_eq!(pt["firstlba"].as_u64().unwrap(), g.first_usable_lba);
            assert_eq!(pt["lastlba"].as_u64().unwrap(), g.last_usable_lba);
            assert_eq!(
                pt["table-length"].as_str().unwrap(),
                g.num_entries.to_string()
            );
            for their in theirs {
                let n = node_number(their["node"].as_str().unwrap());
                let ours = t.partitions.iter().find(|p| p.index == n).unwrap();
                assert_eq!(ours.slice, n - 1);
                assert_eq!(ours.start / ss, their["start"].as_u64().unwrap());
                assert_eq!(ours.len / ss, their["size"].as_u64().unwrap());
                assert_eq!(ours.type_guid.as_deref(), their["type"].as_str());
                assert_eq!(ours.unique_guid.as_deref(), their["uuid"].as_str());
                assert_eq!(ours.name, their["name"].as_str().unwrap_or(""));
            }
        }
        "sun" => {
            assert_eq!(t.kind, TableKind::SmiVtoc);
            for their in theirs {
                let n = node_number(their["node"].as_str().unwrap());
                let ours = t.partitions.iter().find(|p| p.slice == n - 1).unwrap();
                assert_eq!(ours.start / ss, their["start"].as_u64().unwrap());
                assert_eq!(ours.len / ss, their["size"].as_u64().unwrap());
                let tag = u16::from_str_radix(their["type"].as_str().unwrap(), 16).unwrap();
                assert_eq!(ours.tag, tag);
            }
        }
        other => panic!("unexpected label {other}"),
    }
    theirs.len()
}

/// Runs a tool in `dir` and returns its stdout.
fn run_in(dir: &Path, cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

const SFDISK_512: &[&str] = &[
    "gpt-x86-efi-512",
    "gpt-x86-bios-512",
    "gpt-sparc-512",
    "smi-sparc",
];

#[test]
fn sfdisk_goldens_agree_512() {
    let mut agreed = 0;
    for n in SFDISK_512 {
        let (_d, img) = unpack(&format!("{n}.img"));
        let t = table_of(&img, None);
        agreed += compare_sfdisk(&t, &golden(&format!("{n}.sfdisk.json")));
        assert!(t.notes.is_empty(), "{n}: {:?}", t.notes);
    }
    println!("sfdisk goldens: {agreed} partitions agree");
    assert_eq!(agreed, 3 + 3 + 2 + 4);
}

#[test]
fn sfdisk_goldens_agree_4kn() {
    for n in ["gpt-sparc-4k", "gpt-x86-efi-4k"] {
        let (_d, img) = unpack(&format!("{n}.img"));
        // Detected from where the header is…
        let t = table_of(&img, None);
        assert_eq!(t.sector_size, 4096);
        compare_sfdisk(&t, &golden(&format!("{n}.sfdisk.json")));
        // …and the same when forced.
        assert_eq!(table_of(&img, Some(4096)), t);
    }
}

#[test]
fn sfdisk_live_512() {
    if !require_tool("sfdisk", "fdisk", "sfdisk_live_512") {
        return;
    }
    for n in SFDISK_512 {
        let (d, img) = unpack(&format!("{n}.img"));
        let live = run_in(d.path(), "sfdisk", &["--json", &format!("{n}.img")]);
        assert_eq!(
            live,
            golden(&format!("{n}.sfdisk.json")),
            "{n}: golden is stale"
        );
        compare_sfdisk(&table_of(&img, None), &live);
    }
}

#[test]
fn sfdisk_live_4kn_through_loop_device() {
    if !require_tool("losetup", "mount", "sfdisk_live_4kn_through_loop_device")
        || !require_tool("sfdisk", "fdisk", "sfdisk_live_4kn_through_loop_device")
    {
        return;
    }
    for n in ["gpt-sparc-4k", "gpt-x86-efi-4k"] {
        let (_d, img) = unpack(&format!("{n}.img"));
        let lo = match Loop::attach(&img, Some(4096), true) {
            Ok(l) => l,
            Err(why) => {
                println!("SKIPPED sfdisk_live_4kn_through_loop_device: no loop device ({why})");
                return;
            }
        };
        let dev = lo.dev.clone();
        let live = Command::new("sfdisk").args(["--json", &dev]).output();
        // The block device itself: its sector size comes from sysfs.
        let on_device = FileSource::open(Path::new(&dev), OpenMode::ReadOnly).and_then(|src| {
            assert_eq!(
                kzrescue::source::Source::logical_sector_size(&src),
                Some(4096)
            );
            partition::read(&src, None)
        });
        drop(lo);
        let live = String::from_utf8(live.unwrap().stdout)
            .unwrap()
            .replace(&dev, &format!("{n}.img"));
        assert_eq!(
            live,
            golden(&format!("{n}.sfdisk.json")),
            "{n}: golden is stale"
        );
        let on_device = on_device.unwrap();
        compare_sfdisk(&on_device, &live);
        assert_eq!(on_device.partitions, table_of(&img, None).partitions);
        // The same image behind a 512-byte loop device: the GPT is still
        // found where it is, and the mismatch is noted.
        let lo = Loop::attach(&img, None, true).unwrap();
        let t = FileSource::open(Path::new(&lo.dev), OpenMode::ReadOnly)
            .and_then(|src| partition::read(&src, None));
        drop(lo);
        let t = t.unwrap();
        assert_eq!(t.sector_size, 4096);
        assert!(
            t.notes[0].contains("reports 512-byte sectors"),
            "{:?}",
            t.notes
        );
    }
}

/// sgdisk type codes of the types in our images.
fn sgdisk_code(guid: &str) -> &'static str {
    match guid {
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" => "EF00",
        "21686148-6449-6E6F-744E-656564454649" => "EF02",
        "6A898CC3-1DD2-11B2-99A6-080020736631" => "BF01",
        "6A945A3B-1DD2-11B2-99A6-080020736631" => "BF07",
        other => panic!("no sgdisk code known for {other}"),
    }
}

fn compare_sgdisk_p(t: &PartitionTable, text: &str) -> usize {
    let g = t.gpt.as_ref().unwrap();
    assert!(text.contains(&format!("Disk identifier (GUID): {}", g.disk_guid)));
    assert!(text.contains(&format!(
        "First usable sector is {}, last usable sector is {}",
        g.first_usable_lba, g.last_usable_lba
    )));
    assert!(text.contains(&format!(
        "Partition table holds up to {} entries",
        g.num_entries
    )));
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| !l.starts_with("Number"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), t.partitions.len());
    for r in &rows {
        let n: u32 = r[0].parse().unwrap();
        let ours = t.partitions.iter().find(|p| p.index == n).unwrap();
        assert_eq!(ours.first_lba(512).to_string(), r[1]);
        assert_eq!(ours.last_lba(512).to_string(), r[2]);
        assert_eq!(sgdisk_code(ours.type_guid.as_deref().unwrap()), r[5]);
    }
    rows.len()
}

#[test]
fn sgdisk_goldens_agree() {
    let mut agreed = 0;
    for n in ["gpt-x86-efi-512", "gpt-x86-bios-512", "gpt-sparc-512"] {
        let (_d, img) = unpack(&format!("{n}.img"));
        let t = table_of(&img, None);
        agreed += compare_sgdisk_p(&t, &golden(&format!("{n}.sgdisk-p.txt")));
        // sgdisk's verify finds the images sound (it only warns about the
        // small Solaris table, as it does on a real Solaris disk).
        let v = golden(&format!("{n}.sgdisk-v.txt"));
        assert!(v.contains("No problems found."), "{n}: {v}");
        assert!(
            v.contains("size of the partition table (1152 bytes)"),
            "{n}"
        );
    }
    assert_eq!(agreed, 8);
}

#[test]
fn sgdisk_live() {
    if !require_tool("sgdisk", "gdisk", "sgdisk_live") {
        return;
    }
    for n in ["gpt-x86-efi-512", "gpt-x86-bios-512", "gpt-sparc-512"] {
        let (d, img) = unpack(&format!("{n}.img"));
        let name = format!("{n}.img");
        let p = run_in(d.path(), "sgdisk", &["-p", &name]);
        assert_eq!(
            p,
            golden(&format!("{n}.sgdisk-p.txt")),
            "{n}: golden is stale"
        );
        assert_eq!(
            run_in(d.path(), "sgdisk", &["-v", &name]),
            golden(&format!("{n}.sgdisk-v.txt"))
        );
        compare_sgdisk_p(&table_of(&img, None), &p);
    }
}

/// libblkid (partx) lists the slices of an x86 VTOC in a legacy 0x82
/// partition, skipping the whole-disk backup slice.
fn compare_partx(t: &PartitionTable, text: &str) -> usize {
    let rows: Vec<Vec<u64>> = text
        .lines()
        .skip(1)
        .map(|l| {
            l.split_whitespace()
                .map(|f| {
                    u64::from_str_radix(
                        f.trim_start_matches("0x"),
                        if f.starts_with("0x") { 16 } else { 10 },
                    )
                    .unwrap()
                })
                .collect()
        })
        .collect();
    let f = t.vtoc.as_ref().unwrap().fdisk.as_ref().unwrap();
    assert_eq!(
        rows[0],
        vec![
            1,
            u64::from(f.start_lba),
            u64::from(f.sectors),
            u64::from(f.kind)
        ]
    );
    let theirs: Vec<(u64, u64, u64)> = rows[1..].iter().map(|r| (r[1], r[2], r[3])).collect();
    let ours: Vec<(u64, u64, u64)> = t
        .partitions
        .iter()
        .filter(|p| p.tag != 5)
        .map(|p| (p.start / 512, p.len / 512, u64::from(p.tag)))
        .collect();
    assert_eq!(ours, theirs);
    theirs.len()
}

#[test]
fn partx_golden_agrees_x86_vtoc() {
    let (_d, img) = unpack("x86-vtoc-legacy.img");
    let t = table_of(&img, None);
    assert_eq!(t.kind, TableKind::X86Vtoc);
    assert_eq!(compare_partx(&t, &golden("x86-vtoc-legacy.partx.txt")), 4);
    // The Solaris2 (0xBF) image differs only in the fdisk type byte.
    let (_d2, img2) = unpack("x86-vtoc.img");
    let t2 = table_of(&img2, None);
    assert_eq!(t2.partitions, t.partitions);
    assert_eq!(t2.vtoc.as_ref().unwrap().fdisk.as_ref().unwrap().kind, 0xbf);
}

#[test]
fn partx_live_x86_vtoc() {
    if !require_tool("partx", "util-linux", "partx_live_x86_vtoc") {
        return;
    }
    let (d, img) = unpack("x86-vtoc-legacy.img");
    let live = run_in(
        d.path(),
        "partx",
        &[
            "--raw",
            "-o",
            "NR,START,SECTORS,TYPE",
            "x86-vtoc-legacy.img",
        ],
    );
    assert_eq!(live, golden("x86-vtoc-legacy.partx.txt"));
    compare_partx(&table_of(&img, None), &live);
}
