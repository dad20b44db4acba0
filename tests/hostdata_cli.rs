//! `kzrescue hostdata` end to end: every verdict with its exit code, the
//! rollback story, key-file hygiene, dry runs — on committed GPT fixtures and
//! on a disk image built around a real ZFS pool (checked with `zdb -l`).

mod common;

use common::hostdata::*;
use common::{kzrescue, require_tool, unpack_fixture};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Env {
    dir: tempfile::TempDir,
    disk: PathBuf,
    n: std::cell::Cell<u32>,
}

impl Env {
    fn fixture(name: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let disk = unpack_fixture(name, dir.path());
        Env {
            dir,
            disk,
            n: std::cell::Cell::new(0),
        }
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn journal(&self) -> String {
        let n = self.n.get() + 1;
        self.n.set(n);
        s(&self.p(&format!("undo-{n}.journal"))).to_string()
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let r = kzrescue(args);
        assert!(
            !r.2.contains("panicked"),
            "kzrescue {args:?} panicked: {}",
            r.2
        );
        r
    }

    fn init(&self, key_out: &Path, extra: &[&str]) -> (i32, String, String) {
        let j = self.journal();
        let mut a = vec![
            "hostdata",
            "init",
            s(&self.disk),
            "--zone",
            "kzone1",
            "--key-out",
            s(key_out),
            "--write",
            "--liveness-interval",
            "0.1",
            "--journal",
            &j,
        ];
        a.extend_from_slice(extra);
        self.run(&a)
    }

    fn check(&self, extra: &[&str]) -> (i32, String, String) {
        let mut a = vec!["hostdata", "check", s(&self.disk)];
        a.extend_from_slice(extra);
        self.run(&a)
    }
}

fn key_hex(keyfile: &Path) -> String {
    let t = std::fs::read_to_string(keyfile).unwrap();
    t.lines()
        .find_map(|l| l.strip_prefix("aes-128-ccm "))
        .unwrap()
        .to_string()
}

/// The rollback story: init (key A), snapshot, init (key B), restore the
/// snapshot → key B is "incorrect" → init → healthy. Returns the env.
fn rollback_story(e: &Env) {
    let ka = e.p("kzone1.A");
    let kb = e.p("kzone1.B");
    let (c, out, err) = e.init(&ka, &["--hostid", "848611d4", "--hostname", "global2"]);
    assert_eq!(c, 0, "{out}{err}");
    assert_eq!(
        std::fs::metadata(&ka).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (c, out, _) = e.check(&["--key", s(&ka), "--hostid", "848611d4"]);
    assert_eq!(c, 0, "{out}");
    assert!(out.starts_with("healthy:"), "{out}");
    let snap = e.p("snapshot.img");
    std::fs::copy(&e.disk, &snap).unwrap();
    let (c, out, err) = e.init(&kb, &["--hostid", "848611d4", "--hostname", "global2"]);
    assert_eq!(c, 0, "{out}{err}");
    assert_ne!(key_hex(&ka), key_hex(&kb));
    assert_eq!(e.check(&["--key", s(&kb)]).0, 0);
    // The old key no longer opens the disk.
    let (c, out, _) = e.check(&["--key", s(&ka)]);
    assert_eq!(c, 12, "{out}");
    // Roll the disk back.
    std::fs::copy(&snap, &e.disk).unwrap();
    let (c, out, _) = e.check(&["--key", s(&kb)]);
    assert_eq!(c, 12, "{out}");
    assert!(
        out.starts_with("key-incorrect: Encryption key is incorrect"),
        "{out}"
    );
    // The snapshot's own key still fits it.
    assert_eq!(e.check(&["--key", s(&ka)]).0, 0);
    // initialize-hostdata: a new key B (the old B kept as .old), healthy again.
    let (c, _, err) = e.init(&kb, &[]);
    assert_eq!(
        c, 3,
        "init must refuse to overwrite a key file without --force: {err}"
    );
    let (c, out, err) = e.init(&kb, &["--force"]);
    assert_eq!(c, 0, "{out}{err}");
    assert!(e.p("kzone1.B.old").exists());
    let (c, out, _) = e.check(&["--key", s(&kb)]);
    assert_eq!(c, 0, "{out}");
    assert!(out.starts_with("healthy:"), "{out}");
    // The host data generation kept growing across the re-keying.
    let (c, json, _) = e.check(&["--key", s(&kb), "--json"]);
    assert_eq!(c, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["verdict"], "healthy");
    assert_eq!(v["host_data"]["generation"], 2);
}

#[test]
fn rollback_story_on_fixture() {
    for fixture in ["gpt-sparc-512.img", "gpt-x86-efi-4k.img"] {
        let e = Env::fixture(fixture);
        rollback_story(&e);
    }
}

#[test]
fn every_verdict_and_exit_code() {
    let e = Env::fixture("gpt-x86-efi-512.img");
    let k = e.p("kzone1");
    // no host data (a fresh reserved partition)
    let (c, out, _) = e.check(&[]);
    assert_eq!(c, 10, "{out}");
    assert!(out.starts_with("no-host-data:"), "{out}");
    assert_eq!(
        e.init(
            &k,
            &[
                "--hostid",
                "848611d4",
                "--hostname",
                "global2",
                "--be-name",
                "solaris-1",
                "--be-uuid",
                "69ed2e6a-e25a-6d36-e022-ed7261ed8899"
            ]
        )
        .0,
        0
    );
    // healthy
    assert_eq!(e.check(&["--key", s(&k)]).0, 0);
    // key not available
    let (c, out, _) = e.check(&[]);
    assert_eq!(c, 11, "{out}");
    assert!(out.starts_with("key-not-available:"), "{out}");
    // owned by another host, with the Solaris-shaped message
    let (c, out, _) = e.check(&["--key", s(&k), "--hostid", "0x2b2044c5"]);
    assert_eq!(c, 14, "{out}");
    assert!(
        out.contains(
            "zone 'kzone1': error: ERROR: zone kzone1 is in use by host with  hostid 848611d4"
        ),
        "{out}"
    );
    assert!(
        out.contains("zone 'kzone1': error:       last known state: installed"),
        "{out}"
    );
    assert!(
        out.contains("zone 'kzone1': error:               hostname: global2"),
        "{out}"
    );
    assert!(
        out.contains("zone 'kzone1': error:  boot environment name: solaris-1"),
        "{out}"
    );
    assert!(
        out.contains(
            "zone 'kzone1': error:  boot environment uuid: 69ed2e6a-e25a-6d36-e022-ed7261ed8899"
        ),
        "{out}"
    );
    assert!(
        out.contains("zone 'kzone1': error:       last update time: "),
        "{out}"
    );
    // takeover makes it ours
    let j = e.journal();
    let (c, out, err) = e.run(&[
        "hostdata",
        "takeover",
        s(&e.disk),
        "--key",
        s(&k),
        "--hostid",
        "2b2044c5",
        "--hostname",
        "global1",
        "--write",
        "--liveness-interval",
        "0.1",
        "--journal",
        &j,
    ]);
    assert_eq!(c, 0, "{out}{err}");
    assert!(
        out.contains("current owner: hostid 848611d4 (global2)"),
        "{out}"
    );
    assert_eq!(e.check(&["--key", s(&k), "--hostid", "2b2044c5"]).0, 0);
    // degraded: damage the primary copy's ciphertext
    let part = reserved_of(&e.disk);
    poke(&e.disk, part + 0x10000 + 100, 0xFF);
    let (c, out, _) = e.check(&["--key", s(&k)]);
    assert_eq!(c, 15, "{out}");
    assert!(out.contains("backup copy serves"), "{out}");
    assert!(
        out.contains("primary copy: corrupt: host data body"),
        "{out}"
    );
    // show still works from the backup
    let (c, out, _) = e.run(&["hostdata", "show", s(&e.disk), "--key", s(&k)]);
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("serving: backup copy, generation 2"), "{out}");
    assert!(out.contains("owner hostname:         global1"), "{out}");
    // corrupt or tampered: damage the backup too
    let size = 8 << 20;
    poke(&e.disk, part + size - 0x10000 + 10, 0xFF);
    let (c, out, _) = e.check(&["--key", s(&k)]);
    assert_eq!(c, 13, "{out}");
    assert!(
        out.contains("primary: corrupt") && out.contains("backup: corrupt"),
        "{out}"
    );
}

#[test]
fn no_reserved_partition_means_no_place() {
    let e = Env::fixture("x86-vtoc.img");
    let (c, out, _) = e.check(&[]);
    assert_eq!(c, 10, "{out}");
    assert!(out.contains("no Solaris reserved partition"), "{out}");
    let (c, _, err) = e.init(&e.p("k"), &[]);
    assert_eq!(c, 3, "{err}");
    assert!(err.contains("no place for host data"), "{err}");
    assert!(
        !e.p("k").exists(),
        "no key file is made when nothing can be written"
    );
}

#[test]
fn key_hygiene() {
    let e = Env::fixture("gpt-sparc-512.img");
    let k = e.p("kzone1");
    let (c, out, err) = e.init(&k, &[]);
    assert_eq!(c, 0, "{out}{err}");
    let hex = key_hex(&k);
    // The key never appears in any output.
    for args in [
        vec!["hostdata", "show", s(&e.disk), "--key", s(&k)],
        vec!["hostdata", "show", s(&e.disk), "--key", s(&k), "--json"],
        vec!["hostdata", "check", s(&e.disk), "--key", s(&k), "--json"],
    ] {
        let (c, out, err) = e.run(&args);
        assert_eq!(c, 0, "{out}{err}");
        assert!(
            !out.contains(&hex) && !err.contains(&hex),
            "key leaked by {args:?}"
        );
        assert!(
            !out.to_lowercase().contains(&hex[..12]),
            "key prefix leaked"
        );
    }
    assert!(!out.contains(&hex));
    // A group/other-readable key file is refused, unless told otherwise.
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (c, _, err) = e.check(&["--key", s(&k)]);
    assert_eq!(c, 3, "{err}");
    assert!(
        err.contains("mode 0644") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!err.contains(&hex));
    assert_eq!(e.check(&["--key", s(&k), "--insecure-key-perms"]).0, 0);
    // A zonecfg export with a keysource works as the key.
    let export = e.p("kzone1.zonecfg");
    std::fs::write(
        &export,
        format!("create -b\nset brand=solaris-kz\nadd keysource\nset raw={hex}\nend\n"),
    )
    .unwrap();
    std::fs::set_permissions(&export, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(e.check(&["--key", s(&export)]).0, 0);
    // A malformed key file is an error that does not echo it.
    let bad = e.p("bad");
    std::fs::write(
        &bad,
        format!("kzrescue-hostdata-key 1\naes-128-ccm {}zz\n", &hex[..30]),
    )
    .unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (c, _, err) = e.check(&["--key", s(&bad)]);
    assert_eq!(c, 2, "{err}");
    assert!(!err.contains(&hex[..30]), "{err}");
}

#[test]
fn dry_run_and_default_write_nothing() {
    let e = Env::fixture("gpt-sparc-512.img");
    let before = std::fs::read(&e.disk).unwrap();
    let k = e.p("k");
    for extra in [&["--dry-run"][..], &[][..]] {
        let mut a = vec![
            "hostdata",
            "init",
            s(&e.disk),
            "--zone",
            "z1",
            "--key-out",
            s(&k),
        ];
        a.extend_from_slice(extra);
        let (c, out, err) = e.run(&a);
        assert_eq!(c, 0, "{out}{err}");
        assert!(
            out.contains("step 1: primary slot") && out.contains("step 2: backup slot"),
            "{out}"
        );
        assert!(out.contains("dry run: nothing written"), "{out}");
    }
    assert!(!k.exists());
    assert_eq!(std::fs::read(&e.disk).unwrap(), before);
    let (c, _, err) = e.run(&[
        "hostdata",
        "init",
        s(&e.disk),
        "--zone",
        "z1",
        "--key-out",
        s(&k),
        "--write",
        "--dry-run",
    ]);
    assert_eq!(c, 2, "--write and --dry-run conflict: {err}");
}

fn reserved_of(disk: &Path) -> u64 {
    // Read entry 9 (slice 8) of the primary GPT: first LBA × 512.
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(disk).unwrap();
    let mut e = [0u8; 128];
    f.read_exact_at(&mut e, 1024 + 8 * 128).unwrap();
    assert_eq!(&e[0..4], &[0x3B, 0x5A, 0x94, 0x6A]);
    u64::from_le_bytes(e[32..40].try_into().unwrap()) * 512
}

fn poke(path: &Path, off: u64, x: u8) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, off).unwrap();
    b[0] ^= x;
    f.write_all_at(&b, off).unwrap();
}

/// A GPT disk whose s0 is a real pool (the OpenZFS test suite's v15 pool):
/// host-data writes leave the pool's bytes identical and `zdb -l` still
/// finds all four labels; the rollback story runs on it.
#[test]
fn real_pool_disk_untouched_by_host_data_writes() {
    if !require_tool(
        "zdb",
        "zfsutils-linux",
        "real_pool_disk_untouched_by_host_data_writes",
    ) || !require_tool(
        "bzcat",
        "bzip2",
        "real_pool_disk_untouched_by_host_data_writes",
    ) {
        return;
    }
    let blockfile = "/usr/share/zfs/zfs-tests/tests/functional/cli_root/zpool_upgrade/blockfiles/zfs-pool-v15.dat.bz2";
    if !Path::new(blockfile).exists() {
        assert!(
            !common::in_ci(),
            "{blockfile} missing (Debian package zfs-test)"
        );
        println!(
            "SKIPPED real_pool_disk_untouched_by_host_data_writes: {blockfile} missing (install zfs-test)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("v15.dat");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("bzcat {blockfile} > {}", pool.display()))
        .status()
        .unwrap();
    assert!(out.success());
    let pool_bytes = std::fs::read(&pool).unwrap();
    let pool_sectors = pool_bytes.len() as u64 / SECTOR;
    let s8_first = 256 + pool_sectors;
    let sectors = s8_first + 16384 + 34;
    let disk = dir.path().join("disk.img");
    let parts: Parts = vec![
        (USR, 256, 256 + pool_sectors - 1),
        (RESERVED, s8_first, s8_first + 16383),
    ];
    write_gpt(&disk, sectors, &parts);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
        f.write_all_at(&pool_bytes, 256 * SECTOR).unwrap();
    }
    let zdb_labels = |disk: &Path| -> String {
        let slice = dir.path().join("s0.dat");
        let all = std::fs::read(disk).unwrap();
        let start = (256 * SECTOR) as usize;
        std::fs::write(&slice, &all[start..start + pool_bytes.len()]).unwrap();
        let o = std::process::Command::new("zdb")
            .arg("-l")
            .arg(&slice)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let before = zdb_labels(&disk);
    assert!(before.contains("labels = 0 1 2 3"), "{before}");
    assert!(before.contains("name: 'v15-pool'"), "{before}");
    let pool_hash = hash_range(&disk, 256 * SECTOR, pool_bytes.len() as u64);
    let e = Env {
        dir: tempfile::tempdir().unwrap(),
        disk: disk.clone(),
        n: std::cell::Cell::new(0),
    };
    rollback_story(&e);
    let k = e.p("kzone1.B");
    let j = e.journal();
    let (c, out, err) = e.run(&[
        "hostdata",
        "takeover",
        s(&disk),
        "--key",
        s(&k),
        "--hostid",
        "1",
        "--hostname",
        "h1",
        "--write",
        "--liveness-interval",
        "0.1",
        "--journal",
        &j,
    ]);
    assert_eq!(c, 0, "{out}{err}");
    assert_eq!(
        hash_range(&disk, 256 * SECTOR, pool_bytes.len() as u64),
        pool_hash
    );
    let after = zdb_labels(&disk);
    assert_eq!(after, before);
    // The GPT itself is untouched too: only the two slots inside s8 changed.
    let all = std::fs::read(&disk).unwrap();
    let first = ((s8_first * SECTOR) + 0x10000) as usize;
    let second = (((s8_first + 16384) * SECTOR) - 0x10000) as usize;
    let mut other = all.clone();
    other[first..first + 0x10000].fill(0);
    other[second..second + 0x10000].fill(0);
    // Rebuild the disk without host data and compare everything else.
    let clean = dir.path().join("clean.img");
    write_gpt(&clean, sectors, &parts);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&clean)
            .unwrap();
        f.write_all_at(&pool_bytes, 256 * SECTOR).unwrap();
    }
    assert!(
        std::fs::read(&clean).unwrap() == other,
        "bytes outside the two slots changed"
    );
}

/// Writes are refused while the pool on the disk is live: a thread keeps
/// changing label 0's uberblock ring of the ZFS slice during `takeover`.
#[test]
fn live_pool_refuses_writes() {
    let e = Env::fixture("gpt-x86-efi-512.img");
    let k = e.p("kzone1");
    assert_eq!(e.init(&k, &[]).0, 0);
    // The usr (ZFS) slice: the GPT entry whose type starts C3 8C 89 6A.
    let usr_start = {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(&e.disk).unwrap();
        let mut t = [0u8; 9 * 128];
        f.read_exact_at(&mut t, 1024).unwrap();
        let ent = t
            .chunks(128)
            .find(|c| c[0..4] == [0xC3, 0x8C, 0x89, 0x6A])
            .unwrap();
        u64::from_le_bytes(ent[32..40].try_into().unwrap()) * 512
    };
    let before = std::fs::read(&e.disk).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let disk = e.disk.clone();
        std::thread::spawn(move || {
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                f.write_all_at(&n.to_le_bytes(), usr_start + 128 * 1024 + 8)
                    .unwrap();
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        })
    };
    let j = e.journal();
    let (c, out, err) = e.run(&[
        "hostdata",
        "takeover",
        s(&e.disk),
        "--key",
        s(&k),
        "--hostid",
        "1",
        "--hostname",
        "h",
        "--write",
        "--liveness-interval",
        "1",
        "--journal",
        &j,
    ]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(c, 3, "{out}{err}");
    assert!(err.contains("imported somewhere"), "{err}");
    assert!(!Path::new(&j).exists(), "no journal: nothing was written");
    let after = std::fs::read(&e.disk).unwrap();
    let part = reserved_of(&e.disk) as usize;
    assert_eq!(
        &after[part..],
        &before[part..],
        "host data changed on a live pool"
    );
}

/// A real process killed (SIGKILL) right after its first slot write of
/// `init` over existing host data: one valid copy remains under each key,
/// both verdicts are "degraded", and a second `init` heals the disk.
#[test]
fn sigkill_during_init_leaves_a_valid_copy() {
    let e = Env::fixture("gpt-sparc-512.img");
    let ka = e.p("kA");
    let kb = e.p("kB");
    assert_eq!(e.init(&ka, &["--hostid", "1", "--hostname", "a"]).0, 0);
    for k in 1..=2u32 {
        let marker = e.p(&format!("paused-{k}"));
        let j = e.journal();
        let mut child = std::process::Command::new(common::kzrescue_bin())
            .args([
                "hostdata",
                "init",
                s(&e.disk),
                "--zone",
                "kzone1",
                "--key-out",
                s(&kb),
                "--force",
                "--write",
                "--liveness-interval",
                "0",
                "--journal",
                &j,
            ])
            .env(
                "KZRESCUE_TEST_PAUSE_AFTER_WRITE",
                format!("{k}:{}", marker.display()),
            )
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let t0 = std::time::Instant::now();
        while !marker.exists() {
            assert!(t0.elapsed().as_secs() < 60, "writer never paused");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let (ca, outa, _) = e.check(&["--key", s(&ka)]);
        let (cb, outb, _) = e.check(&["--key", s(&kb)]);
        if k == 1 {
            // One slot has the new key's data, the other the old key's.
            assert_eq!(ca, 15, "{outa}");
            assert_eq!(cb, 15, "{outb}");
            assert!(outb.contains("primary copy serves"), "{outb}");
            assert!(outa.contains("backup copy serves"), "{outa}");
        } else {
            // Killed after the last write (before its flush): the new data is complete.
            assert_eq!(cb, 0, "{outb}");
            assert_eq!(ca, 12, "{outa}");
        }
    }
    let (c, out, _) = e.check(&["--key", s(&kb)]);
    assert_eq!(c, 0, "{out}");
}
