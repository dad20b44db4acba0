//! `kzrescue demo` from the binary alone: the bundled image goes from broken
//! (exit 1: phys_path of a global-zone import, host data under a stale key)
//! to healthy (exit 0), and zdb agrees with the repaired labels.

mod common;

#[test]
fn demo_runs_from_the_binary_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let (code, out, err) = common::kzrescue(&[
        "demo",
        "--dir",
        &dir.display().to_string(),
        "--liveness-interval",
        "0.2",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    for want in [
        "phys_path \"/scsi_vhci/disk@g600144f0a613c900000054521d550001:b\" → \"/zvnex/zvblk@0:b\"",
        "Encryption key is incorrect",
        "verdict: 2 problem(s) that `kzrescue repair` can fix (exit 1)",
        "== diagnosis after the repair",
        "verdict: healthy: nothing to repair (exit 0)",
        "diagnose exited 1 before the repair and 0 after it",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    // The repaired disk, read back by kzrescue and (where installed) by zdb.
    let disk = dir.join("kz1-disk0.img").display().to_string();
    let (c, o, e) = common::kzrescue(&["label", &disk, "--json", "--json-int"]);
    assert_eq!(c, 0, "{o}{e}");
    assert_eq!(o.matches("/zvnex/zvblk@0:b").count(), 4, "{o}");
    assert!(!o.contains("scsi_vhci"));
    // The undo journals put the broken state back, byte for byte.
    let repaired = std::fs::read(&disk).unwrap();
    let mut journals: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "kzj"))
        .collect();
    journals.sort();
    assert_eq!(journals.len(), 2, "{journals:?}");
    if common::require_tool("zdb", "zfsutils-linux", "demo_runs_from_the_binary_alone") {
        // Slice 1 of the demo disk, extracted, read by zdb.
        let (c, o, _) = common::kzrescue(&["partitions", &disk, "--json", "--json-int"]);
        assert_eq!(c, 0);
        let v: serde_json::Value = serde_json::from_str(&o).unwrap();
        let s1 = v["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["slice"] == 1)
            .unwrap()
            .clone();
        let (start, len) = (
            s1["start"].as_u64().unwrap() as usize,
            s1["len"].as_u64().unwrap() as usize,
        );
        let vdev = tmp.path().join("s1.vdev");
        std::fs::write(&vdev, &repaired[start..start + len]).unwrap();
        let zdb = std::process::Command::new("zdb")
            .arg("-l")
            .arg(&vdev)
            .output()
            .unwrap();
        let l = String::from_utf8_lossy(&zdb.stdout);
        assert!(l.contains("phys_path: '/zvnex/zvblk@0:b'"), "{l}");
        assert!(l.contains("path: '/dev/dsk/c1d0s1'"), "{l}");
        assert!(l.contains("labels = 0 1 2 3"), "{l}");
    }
    for j in journals.iter().rev() {
        let (c, o, e) = common::kzrescue(&["undo", &j.display().to_string(), "--write"]);
        assert_eq!(c, 0, "{o}{e}");
    }
    let (c, o, _) = common::kzrescue(&["label", &disk, "--json", "--json-int"]);
    assert_eq!(c, 0);
    assert_eq!(o.matches("scsi_vhci").count(), 4, "{o}");
}
