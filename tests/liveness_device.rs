//! Issue 11: the liveness check sees another host. A second writer changes
//! an uberblock ring behind kzrescue's back during the liveness interval —
//! through the backing file of a loop device (as a second host writes a
//! shared LUN: this host's page cache of the device goes stale), through an
//! image file, and through a second iSCSI session to tgtd — and `physpath
//! set --write` refuses with nothing written, saying how it read.

mod common;

use common::loopdev::Loop;
use common::physpath::{Placement, gpt_disk, label_offsets, testsuite_image};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const V15: &str = "zpool_upgrade/blockfiles/zfs-pool-v15.dat.bz2";
const RING: u64 = 128 * 1024;

/// The disk offset of a byte in label 2's uberblock ring (its last slot, so
/// it is not the active uberblock) of the pool slice at `p`.
fn ring_byte(p: Placement) -> u64 {
    p.start + label_offsets(p.len)[2] + RING + RING - 1000
}

/// Runs `physpath set TARGET --device-id 0 --write` with a 4 s liveness
/// interval while, 1.5 s after it starts, `second_writer` changes one ring
/// byte behind its back. Returns (exit code, stdout, stderr).
fn set_while_written(
    target: &str,
    journal: &Path,
    extra_env: &[(&str, &str)],
    second_writer: impl FnOnce() + Send + 'static,
) -> (i32, String, String) {
    let mut cmd = Command::new(common::kzrescue_bin());
    cmd.args([
        "physpath",
        "set",
        target,
        "--device-id",
        "0",
        "--write",
        "--liveness-interval",
        "4",
        "--journal",
        journal.to_str().unwrap(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let w = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        second_writer();
    });
    let out = child.wait_with_output().unwrap();
    w.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `byte` at `at` of `file` (and fsyncs), as another host would.
fn poke(file: &Path, at: u64, byte: u8) {
    let f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    f.write_all_at(&[byte], at).unwrap();
    f.sync_all().unwrap();
}

fn disk(test: &str) -> Option<(tempfile::TempDir, std::path::PathBuf, Placement)> {
    let vdev = testsuite_image(V15, test)?;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("disk.img");
    let p = gpt_disk(&vdev, 1, 512, &d);
    Some((dir, d, p))
}

#[test]
fn loop_device_written_through_its_backing_file_is_refused() {
    let t = "loop_device_written_through_its_backing_file_is_refused";
    let Some((dir, img, p)) = disk(t) else { return };
    let Some(dev) = Loop::attach_or_skip(&img, None, t) else {
        return;
    };
    // Fill this host's page cache of the device, as any earlier read would.
    let _ = std::fs::read(&dev.dev).unwrap();
    let at = ring_byte(p);
    let mut expect = std::fs::read(&img).unwrap();
    expect[at as usize] ^= 0xff;
    let b = expect[at as usize];
    let j = dir.path().join("j.kzj");
    let backing = img.clone();
    let (c, o, e) = set_while_written(&dev.dev, &j, &[], move || poke(&backing, at, b));
    assert_eq!(c, 3, "{o}{e}");
    assert!(e.contains("imported somewhere"), "{e}");
    assert!(e.contains("liveness") && e.contains("read direct"), "{e}");
    assert!(e.contains("nothing written"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(std::fs::read(&img).unwrap() == expect, "image changed");
    assert!(!j.exists());

    // Quiet, the same device is repaired, and says how it was read.
    let (c, o, e) = common::kzrescue(&[
        "physpath",
        "set",
        &dev.dev,
        "--device-id",
        "0",
        "--write",
        "--liveness-interval",
        "0.5",
        "--journal",
        j.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{o}{e}");
    assert!(o.contains("read by O_DIRECT"), "{o}");
    if common::require_tool("zdb", "zfsutils-linux", t) {
        let now = std::fs::read(&img).unwrap();
        let slice = &now[p.start as usize..(p.start + p.len) as usize];
        assert_eq!(
            common::physpath::labels_that_import_alone(slice, "v15-pool", dir.path()),
            vec![0, 1, 2, 3]
        );
    }
}

#[test]
fn image_file_written_by_another_writer_is_refused() {
    let t = "image_file_written_by_another_writer_is_refused";
    let Some((dir, img, p)) = disk(t) else { return };
    let at = ring_byte(p);
    let mut expect = std::fs::read(&img).unwrap();
    expect[at as usize] ^= 0x5a;
    let b = expect[at as usize];
    let j = dir.path().join("j.kzj");
    let backing = img.clone();
    let (c, o, e) = set_while_written(img.to_str().unwrap(), &j, &[], move || {
        poke(&backing, at, b)
    });
    assert_eq!(c, 3, "{o}{e}");
    assert!(e.contains("imported somewhere"), "{e}");
    assert!(e.contains(&format!("{:#x}", at - p.start)), "{e}");
    assert!(std::fs::read(&img).unwrap() == expect, "image changed");
    assert!(!j.exists());
}

#[test]
fn iscsi_lu_written_through_a_second_session_is_refused() {
    let t = "iscsi_lu_written_through_a_second_session_is_refused";
    let Some((dir, img, p)) = disk(t) else { return };
    let Some(tgt) = common::iscsi::Tgt::start(t) else {
        return;
    };
    tgt.target(1, "iqn.2026-12.org.kzrescue.test:live");
    tgt.lun(1, 1, &img, "600144f0a613c900000054521d5500ee", None);
    let uri = format!(
        "iscsi://{}/target.iqn.2026-12.org.kzrescue.test:live,lun.1",
        tgt.portal()
    );
    let at = ring_byte(p);
    let mut expect = std::fs::read(&img).unwrap();
    expect[at as usize] ^= 0x33;
    let b = expect[at as usize];
    let j = dir.path().join("j.kzj");
    let second = uri.clone();
    let (c, o, e) = set_while_written(&uri, &j, &[], move || {
        // A second session (another initiator) writes the LU.
        let lu = kzrescue::target::open_source(&second, true, &Default::default()).unwrap();
        lu.write_at(at, &[b]).unwrap();
        lu.flush().unwrap();
    });
    assert_eq!(c, 3, "{o}{e}");
    assert!(e.contains("imported somewhere"), "{e}");
    assert!(e.contains("read iscsi"), "{e}");
    assert!(std::fs::read(&img).unwrap() == expect, "LU changed");
    assert!(!j.exists());

    // Quiet, the repair goes through and zdb imports every label alone.
    let (c, o, e) = common::kzrescue(&[
        "physpath",
        "set",
        &uri,
        "--device-id",
        "0",
        "--write",
        "--liveness-interval",
        "0.5",
        "--journal",
        j.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{o}{e}");
    assert!(o.contains("iSCSI READ(16)"), "{o}");
    if common::require_tool("zdb", "zfsutils-linux", t) {
        let now = std::fs::read(&img).unwrap();
        let slice = &now[p.start as usize..(p.start + p.len) as usize];
        assert_eq!(
            common::physpath::labels_that_import_alone(slice, "v15-pool", dir.path()),
            vec![0, 1, 2, 3]
        );
    }
}
