//! The liveness check: two reads of every uberblock ring, an interval apart.

mod common;

use common::physpath::*;
use kzrescue::repair::liveness::{self, Watched};
use kzrescue::source::{FileSource, OpenMode, Source};
use std::os::unix::process::CommandExt;
use std::time::Duration;

/// A writer touching one ring byte during the interval is caught, with the
/// label and the absolute offset; a quiet device passes.
#[test]
fn a_ring_write_during_the_interval_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v");
    let data: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&p, &data).unwrap();
    let src = FileSource::open(&p, OpenMode::ReadOnly).unwrap();
    let w = [Watched {
        vdev: &src,
        ashift: Some(9),
    }];
    let q = liveness::check(&w, Duration::from_millis(200)).unwrap();
    assert_eq!(q.best_txg, None);

    let target = label_offsets(src.size())[3] + 128 * 1024 + 5000;
    let p2 = p.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let f = std::fs::OpenOptions::new().write(true).open(&p2).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, &[0xEE], target).unwrap();
    });
    let e = liveness::check(&w, Duration::from_millis(1200)).unwrap_err();
    writer.join().unwrap();
    let msg = e.to_string();
    assert!(msg.contains("imported somewhere"), "{msg}");
    assert!(msg.contains("label 3"), "{msg}");
    assert!(msg.contains(&format!("{target:#x}")), "{msg}");
}

/// The best txg the check reports is the one zdb's userland import uses.
#[test]
fn best_txg_agrees_with_zdb() {
    let test = "best_txg_agrees_with_zdb";
    if !common::require_tool("zdb", "zfsutils-linux", test) {
        return;
    }
    for (img, pool) in [
        ("zpool_upgrade/blockfiles/zfs-pool-v15.dat.bz2", "v15-pool"),
        ("zpool_upgrade/blockfiles/zfs-pool-v10.dat.bz2", "v10-pool"),
    ] {
        let Some(v) = testsuite_image(img, test) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("vdev");
        std::fs::write(&f, &v).unwrap();
        let out = std::process::Command::new("zdb")
            .args(["-e", "-p"])
            .arg(dir.path())
            .args(["-u", pool])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let zdb_txg: u64 = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("txg = "))
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| panic!("no txg in zdb -u output:\n{text}"));
        let src = FileSource::open(&f, OpenMode::ReadOnly).unwrap();
        let q = liveness::check(
            &[Watched {
                vdev: &src,
                ashift: None,
            }],
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(q.best_txg, Some(zdb_txg), "{img}");
    }
}

/// A pool that ztest is running (really imported, in userland) is refused
/// within a few checks. ztest syncs in bursts, so the check is repeated
/// (2 s interval) until it fires or ztest ends.
#[test]
fn a_running_ztest_pool_is_refused() {
    let test = "a_running_ztest_pool_is_refused";
    if !common::require_tool("ztest", "zfsutils-linux", test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // In its own process group, so that the test can stop ztest and the
    // worker it forks (by that group's id) once it has seen enough.
    let mut child = std::process::Command::new("ztest")
        .args(["-V", "-T", "60", "-f"])
        .arg(dir.path())
        .args([
            "-v", "1", "-m", "2", "-r", "1", "-R", "1", "-K", "raidz", "-s", "128m",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let vdev = dir.path().join("ztest.0a");
    let t0 = std::time::Instant::now();
    let mut refused = None;
    while t0.elapsed() < Duration::from_secs(50) {
        let src = match FileSource::open(&vdev, OpenMode::ReadOnly) {
            Ok(s) if s.size() > 0 => s,
            _ => {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        let w = [Watched {
            vdev: &src,
            ashift: None,
        }];
        // Wait until the pool has a committed uberblock: we want to see a
        // running pool move from one txg to the next, not its creation.
        match liveness::check(&w, Duration::ZERO) {
            Ok(q) if q.best_txg.is_some() => {}
            _ => {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        }
        if let Err(e) = liveness::check(&w, Duration::from_secs(2)) {
            refused = Some((t0.elapsed(), e.to_string()));
            break;
        }
    }
    let pgid = child.id() as i32;
    kill_group(pgid);
    let _ = child.wait();
    let (when, msg) = refused.expect("the running pool was never seen as live");
    assert!(msg.contains("the pool is imported somewhere"), "{msg}");
    assert!(!msg.contains("best txg none"), "{msg}");
    println!("refused after {:.1} s: {msg}", when.as_secs_f64());
}

/// Sends SIGKILL to the process group `pgid` (one this test created).
fn kill_group(pgid: i32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .status();
}
