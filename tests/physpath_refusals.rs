//! Bad input for `kzrescue physpath set` and `kzrescue undo`: each gives a
//! clear one-line error, and nothing is written (the disk's bytes are
//! unchanged and no journal is left behind).

mod common;

use common::kzrescue;
use common::physpath::*;
use std::path::{Path, PathBuf};

const V15: &str = "zpool_upgrade/blockfiles/zfs-pool-v15.dat.bz2";
const V14: &str = "zpool_upgrade/blockfiles/zfs-pool-v14.dat.bz2";

struct Setup {
    dir: tempfile::TempDir,
    vdev: Vec<u8>,
}

fn setup(test: &str) -> Option<Setup> {
    let vdev = testsuite_image(V15, test)?;
    Some(Setup {
        dir: tempfile::tempdir().unwrap(),
        vdev,
    })
}

/// Runs `physpath set DISK --device-id 0 --write … extra` and checks that
/// it fails with `code`, that stderr contains `needle`, and that neither the
/// disk nor the journal directory changed.
fn refused(disk: &Path, extra: &[&str], code: i32, needle: &str) -> String {
    let before = std::fs::read(disk).unwrap();
    let j: PathBuf = disk.with_extension("kzj");
    let mut args = vec!["physpath", "set", disk.to_str().unwrap()];
    if !extra.contains(&"--phys-path") {
        args.extend(["--device-id", "0"]);
    }
    args.extend([
        "--write",
        "--liveness-interval",
        "0",
        "--journal",
        j.to_str().unwrap(),
    ]);
    args.extend(extra);
    let (c, out, err) = kzrescue(&args);
    assert_eq!(c, code, "{args:?}\n{out}{err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    assert!(
        std::fs::read(disk).unwrap() == before,
        "{args:?} wrote to the disk"
    );
    assert!(!j.exists(), "{args:?} left a journal");
    err
}

#[test]
fn no_zfs_slice() {
    let Some(s) = setup("no_zfs_slice") else {
        return;
    };
    let disk = s.dir.path().join("d.img");
    gpt_disk_typed(&s.vdev, 0, 512, &disk, BIOS_BOOT);
    refused(&disk, &[], 2, "no ZFS");
}

#[test]
fn slice_too_small() {
    let Some(s) = setup("slice_too_small") else {
        return;
    };
    // Smaller than four labels.
    let disk = s.dir.path().join("tiny.img");
    gpt_disk(&s.vdev[..768 * 1024], 0, 512, &disk);
    refused(&disk, &[], 3, "too small for four 256 KiB vdev labels");
    // Half the pool: L0/L1 verify, but the end labels are not where ZFS put them.
    let disk = s.dir.path().join("half.img");
    gpt_disk(&s.vdev[..32 << 20], 0, 512, &disk);
    refused(&disk, &["--force"], 3, "the slice is too small");
}

#[test]
fn labels_of_two_pools() {
    let Some(s) = setup("labels_of_two_pools") else {
        return;
    };
    let Some(other) = testsuite_image(V14, "labels_of_two_pools") else {
        return;
    };
    // L2 and L3 of another pool of the same size: their checksums verify
    // at the same offsets.
    let mut v = s.vdev.clone();
    let offs = label_offsets(v.len() as u64);
    for o in &offs[2..] {
        let r = (o + PHYS_OFF) as usize..(o + PHYS_OFF + PHYS_LEN) as usize;
        v[r.clone()].copy_from_slice(&other[r]);
    }
    assert!(label_checksum_ok(&v, 2) && label_checksum_ok(&v, 0));
    let disk = s.dir.path().join("d.img");
    gpt_disk(&v, 0, 512, &disk);
    refused(&disk, &[], 3, "disagree about pool_guid");
    refused(&disk, &["--force"], 3, "disagree about pool_guid");
}

#[test]
fn fewer_than_two_valid_labels_needs_force() {
    let Some(s) = setup("fewer_than_two_valid_labels_needs_force") else {
        return;
    };
    let mut v = s.vdev.clone();
    let offs = label_offsets(v.len() as u64);
    for o in &offs[1..] {
        let r = (o + PHYS_OFF) as usize..(o + PHYS_OFF + PHYS_LEN) as usize;
        v[r].fill(0);
    }
    let disk = s.dir.path().join("d.img");
    let at = gpt_disk(&v, 0, 512, &disk);
    refused(&disk, &[], 3, "only label 0 is valid");
    let j = s.dir.path().join("forced.kzj");
    let (c, out, err) = kzrescue(&[
        "physpath",
        "set",
        disk.to_str().unwrap(),
        "--device-id",
        "0",
        "--write",
        "--force",
        "--liveness-interval",
        "0",
        "--journal",
        j.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("label 1 is left alone (blank)"),
        "{out}{err}"
    );
    let now = slice_of(&std::fs::read(&disk).unwrap(), at);
    assert!(label_checksum_ok(&now, 0));
    assert!(
        now[(offs[1] + PHYS_OFF) as usize..][..PHYS_LEN as usize]
            .iter()
            .all(|&b| b == 0)
    );
}

#[test]
fn bad_values() {
    let Some(s) = setup("bad_values") else { return };
    let disk = s.dir.path().join("d.img");
    gpt_disk(&s.vdev, 0, 512, &disk);
    let long = format!("/{}", "x".repeat(1100));
    refused(&disk, &["--phys-path", &long], 2, "MAXPATHLEN");
    refused(
        &disk,
        &["--phys-path", "zvnex/zvblk@0:a"],
        2,
        "must start with '/'",
    );
    refused(&disk, &["--path", "c1d0s0"], 2, "must start with '/'");
    refused(&disk, &["--devid", "garbage"], 2, "not of the form id1,");
    // Per-target options must come once per target.
    refused(
        &disk,
        &["--path", "/dev/dsk/c1d0s0", "--path", "/dev/dsk/c1d1s0"],
        2,
        "once per target",
    );
    // A bare vdev has no slice letter: --device-id cannot work.
    let bare = s.dir.path().join("bare.img");
    std::fs::write(&bare, &s.vdev).unwrap();
    refused(&bare, &[], 2, "no partition table");
}

/// The target is on a read-only file system: opening it for writing fails
/// before anything (journal included) is written. Needs root for the mount.
#[test]
fn read_only_target() {
    let Some(s) = setup("read_only_target") else {
        return;
    };
    let mnt = s.dir.path().join("ro");
    std::fs::create_dir(&mnt).unwrap();
    if !mount_tmpfs(&mnt, "size=100m", "read_only_target") {
        return;
    }
    let disk = mnt.join("d.img");
    gpt_disk(&s.vdev, 0, 512, &disk);
    let ok = std::process::Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&mnt)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let j = s.dir.path().join("ro.kzj");
    let before = std::fs::read(&disk).unwrap();
    let (c, out, err) = kzrescue(&[
        "physpath",
        "set",
        disk.to_str().unwrap(),
        "--device-id",
        "0",
        "--write",
        "--liveness-interval",
        "0",
        "--journal",
        j.to_str().unwrap(),
    ]);
    let after = std::fs::read(&disk).unwrap();
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    assert_eq!(c, 2, "{out}{err}");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(after == before);
    assert!(!j.exists());
}

/// The journal's file system is full: the error names the journal and the
/// disk is untouched. Needs root for the mount.
#[test]
fn journal_disk_full() {
    let Some(s) = setup("journal_disk_full") else {
        return;
    };
    let disk = s.dir.path().join("d.img");
    gpt_disk(&s.vdev, 0, 512, &disk);
    let mnt = s.dir.path().join("full");
    std::fs::create_dir(&mnt).unwrap();
    if !mount_tmpfs(&mnt, "size=64k", "journal_disk_full") {
        return;
    }
    let j = mnt.join("undo.kzj");
    let before = std::fs::read(&disk).unwrap();
    let (c, out, err) = kzrescue(&[
        "physpath",
        "set",
        disk.to_str().unwrap(),
        "--device-id",
        "0",
        "--write",
        "--liveness-interval",
        "0",
        "--journal",
        j.to_str().unwrap(),
    ]);
    let left = j.exists();
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    assert_eq!(c, 2, "{out}{err}");
    assert!(
        err.contains("undo journal") && err.contains("No space left"),
        "{err}"
    );
    assert!(!left);
    assert!(std::fs::read(&disk).unwrap() == before);
}

#[test]
fn journal_from_another_image() {
    let Some(s) = setup("journal_from_another_image") else {
        return;
    };
    let a = s.dir.path().join("a.img");
    let b = s.dir.path().join("b.img");
    gpt_disk(&s.vdev, 0, 512, &a);
    gpt_disk(&s.vdev, 0, 512, &b);
    let j = s.dir.path().join("a.kzj");
    let (c, out, err) = kzrescue(&[
        "physpath",
        "set",
        a.to_str().unwrap(),
        "--device-id",
        "0",
        "--write",
        "--liveness-interval",
        "0",
        "--journal",
        j.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{out}{err}");
    let b_before = std::fs::read(&b).unwrap();
    let (c, _, err) = kzrescue(&[
        "undo",
        j.to_str().unwrap(),
        "--target",
        b.to_str().unwrap(),
        "--write",
    ]);
    assert_eq!(c, 3);
    assert!(err.contains("not the journal's target"), "{err}");
    // b holds the *old* bytes of a (same pool image, never repaired): with
    // --force the bytes match "old" and nothing needs restoring.
    let (c, out, err) = kzrescue(&[
        "undo",
        j.to_str().unwrap(),
        "--target",
        b.to_str().unwrap(),
        "--force",
        "--write",
    ]);
    assert_eq!(c, 0, "{out}{err}");
    assert!(out.contains("nothing to restore"), "{out}");
    assert!(std::fs::read(&b).unwrap() == b_before);
    // A different pool's image: refused by its bytes even with --force.
    let Some(other) = testsuite_image(V14, "journal_from_another_image") else {
        return;
    };
    let c14 = s.dir.path().join("c.img");
    gpt_disk(&other, 0, 512, &c14);
    let c_before = std::fs::read(&c14).unwrap();
    let (c, _, err) = kzrescue(&[
        "undo",
        j.to_str().unwrap(),
        "--target",
        c14.to_str().unwrap(),
        "--force",
        "--write",
    ]);
    assert_eq!(c, 3);
    assert!(
        err.contains("neither the journal's old nor its new bytes"),
        "{err}"
    );
    assert!(std::fs::read(&c14).unwrap() == c_before);
    // A damaged journal.
    let mut jb = std::fs::read(&j).unwrap();
    jb[100] ^= 1;
    let bad = s.dir.path().join("bad.kzj");
    std::fs::write(&bad, &jb).unwrap();
    let (c, _, err) = kzrescue(&["undo", bad.to_str().unwrap(), "--write"]);
    assert_eq!(c, 2);
    assert!(err.contains("checksum"), "{err}");
}

fn mount_tmpfs(dir: &Path, opts: &str, test: &str) -> bool {
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
        .arg(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if common::in_ci() {
            panic!("{test}: cannot mount a tmpfs under CI (needs root)");
        }
        println!("SKIPPED {test}: cannot mount a tmpfs (needs root)");
    }
    ok
}
