//! `physpath set` and `undo` on real Linux block devices (loop devices over
//! the committed fixtures, 512-byte and 4096-byte logical sectors): the
//! repair gives the same bytes as on the image file (the zdb-verified
//! golden), a device someone holds open exclusively is refused with nothing
//! written, and undo restores the device. Needs root and losetup.

mod common;

use common::loopdev::Loop;
use common::physpath::sha;
use common::{kzrescue, root, unpack_fixture};
use std::os::unix::fs::OpenOptionsExt;

fn golden_sha(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/physpath_golden").join(name))
        .unwrap()
        .trim()
        .to_string()
}

fn case(fixture: &str, sector: u32, golden: &str, test: &str) {
    let dir = tempfile::tempdir().unwrap();
    let img = unpack_fixture(fixture, dir.path());
    let original = std::fs::read(&img).unwrap();
    let Some(dev) = Loop::attach_or_skip(&img, Some(sector), test) else {
        return;
    };
    let j = dir.path().join("j.kzj");
    let args = [
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
    ];

    // Someone holds the device exclusively: refused, nothing written.
    let holder = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL)
        .open(&dev.dev)
        .unwrap();
    let (code, out, err) = kzrescue(&args);
    drop(holder);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("the device is in use"), "{err}");
    assert!(!j.exists());
    assert!(std::fs::read(&img).unwrap() == original);

    // The repair through the block device.
    let (code, out, err) = kzrescue(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("{dev} s", dev = dev.dev)), "{out}");
    let now = std::fs::read(&img).unwrap();
    assert_eq!(
        hex::encode(sha(&now)),
        golden_sha(golden),
        "{fixture} via {}",
        dev.dev
    );

    // Undo through the block device.
    let (code, out, err) = kzrescue(&["undo", j.to_str().unwrap(), "--write"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(std::fs::read(&img).unwrap() == original);
}

#[test]
fn loop_device_512() {
    case(
        "gptdisk-x86-512.img",
        512,
        "x86-512.direct.disk0.sha256",
        "loop_device_512",
    );
}

#[test]
fn loop_device_4kn() {
    case(
        "gptdisk-x86-4k.img",
        4096,
        "x86-4k.direct.disk0.sha256",
        "loop_device_4kn",
    );
}
