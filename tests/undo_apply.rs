//! The writer and the undo journal on plain files: phases, read-back,
//! refusals, and a byte-level crash matrix with the fault-injecting source.
//! (The ZFS-level crash matrix is in physpath_crash.rs.)

mod common;

use kzrescue::ErrorKind;
use kzrescue::repair::apply::{self, Outcome, TargetPlan, Write};
use kzrescue::repair::journal::{Journal, RangeState};
use kzrescue::source::{Fault, FaultSource, FileSource, OpenMode, SharedSource};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SIZE: usize = 1 << 20;

/// A 1 MiB file of non-repeating bytes.
fn image(dir: &Path, name: &str, seed: u8) -> PathBuf {
    let p = dir.join(name);
    let data: Vec<u8> = (0..SIZE)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2654435761)
                .rotate_right(seed as u32 % 31) as u8
                ^ seed
        })
        .collect();
    std::fs::write(&p, data).unwrap();
    p
}

fn open_rw(p: &Path) -> SharedSource {
    Arc::new(FileSource::open(p, OpenMode::ReadWrite).unwrap())
}

fn sha(p: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(p).unwrap()).to_vec()
}

/// Two phases like a label rewrite: (0x4000, 0xC0000) then (0x44000, 0xE0000).
fn plan_for(path: &Path, src: SharedSource) -> TargetPlan {
    let mk = |off: u64, fill: u8| {
        let old = kzrescue::source::read_vec(src.as_ref(), off, 0x1C000).unwrap();
        let mut new = old.clone();
        new[..700].fill(fill);
        new[5000..5001].fill(fill);
        Write {
            offset: off,
            what: format!("range {off:#x}"),
            old,
            new,
        }
    };
    TargetPlan {
        path: path.display().to_string(),
        source: src.clone(),
        phases: vec![
            vec![mk(0x4000, 0xA0), mk(0xC0000, 0xA2)],
            vec![mk(0x44000, 0xA1), mk(0xE0000, 0xA3)],
        ],
    }
}

#[test]
fn apply_then_undo_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.img", 1);
    let before = sha(&img);
    let src = open_rw(&img);
    let j = dir.path().join("undo.kzj");
    let out = apply::apply(&[plan_for(&img, src.clone())], &j, "test").unwrap();
    assert!(matches!(out, Outcome::Applied { writes: 4, .. }), "{out:?}");
    assert_ne!(sha(&img), before);
    let journal = Journal::read(&j).unwrap();
    assert_eq!(journal.targets[0].ranges.len(), 4);
    assert_eq!(journal.targets[0].identity, src.identity());
    let checks = apply::check_undo(&journal, std::slice::from_ref(&src), false).unwrap();
    assert!(checks[0].ranges.iter().all(|r| r.3 == RangeState::New));
    assert_eq!(
        apply::undo(&journal, std::slice::from_ref(&src), false).unwrap(),
        4
    );
    assert_eq!(sha(&img), before);
    // Undo again: everything already old, nothing written.
    assert_eq!(apply::undo(&journal, &[src], false).unwrap(), 0);
}

#[test]
fn same_plan_twice_is_unchanged_and_makes_no_journal() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.img", 2);
    let src = open_rw(&img);
    let p = plan_for(&img, src.clone());
    apply::apply(&[p], &dir.path().join("j1"), "t").unwrap();
    // Re-plan from the new bytes with the same edits: nothing changes.
    let p2 = plan_for(&img, src);
    let j2 = dir.path().join("j2");
    assert_eq!(apply::apply(&[p2], &j2, "t").unwrap(), Outcome::Unchanged);
    assert!(!j2.exists());
}

#[test]
fn refusals_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "a.img", 3);
    let before = sha(&img);

    // Read-only source.
    let ro: SharedSource = Arc::new(FileSource::open(&img, OpenMode::ReadOnly).unwrap());
    let j = dir.path().join("j-ro");
    let e = apply::apply(&[plan_for(&img, ro)], &j, "t").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert!(e.to_string().contains("read-only"), "{e}");
    assert!(!j.exists());

    // Target changed between planning and applying.
    let src = open_rw(&img);
    let mut p = plan_for(&img, src.clone());
    p.phases[1][0].old[0] ^= 1;
    let e = apply::apply(&[p], &j, "t").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert!(e.to_string().contains("changed at 0x44000"), "{e}");
    assert!(!j.exists());

    // Journal cannot be created (exists already).
    std::fs::write(&j, b"x").unwrap();
    let e = apply::apply(&[plan_for(&img, src.clone())], &j, "t").unwrap_err();
    assert!(e.to_string().contains("undo journal"), "{e}");
    assert_eq!(std::fs::read(&j).unwrap(), b"x");

    // The same device twice.
    let e = apply::apply(
        &[plan_for(&img, src.clone()), plan_for(&img, open_rw(&img))],
        &dir.path().join("j2"),
        "t",
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Usage, "{e}");
    assert!(e.to_string().contains("given twice"), "{e}");
    assert_eq!(sha(&img), before);
}

#[test]
fn journal_from_another_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = image(dir.path(), "a.img", 4);
    let b = image(dir.path(), "b.img", 5);
    let b_before = sha(&b);
    let j = dir.path().join("undo.kzj");
    apply::apply(&[plan_for(&a, open_rw(&a))], &j, "t").unwrap();
    let journal = Journal::read(&j).unwrap();
    let bsrc = open_rw(&b);
    let e = apply::undo(&journal, std::slice::from_ref(&bsrc), false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert!(e.to_string().contains("not the journal's target"), "{e}");
    // Even with the identity check off, the bytes give it away.
    let e = apply::undo(&journal, &[bsrc], true).unwrap_err();
    assert!(
        e.to_string()
            .contains("neither the journal's old nor its new"),
        "{e}"
    );
    assert_eq!(sha(&b), b_before);

    // A byte-identical copy of the repaired image is accepted with --force.
    let copy = dir.path().join("copy.img");
    let a_before_undo = std::fs::read(&a).unwrap();
    std::fs::write(&copy, &a_before_undo).unwrap();
    let csrc = open_rw(&copy);
    assert!(apply::undo(&journal, std::slice::from_ref(&csrc), false).is_err());
    assert_eq!(apply::undo(&journal, &[csrc], true).unwrap(), 4);
}

#[test]
fn changed_after_repair_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = image(dir.path(), "a.img", 6);
    let j = dir.path().join("undo.kzj");
    let src = open_rw(&a);
    apply::apply(&[plan_for(&a, src.clone())], &j, "t").unwrap();
    // Someone (an import) rewrote one sector of label 1's range since.
    src.write_at(0x44000 + 1024, &[0x55; 512]).unwrap();
    let journal = Journal::read(&j).unwrap();
    let e = apply::undo(&journal, &[src], false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert!(e.to_string().contains("0x44400"), "{e}");
}

/// Stop the device after k writes/flushes, for every k; tear each write at
/// 512 bytes; fail each write with EIO/ENOSPC and each flush. After each:
/// every range is old, new or torn at a sector boundary, and undo restores
/// the original file exactly.
#[test]
fn crash_matrix_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let a = image(dir.path(), "a.img", 7);
    let original = std::fs::read(&a).unwrap();
    // Count the operations of a clean run.
    let clean = Arc::new(FaultSource::new(open_rw(&a), Fault::None));
    apply::apply(&[plan_for(&a, clean.clone())], &dir.path().join("j0"), "t").unwrap();
    let total_ops = clean.ops();
    assert_eq!((clean.writes(), clean.flushes()), (4, 2));
    let faults = common::faults::every_fault(clean.writes(), clean.flushes());
    let mut runs = 0;
    for (i, fault) in faults.into_iter().enumerate() {
        std::fs::write(&a, &original).unwrap();
        let src = open_rw(&a);
        let f: SharedSource = Arc::new(FaultSource::new(src.clone(), fault));
        let j = dir.path().join(format!("j{}", i + 1));
        let e = apply::apply(&[plan_for(&a, f)], &j, "t").unwrap_err();
        assert!(e.to_string().contains("kzrescue undo"), "{fault:?}: {e}");
        let journal = Journal::read(&j).unwrap();
        let checks = apply::check_undo(&journal, std::slice::from_ref(&src), false).unwrap();
        assert!(checks[0].to_restore() <= 4);
        apply::undo(&journal, &[src], false).unwrap();
        assert!(
            std::fs::read(&a).unwrap() == original,
            "{fault:?}: not restored"
        );
        runs += 1;
    }
    assert_eq!(runs, total_ops as usize + 14);
}

/// A journal that does not fit on its file system: the error names the
/// journal and the target is untouched. Needs a tiny tmpfs (root).
#[test]
fn journal_disk_full_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("tiny");
    std::fs::create_dir(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if common::in_ci() {
            panic!("journal_disk_full_writes_nothing: cannot mount a tmpfs under CI");
        }
        println!("SKIPPED journal_disk_full_writes_nothing: cannot mount a tmpfs (needs root)");
        return;
    }
    let img = image(dir.path(), "a.img", 8);
    let before = sha(&img);
    let j = mnt.join("undo.kzj");
    let r = apply::apply(&[plan_for(&img, open_rw(&img))], &j, "t");
    let exists = j.exists();
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().contains("No space left"), "{e}");
    assert!(!exists, "partial journal left behind");
    assert_eq!(sha(&img), before);
}
