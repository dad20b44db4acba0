//! `physpath set` and `undo` on real Linux block devices (loop devices over
//! the committed fixtures, 512-byte and 4096-byte logical sectors): the
//! repair gives the same bytes as on the image file (the zdb-verified
//! golden), a device someone holds open exclusively is refused with nothing
//! written, and undo restores the device. Needs root and losetup.

mod common;

use common::physpath::sha;
use common::{kzrescue, root, unpack_fixture};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;

/// A loop device over `file`, detached on drop (by its own name).
struct Loop(String);

impl Loop {
    fn new(file: &Path, sector: u32, test: &str) -> Option<Loop> {
        if !common::require_tool("losetup", "mount", test) {
            return None;
        }
        let out = Command::new("losetup")
            .args(["-f", "--show", "-b", &sector.to_string()])
            .arg(file)
            .output()
            .unwrap();
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            if common::in_ci() {
                panic!("{test}: losetup failed under CI: {why}");
            }
            println!("SKIPPED {test}: cannot create a loop device (needs root): {why}");
            return None;
        }
        Some(Loop(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

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
    let Some(dev) = Loop::new(&img, sector, test) else {
        return;
    };
    let j = dir.path().join("j.kzj");
    let args = [
        "physpath",
        "set",
        &dev.0,
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
        .open(&dev.0)
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
    assert!(out.contains(&format!("{dev} s", dev = dev.0)), "{out}");
    let now = std::fs::read(&img).unwrap();
    assert_eq!(
        hex::encode(sha(&now)),
        golden_sha(golden),
        "{fixture} via {}",
        dev.0
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
