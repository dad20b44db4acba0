//! The committed fixtures themselves: every `testimages/*.zst` listed in
//! `testimages/SHA256SUMS` unpacks to exactly the recorded bytes, and — where OpenZFS `zdb` is
//! installed — zdb still prints the committed golden `zdb -l` / `zdb -lu`
//! output for every image that has one.

mod common;

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `SHA256SUMS`: "<hex>  <raw file name>" per line.
fn sums() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(common::root().join("testimages/SHA256SUMS"))
        .expect("testimages/SHA256SUMS");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (h, n) = l.split_once("  ").expect("SHA256SUMS line: <hex>  <name>");
            (n.to_string(), h.to_string())
        })
        .collect()
}

fn sha256_file(p: &Path) -> String {
    use std::io::Read;
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(p).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// Every compressed fixture is listed, and unpacks to exactly the listed bytes.
#[test]
fn every_fixture_unpacks_to_its_recorded_sha256() {
    let sums = sums();
    let dir = tempfile::tempdir().unwrap();
    let mut seen = 0;
    for e in std::fs::read_dir(common::root().join("testimages")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let Some(raw) = name.strip_suffix(".zst") else {
            continue;
        };
        let Some(want) = sums.get(raw) else {
            // Fixtures of other helpers may not be listed yet: say so, do not fail.
            println!("note: testimages/{name} is not listed in testimages/SHA256SUMS");
            continue;
        };
        let p = common::unpack_fixture(raw, dir.path());
        assert_eq!(
            &sha256_file(&p),
            want,
            "{raw}: unpacked bytes differ from SHA256SUMS"
        );
        std::fs::remove_file(p).unwrap();
        seen += 1;
    }
    for n in sums.keys() {
        assert!(
            common::root().join(format!("testimages/{n}.zst")).exists(),
            "SHA256SUMS lists {n} but testimages/{n}.zst is missing"
        );
    }
    assert!(seen > 0, "no fixtures found");
}

/// `SLICES`: "<image> <slice> <byte offset> <size>" — where the ZFS slice of
/// a partitioned fixture lies (its goldens are named `<image>.<slice>.*`).
fn slices() -> BTreeMap<String, (String, u64, u64)> {
    let text =
        std::fs::read_to_string(common::root().join("testimages/SLICES")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(
                f.len(),
                4,
                "SLICES line: <image> <slice> <offset> <size>: {l}"
            );
            (
                format!("{}.{}", f[0], f[1]),
                (
                    f[0].to_string(),
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                ),
            )
        })
        .collect()
}

/// The file zdb reads for golden `name`: the unpacked image, or the slice of
/// an unpacked disk image, copied out to a file of its own.
fn image_for(name: &str, dir: &Path) -> std::path::PathBuf {
    use std::io::{Read, Seek, SeekFrom, Write};
    if let Some((img, off, size)) = slices().get(name) {
        let disk = common::unpack_fixture(img, dir);
        let mut f = std::fs::File::open(&disk).unwrap();
        f.seek(SeekFrom::Start(*off)).unwrap();
        let mut buf = Vec::new();
        f.take(*size).read_to_end(&mut buf).unwrap();
        assert_eq!(buf.len() as u64, *size, "{img}: slice beyond the end");
        let out = dir.join(name);
        std::fs::File::create(&out)
            .unwrap()
            .write_all(&buf)
            .unwrap();
        std::fs::remove_file(disk).unwrap();
        out
    } else {
        common::unpack_fixture(name, dir)
    }
}

/// The goldens are what zdb prints today (catches a stale golden after an
/// image was rebuilt, and a zdb whose output format changed).
#[test]
fn zdb_goldens_match_live_zdb() {
    if !common::require_tool("zdb", "zfsutils-linux", "zdb_goldens_match_live_zdb") {
        return;
    }
    let ti = common::root().join("testimages");
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for e in std::fs::read_dir(&ti).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let Some(raw) = name.strip_suffix(".zdb-l.txt") else {
            continue;
        };
        let img = image_for(raw, dir.path());
        for (flag, suffix) in [("-l", "zdb-l.txt"), ("-lu", "zdb-lu.txt")] {
            let golden = std::fs::read_to_string(ti.join(format!("{raw}.{suffix}"))).unwrap();
            let out = Command::new("zdb")
                .arg(flag)
                .arg(&img)
                .output()
                .expect("run zdb");
            let live = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                live, golden,
                "zdb {flag} {raw} differs from testimages/{raw}.{suffix}"
            );
            checked += 1;
        }
        std::fs::remove_file(img).unwrap();
    }
    assert!(checked > 0, "no zdb goldens found");
    println!("zdb goldens checked: {checked}");
}
