//! Crash at every write boundary, on real pools.
//!
//! The OpenZFS test-suite pools (a big-endian SPARC pool and a little-endian
//! x86 one) are placed in Solaris GPT disk images. A phys_path repair is run
//! through the fault-injecting source, stopping the device after k writes
//! and flushes for every k, tearing each write after one sector, and
//! failing each write; and a real `kzrescue` process is SIGKILLed after its
//! k-th write. After each: at least three labels carry a valid checksum
//! (checked here, independently of the crate), `zdb -e` imports the pool
//! from the half-written disk, and `undo` restores every byte.

mod common;

use common::physpath::*;
use kzrescue::repair::apply;
use kzrescue::repair::journal::Journal;
use kzrescue::repair::plan::{self, DevidChange, DiskInput, LeafFields, PlanOptions};
use kzrescue::source::{Fault, FaultSource, FileSource, OpenMode, SharedSource, Window};
use std::path::Path;
use std::sync::Arc;

fn open(p: &Path, mode: OpenMode) -> SharedSource {
    Arc::new(FileSource::open(p, mode).unwrap())
}

fn input(disk: SharedSource, at: Placement, fields: LeafFields) -> DiskInput {
    let vdev: SharedSource = Arc::new(Window::new(disk.clone(), at.start, at.len, "s1"));
    DiskInput {
        name: "disk.img".into(),
        disk,
        vdev,
        vdev_start: at.start,
        fields,
    }
}

fn zone_fields() -> LeafFields {
    LeafFields {
        phys_path: "/zvnex/zvblk@0:b".into(),
        path: Some("/dev/dsk/c1d0s1".into()),
        devid: DevidChange::Clear,
    }
}

/// Valid labels of the vdev in `disk` (independent checksum check).
fn valid_labels(disk: &[u8], at: Placement) -> Vec<usize> {
    let v = slice_of(disk, at);
    (0..4).filter(|&l| label_checksum_ok(&v, l)).collect()
}

struct Case {
    name: &'static str,
    pool: &'static str,
    slice: u32,
}

const CASES: [Case; 2] = [
    Case {
        name: "zpool_upgrade/blockfiles/zfs-pool-v15.dat.bz2",
        pool: "v15-pool",
        slice: 0,
    },
    Case {
        name: "zpool_upgrade/blockfiles/zfs-pool-v10.dat.bz2",
        pool: "v10-pool",
        slice: 1,
    },
];

#[test]
fn crash_matrix_on_real_pools() {
    let zdb = common::require_tool("zdb", "zfsutils-linux", "crash_matrix_on_real_pools");
    for case in &CASES {
        let Some(vdev) = testsuite_image(case.name, "crash_matrix_on_real_pools") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("disk.img");
        let at = gpt_disk(&vdev, case.slice, 512, &img);
        let original = std::fs::read(&img).unwrap();

        // A clean run counts the operations.
        let clean = Arc::new(FaultSource::new(
            open(&img, OpenMode::ReadWrite),
            Fault::None,
        ));
        let p = plan::plan(
            &[input(clean.clone(), at, zone_fields())],
            PlanOptions::default(),
        )
        .unwrap();
        assert_eq!(p.disks[0].writes.len(), 4);
        let shared: SharedSource = clean.clone();
        apply::apply(
            &p.target_plans(std::slice::from_ref(&shared)),
            &dir.path().join("j-clean"),
            "t",
        )
        .unwrap();
        let repaired = std::fs::read(&img).unwrap();
        let (writes, flushes) = (clean.writes(), clean.flushes());
        assert_eq!((writes, flushes), (4, 2), "{}", case.name);

        let mut faults: Vec<Fault> = (0..writes + flushes).map(Fault::StopAfterOps).collect();
        for nth in 1..=writes {
            faults.push(Fault::TearWrite { nth, bytes: 512 });
            faults.push(Fault::FailWrite {
                nth,
                errno: libc::EIO,
            });
        }
        let mut runs = 0;
        for (i, fault) in faults.iter().enumerate() {
            std::fs::write(&img, &original).unwrap();
            let rw = open(&img, OpenMode::ReadWrite);
            let f: SharedSource = Arc::new(FaultSource::new(rw.clone(), *fault));
            let p = plan::plan(
                &[input(f.clone(), at, zone_fields())],
                PlanOptions::default(),
            )
            .unwrap();
            let j = dir.path().join(format!("j{i}"));
            assert!(apply::apply(&p.target_plans(&[f]), &j, "t").is_err());
            let now = std::fs::read(&img).unwrap();
            let valid = valid_labels(&now, at);
            assert!(
                valid.len() >= 3,
                "{} {fault:?}: valid labels {valid:?}",
                case.name
            );
            assert!(
                equal_outside(&now, &original, &phys_ranges(at)),
                "{fault:?} wrote outside the nvlists"
            );
            if zdb {
                let zd = dir.path().join("zdb");
                assert!(
                    zdb_imports_vdevs(&zd, case.pool, &[&slice_of(&now, at)]),
                    "{} {fault:?}: zdb -e fails",
                    case.name
                );
            }
            let journal = Journal::read(&j).unwrap();
            apply::undo(&journal, &[rw], false).unwrap();
            assert!(std::fs::read(&img).unwrap() == original, "{fault:?}: undo");
            runs += 1;
        }
        println!(
            "{}: {runs} interrupted runs, all with ≥3 valid labels{}, all restored",
            case.name,
            if zdb { ", all imported by zdb -e" } else { "" }
        );
        // Re-running after an interruption completes the repair.
        std::fs::write(&img, &original).unwrap();
        let rw = open(&img, OpenMode::ReadWrite);
        let f: SharedSource = Arc::new(FaultSource::new(rw.clone(), Fault::StopAfterOps(3)));
        let p = plan::plan(
            &[input(f.clone(), at, zone_fields())],
            PlanOptions::default(),
        )
        .unwrap();
        assert!(apply::apply(&p.target_plans(&[f]), &dir.path().join("jr1"), "t").is_err());
        let p = plan::plan(
            &[input(rw.clone(), at, zone_fields())],
            PlanOptions::default(),
        )
        .unwrap();
        apply::apply(&p.target_plans(&[rw]), &dir.path().join("jr2"), "t").unwrap();
        assert!(
            std::fs::read(&img).unwrap() == repaired,
            "re-run did not finish the repair"
        );
    }
}

/// SIGKILL a real `kzrescue physpath set` after its k-th write (before the
/// flush), for every k.
#[test]
fn killed_process_leaves_an_importable_restorable_pool() {
    let test = "killed_process_leaves_an_importable_restorable_pool";
    let zdb = common::require_tool("zdb", "zfsutils-linux", test);
    let case = &CASES[0];
    let Some(vdev) = testsuite_image(case.name, test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.img");
    let at = gpt_disk(&vdev, case.slice, 512, &img);
    let original = std::fs::read(&img).unwrap();
    for k in 1..=4 {
        std::fs::write(&img, &original).unwrap();
        let marker = dir.path().join(format!("paused{k}"));
        let j = dir.path().join(format!("kill{k}.kzj"));
        let mut child = std::process::Command::new(common::kzrescue_bin())
            .args(["physpath", "set"])
            .arg(&img)
            .args([
                "--device-id",
                "0",
                "--write",
                "--liveness-interval",
                "0",
                "--journal",
            ])
            .arg(&j)
            .env(apply::PAUSE_ENV, format!("{k}:{}", marker.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let t0 = std::time::Instant::now();
        while !marker.exists() {
            assert!(t0.elapsed().as_secs() < 60, "k={k}: never paused");
            if let Some(st) = child.try_wait().unwrap() {
                panic!("k={k}: exited {st} before pausing");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let now = std::fs::read(&img).unwrap();
        let valid = valid_labels(&now, at);
        assert!(valid.len() >= 3, "k={k}: valid labels {valid:?}");
        if zdb {
            let zd = dir.path().join("zdb");
            assert!(
                zdb_imports_vdevs(&zd, case.pool, &[&slice_of(&now, at)]),
                "k={k}: zdb -e fails"
            );
        }
        let (code, out, err) = common::kzrescue(&[
            "undo",
            j.to_str().unwrap(),
            "--write",
            "--liveness-interval",
            "0",
        ]);
        assert_eq!(code, 0, "k={k}: {out}{err}");
        assert!(std::fs::read(&img).unwrap() == original, "k={k}: undo");
    }
}
