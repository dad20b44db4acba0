//! Fault-injection matrix for the write paths that the per-feature crash
//! tests leave out (tests/physpath_crash.rs, tests/physpath_fixtures.rs,
//! tests/hostdata_store.rs and tests/undo_apply.rs cover stop-after-k and
//! tears on phys_path, stop-after-k and 100/4096-byte tears on host data,
//! and every fault on the bytes layer):
//!
//! * host data `init` and `takeover` on a real kernel-zone disk (the
//!   committed demo-kz1 fixture), for every k: stop after k operations, EIO
//!   and ENOSPC on the k-th write, a tear of the k-th write at 512 bytes, EIO
//!   on the k-th flush. After each: at least one valid copy (old or new), and
//!   `undo` of the journal restores the disk byte-identical.
//! * phys_path repair on the committed single-disk and two-disk-mirror
//!   fixtures, with EIO/ENOSPC/failed-flush added to stop-after-k and tears:
//!   after each, at least three valid labels on every disk, and undo restores
//!   every disk byte-identical.
//!
//! After every faulted run, where zdb is installed, `zdb -e` must still
//! import the pool from the disk(s) as the fault left them (host-data
//! writes never touch the pool; phys_path writes leave ≥3 good labels).
//! * `undo` itself, interrupted by each of the same faults, then re-run to
//!   completion: byte-identical to the disk before the repair.

mod common;

use common::physpath::{
    Placement, fixture_placement, label_checksum_ok, slice_of, zdb_imports_vdevs, zone_plan,
};
use kzrescue::hostdata::store::{self, Assessment};
use kzrescue::hostdata::{self, HostData, HostKey, InitOptions};
use kzrescue::repair::apply::{self, TargetPlan};
use kzrescue::repair::journal::Journal;
use kzrescue::source::{Fault, FaultSource, FileSource, OpenMode, SharedSource};
use std::path::{Path, PathBuf};
use std::sync::Arc;

struct Disk {
    dir: tempfile::TempDir,
    path: PathBuf,
    base: u64,
    size: u64,
    /// The ZFS slice holding the zone's root pool.
    pool: Placement,
}

impl Disk {
    fn demo() -> Disk {
        let dir = tempfile::tempdir().unwrap();
        let path = common::unpack_fixture("demo-kz1.img", dir.path());
        let src = FileSource::open(&path, OpenMode::ReadOnly).unwrap();
        let t = kzrescue::partition::read(&src, None).unwrap();
        let r = t.reserved().expect("demo disk has a reserved partition");
        let (base, size) = (r.start, r.len);
        let z = t.zfs_slice().expect("demo disk has a ZFS slice");
        let pool = Placement {
            start: z.start,
            len: z.len,
        };
        Disk {
            dir,
            path,
            base,
            size,
            pool,
        }
    }
    fn rw(&self) -> SharedSource {
        Arc::new(FileSource::open(&self.path, OpenMode::ReadWrite).unwrap())
    }
    fn assess(&self, key: &HostKey) -> Assessment {
        let src = FileSource::open(&self.path, OpenMode::ReadOnly).unwrap();
        store::assess(&src, self.base, self.size, Some(key)).unwrap()
    }
    fn best(&self, key: &HostKey) -> Option<HostData> {
        self.assess(key).best().map(|b| b.2.clone())
    }
    fn apply(&self, src: SharedSource, w: &[store::CopyWrite], j: &Path) -> kzrescue::Result<()> {
        let plan = TargetPlan {
            path: self.path.display().to_string(),
            source: src,
            phases: kzrescue::repair::hostdata::phases(w),
        };
        apply::apply(&[plan], j, "reliability").map(|_| ())
    }
}

fn key(b: u8) -> HostKey {
    let mut k = [b; 16];
    HostKey::from_bytes(&mut k)
}

fn opts(hostid: u32) -> InitOptions {
    InitOptions {
        hostid,
        hostname: format!("host-{hostid:x}"),
        be_name: "solaris-1".into(),
        be_uuid: "69ed2e6a-e25a-6d36-e022-ed7261ed8899".into(),
        ..Default::default()
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Init,
    Takeover,
}

/// Plans `op` on the disk as it is now (host data under key A).
fn plan(d: &Disk, op: Op) -> (HostData, Vec<store::CopyWrite>, HostKey) {
    let a = d.assess(&key(0xa));
    match op {
        Op::Init => {
            let (n, w) =
                hostdata::plan_init(&a, &key(0xb), "demo-kz1", &opts(2), 1_800_000_000).unwrap();
            (n, w, key(0xb))
        }
        Op::Takeover => {
            let (n, w) =
                hostdata::plan_takeover(&a, &key(0xa), 3, "rescuer", 1_800_000_000).unwrap();
            (n, w, key(0xa))
        }
    }
}

#[test]
fn hostdata_init_and_takeover_fault_matrix() {
    let zdb = common::require_tool(
        "zdb",
        "zfsutils-linux",
        "hostdata_init_and_takeover_fault_matrix",
    );
    let d = Disk::demo();
    // starting point: healthy host data under key A
    let a0 = d.assess(&key(0xa));
    let (old, w) =
        hostdata::plan_init(&a0, &key(0xa), "demo-kz1", &opts(1), 1_700_000_000).unwrap();
    d.apply(d.rw(), &w, &d.dir.path().join("j-setup")).unwrap();
    let original = std::fs::read(&d.path).unwrap();
    let mut summary = Vec::new();
    for op in [Op::Init, Op::Takeover] {
        // a clean run counts the operations
        let (_, w, _) = plan(&d, op);
        let clean = Arc::new(FaultSource::new(d.rw(), Fault::None));
        d.apply(
            clean.clone(),
            &w,
            &d.dir.path().join(format!("j-clean-{op:?}")),
        )
        .unwrap();
        let (writes, flushes) = (clean.writes(), clean.flushes());
        assert!(
            writes >= 2 && flushes >= 2,
            "{op:?}: {writes} writes {flushes} flushes"
        );
        let all = common::faults::every_fault(writes, flushes);
        for (i, fault) in all.iter().enumerate() {
            std::fs::write(&d.path, &original).unwrap();
            let (new, w, knew) = plan(&d, op);
            let rw = d.rw();
            let f: SharedSource = Arc::new(FaultSource::new(rw.clone(), *fault));
            let j = d.dir.path().join(format!("j-{op:?}-{i}"));
            let res = d.apply(f, &w, &j);
            let old_ok = d.best(&key(0xa)) == Some(old.clone());
            let new_ok = d.best(&knew) == Some(new.clone());
            assert!(
                old_ok || new_ok,
                "{op:?} {fault:?}: no valid copy left ({res:?})"
            );
            if zdb {
                assert!(
                    zdb_imports_vdevs(
                        &d.dir.path().join("zdb"),
                        "rpool",
                        &[&slice_of(&std::fs::read(&d.path).unwrap(), d.pool)]
                    ),
                    "{op:?} {fault:?}: zdb -e no longer imports the zone's pool"
                );
            }
            if res.is_ok() {
                // a transient fault absorbed (e.g. a failed flush retried): finished
                assert!(
                    new_ok,
                    "{op:?} {fault:?}: reported success but new data not valid"
                );
            }
            let journal = Journal::read(&j).unwrap();
            apply::undo(&journal, &[rw], false).unwrap();
            assert!(
                std::fs::read(&d.path).unwrap() == original,
                "{op:?} {fault:?}: undo is not byte-identical"
            );
        }
        summary.push(format!(
            "{op:?}: {} faults ({writes} writes, {flushes} flushes), all with a valid copy{}, all undone byte-identical",
            all.len(),
            if zdb { ", pool imported by zdb -e after each" } else { "" }
        ));
    }
    for s in summary {
        println!("{s}");
    }
}

#[test]
fn interrupted_undo_can_be_rerun_to_completion() {
    let d = Disk::demo();
    let before = std::fs::read(&d.path).unwrap();
    // a complete init (new key), journalled
    let a = d.assess(&key(0xb));
    let (_, w) = hostdata::plan_init(&a, &key(0xb), "demo-kz1", &opts(2), 1_800_000_000).unwrap();
    let j = d.dir.path().join("j-init");
    d.apply(d.rw(), &w, &j).unwrap();
    let after = std::fs::read(&d.path).unwrap();
    assert!(after != before);
    let journal = Journal::read(&j).unwrap();
    // a clean undo counts its operations
    let clean = Arc::new(FaultSource::new(d.rw(), Fault::None));
    let shared: SharedSource = clean.clone();
    apply::undo(&journal, &[shared], false).unwrap();
    assert!(std::fs::read(&d.path).unwrap() == before);
    let (writes, flushes) = (clean.writes(), clean.flushes());
    assert!(writes >= 1, "undo wrote nothing");
    let all = common::faults::every_fault(writes, flushes);
    for fault in &all {
        std::fs::write(&d.path, &after).unwrap();
        let rw = d.rw();
        let f: SharedSource = Arc::new(FaultSource::new(rw.clone(), *fault));
        let _ = apply::undo(&journal, &[f], false);
        // whatever state the interruption left, undo runs again to completion
        apply::undo(&journal, &[rw], false)
            .unwrap_or_else(|e| panic!("{fault:?}: re-running undo fails: {e}"));
        assert!(
            std::fs::read(&d.path).unwrap() == before,
            "{fault:?}: re-run undo is not byte-identical"
        );
    }
    println!(
        "undo: {} faults ({writes} writes, {flushes} flushes), every interrupted undo re-run to byte-identical",
        all.len()
    );
}

#[test]
fn physpath_single_and_mirror_fault_matrix() {
    let zdb = common::require_tool(
        "zdb",
        "zfsutils-linux",
        "physpath_single_and_mirror_fault_matrix",
    );
    for names in [
        &["gptdisk-x86-512.img"][..],
        &["gptmirror-a.img", "gptmirror-b.img"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let disks: Vec<PathBuf> = names
            .iter()
            .map(|f| common::unpack_fixture(f, dir.path()))
            .collect();
        let originals: Vec<Vec<u8>> = disks.iter().map(|d| std::fs::read(d).unwrap()).collect();
        let at: Vec<Placement> = names.iter().map(|f| fixture_placement(f)).collect();
        let rw = |p: &Path| -> SharedSource {
            Arc::new(FileSource::open(p, OpenMode::ReadWrite).unwrap())
        };
        let names_s: Vec<String> = disks.iter().map(|d| d.display().to_string()).collect();
        let plan_with = |sources: &[SharedSource]| zone_plan(&names_s, &at, sources);
        let mut runs = 0;
        for faulty in 0..disks.len() {
            // count the faulty disk's operations in a clean run
            for (d, o) in disks.iter().zip(&originals) {
                std::fs::write(d, o).unwrap();
            }
            let plain: Vec<SharedSource> = disks.iter().map(|d| rw(d)).collect();
            let clean = Arc::new(FaultSource::new(plain[faulty].clone(), Fault::None));
            let mut wrapped = plain.clone();
            wrapped[faulty] = clean.clone();
            let p = plan_with(&wrapped);
            let j = dir.path().join(format!("clean{faulty}"));
            apply::apply(&p.target_plans(&wrapped), &j, "t").unwrap();
            let (writes, flushes) = (clean.writes(), clean.flushes());
            assert_eq!((writes, flushes), (4, 2), "{names:?} disk {faulty}");
            for fault in common::faults::every_fault(writes, flushes) {
                for (d, o) in disks.iter().zip(&originals) {
                    std::fs::write(d, o).unwrap();
                }
                let plain: Vec<SharedSource> = disks.iter().map(|d| rw(d)).collect();
                let mut wrapped = plain.clone();
                wrapped[faulty] = Arc::new(FaultSource::new(plain[faulty].clone(), fault));
                let p = plan_with(&wrapped);
                let j = dir.path().join(format!("j{faulty}-{runs}"));
                let r = apply::apply(&p.target_plans(&wrapped), &j, "t");
                assert!(
                    r.is_err(),
                    "{names:?} {fault:?} on disk {faulty}: not reported"
                );
                let vdevs: Vec<Vec<u8>> = disks
                    .iter()
                    .zip(&at)
                    .map(|(d, p)| slice_of(&std::fs::read(d).unwrap(), *p))
                    .collect();
                for (i, v) in vdevs.iter().enumerate() {
                    let valid = (0..4).filter(|&l| label_checksum_ok(v, l)).count();
                    assert!(
                        valid >= 3,
                        "{names:?} {fault:?} on disk {faulty}: disk {i} has {valid}"
                    );
                }
                if zdb {
                    let v: Vec<&[u8]> = vdevs.iter().map(Vec::as_slice).collect();
                    assert!(
                        zdb_imports_vdevs(&dir.path().join("zdb"), "rpool", &v),
                        "{names:?} {fault:?} on disk {faulty}: zdb -e fails"
                    );
                }
                let journal = Journal::read(&j).unwrap();
                apply::undo(&journal, &plain, false).unwrap();
                for (d, o) in disks.iter().zip(&originals) {
                    assert!(std::fs::read(d).unwrap() == *o, "{names:?} {fault:?}: undo");
                }
                runs += 1;
            }
        }
        println!(
            "physpath {names:?}: {runs} faults, all with >=3 valid labels on every disk{}, all undone byte-identical",
            if zdb { ", all imported by zdb -e" } else { "" }
        );
    }
}
