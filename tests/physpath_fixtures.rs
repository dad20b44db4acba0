//! `kzrescue physpath` on the committed Solaris GPT fixtures (zfs-fuse pools
//! with disk leaves: x86 512/4Kn in s1, SPARC layout in s0, a two-disk
//! mirror), needing no ZFS tools.
//!
//! The repair is deterministic, so each step's result is checked against
//! goldens made by `tests/physpath_golden/make.sh` with the real zdb (which
//! also checked that `zdb -e` imports each result and, for single disks, that
//! every label alone imports): the disk's SHA-256 and `zdb -l` of the slice,
//! which `kzrescue label` must reproduce line for line. Independently of the
//! crate, every label's embedded SHA-256 is verified here and every byte
//! outside the four 112 KiB nvlists is compared with the fixture. Where zdb
//! is installed, its `zdb -l` of the results is compared with the goldens.

mod common;

use common::physpath::*;
use common::{kzrescue, root, unpack_fixture};
use kzrescue::repair::apply;
use kzrescue::repair::journal::Journal;
use kzrescue::source::{Fault, FaultSource, FileSource, OpenMode, SharedSource};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const WWN: &str = "600144f0a613c900000054521d550001";
const WWN2: &str = "600144f0a613c900000054521d550002";

fn golden(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/physpath_golden").join(name))
        .unwrap_or_else(|e| panic!("golden {name}: {e}"))
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn run(args: &[String]) -> (i32, String, String) {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    kzrescue(&a)
}

/// Checks one disk after `step` against the goldens and the fixture.
fn check_disk(case: &str, step: &str, i: usize, disk: &Path, fixture: &[u8], at: Placement) {
    let now = std::fs::read(disk).unwrap();
    assert_eq!(
        hex::encode(sha(&now)),
        golden(&format!("{case}.{step}.disk{i}.sha256")).trim(),
        "{case} {step} disk {i}: bytes differ from the zdb-verified result"
    );
    let (code, out, err) = kzrescue(&["label", disk.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let ours: String = out
        .lines()
        .filter(|l| !l.trim_start().starts_with("checksums ="))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        ours,
        golden(&format!("{case}.{step}.disk{i}.zdb-l.txt")),
        "{case} {step} disk {i}: kzrescue label vs zdb -l"
    );
    let v = slice_of(&now, at);
    for l in 0..4 {
        assert!(label_checksum_ok(&v, l), "{case} {step} disk {i} label {l}");
    }
    let r = phys_ranges(at);
    assert!(
        equal_outside(&now, fixture, &r),
        "{case} {step} disk {i}: bytes outside the nvlists changed"
    );
}

/// The whole two-step story on `fixtures` (one disk or a mirror).
fn story(case: &str, fixtures: &[&str], global: Vec<String>, zone: Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let disks: Vec<PathBuf> = fixtures
        .iter()
        .map(|f| unpack_fixture(f, dir.path()))
        .collect();
    let originals: Vec<Vec<u8>> = disks.iter().map(|d| std::fs::read(d).unwrap()).collect();
    let at: Vec<Placement> = fixtures.iter().map(|f| fixture_placement(f)).collect();
    let base = |j: &Path| -> Vec<String> {
        let mut a = vec!["physpath".to_string(), "set".to_string()];
        a.extend(disks.iter().map(|d| s(d)));
        a.extend(["--write", "--liveness-interval", "0", "--journal"].map(String::from));
        a.push(s(j));
        a
    };

    // Dry run first: shows the change, writes nothing.
    let mut a = base(&dir.path().join("dry.kzj"));
    a.retain(|x| x != "--write");
    a.push("--dry-run".into());
    a.extend(global.iter().cloned());
    let (code, out, err) = run(&a);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dry run: nothing written"), "{out}");
    assert!(out.contains("phys_path: - -> '/scsi_vhci/disk@g"), "{out}");
    for (d, o) in disks.iter().zip(&originals) {
        assert!(std::fs::read(d).unwrap() == *o);
    }
    assert!(!dir.path().join("dry.kzj").exists());

    // Step 1: the global-zone look.
    let j1 = dir.path().join("j1.kzj");
    let mut a = base(&j1);
    a.extend(global.iter().cloned());
    let (code, out, err) = run(&a);
    assert_eq!(code, 0, "{out}{err}");
    for (i, d) in disks.iter().enumerate() {
        check_disk(case, "global", i, d, &originals[i], at[i]);
    }
    let after1: Vec<Vec<u8>> = disks.iter().map(|d| std::fs::read(d).unwrap()).collect();

    // Step 2: the kernel-zone repair, with JSON output.
    let j2 = dir.path().join("j2.kzj");
    let mut a = base(&j2);
    a.extend(zone.iter().cloned());
    a.push("--json".into());
    let (code, out, err) = run(&a);
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["result"], "written");
    assert_eq!(doc["writes"], 4 * disks.len());
    assert!(
        doc["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "phys_path"
                && c["after"].as_str().unwrap().starts_with("/zvnex/zvblk@"))
    );
    for (i, d) in disks.iter().enumerate() {
        check_disk(case, "zone", i, d, &originals[i], at[i]);
    }

    // Again: a no-op that says so, no journal.
    let j3 = dir.path().join("j3.kzj");
    let mut a = base(&j3);
    a.extend(zone.iter().cloned());
    let (code, out, _) = run(&a);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to do"), "{out}");
    assert!(!j3.exists());

    // Undo step 2, then step 1: byte-identical each time.
    let (code, out, err) = kzrescue(&["undo", j2.to_str().unwrap(), "--write"]);
    assert_eq!(code, 0, "{out}{err}");
    for (d, b) in disks.iter().zip(&after1) {
        assert!(std::fs::read(d).unwrap() == *b, "{case}: undo step 2");
    }
    let (code, out, err) = kzrescue(&["undo", j1.to_str().unwrap(), "--write"]);
    assert_eq!(code, 0, "{out}{err}");
    for (d, o) in disks.iter().zip(&originals) {
        assert!(std::fs::read(d).unwrap() == *o, "{case}: undo step 1");
    }
    // Undoing again finds nothing to do.
    let (code, out, _) = kzrescue(&["undo", j1.to_str().unwrap(), "--write"]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to restore"), "{out}");
}

fn global_args(wwns: &[&str], letter: char, slice: u32) -> Vec<String> {
    let mut a = Vec::new();
    for w in wwns {
        a.extend([
            "--phys-path".into(),
            format!("/scsi_vhci/disk@g{w}:{letter}"),
        ]);
        a.extend([
            "--path".into(),
            format!("/dev/dsk/c0t{}d0s{slice}", w.to_uppercase()),
        ]);
        a.extend(["--devid".into(), format!("id1,sd@n{w}/{letter}")]);
    }
    a
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn x86_512_slice_1() {
    story(
        "x86-512",
        &["gptdisk-x86-512.img"],
        global_args(&[WWN], 'b', 1),
        args(&[
            "--device-id",
            "0",
            "--path",
            "/dev/dsk/c1d0s1",
            "--clear-devid",
        ]),
    );
}

#[test]
fn x86_4kn_slice_1() {
    story(
        "x86-4k",
        &["gptdisk-x86-4k.img"],
        global_args(&[WWN], 'b', 1),
        args(&["--device-id", "0"]),
    );
}

#[test]
fn sparc_slice_0_hex_unit() {
    story(
        "sparc-512",
        &["gptdisk-sparc-512.img"],
        global_args(&[WWN], 'a', 0),
        args(&["--device-id", "12", "--path", "/dev/dsk/c1d12s0"]),
    );
}

#[test]
fn two_disk_mirror() {
    story(
        "mirror",
        &["gptmirror-a.img", "gptmirror-b.img"],
        global_args(&[WWN, WWN2], 'b', 1),
        args(&[
            "--device-id",
            "0",
            "--device-id",
            "1",
            "--path",
            "/dev/dsk/c1d0s1",
            "--path",
            "/dev/dsk/c1d1s1",
            "--clear-devid",
        ]),
    );
}

#[test]
fn decimal_unit_flag() {
    let dir = tempfile::tempdir().unwrap();
    let d = unpack_fixture("gptdisk-x86-512.img", dir.path());
    let (code, out, err) = kzrescue(&[
        "physpath",
        "set",
        d.to_str().unwrap(),
        "--device-id",
        "12",
        "--decimal-unit",
        "--dry-run",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("'/zvnex/zvblk@12:b'"), "{out}");
    let (_, out, _) = kzrescue(&[
        "physpath",
        "set",
        d.to_str().unwrap(),
        "--device-id",
        "12",
        "--dry-run",
    ]);
    assert!(out.contains("'/zvnex/zvblk@c:b'"), "{out}");
}

#[test]
fn show_marks_this_disk() {
    let dir = tempfile::tempdir().unwrap();
    let a = unpack_fixture("gptmirror-a.img", dir.path());
    let (code, out, err) = kzrescue(&["physpath", a.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["slice_letter"], "b");
    let golden =
        std::fs::read_to_string(root().join("testimages/gptmirror-a.img.s1.zdb-l.txt")).unwrap();
    let this: u64 = golden
        .lines()
        .find_map(|l| l.strip_prefix("    guid: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for l in doc["labels"].as_array().unwrap() {
        assert_eq!(l["status"], "valid");
        let leaves = l["leaves"].as_array().unwrap();
        assert_eq!(leaves.len(), 2);
        let mine: Vec<_> = leaves.iter().filter(|x| x["this_disk"] == true).collect();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0]["guid"].as_u64(), Some(this));
    }
    let (_, text, _) = kzrescue(&["physpath", a.to_str().unwrap()]);
    assert!(text.contains("<- this disk"), "{text}");
    assert!(text.contains("/zvnex/zvblk@<device id>:b"), "{text}");
}

fn rw(p: &Path) -> SharedSource {
    Arc::new(FileSource::open(p, OpenMode::ReadWrite).unwrap())
}

/// The crash matrix without ZFS tools: the mirror, stopping after every
/// write/flush across both disks and tearing every write. After each: ≥3
/// valid labels on every disk, and undo restores both disks exactly.
#[test]
fn crash_matrix_on_the_mirror_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["gptmirror-a.img", "gptmirror-b.img"];
    let disks: Vec<PathBuf> = names
        .iter()
        .map(|f| unpack_fixture(f, dir.path()))
        .collect();
    let originals: Vec<Vec<u8>> = disks.iter().map(|d| std::fs::read(d).unwrap()).collect();
    let at: Vec<Placement> = names.iter().map(|f| fixture_placement(f)).collect();
    let names_s: Vec<String> = disks.iter().map(|d| s(d)).collect();
    let plan_with = |sources: &[SharedSource]| zone_plan(&names_s, &at, sources);
    // Disks are repaired one after the other (L0+L2, flush, verify, L1+L3,
    // flush, verify: six operations each), so the matrix runs per disk:
    // disk 0 faults while disk 1 is untouched, or disk 0 completes and disk 1
    // faults.
    let mut runs = 0;
    for faulty in 0..2 {
        let mut faults: Vec<Fault> = (0..6).map(Fault::StopAfterOps).collect();
        faults.extend((1..=4).map(|nth| Fault::TearWrite { nth, bytes: 512 }));
        for fault in faults {
            for (d, o) in disks.iter().zip(&originals) {
                std::fs::write(d, o).unwrap();
            }
            let plain: Vec<SharedSource> = disks.iter().map(|d| rw(d)).collect();
            let wrapped: Vec<SharedSource> = plain
                .iter()
                .enumerate()
                .map(|(i, p)| -> SharedSource {
                    if i == faulty {
                        Arc::new(FaultSource::new(p.clone(), fault))
                    } else {
                        p.clone()
                    }
                })
                .collect();
            let p = plan_with(&wrapped);
            let j = dir.path().join(format!("j{runs}"));
            let r = apply::apply(&p.target_plans(&wrapped), &j, "t");
            assert!(r.is_err(), "{fault:?} on disk {faulty}");
            for (i, d) in disks.iter().enumerate() {
                let v = slice_of(&std::fs::read(d).unwrap(), at[i]);
                let valid = (0..4).filter(|&l| label_checksum_ok(&v, l)).count();
                assert!(
                    valid >= 3,
                    "{fault:?} on disk {faulty}: disk {i} has {valid}"
                );
            }
            let journal = Journal::read(&j).unwrap();
            apply::undo(&journal, &plain, false).unwrap();
            for (d, o) in disks.iter().zip(&originals) {
                assert!(std::fs::read(d).unwrap() == *o, "{fault:?}: undo");
            }
            runs += 1;
        }
    }
    assert_eq!(runs, 20);
}

/// Where zdb is installed: its `zdb -l` of each repaired slice is the golden.
#[test]
fn goldens_match_live_zdb() {
    if !common::require_tool("zdb", "zfsutils-linux", "goldens_match_live_zdb") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = unpack_fixture("gptdisk-x86-512.img", dir.path());
    let at = fixture_placement("gptdisk-x86-512.img");
    let mut a = vec!["physpath".to_string(), "set".into(), s(&d)];
    a.extend(global_args(&[WWN], 'b', 1));
    a.extend(args(&["--write", "--liveness-interval", "0", "--journal"]));
    a.push(s(&dir.path().join("j1")));
    assert_eq!(run(&a).0, 0);
    let mut a = vec!["physpath".to_string(), "set".into(), s(&d)];
    a.extend(args(&[
        "--device-id",
        "0",
        "--path",
        "/dev/dsk/c1d0s1",
        "--clear-devid",
        "--write",
    ]));
    a.extend(args(&["--liveness-interval", "0", "--journal"]));
    a.push(s(&dir.path().join("j2")));
    assert_eq!(run(&a).0, 0);
    let z = dir.path().join("z");
    std::fs::create_dir(&z).unwrap();
    let v = z.join("vdev");
    std::fs::write(&v, slice_of(&std::fs::read(&d).unwrap(), at)).unwrap();
    assert_eq!(zdb_l(&v), golden("x86-512.zone.disk0.zdb-l.txt"));
    assert!(zdb_imports(&z, "rpool"));
}
