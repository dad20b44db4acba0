//! The write fault matrix over iSCSI, against a real target (`tgtd`) that
//! drops the connection.
//!
//! A relay (tests/iscsi_proxy) sits between the `kzrescue` CLI and tgtd and
//! cuts the connection at one point of the write sequence per run: before
//! the k-th WRITE command reaches the target, right after it, in the middle
//! of the data segment that completes its data, before the target's
//! response to it comes back, before the k-th SYNCHRONIZE CACHE, or before
//! its response, or before the read-back that follows a SYNCHRONIZE CACHE.
//! After the cut the target is either gone (re-login fails) or back
//! (re-login works). For every k over the whole sequence of
//! phys_path repair (single disk and a two-LUN mirror), host data init and
//! takeover (the demo kernel-zone disk) and undo itself, the real CLI runs
//! through the relay; then, on tgt's backing files:
//!
//! * the CLI exited non-zero, without a panic, within a bound, and its
//!   message says which bytes were acknowledged, which were in flight and
//!   which were never sent, and where the undo journal is — except for a
//!   dropped read-back when the target comes back: reads are retried once
//!   on a new login, so that run completes;
//! * no WRITE crosses the relay after the cut (a write is never retried);
//! * for phys_path, the cut WRITE is wholly absent from the disk, or wholly
//!   present when only its response was lost (tgt never half-executes it);
//! * at least three labels with a verified checksum on every disk (the
//!   library and an independent check), and `zdb -e` imports the pool;
//! * host data has at least one valid copy (old or new);
//! * the same with CRC32C digests in force, and against a target that falls
//!   silent instead of dropping (each run ends by the I/O timeout);
//! * `kzrescue undo` of the journal, run directly against the LUN (no
//!   relay), restores every backing file byte-identical.

mod common;

use common::iscsi::Tgt;
use common::iscsi_proxy::{After, Cut, Proxy};
use common::physpath::{Placement, fixture_placement, label_checksum_ok};
use kzrescue::hostdata::store;
use kzrescue::hostdata::{HostData, HostKey, keyfile};
use kzrescue::source::{FileSource, OpenMode, Source, Window};
use kzrescue::zfs::label::{self, LabelStatus};
use std::collections::HashMap;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const IQN: &str = "iqn.2026-11.org.kzrescue.test:faults";
/// Longest a CLI run may take before it counts as a hang.
const RUN_BOUND: Duration = Duration::from_secs(60);

/// Every cut for a sequence of `writes` WRITEs and `syncs` SYNCHRONIZE CACHEs.
fn cuts(writes: u32, syncs: u32) -> Vec<Cut> {
    let mut v = Vec::new();
    for k in 1..=writes {
        v.extend([
            Cut::BeforeWrite(k),
            Cut::AfterWrite(k),
            Cut::TearData(k),
            Cut::BeforeWriteResponse(k),
        ]);
    }
    for k in 1..=syncs {
        v.extend([
            Cut::BeforeSync(k),
            Cut::BeforeSyncResponse(k),
            Cut::BeforeReadBack(k),
        ]);
    }
    v
}

struct Run {
    code: Option<i32>,
    out: String,
    err: String,
    took: Duration,
}

/// Runs the CLI with a bound; a run past the bound is killed and fails the test.
fn run(args: &[String], what: &str) -> Run {
    run_env(args, &[], what)
}

/// [`run`] with extra environment variables.
fn run_env(args: &[String], env: &[(&str, &str)], what: &str) -> Run {
    let t0 = Instant::now();
    let mut child = Command::new(common::kzrescue_bin())
        .args(args)
        .env("KZRESCUE_ISCSI_TIMEOUT", "20")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let ho = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let he = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > RUN_BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: kzrescue {args:?} still running after {RUN_BOUND:?} (hang)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.code(),
        out: ho.join().unwrap(),
        err: he.join().unwrap(),
        took: t0.elapsed(),
    }
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Overwrites `path` in place (same inode: tgtd keeps its descriptor).
/// `kzrescue physpath set` of LUNs 1..=`luns` at `portal` (device ids 0, 1,
/// … in order), writing, without the liveness wait, journalling to `journal`.
fn physpath_set(portal: &str, luns: u32, journal: &Path) -> Vec<String> {
    let mut a = args(&["physpath", "set"]);
    for l in 1..=luns {
        a.push(uri(portal, l));
    }
    for i in 0..luns {
        a.extend(args(&["--device-id", &i.to_string()]));
    }
    a.extend(args(&["--write", "--liveness-interval", "0", "--journal"]));
    a.push(journal.display().to_string());
    a
}

fn restore(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(std::io::SeekFrom::Start(0)).unwrap();
    f.write_all(bytes).unwrap();
}

fn uri(portal: &str, lun: u32) -> String {
    format!("iscsi://{portal}/target.{IQN},lun.{lun}")
}

/// Which write sequence a run was: a repair (journalled apply) of `total`
/// writes, or an undo restoring `total` ranges.
#[derive(Clone, Copy)]
enum Seq {
    Apply { total: u32 },
    Undo { total: u32 },
}

/// Whether a run cut at `cut` must succeed: a READ is retried once on a
/// fresh login, so a read-back whose connection drops completes when the
/// target comes back. Every other cut must fail.
fn must_succeed(cut: Cut, after: After) -> bool {
    matches!(cut, Cut::BeforeReadBack(_)) && after == After::Back
}

/// The checks every run that must fail passes: a non-zero exit (no signal,
/// no panic) and a message that says what was and was not written.
fn check_failure(r: &Run, cut: Cut, after: After, seq: Seq, what: &str) {
    let ctx = format!(
        "{what} {cut:?} {after:?}: exit {:?}\n{}{}",
        r.code, r.out, r.err
    );
    assert!(r.code.is_some(), "{ctx}: killed by a signal");
    assert_ne!(
        r.code,
        Some(0),
        "{ctx}: a dropped connection was not reported"
    );
    assert!(!r.err.contains("panicked"), "{ctx}: panic");
    let e = &r.err;
    let has = |s: &str| assert!(e.contains(s), "{ctx}: {s:?} missing");
    // The iSCSI layer: which command, which bytes, and that the target
    // closed the connection (named by its portal).
    if after == After::Frozen {
        has(": no answer from the target within ");
    } else {
        has(": waiting for a PDU: connection closed");
    }
    let (k, step) = match cut {
        Cut::BeforeSync(k) | Cut::BeforeSyncResponse(k) => {
            has("SYNCHRONIZE CACHE failed");
            has("acknowledged but are not known to be on stable storage");
            (k, "flush")
        }
        Cut::BeforeWrite(k)
        | Cut::AfterWrite(k)
        | Cut::TearData(k)
        | Cut::BeforeWriteResponse(k) => {
            has("no byte was acknowledged");
            has("were in flight (state unknown)");
            (k, "write")
        }
        Cut::BeforeReadBack(k) => {
            has("read failed");
            has("retry after re-login failed too");
            (k, "read-back")
        }
        Cut::Never => unreachable!(),
    };
    // The write path: which of its writes are done, in doubt, not attempted.
    // Undo runs through the same transaction as every writer: the same
    // account of its writes, and the same command finishes the job.
    match seq {
        Seq::Apply { total } | Seq::Undo { total } => {
            match step {
                "flush" => has("acknowledged but the flush after them failed"),
                "read-back" => has("acknowledged and flushed; reading back write"),
                _ => {
                    has(&format!("write {k} of {total} ("));
                    if k < total {
                        has("not attempted");
                    }
                    if k > 1 {
                        assert!(
                            e.contains("written, flushed and read back")
                                || e.contains("acknowledged, not yet flushed"),
                            "{ctx}: earlier writes not named"
                        );
                    }
                }
            }
            has("kzrescue undo ");
            if matches!(seq, Seq::Undo { .. }) {
                has("again finishes the job");
            }
        }
    }
}

/// The checks of a run that must succeed after a re-login.
fn check_success(
    r: &Run,
    cut: Cut,
    seen: &common::iscsi_proxy::Counts,
    clean: &common::iscsi_proxy::Counts,
) {
    assert_eq!(r.code, Some(0), "{cut:?} Back: {}{}", r.out, r.err);
    assert!(
        seen.connections > clean.connections,
        "{cut:?}: no re-login ({seen:?}, clean run {clean:?})"
    );
    assert_eq!(
        seen.writes, clean.writes,
        "{cut:?}: WRITEs differ from a clean run"
    );
}

/// A tgtd with the given files as LUNs 1.. of one target.
fn target(test: &str, files: &[&Path]) -> Option<Tgt> {
    let t = Tgt::start(test)?;
    t.target(1, IQN);
    for (i, f) in files.iter().enumerate() {
        t.lun(
            1,
            i as u32 + 1,
            f,
            &format!("600144f0a613c900000054521d5500{:02x}", 0xc0 + i),
            None,
        );
    }
    Some(t)
}

fn target_addr(t: &Tgt) -> std::net::SocketAddr {
    t.portal().parse().unwrap()
}

/// The vdev at `at` on `disk` with only its four labels read (the rest
/// zero): enough for the label checks, without reading the whole disk.
fn label_view(disk: &Path, at: Placement) -> Vec<u8> {
    let src = FileSource::open(disk, OpenMode::ReadOnly).unwrap();
    let mut vdev = vec![0u8; at.len as usize];
    for o in common::physpath::label_offsets(at.len) {
        let l = common::physpath::LABEL as usize;
        src.read_at(at.start + o, &mut vdev[o as usize..o as usize + l])
            .unwrap();
    }
    vdev
}

/// Labels of the vdev at `at` on `disk` that both the library and the
/// independent check find valid.
fn valid_labels(disk: &Path, at: Placement) -> Vec<usize> {
    let src: std::sync::Arc<dyn Source> =
        std::sync::Arc::new(FileSource::open(disk, OpenMode::ReadOnly).unwrap());
    let win = Window::new(src, at.start, at.len, "s1");
    let lib: Vec<usize> = label::read_labels(&win)
        .iter()
        .filter(|l| l.status == LabelStatus::Valid)
        .map(|l| l.index)
        .collect();
    let vdev = label_view(disk, at);
    let ind: Vec<usize> = (0..4).filter(|&l| label_checksum_ok(&vdev, l)).collect();
    assert_eq!(lib, ind, "library and independent checksum check disagree");
    lib
}

/// `zdb -e` imports, memoized by the bytes of the label areas (the rest of
/// each disk is checked equal to the original separately, so equal labels
/// mean an equal pool).
struct Zdb {
    enabled: bool,
    dir: PathBuf,
    seen: HashMap<Vec<u8>, bool>,
    runs: usize,
}

impl Zdb {
    fn new(test: &str, dir: &Path) -> Zdb {
        Zdb {
            enabled: common::require_tool("zdb", "zfsutils-linux", test),
            dir: dir.join("zdb"),
            seen: HashMap::new(),
            runs: 0,
        }
    }

    fn imports(&mut self, disks: &[(&Path, Placement)], pool: &str) -> bool {
        if !self.enabled {
            return true;
        }
        let mut key = Vec::new();
        for (d, at) in disks {
            let v = label_view(d, *at);
            for o in common::physpath::label_offsets(at.len) {
                let s = (o + common::physpath::PHYS_OFF) as usize;
                key.extend_from_slice(&common::physpath::sha(
                    &v[s..s + common::physpath::PHYS_LEN as usize],
                ));
            }
        }
        if let Some(&ok) = self.seen.get(&key) {
            return ok;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir).unwrap();
        for (i, (d, at)) in disks.iter().enumerate() {
            let b = std::fs::read(d).unwrap();
            let v = &b[at.start as usize..(at.start + at.len) as usize];
            std::fs::write(self.dir.join(format!("vdev{i}")), v).unwrap();
        }
        let ok = common::physpath::zdb_imports(&self.dir, pool);
        self.runs += 1;
        self.seen.insert(key, ok);
        ok
    }
}

struct Disk {
    path: PathBuf,
    at: Placement,
    original: Vec<u8>,
}

fn label_ranges(at: Placement) -> Vec<(u64, u64)> {
    common::physpath::phys_ranges(at)
}

/// phys_path repair over iSCSI: `fixtures` are the disks of one pool (one,
/// or both halves of a mirror), each a LUN.
fn physpath_matrix(test: &str, fixtures: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let disks: Vec<Disk> = fixtures
        .iter()
        .map(|f| {
            let path = common::unpack_fixture(f, dir.path());
            Disk {
                original: std::fs::read(&path).unwrap(),
                at: fixture_placement(f),
                path,
            }
        })
        .collect();
    let files: Vec<&Path> = disks.iter().map(|d| d.path.as_path()).collect();
    let Some(t) = target(test, &files) else {
        return;
    };
    let mut zdb = Zdb::new(test, dir.path());
    let direct: Vec<String> = (1..=disks.len() as u32)
        .map(|l| uri(&t.portal(), l))
        .collect();
    let set = |portal: &str, journal: &Path| physpath_set(portal, disks.len() as u32, journal);
    // A clean run through the relay counts the commands.
    let p = Proxy::start(target_addr(&t), Cut::Never, After::Back);
    let r = run(&set(&p.portal(), &dir.path().join("clean.kzj")), test);
    assert_eq!(r.code, Some(0), "{}{}", r.out, r.err);
    let c = p.counts();
    drop(p);
    let repaired: Vec<Vec<u8>> = disks
        .iter()
        .map(|d| std::fs::read(&d.path).unwrap())
        .collect();
    let n = disks.len() as u32;
    assert_eq!((c.writes, c.syncs), (4 * n, 2 * n), "{c:?}");
    assert!(c.data_outs > 0, "no write used Data-Out: {c:?}");
    let undo_direct = |j: &Path| {
        let mut a = args(&[
            "undo",
            &j.display().to_string(),
            "--write",
            "--liveness-interval",
            "0",
        ]);
        for u in &direct {
            a.extend(args(&["--target", u]));
        }
        run(&a, "undo")
    };
    let r = undo_direct(&dir.path().join("clean.kzj"));
    assert_eq!(r.code, Some(0), "{}{}", r.out, r.err);
    for d in &disks {
        assert!(std::fs::read(&d.path).unwrap() == d.original);
    }

    let mut runs = 0;
    let mut slowest = Duration::ZERO;
    for after in [After::Gone, After::Back] {
        for cut in cuts(c.writes, c.syncs) {
            // Every disk is the original here: the previous case ended by
            // checking that undo restored it byte for byte.
            let j = dir.path().join(format!("j-{runs}.kzj"));
            let p = Proxy::start(target_addr(&t), cut, after);
            let r = run(&set(&p.portal(), &j), test);
            let seen = p.counts();
            drop(p);
            slowest = slowest.max(r.took);
            assert!(seen.cut, "{cut:?}: never reached ({seen:?})");
            let ok = must_succeed(cut, after);
            if ok {
                check_success(&r, cut, &seen, &c);
            } else {
                check_failure(&r, cut, after, Seq::Apply { total: c.writes }, test);
                assert_eq!(
                    seen.writes_after_cut, 0,
                    "{cut:?} {after:?}: a WRITE after the cut"
                );
            }
            let now: Vec<Vec<u8>> = disks
                .iter()
                .map(|d| std::fs::read(&d.path).unwrap())
                .collect();
            // What tgt did with the cut WRITE: nothing when its command or
            // data did not arrive whole, all of it when only the response
            // was lost.
            let landed = match cut {
                Cut::BeforeWrite(k) | Cut::AfterWrite(k) | Cut::TearData(k) => Some((k, false)),
                Cut::BeforeWriteResponse(k) => Some((k, true)),
                _ => None,
            };
            if let Some((k, done)) = landed {
                let (lun, lba, blocks) = c.write_extents[k as usize - 1];
                assert_eq!(seen.write_extents[k as usize - 1], (lun, lba, blocks));
                let d = lun as usize - 1;
                let (a, b) = (lba as usize * 512, (lba as usize + blocks as usize) * 512);
                let want = if done {
                    &repaired[d]
                } else {
                    &disks[d].original
                };
                assert!(
                    now[d][a..b] == want[a..b],
                    "{cut:?} {after:?}: WRITE {k} ({lun}, {lba}, {blocks}) is {} on the disk",
                    if done { "missing" } else { "partly or wholly" }
                );
            }
            for (i, d) in disks.iter().enumerate() {
                if ok {
                    assert!(
                        now[i] == repaired[i],
                        "{cut:?}: disk {i} differs from a clean repair"
                    );
                }
                assert!(
                    common::physpath::equal_outside(&now[i], &d.original, &label_ranges(d.at)),
                    "{cut:?} {after:?}: disk {i} changed outside its label nvlists"
                );
                let v = valid_labels(&d.path, d.at);
                assert!(
                    v.len() >= 3,
                    "{cut:?} {after:?}: disk {i} valid labels {v:?}"
                );
            }
            let pairs: Vec<(&Path, Placement)> =
                disks.iter().map(|d| (d.path.as_path(), d.at)).collect();
            assert!(
                zdb.imports(&pairs, "rpool"),
                "{cut:?} {after:?}: zdb -e does not import"
            );
            let u = undo_direct(&j);
            assert_eq!(
                u.code,
                Some(0),
                "{cut:?} {after:?}: undo: {}{}",
                u.out,
                u.err
            );
            for (i, d) in disks.iter().enumerate() {
                assert!(
                    std::fs::read(&d.path).unwrap() == d.original,
                    "{cut:?} {after:?}: undo left disk {i} different"
                );
            }
            runs += 1;
        }
    }
    println!(
        "{test}: {runs} cuts ({} WRITEs, {} SYNCHRONIZE CACHEs, {} Data-Outs per clean run; \
         target gone and back): read-back drops healed by re-login when the target came \
         back, every other cut reported, >=3 valid labels on every disk, {} distinct \
         label states imported by zdb -e, all undone byte-identical; slowest run {slowest:?}",
        c.writes, c.syncs, c.data_outs, zdb.runs
    );
}

#[test]
fn physpath_single_disk_over_dropping_target() {
    physpath_matrix(
        "physpath_single_disk_over_dropping_target",
        &["gptdisk-x86-512.img"],
    );
}

#[test]
fn physpath_mirror_over_dropping_target() {
    physpath_matrix(
        "physpath_mirror_over_dropping_target",
        &["gptmirror-a.img", "gptmirror-b.img"],
    );
}

/// The same repair with CRC32C header and data digests in force (the relay
/// frames PDUs by the digests negotiated at login): a torn data segment and
/// a lost response for every WRITE, with the target gone.
#[test]
fn physpath_with_digests_over_dropping_target() {
    let test = "physpath_with_digests_over_dropping_target";
    let dir = tempfile::tempdir().unwrap();
    let fixture = "gptdisk-x86-512.img";
    let disk = common::unpack_fixture(fixture, dir.path());
    let at = fixture_placement(fixture);
    let original = std::fs::read(&disk).unwrap();
    let Some(t) = target(test, &[&disk]) else {
        return;
    };
    t.param(1, "HeaderDigest", "CRC32C,None");
    t.param(1, "DataDigest", "CRC32C,None");
    let env = [("KZRESCUE_ISCSI_DIGEST", "crc32c")];
    let set = |portal: &str, j: &Path| physpath_set(portal, 1, j);
    let undo_direct = |j: &Path| {
        run_env(
            &args(&[
                "undo",
                &j.display().to_string(),
                "--write",
                "--liveness-interval",
                "0",
                "--target",
                &uri(&t.portal(), 1),
            ]),
            &env,
            test,
        )
    };
    let p = Proxy::start(target_addr(&t), Cut::Never, After::Gone);
    let j = dir.path().join("clean.kzj");
    let r = run_env(&set(&p.portal(), &j), &env, test);
    assert_eq!(r.code, Some(0), "{}{}", r.out, r.err);
    let c = p.counts();
    drop(p);
    assert_eq!((c.writes, c.syncs), (4, 2), "{c:?}");
    assert!(c.digest_sessions >= 2, "digests not in force: {c:?}");
    assert_eq!(undo_direct(&j).code, Some(0));
    assert!(std::fs::read(&disk).unwrap() == original);
    let mut runs = 0;
    for k in 1..=c.writes {
        for cut in [Cut::TearData(k), Cut::BeforeWriteResponse(k)] {
            let j = dir.path().join(format!("j-{runs}.kzj"));
            let p = Proxy::start(target_addr(&t), cut, After::Gone);
            let r = run_env(&set(&p.portal(), &j), &env, test);
            let seen = p.counts();
            drop(p);
            assert!(seen.cut, "{cut:?}: never reached ({seen:?})");
            check_failure(&r, cut, After::Gone, Seq::Apply { total: c.writes }, test);
            let v = valid_labels(&disk, at);
            assert!(v.len() >= 3, "{cut:?}: valid labels {v:?}");
            let u = undo_direct(&j);
            assert_eq!(u.code, Some(0), "{cut:?}: undo: {}{}", u.out, u.err);
            assert!(std::fs::read(&disk).unwrap() == original, "{cut:?}: undo");
            runs += 1;
        }
    }
    println!("{test}: {runs} cuts with CRC32C digests, all reported and undone byte-identical");
}

/// A target that stops answering instead of dropping the connection: every
/// socket stays open and silent, new logins are accepted and never
/// answered. With a 1-second I/O timeout each run must end with the
/// timeout named, no hang, >=3 valid labels, and a journal that restores.
#[test]
fn physpath_with_a_frozen_target() {
    let test = "physpath_with_a_frozen_target";
    let dir = tempfile::tempdir().unwrap();
    let fixture = "gptdisk-x86-512.img";
    let disk = common::unpack_fixture(fixture, dir.path());
    let at = fixture_placement(fixture);
    let original = std::fs::read(&disk).unwrap();
    let Some(t) = target(test, &[&disk]) else {
        return;
    };
    let env = [("KZRESCUE_ISCSI_TIMEOUT", "1")];
    let set = |portal: &str, j: &Path| physpath_set(portal, 1, j);
    let direct = uri(&t.portal(), 1);
    let mut cuts: Vec<Cut> = (1..=4).map(Cut::BeforeWriteResponse).collect();
    cuts.extend((1..=2).flat_map(|k| [Cut::BeforeSyncResponse(k), Cut::BeforeReadBack(k)]));
    let mut slowest = Duration::ZERO;
    for (i, &cut) in cuts.iter().enumerate() {
        let j = dir.path().join(format!("j-{i}.kzj"));
        let p = Proxy::start(target_addr(&t), cut, After::Frozen);
        let r = run_env(&set(&p.portal(), &j), &env, test);
        let seen = p.counts();
        drop(p);
        slowest = slowest.max(r.took);
        assert!(seen.cut, "{cut:?}: never reached ({seen:?})");
        check_failure(&r, cut, After::Frozen, Seq::Apply { total: 4 }, test);
        assert_eq!(seen.writes_after_cut, 0, "{cut:?}: a WRITE after the cut");
        let v = valid_labels(&disk, at);
        assert!(v.len() >= 3, "{cut:?}: valid labels {v:?}");
        let u = run(
            &args(&[
                "undo",
                &j.display().to_string(),
                "--write",
                "--liveness-interval",
                "0",
                "--target",
                &direct,
            ]),
            test,
        );
        assert_eq!(u.code, Some(0), "{cut:?}: undo: {}{}", u.out, u.err);
        assert!(std::fs::read(&disk).unwrap() == original, "{cut:?}: undo");
    }
    println!(
        "{test}: {} cuts against a silent target, each ended by the 1 s timeout with what was \
         written named (slowest run {slowest:?}), all undone byte-identical",
        cuts.len()
    );
}

/// The reserved partition (host data) of the demo disk.
fn reserved(disk: &Path) -> (u64, u64) {
    let src = FileSource::open(disk, OpenMode::ReadOnly).unwrap();
    let t = kzrescue::partition::read(&src, None).unwrap();
    let r = t.reserved().expect("demo disk has a reserved partition");
    (r.start, r.len)
}

fn best(disk: &Path, key: &HostKey) -> Option<HostData> {
    let (base, len) = reserved(disk);
    let src = FileSource::open(disk, OpenMode::ReadOnly).unwrap();
    store::assess(&src, base, len, Some(key))
        .unwrap()
        .best()
        .map(|b| b.2.clone())
}

fn read_key(p: &Path) -> HostKey {
    keyfile::read_keyfile(p, false).unwrap().key
}

#[test]
fn hostdata_init_and_takeover_over_dropping_target() {
    let test = "hostdata_init_and_takeover_over_dropping_target";
    let dir = tempfile::tempdir().unwrap();
    let disk = common::unpack_fixture("demo-kz1.img", dir.path());
    let Some(t) = target(test, &[&disk]) else {
        return;
    };
    let direct = uri(&t.portal(), 1);
    // Starting point: healthy host data under key A, written directly.
    let key_a = dir.path().join("key-a");
    let r = run(
        &args(&[
            "hostdata",
            "init",
            &direct,
            "--zone",
            "kz1",
            "--key-out",
            &key_a.display().to_string(),
            "--hostid",
            "1",
            "--hostname",
            "host-1",
            "--write",
            "--liveness-interval",
            "0",
            "--journal",
            &dir.path().join("setup.kzj").display().to_string(),
        ]),
        test,
    );
    assert_eq!(r.code, Some(0), "{}{}", r.out, r.err);
    let original = std::fs::read(&disk).unwrap();
    let ka = read_key(&key_a);
    let old = best(&disk, &ka).expect("setup left valid host data");
    let key_b = dir.path().join("key-b");
    let cmd = |op: &str, portal: &str, j: &Path| -> Vec<String> {
        let mut a = match op {
            "init" => args(&[
                "hostdata",
                "init",
                &uri(portal, 1),
                "--zone",
                "kz1",
                "--key-out",
                &key_b.display().to_string(),
                "--force",
                "--hostid",
                "2",
                "--hostname",
                "host-2",
            ]),
            _ => args(&[
                "hostdata",
                "takeover",
                &uri(portal, 1),
                "--key",
                &key_a.display().to_string(),
                "--hostid",
                "3",
                "--hostname",
                "rescuer",
            ]),
        };
        a.extend(args(&["--write", "--liveness-interval", "0", "--journal"]));
        a.push(j.display().to_string());
        a
    };
    let undo_direct = |j: &Path| {
        run(
            &args(&[
                "undo",
                &j.display().to_string(),
                "--write",
                "--liveness-interval",
                "0",
                "--target",
                &direct,
            ]),
            "undo",
        )
    };
    let (base, len) = reserved(&disk);
    let outside = [(base, len)];
    for op in ["init", "takeover"] {
        restore(&disk, &original);
        let _ = std::fs::remove_file(&key_b);
        let _ = std::fs::remove_file(dir.path().join("key-b.old"));
        let j = dir.path().join(format!("clean-{op}.kzj"));
        let p = Proxy::start(target_addr(&t), Cut::Never, After::Back);
        let r = run(&cmd(op, &p.portal(), &j), test);
        assert_eq!(r.code, Some(0), "{op}: {}{}", r.out, r.err);
        let c = p.counts();
        drop(p);
        assert!(c.writes >= 2 && c.syncs >= 2, "{op}: {c:?}");
        let u = undo_direct(&j);
        assert_eq!(u.code, Some(0), "{}{}", u.out, u.err);
        assert!(std::fs::read(&disk).unwrap() == original);
        let mut runs = 0;
        let mut slowest = Duration::ZERO;
        for after in [After::Gone, After::Back] {
            for cut in cuts(c.writes, c.syncs) {
                // The disk is the original (the previous case checked undo).
                let _ = std::fs::remove_file(&key_b);
                let _ = std::fs::remove_file(dir.path().join("key-b.old"));
                let j = dir.path().join(format!("j-{op}-{runs}.kzj"));
                let p = Proxy::start(target_addr(&t), cut, after);
                let r = run(&cmd(op, &p.portal(), &j), test);
                let seen = p.counts();
                drop(p);
                slowest = slowest.max(r.took);
                assert!(seen.cut, "{op} {cut:?}: never reached ({seen:?})");
                let ok = must_succeed(cut, after);
                if ok {
                    check_success(&r, cut, &seen, &c);
                } else {
                    check_failure(&r, cut, after, Seq::Apply { total: c.writes }, op);
                    assert_eq!(
                        seen.writes_after_cut, 0,
                        "{op} {cut:?} {after:?}: a WRITE after the cut"
                    );
                }
                let now = std::fs::read(&disk).unwrap();
                assert!(
                    common::physpath::equal_outside(&now, &original, &outside),
                    "{op} {cut:?} {after:?}: bytes outside the reserved partition changed"
                );
                let old_ok = best(&disk, &ka).as_ref() == Some(&old);
                let new_ok = match op {
                    "init" => best(&disk, &read_key(&key_b)).is_some(),
                    _ => best(&disk, &ka).is_some_and(|d| d.owner_hostname == "rescuer"),
                };
                assert!(
                    old_ok || new_ok,
                    "{op} {cut:?} {after:?}: no valid copy of the host data"
                );
                assert!(
                    new_ok || !ok,
                    "{op} {cut:?}: succeeded without the new host data"
                );
                let u = undo_direct(&j);
                assert_eq!(u.code, Some(0), "{op} {cut:?}: undo: {}{}", u.out, u.err);
                assert!(
                    std::fs::read(&disk).unwrap() == original,
                    "{op} {cut:?} {after:?}: undo is not byte-identical"
                );
                runs += 1;
            }
        }
        println!(
            "hostdata {op}: {runs} cuts ({} WRITEs, {} SYNCHRONIZE CACHEs per clean run; target \
             gone and back): read-back drops healed by re-login when the target came back, \
             every other cut reported, a valid copy always left, all undone byte-identical; \
             slowest run {slowest:?}",
            c.writes, c.syncs
        );
    }
}

/// `kzrescue undo` itself through the dropping target: the journal of a
/// phys_path repair, interrupted at every cut, then re-run directly.
#[test]
fn undo_over_dropping_target() {
    let test = "undo_over_dropping_target";
    let dir = tempfile::tempdir().unwrap();
    let fixture = "gptdisk-x86-512.img";
    let disk = common::unpack_fixture(fixture, dir.path());
    let at = fixture_placement(fixture);
    let Some(t) = target(test, &[&disk]) else {
        return;
    };
    let mut zdb = Zdb::new(test, dir.path());
    let before = std::fs::read(&disk).unwrap();
    let direct = uri(&t.portal(), 1);
    let j = dir.path().join("repair.kzj");
    let r = run(&physpath_set(&t.portal(), 1, &j), test);
    assert_eq!(r.code, Some(0), "{}{}", r.out, r.err);
    let repaired = std::fs::read(&disk).unwrap();
    assert!(repaired != before);
    let undo = |target: &str| {
        run(
            &args(&[
                "undo",
                &j.display().to_string(),
                "--write",
                "--liveness-interval",
                "0",
                "--target",
                target,
            ]),
            test,
        )
    };
    let p = Proxy::start(target_addr(&t), Cut::Never, After::Back);
    let r = undo(&uri(&p.portal(), 1));
    assert_eq!(r.code, Some(0), "{}{}", r.out, r.err);
    let c = p.counts();
    drop(p);
    assert!(std::fs::read(&disk).unwrap() == before);
    assert_eq!((c.writes, c.syncs), (4, 4), "{c:?}");
    let mut runs = 0;
    for after in [After::Gone, After::Back] {
        for cut in cuts(c.writes, c.syncs) {
            restore(&disk, &repaired);
            let p = Proxy::start(target_addr(&t), cut, after);
            let r = undo(&uri(&p.portal(), 1));
            let seen = p.counts();
            drop(p);
            assert!(seen.cut, "{cut:?}: never reached ({seen:?})");
            if must_succeed(cut, after) {
                check_success(&r, cut, &seen, &c);
                assert!(
                    std::fs::read(&disk).unwrap() == before,
                    "{cut:?}: undo incomplete"
                );
            } else {
                check_failure(&r, cut, after, Seq::Undo { total: c.writes }, test);
                assert_eq!(
                    seen.writes_after_cut, 0,
                    "{cut:?} {after:?}: a WRITE after the cut"
                );
            }
            let v = valid_labels(&disk, at);
            assert!(v.len() >= 3, "{cut:?} {after:?}: valid labels {v:?}");
            assert!(
                zdb.imports(&[(disk.as_path(), at)], "rpool"),
                "{cut:?} {after:?}: zdb -e does not import"
            );
            let u = undo(&direct);
            assert_eq!(
                u.code,
                Some(0),
                "{cut:?} {after:?}: re-run: {}{}",
                u.out,
                u.err
            );
            assert!(
                std::fs::read(&disk).unwrap() == before,
                "{cut:?} {after:?}: re-run undo is not byte-identical"
            );
            runs += 1;
        }
    }
    println!(
        "undo: {runs} cuts ({} WRITEs, {} SYNCHRONIZE CACHEs per clean undo; target gone and \
         back): read-back drops healed by re-login when the target came back, every other cut \
         reported, >=3 valid labels, {} distinct label states imported by zdb -e, \
         every interrupted undo re-run directly to byte-identical",
        c.writes, c.syncs, zdb.runs
    );
}

/// The progress report of a failed repair and of a failed undo, on a local
/// file (no target needed): done, failed and unattempted writes are named.
#[test]
fn failure_messages_say_what_was_and_was_not_written() {
    use kzrescue::repair::apply;
    use kzrescue::repair::journal::Journal;
    use kzrescue::repair::plan::{self as rplan, DevidChange, DiskInput, LeafFields, PlanOptions};
    use kzrescue::source::{Fault, FaultSource, SharedSource};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let fixture = "gptdisk-x86-512.img";
    let disk = common::unpack_fixture(fixture, dir.path());
    let at = fixture_placement(fixture);
    let original = std::fs::read(&disk).unwrap();
    let rw = || -> SharedSource { Arc::new(FileSource::open(&disk, OpenMode::ReadWrite).unwrap()) };
    let attempt = |fault: Fault, j: &Path| {
        let f: SharedSource = Arc::new(FaultSource::new(rw(), fault));
        let input = DiskInput {
            name: "disk.img".into(),
            disk: f.clone(),
            vdev: Arc::new(Window::new(f.clone(), at.start, at.len, "s1")),
            vdev_start: at.start,
            fields: LeafFields {
                phys_path: "/zvnex/zvblk@0:b".into(),
                path: None,
                devid: DevidChange::Keep,
            },
        };
        let p = rplan::plan(&[input], PlanOptions::default()).unwrap();
        apply::apply(&p.target_plans(&[f]), j, "t")
            .unwrap_err()
            .to_string()
    };
    let undo_all = |j: &Path| {
        apply::undo(&Journal::read(j).unwrap(), &[rw()], false).unwrap();
        assert!(std::fs::read(&disk).unwrap() == original);
    };
    // The third of four writes fails: two are done, one failed, one never tried.
    let j = dir.path().join("w3.kzj");
    let e = attempt(
        Fault::FailWrite {
            nth: 3,
            errno: libc::EIO,
        },
        &j,
    );
    assert!(
        e.contains("progress: writes 1-2 of 4 (")
            && e.contains(") written, flushed and read back; write 3 of 4 (")
            && e.contains(") failed; write 4 of 4 (")
            && e.ends_with(&format!(
                ") not attempted; the target may be partly written: `kzrescue undo {} --write` \
                 restores it: Input/output error (os error 5)",
                j.display()
            )),
        "{e}"
    );
    undo_all(&j);
    // The second flush fails: writes 3-4 are acknowledged but in doubt.
    let j = dir.path().join("f2.kzj");
    let e = attempt(Fault::FailFlush { nth: 2 }, &j);
    assert!(
        e.contains(") written, flushed and read back; writes 3-4 of 4 (")
            && e.contains(") acknowledged but the flush after them failed;")
            && !e.contains("not attempted"),
        "{e}"
    );
    undo_all(&j);
    // An undo whose second write fails says how far it got.
    let j = dir.path().join("full.kzj");
    let f: SharedSource = rw();
    let input = DiskInput {
        name: "disk.img".into(),
        disk: f.clone(),
        vdev: Arc::new(Window::new(f.clone(), at.start, at.len, "s1")),
        vdev_start: at.start,
        fields: LeafFields {
            phys_path: "/zvnex/zvblk@0:b".into(),
            path: None,
            devid: DevidChange::Keep,
        },
    };
    let p = rplan::plan(&[input], PlanOptions::default()).unwrap();
    apply::apply(&p.target_plans(&[f]), &j, "t").unwrap();
    let journal = Journal::read(&j).unwrap();
    let f: SharedSource = Arc::new(FaultSource::new(
        rw(),
        Fault::FailWrite {
            nth: 2,
            errno: libc::ENOSPC,
        },
    ));
    let e = apply::undo(&journal, &[f], false).unwrap_err().to_string();
    assert!(
        e.contains("undo stopped at the write of ")
            && e.contains(": 1 of 4 range(s) restored before it")
            && e.contains("run the same undo again to finish"),
        "{e}"
    );
    undo_all(&j);
}
