//! RAID-Z and mirror recovery on real pools made by `ztest` (OpenZFS
//! feature-flag pools: lz4, embedded data, raidz1/2 under a mirror):
//! `datasets` agrees with `zdb -d`, and with one member zeroed, or with one
//! member's data area overwritten (labels intact, so only checksums tell),
//! every block of every object of every dataset still reads back
//! identically.

mod common;

use common::{kzrescue, require_tool};
use kzrescue::source::{FileSource, OpenMode, SharedSource};
use kzrescue::zfs::checksum;
use kzrescue::zfs::objset::ObjSet;
use kzrescue::zfs::spa;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;

fn make_pool(dir: &Path, disks: u32, parity: u32, secs: u32) -> Vec<PathBuf> {
    let secs = secs.to_string();
    let st = Command::new("ztest")
        .args([
            "-T", &secs, "-P", &secs, "-v", "1", "-m", "1", "-K", "raidz", "-s", "64m", "-a", "9",
        ])
        .args(["-r", &disks.to_string(), "-R", &parity.to_string(), "-f"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        st.status.success() || dir.join("ztest.0a").exists(),
        "ztest failed"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with("ztest.") && n.ends_with('a')
        })
        .collect();
    files.sort();
    files
}

fn zdb_lines(dir: &Path) -> BTreeSet<String> {
    let out = Command::new("zdb")
        .args(["-e", "-p"])
        .arg(dir)
        .args(["ztest", "-d"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("Dataset "))
        .map(String::from)
        .collect()
}

fn our_lines(files: &[PathBuf]) -> BTreeSet<String> {
    let mut args = vec!["datasets".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let (_, out, err) = kzrescue(&a);
    assert!(!out.is_empty(), "no output; stderr: {err}");
    out.lines()
        .filter(|l| l.starts_with("Dataset "))
        .map(|l| {
            l.trim_end_matches(" (encrypted: contents not read)")
                .to_string()
        })
        .collect()
}

/// The pool's member files, open read-only.
fn sources(files: &[PathBuf]) -> Vec<SharedSource> {
    files
        .iter()
        .map(|f| Arc::new(FileSource::open(f, OpenMode::ReadOnly).unwrap()) as SharedSource)
        .collect()
}

/// What one object set read back as.
#[derive(Debug, PartialEq)]
struct SetRead {
    /// SHA-256 over every block of every object, or the first error.
    digest: Result<String, String>,
    /// Blocks read.
    blocks: u64,
    /// Blocks whose checksum algorithm we do not compute (Skein, Edon-R,
    /// checksum=off: ztest sets random checksum properties). On those, as in
    /// ZFS with checksum=off, a damaged member cannot be noticed.
    unverified: u64,
}

/// Reads every block of every object of every readable dataset (MOS
/// included), per object set.
fn digest_all(files: &[PathBuf]) -> BTreeMap<String, SetRead> {
    let o = spa::open(&sources(files), None).unwrap();
    let mut sets = vec![("MOS".to_string(), o.rootbp.clone())];
    for d in o.mos.datasets(&o.pool).into_iter().flatten() {
        // encrypted datasets hold ciphertext: nothing inside is read
        if !d.encrypted && !d.ds.bp.is_hole() {
            sets.push((d.name.clone(), d.ds.bp.clone()));
        }
    }
    let mut out = BTreeMap::new();
    for (name, bp) in sets {
        let before = o.pool.stats.unverified.load(Ordering::Relaxed);
        let mut h = Sha256::new();
        let mut blocks = 0u64;
        let digest = (|| -> Result<(), String> {
            let os = ObjSet::open(&o.pool, &bp).map_err(|e| e.to_string())?;
            let mut dns = Vec::new();
            let mut first_err = None;
            os.for_each_dnode(
                &o.pool,
                |dn| dns.push(dn),
                |e| {
                    first_err.get_or_insert(e.to_string());
                },
            );
            if let Some(e) = first_err {
                return Err(e);
            }
            for dn in dns {
                for blk in 0..=dn.maxblkid.min(64) {
                    let data = dn
                        .read_block(&o.pool, blk)
                        .map_err(|e| format!("object {} block {blk}: {e}", dn.object))?;
                    h.update(&data);
                    blocks += 1;
                }
            }
            Ok(())
        })();
        let unverified = o.pool.stats.unverified.load(Ordering::Relaxed) - before;
        let digest = digest.map(|_| hex::encode(h.clone().finalize()));
        out.insert(
            name,
            SetRead {
                digest,
                blocks,
                unverified,
            },
        );
    }
    out
}

/// The datasets whose object set block carries a checksum kzrescue does not
/// compute, with its number: ztest picks Skein or Edon-R at random, and a
/// dataset's metadata takes its checksum. With a member's data area
/// overwritten, nothing tells a bad column of such a block from a good one
/// (zdb computes both), so the `datasets` line of that dataset may change.
fn unverifiable_objsets(files: &[PathBuf]) -> BTreeMap<String, u8> {
    let o = spa::open(&sources(files), None).unwrap();
    o.mos
        .datasets(&o.pool)
        .into_iter()
        .flatten()
        .filter(|d| !d.ds.bp.is_hole() && !checksum::computable(o.pool.version, d.ds.bp.checksum))
        .map(|d| (d.name.clone(), d.ds.bp.checksum))
        .collect()
}

/// `lines` without those of the datasets in `skip`.
fn without(lines: &BTreeSet<String>, skip: &BTreeMap<String, u8>) -> BTreeSet<String> {
    lines
        .iter()
        .filter(|l| {
            !skip
                .keys()
                .any(|n| l.starts_with(&format!("Dataset {n} [")))
        })
        .cloned()
        .collect()
}

/// Asserts that `damaged` read back as `good`, set by set; sets holding
/// blocks we cannot verify are compared only when `all` (a missing member is
/// rebuilt from parity whatever the checksum; a garbage member is noticed
/// only through checksums). Returns how many sets were compared.
fn same_reads(
    good: &BTreeMap<String, SetRead>,
    damaged: &BTreeMap<String, SetRead>,
    all: bool,
    what: &str,
) -> usize {
    let mut compared = 0;
    for (name, g) in good {
        if g.unverified > 0 && !all {
            continue;
        }
        assert_eq!(damaged.get(name), Some(g), "{what}: {name}");
        compared += 1;
    }
    compared
}

fn check(disks: u32, parity: u32) {
    // ztest writes for a fixed time; on a loaded machine 3 s may leave too
    // few blocks to mean anything: then make the pool again, running longer
    let mut secs = 3;
    let (_tmp, files, want, good, blocks) = loop {
        let tmp = tempfile::tempdir().unwrap();
        let files = make_pool(tmp.path(), disks, parity, secs);
        assert!(files.len() >= disks as usize);
        let want = zdb_lines(tmp.path());
        assert!(!want.is_empty());
        assert_eq!(our_lines(&files), want);
        let good = digest_all(&files);
        for (name, r) in &good {
            if let Err(e) = &r.digest {
                panic!("{name}: {e}");
            }
        }
        let blocks: u64 = good.values().map(|r| r.blocks).sum();
        if blocks > 100 || secs >= 24 {
            break (tmp, files, want, good, blocks);
        }
        println!(
            "raidz{parity} of {disks}: {blocks} blocks after {secs} s of ztest; again, longer"
        );
        secs *= 2;
    };
    let unverified: u64 = good.values().map(|r| r.unverified).sum();
    println!(
        "raidz{parity} of {disks}: {} datasets agree with zdb -d; {blocks} blocks in {} object sets (MOS + unencrypted datasets), {unverified} under checksums we do not compute",
        want.len(),
        good.len()
    );
    assert!(blocks > 100, "only {blocks} blocks compared");
    let skip = unverifiable_objsets(&files);
    // 1. a member zeroed entirely (labels too): it is skipped, parity rebuilds
    let victim = &files[1];
    let saved = std::fs::read(victim).unwrap();
    std::fs::write(victim, vec![0u8; saved.len()]).unwrap();
    assert_eq!(our_lines(&files), want, "raidz{parity}: member zeroed");
    let n = same_reads(&good, &digest_all(&files), true, "member zeroed");
    // 2. the member's data area overwritten with garbage, labels intact:
    //    only block checksums reveal it
    let mut bad = saved.clone();
    let start = 4 << 20;
    let end = bad.len() - (512 << 10);
    let mut x = 0x9e3779b97f4a7c15u64;
    for b in &mut bad[start..end] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(victim, &bad).unwrap();
    assert_eq!(
        without(&our_lines(&files), &skip),
        without(&want, &skip),
        "raidz{parity}: member garbage (not compared: {skip:?}, object sets under checksums we do not compute)"
    );
    let m = same_reads(&good, &digest_all(&files), false, "member garbage");
    assert!(m >= 1, "no object set with verifiable checksums to compare");
    println!(
        "raidz{parity} of {disks}: identical reads with member zeroed ({n} object sets) and with member garbage ({m} object sets whose every block has a checksum we verify; datasets listed identically but {skip:?}, whose object set checksum we do not compute)"
    );
}

#[test]
fn raidz1_member_lost_or_damaged() {
    if !require_tool("ztest", "zfsutils-linux", "raidz1_member_lost_or_damaged")
        || !require_tool("zdb", "zfsutils-linux", "raidz1_member_lost_or_damaged")
    {
        return;
    }
    check(4, 1);
}

#[test]
fn raidz2_member_lost_or_damaged() {
    if !require_tool("ztest", "zfsutils-linux", "raidz2_member_lost_or_damaged")
        || !require_tool("zdb", "zfsutils-linux", "raidz2_member_lost_or_damaged")
    {
        return;
    }
    check(5, 2);
}
