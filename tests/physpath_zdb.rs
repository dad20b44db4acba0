//! `kzrescue physpath set` against the real thing: OpenZFS test-suite pools
//! (big-endian SPARC and little-endian x86 Solaris pools, single disks and
//! three-way mirrors) inside Solaris GPT disk images, checked with zdb.
//!
//! Each disk is first made to look like a pool last imported in a global
//! zone (MPxIO path, devid and /scsi_vhci phys_path, written with
//! `physpath set --phys-path … --path … --devid …`, the same code path), then
//! repaired with `--device-id`. After the repair: `zdb -l` shows the new
//! values in labels 0 1 2 3 and otherwise the same lines as before; every
//! label's checksum verifies (checked here from the spec, and by importing a
//! copy whose other three nvlists are zeroed); `zdb -e` imports the pool;
//! every byte outside the four 112 KiB nvlist regions is unchanged; running
//! again is a no-op; undo restores each step byte for byte.

mod common;

use common::kzrescue;
use common::physpath::*;
use std::path::{Path, PathBuf};

const WWN: &str = "600144f0a613c900000054521d550001";

/// The global-zone view of slice `letter` on an MPxIO LUN.
fn global_zone_args(letter: char, slice: u32, n: usize) -> Vec<String> {
    let wwn = format!("{WWN}{n:x}");
    let wwn = &wwn[wwn.len() - 32..];
    vec![
        "--phys-path".into(),
        format!("/scsi_vhci/disk@g{wwn}:{letter}"),
        "--path".into(),
        format!("/dev/dsk/c0t{}d0s{slice}", wwn.to_uppercase()),
        "--devid".into(),
        format!("id1,sd@n{wwn}/{letter}"),
    ]
}

fn run(args: &[String]) -> (i32, String, String) {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    kzrescue(&a)
}

/// `zdb -l` of each disk's vdev, with the vdev files in `dir` (zdb -e later).
fn zdb_l_all(disks: &[PathBuf], at: &[Placement], dir: &Path) -> Vec<String> {
    disks
        .iter()
        .zip(at)
        .enumerate()
        .map(|(i, (d, p))| {
            let v = slice_of(&std::fs::read(d).unwrap(), *p);
            let f = dir.join(format!("vdev{i}"));
            std::fs::write(&f, v).unwrap();
            zdb_l(&f)
        })
        .collect()
}

/// The lines of `zdb -l` output that are not path/devid/phys_path.
fn other_lines(zdb: &str) -> Vec<String> {
    zdb.lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("path:") || t.starts_with("devid:") || t.starts_with("phys_path:"))
        })
        .map(str::to_string)
        .collect()
}

struct Pool {
    images: &'static [&'static str],
    name: &'static str,
    /// Slice holding the pool: 0 on SPARC disks, 1 on x86 disks.
    slice: u32,
    sector: u64,
}

fn repair_case(pool: &Pool, test: &str) {
    let mut vdevs = Vec::new();
    for img in pool.images {
        match testsuite_image(img, test) {
            Some(v) => vdevs.push(v),
            None => return,
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let letter = char::from(b'a' + pool.slice as u8);
    let disks: Vec<PathBuf> = (0..vdevs.len())
        .map(|i| tmp.path().join(format!("disk{i}.img")))
        .collect();
    let at: Vec<Placement> = vdevs
        .iter()
        .zip(&disks)
        .map(|(v, d)| gpt_disk(v, pool.slice, pool.sector, d))
        .collect();
    let ranges: Vec<Vec<(u64, u64)>> = at.iter().map(|p| phys_ranges(*p)).collect();
    let pristine: Vec<Vec<u8>> = disks.iter().map(|d| std::fs::read(d).unwrap()).collect();
    let zdir = tmp.path().join("zdb");
    std::fs::create_dir(&zdir).unwrap();

    // Step 1: make it look like a global-zone import.
    let mut args: Vec<String> = vec!["physpath".into(), "set".into()];
    args.extend(disks.iter().map(|d| d.display().to_string()));
    for i in 0..disks.len() {
        let g = global_zone_args(letter, pool.slice, i);
        for pair in g.chunks(2) {
            args.extend_from_slice(pair);
        }
    }
    // clap wants repeated options grouped per kind only by order: fine.
    let j0 = tmp.path().join("j0.kzj");
    args.extend(["--write".into(), "--liveness-interval".into(), "0.2".into()]);
    args.extend(["--journal".into(), j0.display().to_string()]);
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{}: {out}{err}", pool.name);
    let global: Vec<Vec<u8>> = disks.iter().map(|d| std::fs::read(d).unwrap()).collect();
    let before = zdb_l_all(&disks, &at, &zdir);
    for (i, z) in before.iter().enumerate() {
        assert!(z.contains("phys_path: '/scsi_vhci/disk@g"), "{z}");
        assert!(z.contains("labels = 0 1 2 3"), "disk {i}: {z}");
    }

    // Step 2: the repair.
    let j1 = tmp.path().join("j1.kzj");
    let mut args: Vec<String> = vec!["physpath".into(), "set".into()];
    args.extend(disks.iter().map(|d| d.display().to_string()));
    for i in 0..disks.len() {
        args.extend(["--device-id".into(), i.to_string()]);
        args.extend(["--path".into(), format!("/dev/dsk/c1d{i}s{}", pool.slice)]);
    }
    args.extend(["--clear-devid".into(), "--write".into(), "--journal".into()]);
    args.push(j1.display().to_string());
    args.extend(["--liveness-interval".into(), "0.2".into()]);
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{}: {out}{err}", pool.name);
    assert!(out.contains("wrote "), "{out}");

    let after = zdb_l_all(&disks, &at, &zdir);
    for (i, z) in after.iter().enumerate() {
        // Every leaf of the mirror, in every label of every disk: zdb prints
        // identical labels once, with "labels = 0 1 2 3".
        assert!(z.contains("labels = 0 1 2 3"), "disk {i}: {z}");
        for k in 0..disks.len() {
            let want = format!("phys_path: '/zvnex/zvblk@{k}:{letter}'");
            assert_eq!(
                z.matches(&want).count(),
                1,
                "{}: disk {i}: {want}\n{z}",
                pool.name
            );
            let want = format!("path: '/dev/dsk/c1d{k}s{}'", pool.slice);
            assert_eq!(
                z.matches(&want).count(),
                1,
                "{}: disk {i}: {want}\n{z}",
                pool.name
            );
        }
        assert!(!z.contains("devid:"), "{z}");
        assert!(z.contains("labels = 0 1 2 3"), "disk {i}: {z}");
        assert_eq!(
            other_lines(z),
            other_lines(&before[i]),
            "{}: zdb -l changed outside path/devid/phys_path",
            pool.name
        );
        let now = std::fs::read(&disks[i]).unwrap();
        let v = slice_of(&now, at[i]);
        for l in 0..4 {
            assert!(label_checksum_ok(&v, l), "{} disk {i} label {l}", pool.name);
        }
        assert_eq!(
            sha_outside(&now, &ranges[i]),
            sha_outside(&pristine[i], &ranges[i]),
            "{} disk {i}: bytes outside the nvlists changed",
            pool.name
        );
    }
    // zdb -e imports the rewritten pool (all disks in the directory).
    assert!(zdb_imports(&zdir, pool.name), "{}: zdb -e", pool.name);
    // Each label alone (the other three nvlists zeroed) imports: its checksum
    // is right by ZFS's own reckoning.
    let v = slice_of(&std::fs::read(&disks[0]).unwrap(), at[0]);
    if disks.len() == 1 {
        assert_eq!(
            labels_that_import_alone(&v, pool.name, tmp.path()),
            vec![0, 1, 2, 3],
            "{}",
            pool.name
        );
    }

    // Step 3: the same repair again is a no-op and says so.
    let j2 = tmp.path().join("j2.kzj");
    let idx = args
        .iter()
        .position(|a| *a == j1.display().to_string())
        .unwrap();
    args[idx] = j2.display().to_string();
    let (code, out, _) = run(&args);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to do"), "{out}");
    assert!(!j2.exists());

    // Step 4: undo, step by step, byte-identical.
    let (code, out, err) = kzrescue(&["undo", j1.to_str().unwrap(), "--write"]);
    assert_eq!(code, 0, "{out}{err}");
    for (d, g) in disks.iter().zip(&global) {
        assert!(std::fs::read(d).unwrap() == *g, "{}: undo j1", pool.name);
    }
    let (code, out, err) = kzrescue(&["undo", j0.to_str().unwrap(), "--write"]);
    assert_eq!(code, 0, "{out}{err}");
    for (d, p) in disks.iter().zip(&pristine) {
        assert!(std::fs::read(d).unwrap() == *p, "{}: undo j0", pool.name);
    }
    println!(
        "{}: {} disk(s), labels 0-3 rewritten and verified by zdb, restored",
        pool.name,
        disks.len()
    );
}

#[test]
fn sparc_big_endian_pool_on_slice_0() {
    if !common::require_tool("zdb", "zfsutils-linux", "sparc_big_endian_pool_on_slice_0") {
        return;
    }
    repair_case(
        &Pool {
            images: &["zpool_upgrade/blockfiles/zfs-pool-v15.dat.bz2"],
            name: "v15-pool",
            slice: 0,
            sector: 512,
        },
        "sparc_big_endian_pool_on_slice_0",
    );
}

#[test]
fn x86_pool_on_slice_1_4kn() {
    if !common::require_tool("zdb", "zfsutils-linux", "x86_pool_on_slice_1_4kn") {
        return;
    }
    repair_case(
        &Pool {
            images: &["zpool_upgrade/blockfiles/zfs-pool-v10.dat.bz2"],
            name: "v10-pool",
            slice: 1,
            sector: 4096,
        },
        "x86_pool_on_slice_1_4kn",
    );
}

#[test]
fn three_way_mirror_big_endian() {
    if !common::require_tool("zdb", "zfsutils-linux", "three_way_mirror_big_endian") {
        return;
    }
    repair_case(
        &Pool {
            images: &[
                "zpool_upgrade/blockfiles/zfs-pool-v1mirror1.dat.bz2",
                "zpool_upgrade/blockfiles/zfs-pool-v1mirror2.dat.bz2",
                "zpool_upgrade/blockfiles/zfs-pool-v1mirror3.dat.bz2",
            ],
            name: "pool-v1mirror",
            slice: 0,
            sector: 512,
        },
        "three_way_mirror_big_endian",
    );
}

#[test]
fn three_way_mirror_little_endian() {
    if !common::require_tool("zdb", "zfsutils-linux", "three_way_mirror_little_endian") {
        return;
    }
    repair_case(
        &Pool {
            images: &[
                "zpool_upgrade/blockfiles/zfs-pool-v3mirror1.dat.bz2",
                "zpool_upgrade/blockfiles/zfs-pool-v3mirror2.dat.bz2",
                "zpool_upgrade/blockfiles/zfs-pool-v3mirror3.dat.bz2",
            ],
            name: "pool-v3mirror",
            slice: 1,
            sector: 512,
        },
        "three_way_mirror_little_endian",
    );
}

/// A mirror whose first disk lost label 2 (its nvlist zeroed): the repair
/// rewrites labels 0, 1 and 3 of it and all four of its siblings', says it
/// left label 2 alone, and zdb agrees. The test suite's truncated
/// "broken mirror" disk is refused: its end labels are not where ZFS put them.
#[test]
fn mirror_with_a_damaged_label() {
    let test = "mirror_with_a_damaged_label";
    if !common::require_tool("zdb", "zfsutils-linux", test) {
        return;
    }
    let mut vdevs = Vec::new();
    for n in 1..=3 {
        match testsuite_image(
            &format!("zpool_upgrade/blockfiles/zfs-pool-v3mirror{n}.dat.bz2"),
            test,
        ) {
            Some(v) => vdevs.push(v),
            None => return,
        }
    }
    let l2 = (label_offsets(vdevs[0].len() as u64)[2] + PHYS_OFF) as usize;
    vdevs[0][l2..l2 + PHYS_LEN as usize].fill(0);
    let tmp = tempfile::tempdir().unwrap();
    let disks: Vec<PathBuf> = (0..3)
        .map(|i| tmp.path().join(format!("d{i}.img")))
        .collect();
    let at: Vec<Placement> = vdevs
        .iter()
        .zip(&disks)
        .map(|(v, d)| gpt_disk(v, 1, 512, d))
        .collect();
    let j = tmp.path().join("j.kzj");
    let (code, out, err) = kzrescue(&[
        "physpath",
        "set",
        disks[0].to_str().unwrap(),
        disks[1].to_str().unwrap(),
        disks[2].to_str().unwrap(),
        "--device-id",
        "0",
        "--device-id",
        "1",
        "--device-id",
        "2",
        "--write",
        "--liveness-interval",
        "0",
        "--journal",
        j.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("label 2 is left alone (blank)"), "{out}");
    assert!(out.contains("wrote 11 label(s)"), "{out}");
    let zdir = tmp.path().join("z");
    std::fs::create_dir(&zdir).unwrap();
    let z = zdb_l_all(&disks, &at, &zdir);
    assert!(z[0].contains("labels = 0 1 3"), "{}", z[0]);
    assert!(z[1].contains("labels = 0 1 2 3"), "{}", z[1]);
    for zi in &z {
        for k in 0..3 {
            assert!(
                zi.contains(&format!("phys_path: '/zvnex/zvblk@{k}:b'")),
                "{zi}"
            );
        }
    }
    assert!(zdb_imports(&zdir, "pool-v3mirror"));

    // The truncated disk of the test suite's broken mirror.
    let Some(v) = testsuite_image("zpool_upgrade/blockfiles/zfs-broken-mirror1.dat.bz2", test)
    else {
        return;
    };
    let d = tmp.path().join("broken.img");
    gpt_disk(&v, 1, 512, &d);
    let before = std::fs::read(&d).unwrap();
    let (code, _, err) = kzrescue(&[
        "physpath",
        "set",
        d.to_str().unwrap(),
        "--device-id",
        "0",
        "--write",
        "--force",
        "--liveness-interval",
        "0",
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("the slice is too small"), "{err}");
    assert!(std::fs::read(&d).unwrap() == before);
}

/// One disk of a mirror whose labels are a txg ahead of its siblings': the
/// repair reports it (exit 1, naming both), keeps every txg as it was.
#[test]
fn mirror_disk_ahead_is_reported_not_fixed() {
    use kzrescue::source::{FileSource, OpenMode, Source, Window};
    use kzrescue::zfs::label;
    use kzrescue::zfs::nvlist::NvValue;
    let test = "mirror_disk_ahead_is_reported_not_fixed";
    let mut vdevs = Vec::new();
    for n in 1..=3 {
        match testsuite_image(
            &format!("zpool_upgrade/blockfiles/zfs-pool-v1mirror{n}.dat.bz2"),
            test,
        ) {
            Some(v) => vdevs.push(v),
            None => return,
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let disks: Vec<PathBuf> = (0..3)
        .map(|i| tmp.path().join(format!("d{i}.img")))
        .collect();
    let at: Vec<Placement> = vdevs
        .iter()
        .zip(&disks)
        .map(|(v, d)| gpt_disk(v, 0, 512, d))
        .collect();
    // Move disk 2's labels 3 txgs ahead (re-encoded in their own order).
    {
        let disk: kzrescue::source::SharedSource =
            std::sync::Arc::new(FileSource::open(&disks[2], OpenMode::ReadWrite).unwrap());
        let vdev = Window::new(disk.clone(), at[2].start, at[2].len, "s0");
        for l in label::read_labels(&vdev) {
            let mut cfg = l.config.clone().unwrap();
            let txg = cfg.get_u64("txg").unwrap();
            cfg.set("txg", NvValue::UInt64(txg + 3));
            let phys =
                label::encode_vdev_phys(l.header.unwrap(), &cfg, l.endian.unwrap(), l.offset)
                    .unwrap();
            vdev.write_at(l.offset + label::VDEV_PHYS_OFFSET, &phys)
                .unwrap();
        }
    }
    let txgs = |d: &Path, p: Placement| -> Vec<u64> {
        let disk: kzrescue::source::SharedSource =
            std::sync::Arc::new(FileSource::open(d, OpenMode::ReadOnly).unwrap());
        let vdev = Window::new(disk, p.start, p.len, "s0");
        label::read_labels(&vdev)
            .iter()
            .map(|l| l.u64("txg").unwrap())
            .collect()
    };
    let before: Vec<Vec<u64>> = disks.iter().zip(&at).map(|(d, p)| txgs(d, *p)).collect();
    let j = tmp.path().join("j.kzj");
    let (code, out, err) = kzrescue(&[
        "physpath",
        "set",
        disks[0].to_str().unwrap(),
        disks[1].to_str().unwrap(),
        disks[2].to_str().unwrap(),
        "--device-id",
        "0",
        "--device-id",
        "1",
        "--device-id",
        "2",
        "--write",
        "--liveness-interval",
        "0",
        "--journal",
        j.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    for d in &disks[..2] {
        assert!(
            out.contains(&format!("warning: {} has label txg", d.display())),
            "{out}"
        );
    }
    assert!(out.contains("out of sync"), "{out}");
    assert!(
        out.contains(&format!("{} (txg {})", disks[2].display(), before[2][0])),
        "{out}"
    );
    let after: Vec<Vec<u64>> = disks.iter().zip(&at).map(|(d, p)| txgs(d, *p)).collect();
    assert_eq!(before, after, "txgs changed");
}
