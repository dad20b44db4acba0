//! `kzrescue datasets` against `zdb -d` on the OpenZFS test-suite pools
//! (real Solaris and OpenZFS pools: v1–v15, big- and little-endian,
//! mirrors, raidz1/2, stripes, hot spares, encrypted). Every pool group is
//! read with all its members, and raidz/mirror groups also with members
//! left out, which must still agree.

mod common;

use common::{kzrescue, require_tool};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const BLOCKFILES: &[&str] = &[
    "/usr/share/zfs/zfs-tests/tests/functional/cli_root/zpool_upgrade/blockfiles",
    "/usr/share/zfs/zfs-tests/tests/functional/cli_root/zpool_import/blockfiles",
];

/// Pool groups: files that make up one pool.
fn groups() -> Vec<Vec<&'static str>> {
    let mut g: Vec<Vec<&str>> = vec![
        vec!["zfs-pool-v1"],
        vec!["zfs-pool-v2"],
        vec!["zfs-pool-v3"],
        vec!["zfs-pool-v4"],
        vec!["zfs-pool-v5"],
        vec!["zfs-pool-v6"],
        vec!["zfs-pool-v7"],
        vec!["zfs-pool-v8"],
        vec!["zfs-pool-v9"],
        vec!["zfs-pool-v10"],
        vec!["zfs-pool-v11"],
        vec!["zfs-pool-v12"],
        vec!["zfs-pool-v13"],
        vec!["zfs-pool-v14"],
        vec!["zfs-pool-v15"],
        vec!["cryptv0"],
        vec!["missing_ivset"],
        vec!["unclean_export"],
        vec!["zfs-broken-mirror1", "zfs-broken-mirror2"],
    ];
    for v in ["v1", "v2", "v3"] {
        for kind in ["mirror", "raidz", "stripe"] {
            let files: Vec<&str> = (1..=3)
                .map(|i| &*Box::leak(format!("zfs-pool-{v}{kind}{i}").into_boxed_str()))
                .collect();
            g.push(files);
        }
    }
    g.push(vec![
        "zfs-pool-v3raidz21",
        "zfs-pool-v3raidz22",
        "zfs-pool-v3raidz23",
    ]);
    g.push(vec![
        "zfs-pool-v3hotspare1",
        "zfs-pool-v3hotspare2",
        "zfs-pool-v3hotspare3",
    ]);
    g
}

fn find_bz2(name: &str) -> Option<PathBuf> {
    BLOCKFILES
        .iter()
        .map(|d| Path::new(d).join(format!("{name}.dat.bz2")))
        .find(|p| p.exists())
}

fn unpack(name: &str, dir: &Path) -> PathBuf {
    let src = find_bz2(name).unwrap();
    let out = dir.join(format!("{name}.dat"));
    let data = Command::new("bzip2").arg("-dc").arg(&src).output().unwrap();
    assert!(data.status.success());
    std::fs::write(&out, data.stdout).unwrap();
    out
}

fn zdb_lines(dir: &Path, pool: &str) -> BTreeSet<String> {
    let out = Command::new("zdb")
        .args(["-e", "-p"])
        .arg(dir)
        .args([pool, "-d"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("Dataset "))
        .map(|l| l.to_string())
        .collect()
}

fn ours(files: &[PathBuf]) -> (i32, BTreeSet<String>, String) {
    let args: Vec<&str> = std::iter::once("datasets")
        .chain(files.iter().map(|f| f.to_str().unwrap()))
        .collect();
    let (code, out, err) = kzrescue(&args);
    (
        code,
        out.lines()
            .filter(|l| l.starts_with("Dataset "))
            .map(|l| {
                l.trim_end_matches(" (encrypted: contents not read)")
                    .to_string()
            })
            .collect(),
        err,
    )
}

fn pool_name(file: &Path) -> String {
    let out = Command::new("zdb").arg("-l").arg(file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("name: '"))
        .map(|s| s.trim_end_matches('\'').to_string())
        .unwrap()
}

#[test]
fn datasets_agree_with_zdb_on_test_suite_pools() {
    if !require_tool("zdb", "zfsutils-linux", "datasets_agree_with_zdb")
        || !require_tool("bzip2", "bzip2", "datasets_agree_with_zdb")
    {
        return;
    }
    if find_bz2("zfs-pool-v1").is_none() {
        assert!(!common::in_ci(), "zfs-test blockfiles missing under CI");
        println!("SKIPPED datasets_agree_with_zdb: install Debian package zfs-test");
        return;
    }
    let mut agreed = 0;
    let mut partial_agreed = 0;
    let mut lines = 0;
    for group in groups() {
        if group.iter().any(|n| find_bz2(n).is_none()) {
            continue;
        }
        let tmp = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = group.iter().map(|n| unpack(n, tmp.path())).collect();
        let pool = pool_name(&files[0]);
        let want = zdb_lines(tmp.path(), &pool);
        if want.is_empty() {
            // zdb cannot import it either (e.g. the hot-spare group)
            continue;
        }
        let (code, got, err) = ours(&files);
        assert_eq!(
            got, want,
            "{group:?}: kzrescue (exit {code}, stderr {err}) vs zdb"
        );
        agreed += 1;
        lines += want.len();
        // redundancy: each single member of a mirror, each n-1 subset of raidz
        let subsets: Vec<Vec<PathBuf>> =
            if group[0].contains("mirror") && !group[0].contains("broken") {
                files.iter().map(|f| vec![f.clone()]).collect()
            } else if group[0].contains("raidz") {
                (0..files.len())
                    .map(|skip| {
                        files
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| *i != skip)
                            .map(|(_, f)| f.clone())
                            .collect()
                    })
                    .collect()
            } else {
                vec![]
            };
        for s in subsets {
            let (_, got, err) = ours(&s);
            assert_eq!(got, want, "{group:?} with only {s:?}: stderr {err}");
            partial_agreed += 1;
        }
    }
    println!(
        "datasets agreed with zdb -d on {agreed} pools ({lines} lines), and on {partial_agreed} degraded member subsets"
    );
    assert!(agreed >= 20, "only {agreed} pools compared");
}
