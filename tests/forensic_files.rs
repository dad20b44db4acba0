//! The file-system reader against the real thing, with no ZFS tool needed:
//! the committed zfs-fuse v23 pool (compression off, lzjb, gzip-1/9, a
//! 512-byte-record dataset with two levels of indirect blocks, a clone,
//! snapshots @clean/@later, sparse files, symlinks, hard links, device
//! nodes, a 2100-entry fat-ZAP directory, 255-byte names) and its golden
//! listing taken through the zfs-fuse mount (`fuse-v23.files.json`).
//!
//! Checked: `datasets` equals the committed `zdb -d`; for every dataset and
//! snapshot, `manifest` lists exactly the mount's paths with the same type,
//! mode, owner, link count, size, mtime, object number, SHA-256, symlink
//! target and device numbers; `manifest --against @clean` reports exactly
//! the changes between the two listings; `cat`, `ls` and `export --tar`
//! give the same bytes.

mod common;

use common::{kzrescue, root, unpack_fixture};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn golden() -> Value {
    let raw = std::fs::read(root().join("testimages/fuse-v23.files.json.zst")).unwrap();
    let mut dec = ruzstd::decoding::StreamingDecoder::new(&raw[..]).unwrap();
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut dec, &mut text).unwrap();
    serde_json::from_slice(&text).unwrap()
}

fn kind(t: &str) -> &str {
    match t {
        "blk" => "blockdev",
        "chr" => "chardev",
        "sock" => "socket",
        other => other,
    }
}

/// The fields the mount shows, in the manifest's terms, by path.
fn expected(entries: &[Value]) -> BTreeMap<String, BTreeMap<&'static str, Value>> {
    let mut out = BTreeMap::new();
    for e in entries {
        let p = e["path"].as_str().unwrap();
        let path = if p == "." {
            "/".to_string()
        } else {
            format!("/{p}")
        };
        let mut m: BTreeMap<&'static str, Value> = BTreeMap::new();
        m.insert("type", Value::from(kind(e["type"].as_str().unwrap())));
        for (ours, theirs) in [
            ("mode", "mode"),
            ("uid", "uid"),
            ("gid", "gid"),
            ("links", "nlink"),
        ] {
            m.insert(ours, e[theirs].clone());
        }
        let ns = e["mtime_ns"].as_u64().unwrap();
        m.insert("mtime", Value::from(ns / 1_000_000_000));
        // the FUSE layer reports whole seconds unless a time was pinned
        if ns % 1_000_000_000 != 0 {
            m.insert("mtime_nsec", Value::from(ns % 1_000_000_000));
        }
        if path != "/" {
            // FUSE shows the root as inode 1
            m.insert("object", e["ino"].clone());
        }
        if e["type"] != "dir" {
            m.insert("size", e["size"].clone());
        }
        for k in ["sha256", "target", "rdev"] {
            if let Some(v) = e.get(k) {
                m.insert(k, v.clone());
            }
        }
        out.insert(path, m);
    }
    out
}

fn manifest(img: &Path, name: &str) -> Value {
    let (code, out, err) = kzrescue(&["manifest", "--json-int", img.to_str().unwrap(), name]);
    assert_eq!(code, 0, "manifest {name}: {err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn datasets_equal_committed_zdb_golden() {
    let tmp = tempfile::tempdir().unwrap();
    let img = unpack_fixture("fuse-v23.img", tmp.path());
    let want: BTreeSet<String> =
        std::fs::read_to_string(root().join("testimages/fuse-v23.img.zdb-d.txt"))
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("Dataset "))
            .map(String::from)
            .collect();
    let (code, out, err) = kzrescue(&["datasets", img.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let got: BTreeSet<String> = out.lines().map(String::from).collect();
    assert_eq!(got, want);
    println!("datasets: {} lines equal zdb -d", want.len());
}

#[test]
fn every_file_of_every_snapshot_matches_the_mount() {
    let tmp = tempfile::tempdir().unwrap();
    let img = unpack_fixture("fuse-v23.img", tmp.path());
    let g = golden();
    let mut paths = 0;
    let mut hashed = 0;
    for (ds, views) in g["datasets"].as_object().unwrap() {
        for (view, entries) in views.as_object().unwrap() {
            let name = if view == "head" {
                ds.clone()
            } else {
                format!("{ds}{view}")
            };
            let want = expected(entries.as_array().unwrap());
            let m = manifest(&img, &name);
            assert!(
                m["errors"].as_array().unwrap().is_empty(),
                "{name}: {}",
                m["errors"]
            );
            let got: BTreeMap<String, &Value> = m["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| (e["path"].as_str().unwrap().to_string(), e))
                .collect();
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>(),
                "{name}: path sets differ"
            );
            for (p, fields) in &want {
                for (k, v) in fields {
                    assert_eq!(&got[p][*k], v, "{name}:{p} field {k}");
                }
                if fields.contains_key("sha256") {
                    hashed += 1;
                }
                paths += 1;
            }
        }
    }
    println!(
        "manifest: {paths} paths in 20 dataset views equal the zfs-fuse mount ({hashed} SHA-256)"
    );
    assert!(paths > 12000);
}

#[test]
fn snapshot_against_head_diff_equals_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let img = unpack_fixture("fuse-v23.img", tmp.path());
    let g = golden();
    let mut checked = 0;
    for ds in ["kzpool", "kzpool/off", "kzpool/lzjb", "kzpool/deep"] {
        let base = expected(g["datasets"][ds]["@clean"].as_array().unwrap());
        let now = expected(g["datasets"][ds]["head"].as_array().unwrap());
        let added: Vec<&String> = now.keys().filter(|p| !base.contains_key(*p)).collect();
        let removed: Vec<&String> = base.keys().filter(|p| !now.contains_key(*p)).collect();
        let content_keys = ["type", "sha256", "target", "rdev", "size"];
        let mut content = BTreeSet::new();
        for (p, b) in &base {
            let Some(n) = now.get(p) else { continue };
            let differs = |k: &str| b.get(k) != n.get(k);
            if content_keys
                .iter()
                .any(|k| differs(k) && !(*k == "size" && b["type"] == "dir"))
            {
                content.insert(p.clone());
            }
        }
        let (code, out, err) = kzrescue(&[
            "manifest",
            "--json-int",
            img.to_str().unwrap(),
            ds,
            "--against",
            "@clean",
        ]);
        assert_eq!(code, 1, "{ds}: differences exit 1; {err}");
        let d: Value = serde_json::from_str(&out).unwrap();
        let strs = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            strs(&d["added"]),
            added.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "{ds} added"
        );
        assert_eq!(
            strs(&d["removed"]),
            removed.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "{ds} removed"
        );
        let got_content: BTreeSet<String> = d["changed"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["content"] == true)
            .map(|c| c["path"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got_content, content, "{ds} content changes");
        checked += added.len() + removed.len() + content.len();
    }
    println!("against @clean: {checked} added/removed/content changes equal the mount's");
    // the two-file form gives the same as --against
    let a = tmp.path().join("a.json");
    let b = tmp.path().join("b.json");
    std::fs::write(
        &a,
        serde_json::to_string(&manifest(&img, "kzpool@clean")).unwrap(),
    )
    .unwrap();
    std::fs::write(
        &b,
        serde_json::to_string(&manifest(&img, "kzpool")).unwrap(),
    )
    .unwrap();
    let (code, d1, _) = kzrescue(&["manifest", "diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    let (_, d2, _) = kzrescue(&[
        "manifest",
        "--json-int",
        img.to_str().unwrap(),
        "kzpool",
        "--against",
        "@clean",
    ]);
    assert_eq!(code, 1);
    let (v1, v2): (Value, Value) = (
        serde_json::from_str(&d1).unwrap(),
        serde_json::from_str(&d2).unwrap(),
    );
    assert_eq!(v1["changed"], v2["changed"]);
    assert_eq!(v1["added"], v2["added"]);
}

#[test]
fn cat_ls_and_tar_agree_with_the_mount() {
    let tmp = tempfile::tempdir().unwrap();
    let img = unpack_fixture("fuse-v23.img", tmp.path());
    let i = img.to_str().unwrap();
    let g = golden();
    let head = expected(g["datasets"]["kzpool/lzjb"]["head"].as_array().unwrap());
    // cat: sparse file and a large compressed file
    for p in ["/sparse.bin", "/large.txt", "/hello.txt"] {
        let out = std::process::Command::new(common::kzrescue_bin())
            .args(["cat", i, &format!("kzpool/lzjb:{p}")])
            .output()
            .unwrap();
        assert!(out.status.success());
        use sha2::Digest;
        let h = hex::encode(sha2::Sha256::digest(&out.stdout));
        assert_eq!(Value::from(h), head[p]["sha256"], "cat {p}");
    }
    // ls of the links directory shows the symlink targets
    let (code, out, _) = kzrescue(&["ls", i, "kzpool/lzjb:/links"]);
    assert_eq!(code, 0);
    assert!(out.contains("short -> ../hello.txt"), "{out}");
    // cat of a symlink names it (exit 2) unless --follow, which resolves
    // it inside the dataset
    let (code, _, err) = kzrescue(&["cat", i, "kzpool/lzjb:/links/short"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is a symbolic link to ../hello.txt") && err.contains("--follow"),
        "{err}"
    );
    let out = std::process::Command::new(common::kzrescue_bin())
        .args(["cat", i, "kzpool/lzjb:/links/short", "--follow"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    {
        use sha2::Digest;
        let h = hex::encode(sha2::Sha256::digest(&out.stdout));
        assert_eq!(Value::from(h), head["/hello.txt"]["sha256"], "cat --follow");
    }
    // ls --json keeps the raw seconds (the mount's) and nanoseconds (which
    // the FUSE layer rounds away); the text is `ls -l
    // --time-style=full-iso` in UTC, as GNU date writes that instant
    let (_, out, _) = kzrescue(&["ls", i, "kzpool/lzjb:/hello.txt", "--json", "--json-int"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "kzrescue.ls/1");
    assert_eq!(v["entries"][0]["mtime"], head["/hello.txt"]["mtime"]);
    let secs = v["entries"][0]["mtime"].as_i64().unwrap();
    let nsec = v["entries"][0]["mtime_nsec"].as_u64().unwrap();
    let date = std::process::Command::new("date")
        .env("TZ", "UTC")
        .args([
            "-d",
            &format!("@{secs}.{nsec:09}"),
            "+%Y-%m-%d %H:%M:%S.%N %z",
        ])
        .output()
        .unwrap();
    let when = String::from_utf8_lossy(&date.stdout).trim().to_string();
    let (code, out, err) = kzrescue(&["ls", i, "kzpool/lzjb:/hello.txt"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(" {when} /hello.txt")),
        "{when:?} in {out}"
    );
    // tar: every regular file's bytes
    let tarp = tmp.path().join("x.tar");
    let (code, _, err) = kzrescue(&["export", i, "kzpool/lzjb", "--tar", tarp.to_str().unwrap()]);
    // a socket has no tar form: reported, the rest archived
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("/special/sock") && err.contains("1 problems"),
        "{err}"
    );
    let mut ar = tar::Archive::new(std::fs::File::open(&tarp).unwrap());
    let mut files = 0;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = format!("/{}", e.path().unwrap().display());
        if e.header().entry_type() == tar::EntryType::Regular {
            use sha2::Digest;
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            assert_eq!(
                Value::from(hex::encode(sha2::Sha256::digest(&data))),
                head[&path]["sha256"],
                "tar {path}"
            );
            files += 1;
        }
    }
    assert!(files > 300);
    // export --to: a file and a symlink come out right
    let dir = tmp.path().join("out");
    let (code, _, err) = kzrescue(&[
        "export",
        i,
        "kzpool/lzjb:/links",
        "--to",
        dir.to_str().unwrap(),
    ]);
    assert!(code == 0 || code == 1, "{err}");
    assert_eq!(
        std::fs::read_link(dir.join("short")).unwrap(),
        Path::new("../hello.txt")
    );
    // with the symlink's own mtime (as tar keeps it)
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(dir.join("short")).unwrap();
    assert_eq!(Value::from(m.mtime()), head["/links/short"]["mtime"]);
}

/// `manifest -r`: one pass over a dataset and every file system below it
/// equals the manifests of each, entry for entry, in walk order (datasets
/// component by component, paths component by component); `-r --against`
/// and `manifest diff` of two recursive manifests give the same changes,
/// which are the union of each dataset's own.
#[test]
fn recursive_manifest_is_every_descendant_in_one_walk() {
    let tmp = tempfile::tempdir().unwrap();
    let img = unpack_fixture("fuse-v23.img", tmp.path());
    let imgs = img.to_str().unwrap();
    let g = golden();
    let all: Vec<String> = g["datasets"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|d| *d == "kzpool" || d.starts_with("kzpool/"))
        .cloned()
        .collect();
    assert!(all.len() >= 3, "{all:?}");
    let (code, out, err) = kzrescue(&["manifest", "--json-int", imgs, "kzpool", "-r"]);
    assert_eq!(code, 0, "{err}");
    let m: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["recursive"], true);
    let entries = m["entries"].as_array().unwrap();
    let comp = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
    // walk order: by dataset, then by path, component by component
    let keys: Vec<(Vec<String>, Vec<String>)> = entries
        .iter()
        .map(|e| {
            (
                comp(e["dataset"].as_str().unwrap()),
                comp(e["path"].as_str().unwrap()),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "entries are not in walk order");
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for ds in entries.iter().map(|e| e["dataset"].as_str().unwrap()) {
        seen.insert(ds.to_string());
    }
    for ds in &seen {
        let one = manifest(&img, ds);
        let mine: Vec<Value> = entries
            .iter()
            .filter(|e| e["dataset"] == ds.as_str())
            .map(|e| {
                let mut e = e.clone();
                e.as_object_mut().unwrap().remove("dataset");
                e
            })
            .collect();
        assert_eq!(&mine, one["entries"].as_array().unwrap(), "{ds}");
        total += mine.len();
    }
    let heads: BTreeSet<String> = all.iter().cloned().collect();
    assert!(seen.is_subset(&heads), "{seen:?} vs {heads:?}");
    assert!(seen.len() >= 3, "{seen:?}");
    println!(
        "manifest -r: {} datasets, {total} entries in one pass",
        seen.len()
    );

    // -r --against @clean = the union of each dataset's --against
    let (code, out, err) = kzrescue(&[
        "manifest",
        "--json-int",
        imgs,
        "kzpool",
        "-r",
        "--against",
        "@clean",
    ]);
    assert_eq!(code, 1, "{err}");
    let rd: Value = serde_json::from_str(&out).unwrap();
    let mut want_added = BTreeSet::new();
    for ds in &seen {
        let (code, out, _) = kzrescue(&["manifest", "--json-int", imgs, ds, "--against", "@clean"]);
        // a dataset made after @clean (the clone) is added whole
        let added: Vec<Value> = if code == 2 {
            manifest(&img, ds)["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["path"].clone())
                .collect()
        } else {
            let d: Value = serde_json::from_str(&out).unwrap();
            d["added"].as_array().unwrap().clone()
        };
        let rel = ds.strip_prefix("kzpool").unwrap();
        for a in &added {
            let p = a.as_str().unwrap();
            want_added.insert(if rel.is_empty() {
                p.to_string()
            } else {
                format!("{rel}:{p}")
            });
        }
    }
    let got_added: BTreeSet<String> = rd["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(got_added, want_added);
    // and manifest diff of the two recursive documents says the same
    let (a, b) = (tmp.path().join("ra.json"), tmp.path().join("rb.json"));
    let (_, base, _) = kzrescue(&["manifest", "--json-int", imgs, "kzpool@clean", "-r"]);
    std::fs::write(&a, base).unwrap();
    std::fs::write(&b, out_of(imgs)).unwrap();
    let (code, d, err) = kzrescue(&["manifest", "diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let d: Value = serde_json::from_str(&d).unwrap();
    assert_eq!(d["added"], rd["added"]);
    assert_eq!(d["removed"], rd["removed"]);
    assert_eq!(d["changed"], rd["changed"]);
}

fn out_of(img: &str) -> String {
    kzrescue(&["manifest", "--json-int", img, "kzpool", "-r"]).1
}
