//! The committed fixtures themselves: every `testimages/*.zst` listed in
//! `testimages/SHA256SUMS` unpacks to exactly the recorded bytes, and — where OpenZFS `zdb` is
//! installed — zdb still prints the committed golden `zdb -l` / `zdb -lu`
//! output for every image that has one.

mod common;

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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

/// Copies `size` bytes at `off` of `img` to `dir/name` (a slice as a file of its own).
fn copy_slice(img: &Path, off: u64, size: u64, dir: &Path, name: &str) -> PathBuf {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::File::open(img).unwrap();
    f.seek(SeekFrom::Start(off)).unwrap();
    let mut buf = Vec::new();
    f.take(size).read_to_end(&mut buf).unwrap();
    assert_eq!(
        buf.len() as u64,
        size,
        "{name}: slice beyond the end of the image"
    );
    let out = dir.join(name);
    std::fs::File::create(&out)
        .unwrap()
        .write_all(&buf)
        .unwrap();
    out
}

/// One pass over the fixtures: every image listed in `SHA256SUMS` unpacks to
/// exactly the recorded bytes; and — where zdb is installed — zdb still prints
/// every committed `*.zdb-l.txt` / `*.zdb-lu.txt` golden (catches a stale golden
/// after an image was rebuilt, and a zdb whose output format changed).
#[test]
fn fixtures_match_sha256sums_and_zdb_goldens() {
    let ti = common::root().join("testimages");
    let sums = sums();
    let slices = slices();
    let zdb = common::require_tool(
        "zdb",
        "zfsutils-linux",
        "fixtures_match_sha256sums_and_zdb_goldens",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&ti)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let (mut hashed, mut goldens) = (0, 0);
    for name in &names {
        let Some(raw) = name.strip_suffix(".zst") else {
            continue;
        };
        let Some(want) = sums.get(raw) else {
            // Fixtures of other helpers may not be listed: say so, do not fail.
            println!("note: testimages/{name} is not listed in testimages/SHA256SUMS");
            continue;
        };
        let img = common::unpack_fixture(raw, dir.path());
        assert_eq!(
            &sha256_file(&img),
            want,
            "{raw}: unpacked bytes differ from SHA256SUMS"
        );
        hashed += 1;
        if zdb {
            // goldens of the image itself, and of each listed slice of it
            let mut targets = vec![(raw.to_string(), img.clone())];
            for (gname, (simg, off, size)) in &slices {
                if simg == raw {
                    targets.push((
                        gname.clone(),
                        copy_slice(&img, *off, *size, dir.path(), gname),
                    ));
                }
            }
            for (gname, file) in targets {
                for (flag, suffix) in [("-l", "zdb-l.txt"), ("-lu", "zdb-lu.txt")] {
                    let Ok(golden) = std::fs::read_to_string(ti.join(format!("{gname}.{suffix}")))
                    else {
                        continue;
                    };
                    let out = Command::new("zdb")
                        .arg(flag)
                        .arg(&file)
                        .output()
                        .expect("run zdb");
                    let live = String::from_utf8_lossy(&out.stdout).into_owned()
                        + &String::from_utf8_lossy(&out.stderr);
                    assert_eq!(
                        live, golden,
                        "zdb {flag} {gname} differs from testimages/{gname}.{suffix}"
                    );
                    goldens += 1;
                }
                if file != img {
                    std::fs::remove_file(file).unwrap();
                }
            }
        }
        std::fs::remove_file(img).unwrap();
    }
    for n in sums.keys() {
        assert!(
            ti.join(format!("{n}.zst")).exists(),
            "SHA256SUMS lists {n} but testimages/{n}.zst is missing"
        );
    }
    assert!(hashed > 0, "no fixtures found");
    assert!(!zdb || goldens > 0, "no zdb goldens found");
    println!("fixtures hashed: {hashed}; zdb goldens checked: {goldens}");
}
