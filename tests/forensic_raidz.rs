//! RAID-Z and mirror recovery on real pools made by `ztest` (OpenZFS
//! feature-flag pools: lz4, embedded data, raidz1/2 under a mirror):
//! `datasets` agrees with `zdb -d`, and with one member zeroed, or with one
//! member's data area overwritten (labels intact, so only checksums tell),
//! every block of every object of every dataset still reads back
//! identically.

mod common;

use common::{kzrescue, require_tool};
use kzrescue::source::{FileSource, OpenMode, SharedSource};
use kzrescue::zfs::objset::ObjSet;
use kzrescue::zfs::spa;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn make_pool(dir: &Path, disks: u32, parity: u32) -> Vec<PathBuf> {
    let st = Command::new("ztest")
        .args([
            "-T", "3", "-P", "3", "-v", "1", "-m", "1", "-K", "raidz", "-s", "64m", "-a", "9",
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

/// SHA-256 over every block of every object of every readable dataset, and
/// the number of blocks read.
fn digest_all(files: &[PathBuf]) -> (String, u64, u64) {
    let sources: Vec<SharedSource> = files
        .iter()
        .map(|f| Arc::new(FileSource::open(f, OpenMode::ReadOnly).unwrap()) as SharedSource)
        .collect();
    let o = spa::open(&sources, None).unwrap();
    let mut h = Sha256::new();
    let mut blocks = 0u64;
    let mut datasets = 0u64;
    let mut sets = vec![("MOS".to_string(), o.rootbp.clone())];
    for d in o.mos.datasets(&o.pool).into_iter().flatten() {
        // encrypted datasets hold ciphertext: nothing inside is read
        if !d.encrypted && !d.ds.bp.is_hole() {
            sets.push((d.name.clone(), d.ds.bp.clone()));
        }
    }
    for (name, bp) in sets {
        let os = ObjSet::open(&o.pool, &bp).unwrap();
        datasets += 1;
        h.update(name.as_bytes());
        let mut dns = Vec::new();
        os.for_each_dnode(&o.pool, |dn| dns.push(dn), |e| panic!("{name}: {e}"));
        for dn in dns {
            for blk in 0..=dn.maxblkid.min(64) {
                let data = dn
                    .read_block(&o.pool, blk)
                    .unwrap_or_else(|e| panic!("{name} object {} block {blk}: {e}", dn.object));
                h.update(&data);
                blocks += 1;
            }
        }
    }
    (hex::encode(h.finalize()), blocks, datasets)
}

fn check(disks: u32, parity: u32) {
    let tmp = tempfile::tempdir().unwrap();
    let files = make_pool(tmp.path(), disks, parity);
    assert!(files.len() >= disks as usize);
    let want = zdb_lines(tmp.path());
    assert!(!want.is_empty());
    assert_eq!(our_lines(&files), want);
    let (good, blocks, nds) = digest_all(&files);
    println!(
        "raidz{parity} of {disks}: {} datasets agree with zdb -d; {blocks} blocks in {nds} object sets (MOS + unencrypted datasets)",
        want.len()
    );
    // 1. a member zeroed entirely (labels too): it is skipped, parity rebuilds
    let victim = &files[1];
    let saved = std::fs::read(victim).unwrap();
    std::fs::write(victim, vec![0u8; saved.len()]).unwrap();
    assert_eq!(our_lines(&files), want, "raidz{parity}: member zeroed");
    assert_eq!(digest_all(&files).0, good, "raidz{parity}: member zeroed");
    assert!(blocks > 100, "only {blocks} blocks compared");
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
    assert_eq!(our_lines(&files), want, "raidz{parity}: member garbage");
    assert_eq!(digest_all(&files).0, good, "raidz{parity}: member garbage");
    println!(
        "raidz{parity} of {disks}: identical reads with member zeroed and with member garbage"
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
