//! Bad input: a damaged data block is reported naming the object, level,
//! block id and DVA, and every other file is still listed and hashed; a
//! damaged metadata copy is repaired from its ditto copy silently.

mod common;

use common::{kzrescue, require_tool};
use kzrescue::source::{FileSource, OpenMode, SharedSource};
use kzrescue::zfs::objset::ObjSet;
use kzrescue::zfs::spa;
use kzrescue::zfs::zpl::Zpl;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const V1: &str = "/usr/share/zfs/zfs-tests/tests/functional/cli_root/zpool_upgrade/blockfiles/zfs-pool-v1.dat.bz2";

fn unpack(dir: &Path) -> Option<PathBuf> {
    unpack_from(V1, dir)
}

fn unpack_from(bz2: &str, dir: &Path) -> Option<PathBuf> {
    if !Path::new(bz2).exists() {
        assert!(!common::in_ci(), "zfs-test blockfiles missing under CI");
        println!("SKIPPED: install Debian package zfs-test");
        return None;
    }
    let out = Command::new("bzip2").arg("-dc").arg(bz2).output().unwrap();
    let p = dir.join("v1.dat");
    std::fs::write(&p, out.stdout).unwrap();
    Some(p)
}

/// (object, first DVA byte offset on the file) of `path` in v1-pool.
fn locate(img: &Path, path: &str) -> (u64, u64) {
    let src: SharedSource = Arc::new(FileSource::open(img, OpenMode::ReadOnly).unwrap());
    let o = spa::open(&[src], None).unwrap();
    let d = o.mos.find(&o.pool, "v1-pool").unwrap();
    let fs = Zpl::open(o.pool.clone(), ObjSet::open(&o.pool, &d.ds.bp).unwrap()).unwrap();
    let obj = fs.lookup(path).unwrap();
    let (dn, _) = fs.znode(obj).unwrap();
    let bp = dn.block_ptr(&o.pool, 0).unwrap().unwrap();
    (obj, bp.dvas()[0].offset + (4 << 20))
}

#[test]
fn damaged_file_block_is_named_and_the_rest_still_listed() {
    if !require_tool("bzip2", "bzip2", "damaged_file_block") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some(img) = unpack(tmp.path()) else {
        return;
    };
    let (code, good, _) = kzrescue(&["manifest", "--json-int", img.to_str().unwrap(), "v1-pool"]);
    assert_eq!(code, 0);
    let good: serde_json::Value = serde_json::from_str(&good).unwrap();
    let n = good["entries"].as_array().unwrap().len();
    assert_eq!(n, 302);
    let (obj, at) = locate(&img, "/file.17");
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[at as usize] ^= 0xff;
    std::fs::write(&img, &bytes).unwrap();
    let (code, out, err) = kzrescue(&["manifest", "--json-int", img.to_str().unwrap(), "v1-pool"]);
    assert_eq!(code, 1, "stderr: {err}");
    let m: serde_json::Value = serde_json::from_str(&out).unwrap();
    let entries = m["entries"].as_array().unwrap();
    assert_eq!(entries.len(), n, "every path still listed");
    let bad: Vec<_> = entries
        .iter()
        .filter(|e| e.get("error").is_some())
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["path"], "/file.17");
    let msg = bad[0]["error"].as_str().unwrap();
    let dva = format!("<0:{:x}:", at - (4 << 20));
    assert!(
        msg.contains(&format!("object {obj} level 0 block 0")) && msg.contains(&dva),
        "error does not name object/level/block/DVA: {msg}"
    );
    assert!(err.contains("/file.17"), "stderr: {err}");
    let hashed = entries.iter().filter(|e| e.get("sha256").is_some()).count();
    assert_eq!(hashed, 300, "the other 300 files are hashed");
    // cat of the damaged file fails with the same message; another file reads
    let spec = "v1-pool:/file.17";
    let (code, _, err) = kzrescue(&["cat", img.to_str().unwrap(), spec]);
    assert_eq!(code, 2);
    assert!(err.contains(&dva), "{err}");
    let (code, out, _) = kzrescue(&["cat", img.to_str().unwrap(), "v1-pool:/file.18"]);
    assert_eq!((code, out.as_str()), (0, "foo\n"));
}

#[test]
fn damaged_metadata_copy_is_read_from_its_ditto() {
    if !require_tool("bzip2", "bzip2", "damaged_metadata_copy") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some(img) = unpack_from(&V1.replace("-v1.", "-v2."), tmp.path()) else {
        return;
    };
    let src: SharedSource = Arc::new(FileSource::open(&img, OpenMode::ReadOnly).unwrap());
    let o = spa::open(&[src], None).unwrap();
    // the MOS object directory has two copies; destroy the first
    let dir = o.mos.os.dnode(&o.pool, 1).unwrap();
    let bp = dir.block_ptr(&o.pool, 0).unwrap().unwrap();
    assert!(bp.dvas().len() >= 2);
    let at = (bp.dvas()[0].offset + (4 << 20)) as usize;
    drop(o);
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[at..at + 512].fill(0x5a);
    std::fs::write(&img, &bytes).unwrap();
    let (code, out, err) = kzrescue(&["datasets", img.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Dataset v2-pool [ZPL], ID 5, cr_txg 4, 25K, 5 objects"),
        "{out}"
    );
}
