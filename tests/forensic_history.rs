//! `timeline`, `changes` and `deleted` against a history made by the real
//! thing: a zfs-fuse pool (v23) in which files are written, modified and
//! deleted and a snapshot is created and destroyed, each step closed by a
//! synced property change whose txg `zdb -lu` records (the snapshot is
//! destroyed last, so that no later write can reuse the blocks only it
//! kept). Then, on the
//! exported image:
//!
//! * `timeline` lists every step's txg, and the datasets changed (and the
//!   snapshot created/destroyed) in each step's window are exactly the
//!   step's;
//! * `changes --since Tₖ₋₁ --until Tₖ` lists exactly the files the step
//!   touched, with the right kind of change;
//! * `deleted` finds every deleted file, reports it good and `export
//!   --txg N --object M` recovers it SHA-256-identical; a deleted file whose
//!   first block was overwritten afterwards (located by `zdb -ddddd` at its
//!   last txg) is reported damaged, and its export fails;
//! * `zdb -e -t Tₖ -d` lists the same datasets as `kzrescue datasets --txg Tₖ`.
//!
//! Needs root, /dev/fuse, zfs-fuse unpacked in $ZFS_FUSE_ROOT (tests/run.sh
//! does it) and zdb (zfsutils-linux); SKIPPED otherwise, a failure under CI.

mod common;

use common::{in_ci, kzrescue, require_tool};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

fn zfs_fuse_root() -> PathBuf {
    PathBuf::from(std::env::var("ZFS_FUSE_ROOT").unwrap_or_else(|_| "/opt/zfs-fuse".into()))
}

/// Whether everything the test needs is here; prints SKIPPED (or panics
/// under CI) otherwise.
fn available(test: &str) -> bool {
    if !require_tool("zdb", "zfsutils-linux", test) {
        return false;
    }
    let missing = if !zfs_fuse_root().join("sbin/zfs-fuse").exists() {
        Some(format!(
            "zfs-fuse is not unpacked in {} (Debian package zfs-fuse; tests/run.sh unpacks it)",
            zfs_fuse_root().display()
        ))
    } else if !Path::new("/dev/fuse").exists() {
        Some("/dev/fuse is missing (Debian package fuse)".into())
    } else if unsafe_uid() != 0 {
        Some("needs root (zfs-fuse mounts file systems)".into())
    } else {
        None
    };
    match missing {
        None => true,
        Some(m) if in_ci() => panic!("{test}: {m} and CI=true"),
        Some(m) => {
            println!("SKIPPED {test}: {m} (install Debian package zfs-fuse)");
            false
        }
    }
}

fn unsafe_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
}

/// The zfs-fuse daemon: one already answering is used; otherwise one is
/// started and stopped again (by its pid) when this is dropped.
struct Daemon {
    child: Option<Child>,
}

impl Daemon {
    fn up(log: &Path) -> Daemon {
        if zpool(&["list"]).0 {
            return Daemon { child: None };
        }
        let child = Command::new("setsid")
            .arg(zfs_fuse_root().join("sbin/zfs-fuse"))
            .arg("--no-daemon")
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .spawn()
            .expect("start zfs-fuse");
        let d = Daemon { child: Some(child) };
        for _ in 0..100 {
            if zpool(&["list"]).0 {
                return d;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!("zfs-fuse did not come up; see {}", log.display());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn run(tool: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("timeout")
        .arg("120")
        .arg(tool)
        .args(args)
        .output()
        .expect("run");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), s)
}

fn zpool(args: &[&str]) -> (bool, String) {
    run(&zfs_fuse_root().join("sbin/zpool"), args)
}

fn zfs(args: &[&str]) {
    let (ok, out) = run(&zfs_fuse_root().join("sbin/zfs"), args);
    assert!(ok, "zfs {args:?}: {out}");
}

/// The newest txg in any label's uberblock ring, as `zdb -lu` prints it.
fn zdb_txg(img: &Path) -> u64 {
    let out = Command::new("zdb")
        .arg("-lu")
        .arg(img)
        .output()
        .expect("zdb -lu");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("txg = "))
        .filter_map(|v| v.trim().parse::<u64>().ok())
        .max()
        .expect("zdb -lu prints uberblocks")
}

/// Deterministic pseudo-random bytes (xorshift), so a file's blocks are
/// unique and incompressible.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn kz_json(args: &[&str]) -> Value {
    let (code, out, err) = kzrescue(args);
    assert!(code == 0 || code == 1, "kzrescue {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

struct Step {
    name: &'static str,
    txg: u64,
}

#[test]
fn history_of_a_zfs_fuse_pool() {
    let test = "history_of_a_zfs_fuse_pool";
    if !available(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // KZ_KEEP=1 keeps the pool image for a look after a failure
    let dir = if std::env::var("KZ_KEEP").is_ok() {
        let p = std::path::Path::new("/tmp/kzhist-keep");
        let _ = std::fs::remove_dir_all(p);
        std::fs::create_dir_all(p).unwrap();
        p
    } else {
        tmp.path()
    };
    let img = dir.join("hist.img");
    let mnt = dir.join("mnt");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    let pool = format!("kzhist{}", std::process::id());
    let _daemon = Daemon::up(&dir.join("zfs-fuse.log"));
    let (ok, out) = zpool(&[
        "create",
        "-m",
        mnt.to_str().unwrap(),
        &pool,
        img.to_str().unwrap(),
    ]);
    assert!(ok, "zpool create: {out}");
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = zpool(&["destroy", "-f", &self.0]);
        }
    }
    let cleanup = Cleanup(pool.clone());
    let a = format!("{pool}/a");
    let b = format!("{pool}/b");
    for ds in [&a, &b] {
        zfs(&["create", "-o", "atime=off", "-o", "compression=off", ds]);
    }
    let ma = mnt.join("a");
    let mb = mnt.join("b");
    let mut steps: Vec<Step> = Vec::new();
    let mut n = 0;
    let mut barrier = |name: &'static str, steps: &mut Vec<Step>| {
        // a synced property change closes the step: everything written
        // before is in its txg or an earlier one
        n += 1;
        zfs(&["set", &format!("kz:step={n}"), &pool]);
        steps.push(Step {
            name,
            txg: zdb_txg(&img),
        });
    };
    barrier("setup", &mut steps);
    let mut originals: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    let files: [(&str, u64, usize); 5] = [
        ("keep.txt", 1, 10_000),
        ("mod.txt", 2, 50_000),
        ("del1.bin", 3, 300_000),
        ("del2.txt", 4, 3_000),
        ("sub/x.txt", 5, 777),
    ];
    std::fs::create_dir(ma.join("sub")).unwrap();
    for (p, seed, len) in files {
        let data = bytes(seed, len);
        std::fs::write(ma.join(p), &data).unwrap();
        originals.insert(p, data);
    }
    std::fs::write(mb.join("other.txt"), bytes(6, 4000)).unwrap();
    barrier("write", &mut steps);
    zfs(&["snapshot", &format!("{a}@s1")]);
    barrier("snapshot", &mut steps);
    std::fs::write(ma.join("mod.txt"), bytes(7, 60_000)).unwrap();
    std::fs::set_permissions(
        ma.join("sub/x.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(ma.join("new.txt"), bytes(8, 2_000)).unwrap();
    barrier("modify", &mut steps);
    let obj_del1 = std::fs::metadata(ma.join("del1.bin")).unwrap().ino();
    let obj_del2 = std::fs::metadata(ma.join("del2.txt")).unwrap().ino();
    std::fs::remove_file(ma.join("del1.bin")).unwrap();
    std::fs::remove_file(ma.join("del2.txt")).unwrap();
    barrier("delete", &mut steps);
    std::fs::write(mb.join("new-b.txt"), bytes(9, 5_000)).unwrap();
    barrier("other dataset", &mut steps);
    let del3 = bytes(10, 1 << 20);
    std::fs::write(ma.join("del3.bin"), &del3).unwrap();
    let obj_del3 = std::fs::metadata(ma.join("del3.bin")).unwrap().ino();
    barrier("write del3", &mut steps);
    std::fs::remove_file(ma.join("del3.bin")).unwrap();
    barrier("delete del3", &mut steps);
    // a file unlinked while still open: ZFS keeps it in the delete queue
    // until it is closed; a copy of the disk taken now (a halted zone)
    // holds it as an orphan
    let held_data = bytes(12, 70_000);
    std::fs::write(ma.join("held.bin"), &held_data).unwrap();
    let held = std::fs::File::open(ma.join("held.bin")).unwrap();
    let obj_held = held.metadata().unwrap().ino();
    std::fs::remove_file(ma.join("held.bin")).unwrap();
    barrier("unlink while open", &mut steps);
    let live = dir.join("live-copy.img");
    std::fs::copy(&img, &live).unwrap();
    drop(held);
    // last: until now the snapshot kept the older blocks allocated, so
    // nothing written since could land on them
    zfs(&["destroy", &format!("{a}@s1")]);
    barrier("destroy snapshot", &mut steps);
    let (ok, out) = zpool(&["export", &pool]);
    assert!(ok, "zpool export: {out}");
    std::mem::forget(cleanup);
    for s in &steps {
        println!("step {:<18} txg {}", s.name, s.txg);
    }
    let t = |name: &str| steps.iter().find(|s| s.name == name).unwrap().txg;
    let imgs = img.to_str().unwrap();
    let dirs = dir.to_str().unwrap();

    // 1. the blocks of del3 as zdb sees them at its last txg; overwrite the
    //    first (as a later writer would) — after everything else is checked
    //    on the untouched image.
    let (ok, zout) = run(
        Path::new("zdb"),
        &[
            "-e",
            "-p",
            dirs,
            "-t",
            &t("write del3").to_string(),
            "-ddddd",
            &a,
            &obj_del3.to_string(),
        ],
    );
    assert!(ok, "zdb -ddddd: {zout}");
    let l0 = zout
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[1] == "L0").then(|| f[2].to_string())
        })
        .unwrap_or_else(|| panic!("no L0 block in zdb output: {zout}"));
    let dva: Vec<u64> = l0
        .split(':')
        .map(|x| u64::from_str_radix(x, 16).unwrap())
        .collect();

    // 2. the timeline
    let tl = kz_json(&["timeline", "--json", "--json-int", imgs]);
    let states = tl["states"].as_array().unwrap();
    let txgs: BTreeSet<u64> = states.iter().map(|s| s["txg"].as_u64().unwrap()).collect();
    // every uberblock zdb -lu shows, and no other; each step's txg with it
    // (zfs-fuse has been seen to leave a step's uberblock off the final
    // rings: then zdb does not show it either)
    let zdb_txgs: BTreeSet<u64> = {
        let out = Command::new("zdb").arg("-lu").arg(&img).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().strip_prefix("txg = "))
            .filter_map(|v| v.trim().parse().ok())
            .collect()
    };
    assert_eq!(txgs, zdb_txgs, "timeline txgs = zdb -lu txgs");
    for s in &steps {
        if !zdb_txgs.contains(&s.txg) {
            println!(
                "note: txg {} ({}) is on no ring any more (zdb -lu agrees)",
                s.txg, s.name
            );
        }
    }
    let window = |from: u64, to: u64, field: &str| -> BTreeSet<String> {
        states
            .iter()
            .filter(|s| {
                let x = s["txg"].as_u64().unwrap();
                x > from && x <= to
            })
            .flat_map(|s| {
                s[field]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.get("name").unwrap_or(v).as_str().unwrap().to_string())
            })
            .collect()
    };
    let set = |v: &[&str]| -> BTreeSet<String> { v.iter().map(|s| s.to_string()).collect() };
    let mut table = Vec::new();
    for (k, step) in steps.iter().enumerate().skip(1) {
        let prev = steps[k - 1].txg;
        let changed = window(prev, step.txg, "changed");
        let created = window(prev, step.txg, "snapshots_created");
        let destroyed = window(prev, step.txg, "snapshots_destroyed");
        let (want_changed, want_created, want_destroyed): (BTreeSet<String>, _, _) = match step.name
        {
            "write" => (set(&[&a, &b]), set(&[]), set(&[])),
            "snapshot" => (set(&[]), set(&[&format!("{a}@s1")]), set(&[])),
            "modify" | "delete" | "write del3" | "delete del3" | "unlink while open" => {
                (set(&[&a]), set(&[]), set(&[]))
            }
            "other dataset" => (set(&[&b]), set(&[]), set(&[])),
            // closing the unlinked file frees it from a: a changes too
            "destroy snapshot" => (set(&[&a]), set(&[]), set(&[&format!("{a}@s1")])),
            _ => unreachable!(),
        };
        assert_eq!(
            changed, want_changed,
            "datasets changed in step {}",
            step.name
        );
        assert_eq!(
            created, want_created,
            "snapshots created in step {}",
            step.name
        );
        assert_eq!(
            destroyed, want_destroyed,
            "snapshots destroyed in step {}",
            step.name
        );
        table.push(format!(
            "| {} | ({prev}, {}] | {:?} | +{:?} -{:?} |",
            step.name, step.txg, changed, created, destroyed
        ));
    }

    // 3. changes per window: exactly the files each step touched
    let changes = |since: u64, until: u64| -> BTreeMap<String, BTreeSet<String>> {
        let r = kz_json(&[
            "changes",
            "--json",
            "--json-int",
            imgs,
            &a,
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
        ]);
        assert!(
            r["errors"].as_array().unwrap().is_empty(),
            "{}",
            r["errors"]
        );
        r["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["type"] == "file")
            .map(|c| {
                let p = c["path"]
                    .as_str()
                    .or(c["old_path"].as_str())
                    .unwrap()
                    .to_string();
                let what = c["what"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| w.as_str().unwrap().to_string())
                    .collect();
                (p, what)
            })
            .collect()
    };
    let kinds = |v: &[(&str, &[&str])]| -> BTreeMap<String, BTreeSet<String>> {
        v.iter()
            .map(|(p, w)| (p.to_string(), w.iter().map(|s| s.to_string()).collect()))
            .collect()
    };
    let got = changes(t("snapshot"), t("modify"));
    assert_eq!(
        got,
        kinds(&[
            ("/mod.txt", &["content", "metadata"]),
            ("/new.txt", &["created"]),
            ("/sub/x.txt", &["metadata"]),
        ]),
        "changes in the modify step"
    );
    table.push(format!("| changes modify | {got:?} |"));
    let got = changes(t("modify"), t("delete"));
    assert_eq!(
        got,
        kinds(&[("/del1.bin", &["deleted"]), ("/del2.txt", &["deleted"])]),
        "changes in the delete step"
    );
    table.push(format!("| changes delete | {got:?} |"));
    let got = changes(t("delete"), t("other dataset"));
    assert!(
        got.is_empty(),
        "pool/a unchanged in the other-dataset step: {got:?}"
    );
    let got = changes(t("write"), t("write del3"));
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        set(&[
            "/del1.bin",
            "/del2.txt",
            "/del3.bin",
            "/mod.txt",
            "/new.txt",
            "/sub/x.txt"
        ]),
        "changes over several steps"
    );
    // the same window from the snapshot (readable in older uberblocks only)
    let r = kz_json(&[
        "changes",
        "--json",
        "--json-int",
        imgs,
        &a,
        "--since",
        "@s1",
        "--until",
        &t("modify").to_string(),
        "--hash",
    ]);
    let by_path: BTreeMap<&str, &Value> = r["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| Some((c["path"].as_str()?, c)))
        .collect();
    assert_eq!(
        by_path["/mod.txt"]["sha256"],
        sha(&bytes(7, 60_000)).as_str()
    );
    assert_eq!(
        by_path["/mod.txt"]["sha256_before"],
        sha(&originals["mod.txt"]).as_str()
    );

    // 4. zdb -t agrees with kzrescue datasets --txg at every step
    for s in &steps {
        let (ok, zout) = run(
            Path::new("zdb"),
            &["-e", "-p", dirs, "-t", &s.txg.to_string(), "-d", &pool],
        );
        assert!(ok, "zdb -t {}: {zout}", s.txg);
        let want: BTreeSet<String> = zout
            .lines()
            .filter(|l| l.starts_with("Dataset ") && !l.starts_with("Dataset mos"))
            .map(String::from)
            .collect();
        let (code, out, err) = kzrescue(&["datasets", imgs, "--txg", &s.txg.to_string()]);
        assert_eq!(code, 0, "{err}");
        let got: BTreeSet<String> = out
            .lines()
            .filter(|l| !l.starts_with("Dataset mos"))
            .map(String::from)
            .collect();
        assert_eq!(got, want, "datasets at txg {}", s.txg);
    }
    table.push(format!("| zdb -t agrees | {} txgs |", steps.len()));

    // 5. deleted (untouched image): every deleted file good, recovered exact
    let check_deleted = |expect_damaged: bool| {
        let r = kz_json(&["deleted", "--json", "--json-int", imgs, &a]);
        let del: BTreeMap<u64, &Value> = r["deleted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["object"].as_u64().unwrap(), d))
            .collect();
        // held.bin was unlinked while open, then freed when closed: it has
        // a name only if zfs-fuse happened to sync a txg between its
        // creation and the unlink (no barrier there; seen under CI load)
        let want = [
            ("/del1.bin", obj_del1, originals["del1.bin"].clone()),
            ("/del2.txt", obj_del2, originals["del2.txt"].clone()),
            ("/del3.bin", obj_del3, del3.clone()),
            ("(no path)", obj_held, held_data.clone()),
        ];
        assert_eq!(
            del.keys().copied().collect::<BTreeSet<_>>(),
            want.iter().map(|w| w.1).collect(),
            "deleted objects: {}",
            r["deleted"]
        );
        let mut rows = Vec::new();
        for (path, obj, data) in &want {
            let d = del[obj];
            let named = d["path"].as_str().unwrap_or("(no path)");
            if *obj == obj_held {
                assert!(
                    named == "(no path)" || named == "/held.bin",
                    "held object named {named}"
                );
            } else {
                assert_eq!(named, *path, "object {obj}");
            }
            assert_eq!(d["size"].as_u64(), Some(data.len() as u64), "{path}");
            let integrity = d["integrity"].as_str().unwrap();
            let damaged = expect_damaged && *path == "/del3.bin";
            assert_eq!(
                integrity,
                if damaged { "damaged" } else { "good" },
                "{path}"
            );
            let out = tempfile::tempdir().unwrap();
            let last = &d["last_seen"];
            let mut args = vec!["export".to_string(), imgs.to_string()];
            match last["snapshot"].as_str() {
                Some(s) => args.push(s.to_string()),
                None => {
                    args.push(a.clone());
                    args.push("--txg".into());
                    args.push(last["txg"].as_u64().unwrap().to_string());
                }
            }
            args.extend(["--object".into(), obj.to_string(), "--to".into()]);
            args.push(out.path().join("x").to_str().unwrap().to_string());
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, _, err) = kzrescue(&argv);
            let got = std::fs::read(out.path().join(format!("x/object-{obj}"))).ok();
            if damaged {
                assert_ne!(code, 0, "export of damaged {path} must not succeed: {err}");
                assert!(
                    got.as_deref() != Some(&data[..]),
                    "{path}: damaged yet identical?"
                );
            } else {
                assert_eq!(code, 0, "export {path}: {err}");
                assert_eq!(
                    sha(got.as_deref().unwrap()),
                    sha(data),
                    "{path} recovered byte-identical"
                );
            }
            rows.push(format!(
                "| deleted {path} | last seen {} | {integrity} | export exit {code} |",
                last["snapshot"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| format!("txg {}", last["txg"]))
            ));
        }
        rows
    };
    table.extend(check_deleted(false));

    // 6. overwrite del3's first block behind ZFS's back, as a later
    //    allocation would: damaged, never good
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        let off = (4 << 20) + dva[1];
        f.write_all_at(&bytes(11, 4096), off).unwrap();
    }
    table.extend(check_deleted(true));
    // 7. the copy taken while a file was unlinked but open: an orphan in
    //    the delete queue, recovered exact by --object
    let lives = live.to_str().unwrap();
    let r = kz_json(&["deleted", "--json", "--json-int", lives, &a]);
    let orphans = r["orphans"].as_array().unwrap();
    assert_eq!(orphans.len(), 1, "orphans: {orphans:?}");
    let o = &orphans[0];
    assert_eq!(o["object"].as_u64(), Some(obj_held));
    assert_eq!(o["in_delete_queue"], true);
    assert_eq!(o["links"], 0);
    assert_eq!(o["integrity"], "good");
    // named only if some uberblock caught it between creation and unlink
    assert!(
        o["last_path"].is_null() || o["last_path"] == "/held.bin",
        "{}",
        o["last_path"]
    );
    let out = dir.join("held-out");
    let (code, _, err) = kzrescue(&[
        "export",
        lives,
        &a,
        "--object",
        &obj_held.to_string(),
        "--to",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let got = std::fs::read(out.join(format!("object-{obj_held}"))).unwrap();
    assert_eq!(sha(&got), sha(&held_data), "orphan recovered");
    table.push(format!(
        "| orphan (unlinked while open) | object {obj_held}, delete queue | good | recovered identical |"
    ));
    println!("verification table:");
    for row in &table {
        println!("{row}");
    }
}

/// The committed zfs-fuse pool (no tool needed): from `@later` to the head
/// and from `@clean` to the head, `changes` lists exactly the objects the
/// golden listings (taken through the zfs-fuse mount) show created,
/// removed or changed (type, mode, owner, links, size, mtime, SHA-256,
/// symlink target), with the head's SHA-256 under `--hash`; `deleted` lists
/// exactly the objects of the snapshots gone from the head, all good, and
/// `export --object` from the state named recovers them byte-identical.
#[test]
fn fuse_v23_changes_and_deleted_match_the_golden_listings() {
    let tmp = tempfile::tempdir().unwrap();
    let img = common::unpack_fixture("fuse-v23.img", tmp.path());
    let imgs = img.to_str().unwrap();
    let raw = std::fs::read(common::root().join("testimages/fuse-v23.files.json.zst")).unwrap();
    let mut dec = ruzstd::decoding::StreamingDecoder::new(&raw[..]).unwrap();
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut dec, &mut text).unwrap();
    let golden: Value = serde_json::from_slice(&text).unwrap();
    // view → object → (path, the fields a change shows in)
    let view = |ds: &str, v: &str| -> BTreeMap<u64, (String, Value)> {
        golden["datasets"][ds][v]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["path"] != ".")
            .map(|e| {
                let mut f = e.clone();
                // a file of one name changes when moved; one of several
                // names is listed under each
                if e["nlink"].as_u64() != Some(1) || e["type"] == "dir" {
                    f.as_object_mut().unwrap().remove("path");
                }
                f.as_object_mut().unwrap().remove("ino");
                (
                    e["ino"].as_u64().unwrap(),
                    (format!("/{}", e["path"].as_str().unwrap()), f),
                )
            })
            .collect()
    };
    let mut checked = (0, 0, 0);
    for ds in golden["datasets"].as_object().unwrap().keys() {
        let head = view(ds, "head");
        for snap in ["@later", "@clean"] {
            if golden["datasets"][ds].get(snap).is_none() {
                continue; // the clone has no @clean of its own
            }
            let old = view(ds, snap);
            // what the mount shows changed, non-directories (a directory's
            // listing shows neither its ctime nor its entries' moves)
            let mut want: BTreeMap<u64, &str> = BTreeMap::new();
            for (o, (_, f)) in &head {
                if f["type"] == "dir" {
                    continue;
                }
                match old.get(o) {
                    None => {
                        want.insert(*o, "created");
                    }
                    Some((_, g)) if g != f => {
                        want.insert(*o, "changed");
                    }
                    _ => {}
                }
            }
            for (o, (_, f)) in &old {
                if f["type"] != "dir" && !head.contains_key(o) {
                    want.insert(*o, "deleted");
                }
            }
            let r = kz_json(&[
                "changes",
                "--json",
                "--json-int",
                "--hash",
                imgs,
                ds,
                "--since",
                snap,
            ]);
            assert!(
                r["errors"].as_array().unwrap().is_empty(),
                "{}",
                r["errors"]
            );
            let mut got: BTreeMap<u64, &str> = BTreeMap::new();
            for c in r["changes"].as_array().unwrap() {
                if c["type"] == "dir" {
                    continue;
                }
                let what: Vec<&str> = c["what"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| w.as_str().unwrap())
                    .collect();
                let o = c["object"].as_u64().unwrap();
                let k = if what.contains(&"created") {
                    "created"
                } else if what.contains(&"deleted") {
                    "deleted"
                } else if what == ["accessed"] {
                    continue;
                } else {
                    "changed"
                };
                got.insert(o, k);
                if let (Some(h), Some((_, f))) = (c["sha256"].as_str(), head.get(&o)) {
                    assert_eq!(Some(h), f["sha256"].as_str(), "{ds} object {o} sha256");
                    checked.2 += 1;
                }
            }
            assert_eq!(got, want, "{ds}: changes since {snap}");
            checked.0 += got.len();
        }
        // deleted: objects of either snapshot gone from the head
        let mut want: BTreeMap<u64, Value> = BTreeMap::new();
        for snap in ["@later", "@clean"] {
            // the clone at its creation is its origin, gzip9@clean, and
            // an uberblock of that time still shows it
            let src = match golden["datasets"][ds].get(snap) {
                Some(_) => ds.as_str(),
                None if ds == "kzpool/clone" => "kzpool/gzip9",
                None => continue,
            };
            for (o, (_, f)) in view(src, snap) {
                if !head.contains_key(&o) {
                    want.entry(o).or_insert(f);
                }
            }
        }
        let r = kz_json(&["deleted", "--json", "--json-int", imgs, ds]);
        let got: BTreeMap<u64, &Value> = r["deleted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["object"].as_u64().unwrap(), d))
            .collect();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{ds}: deleted objects"
        );
        assert!(r["orphans"].as_array().unwrap().is_empty(), "{ds}: orphans");
        for (o, d) in got.iter().take(4) {
            assert_eq!(d["integrity"], "good", "{ds} object {o}");
            assert_eq!(d["size"], want[o]["size"], "{ds} object {o}");
            let Some(h) = want[o]["sha256"].as_str() else {
                continue;
            };
            let out = tmp.path().join(format!("x{}", checked.1));
            let txg = d["last_seen"]["txg"].to_string();
            let mut args = vec!["export", imgs];
            match d["last_seen"]["snapshot"].as_str() {
                Some(snap) => args.push(snap),
                None => args.extend([ds.as_str(), "--txg", &txg]),
            }
            let obj = o.to_string();
            args.extend(["--object", &obj, "--to", out.to_str().unwrap()]);
            let (code, _, err) = kzrescue(&args);
            assert_eq!(code, 0, "{err}");
            let data = std::fs::read(out.join(format!("object-{o}"))).unwrap();
            assert_eq!(sha(&data), h, "{ds} object {o} recovered");
            checked.1 += 1;
        }
    }
    println!(
        "fuse-v23: {} changed objects as the mount shows, {} SHA-256 of changed files, {} deleted files recovered identical",
        checked.0, checked.2, checked.1
    );
}

/// Feature-flag pools made by ztest: for every state the timeline lists
/// (at most 10 per pool), when `zdb -e -t TXG -d` opens the pool kzrescue
/// says the MOS reads, and `zdb` then lists the same datasets as
/// `kzrescue datasets --txg TXG` and as many as the timeline counts.
#[test]
fn ztest_timelines_agree_with_zdb_rewinds() {
    let test = "ztest_timelines_agree_with_zdb_rewinds";
    if !require_tool("zdb", "zfsutils-linux", test) {
        return;
    }
    let variants: [&[&str]; 4] = [
        &["ztest-mirror1.0a.img"],
        &["ztest-mirror2.0a.img", "ztest-mirror2.1a.img"],
        &[
            "ztest-raidz1.0a.img",
            "ztest-raidz1.1a.img",
            "ztest-raidz1.2a.img",
        ],
        &[
            "ztest-raidz2.0a.img",
            "ztest-raidz2.1a.img",
            "ztest-raidz2.2a.img",
            "ztest-raidz2.3a.img",
        ],
    ];
    let mut rows = Vec::new();
    for files in variants {
        let tmp = tempfile::tempdir().unwrap();
        let paths: Vec<String> = files
            .iter()
            .map(|f| {
                common::unpack_fixture(f, tmp.path())
                    .to_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let mut args = vec!["timeline", "--json", "--json-int"];
        args.extend(paths.iter().map(String::as_str));
        let tl = kz_json(&args);
        let states = tl["states"].as_array().unwrap();
        let step = states.len().div_ceil(10).max(1);
        let (mut agree, mut unreadable, mut more) = (0, 0, 0);
        for s in states.iter().step_by(step) {
            let txg = s["txg"].as_u64().unwrap().to_string();
            let (ok, zout) = run(
                Path::new("zdb"),
                &[
                    "-e",
                    "-p",
                    tmp.path().to_str().unwrap(),
                    "-t",
                    &txg,
                    "-d",
                    "ztest",
                ],
            );
            let reads = s["mos_reads"].as_bool().unwrap();
            // zdb opens the pool only when everything spa_load reads (the
            // config object, space maps, feature counts) still verifies:
            // more than the MOS object directory and the DSL kzrescue needs
            assert!(
                !ok || reads,
                "{files:?} txg {txg}: zdb opens it, kzrescue says the MOS does not read"
            );
            if !ok {
                if reads {
                    more += 1;
                } else {
                    unreadable += 1;
                }
                continue;
            }
            let want: BTreeSet<String> = zout
                .lines()
                .filter(|l| l.starts_with("Dataset "))
                .map(String::from)
                .collect();
            let mut a = vec!["datasets", "--txg", &txg];
            a.extend(paths.iter().map(String::as_str));
            let (_, out, _) = kzrescue(&a);
            let got: BTreeSet<String> = out
                .lines()
                .filter(|l| l.starts_with("Dataset "))
                .map(|l| {
                    l.trim_end_matches(" (encrypted: contents not read)")
                        .to_string()
                })
                .collect();
            assert_eq!(got, want, "{files:?} txg {txg}");
            assert_eq!(
                s["datasets"].as_u64().unwrap() as usize,
                want.len() - 1,
                "{files:?} txg {txg}: datasets counted"
            );
            agree += 1;
        }
        rows.push(format!(
            "{}: {} states, {agree} read alike, {unreadable} unreadable for both, \
             {more} whose DSL reads but zdb does not open",
            files[0],
            states.len()
        ));
    }
    for r in rows {
        println!("{r}");
    }
}
