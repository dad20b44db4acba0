//! ZFS labels and partition tables read over iSCSI equal those read from the
//! backing file: the `Source` seam makes a LUN look like any disk.

mod common;

use common::iscsi::Tgt;
use kzrescue::source::iscsi::{IscsiSource, LuSelector, SessionConfig};
use kzrescue::source::{FileSource, OpenMode, Source};
use kzrescue::zfs::label;
use std::process::Command;

const POOL: &str = "/usr/share/zfs/zfs-tests/tests/functional/cli_root/zpool_upgrade/blockfiles/zfs-pool-v15.dat.bz2";

fn strip_target(json: &str) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    if let Some(o) = v.as_object_mut() {
        o.remove("target");
    }
    v
}

#[test]
fn labels_and_partitions_over_iscsi_equal_file() {
    let Some(t) = Tgt::start("labels_and_partitions_over_iscsi_equal_file") else {
        return;
    };
    if !common::require_tool(
        "bzip2",
        "bzip2",
        "labels_and_partitions_over_iscsi_equal_file",
    ) {
        return;
    }
    if !std::path::Path::new(POOL).exists() {
        assert!(!common::in_ci(), "{POOL} missing (Debian zfs-test)");
        println!(
            "SKIPPED labels_and_partitions_over_iscsi_equal_file: {POOL} missing (install zfs-test)"
        );
        return;
    }
    let pool = t.dir.path().join("pool.img");
    let out = Command::new("bzip2").args(["-dc", POOL]).output().unwrap();
    std::fs::write(&pool, &out.stdout).unwrap();
    let gpt = common::unpack_fixture("gpt-x86-efi-512.img", t.dir.path());
    let gpt4k = common::unpack_fixture("gpt-x86-efi-4k.img", t.dir.path());
    t.target(1, "iqn.2026-11.org.kzrescue.test:pool");
    t.lun(1, 1, &pool, "600144f0a613c900000054521d5500aa", None);
    t.lun(1, 2, &gpt, "600144f0a613c900000054521d5500ab", None);
    t.lun(1, 3, &gpt4k, "600144f0a613c900000054521d5500ac", Some(4096));

    // Library level: the four labels decode identically.
    let cfg = SessionConfig::new(&t.portal(), None);
    let lun = IscsiSource::open(
        "pool",
        &cfg,
        &LuSelector::Name("naa.600144f0a613c900000054521d5500aa".into()),
        false,
    )
    .unwrap();
    let file = FileSource::open(&pool, OpenMode::ReadOnly).unwrap();
    assert_eq!(lun.size(), file.size());
    let a = format!("{:?}", label::read_labels(&lun));
    let b = format!("{:?}", label::read_labels(&file));
    assert_eq!(a, b);
    assert!(a.contains("Valid"), "{a}");

    // CLI level, through the shared target opener: partition tables of a GPT
    // disk (512 and 4096-byte LUNs) by URI equal those of the file.
    for (id, img) in [("ab", &gpt), ("ac", &gpt4k)] {
        let uri = format!(
            "iscsi://{}/luname.naa.600144F0A613C900000054521D5500{}",
            t.portal(),
            id.to_uppercase()
        );
        let (c1, o1, e1) = common::kzrescue(&["partitions", "--json", "--json-int", &uri]);
        let (c2, o2, e2) =
            common::kzrescue(&["partitions", "--json", "--json-int", img.to_str().unwrap()]);
        assert_eq!((c1, c2), (0, 0), "{e1}\n{e2}");
        assert_eq!(
            strip_target(&o1),
            strip_target(&o2),
            "partitions over {uri}"
        );
    }

    // label --json and uberblocks --json over the LU's URI equal those of the file.
    let uri = format!(
        "iscsi://{}/luname.naa.600144F0A613C900000054521D5500AA",
        t.portal()
    );
    for cmd in ["label", "uberblocks"] {
        let (c1, o1, e1) = common::kzrescue(&[cmd, "--json", "--json-int", &uri]);
        let (c2, o2, e2) = common::kzrescue(&[cmd, "--json", "--json-int", pool.to_str().unwrap()]);
        assert_eq!(c1, c2, "{cmd}: {e1}\n{e2}");
        assert!(!o1.is_empty(), "{cmd}: {e1}");
        assert_eq!(
            strip_target(&o1),
            strip_target(&o2),
            "{cmd} --json over {uri}"
        );
    }
}

/// physpath set --write over iSCSI (target,lun URI), then the real tools on
/// the backing file: `zdb -l` shows the new phys_path in all four labels and
/// `zdb -e` still imports the pool.
#[test]
fn physpath_write_over_iscsi_then_zdb() {
    let Some(t) = Tgt::start("physpath_write_over_iscsi_then_zdb") else {
        return;
    };
    for tool in ["bzip2", "zdb"] {
        let pkg = if tool == "zdb" {
            "zfsutils-linux"
        } else {
            "bzip2"
        };
        if !common::require_tool(tool, pkg, "physpath_write_over_iscsi_then_zdb") {
            return;
        }
    }
    if !std::path::Path::new(POOL).exists() {
        assert!(!common::in_ci(), "{POOL} missing (Debian zfs-test)");
        println!("SKIPPED physpath_write_over_iscsi_then_zdb: {POOL} missing (install zfs-test)");
        return;
    }
    let dir = t.dir.path().join("pool");
    std::fs::create_dir(&dir).unwrap();
    let pool = dir.join("pool.img");
    let out = Command::new("bzip2").args(["-dc", POOL]).output().unwrap();
    std::fs::write(&pool, &out.stdout).unwrap();
    t.target(1, "iqn.2026-11.org.kzrescue.test:pool");
    t.lun(1, 1, &pool, "600144f0a613c900000054521d5500ad", None);
    let uri = format!(
        "iscsi://{}/target.iqn.2026-11.org.kzrescue.test:pool,lun.1",
        t.portal()
    );
    let journal = t.dir.path().join("undo.journal");
    let (code, o, e) = common::kzrescue(&[
        "physpath",
        "set",
        "--phys-path",
        "/zvnex/zvblk@1:b",
        "--write",
        "--liveness-interval",
        "0",
        "--journal",
        journal.to_str().unwrap(),
        &uri,
    ]);
    assert_eq!(code, 0, "{o}\n{e}");
    let zl = Command::new("zdb").arg("-l").arg(&pool).output().unwrap();
    let text = String::from_utf8_lossy(&zl.stdout);
    assert!(text.contains("phys_path: '/zvnex/zvblk@1:b'"), "{text}");
    assert!(text.contains("labels = 0 1 2 3"), "{text}");
    let name = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("name: '"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("pool name")
        .to_string();
    let ze = Command::new("zdb")
        .args(["-e", "-p"])
        .arg(&dir)
        .arg(&name)
        .arg("-u")
        .output()
        .unwrap();
    assert!(
        ze.status.success(),
        "zdb -e: {}{}",
        String::from_utf8_lossy(&ze.stdout),
        String::from_utf8_lossy(&ze.stderr)
    );
}
