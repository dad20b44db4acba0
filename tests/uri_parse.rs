//! Storage URIs: every form of suri(7), normalization as suriadm does it,
//! mapping, and bad input.

mod common;

use kzrescue::source::uri::{AccessOptions, IscsiLu, Mapped, NfsMount, StorageUri, map};
use proptest::prelude::*;
use std::path::PathBuf;

fn norm(s: &str) -> String {
    StorageUri::parse(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .normalize()
}

#[test]
fn dev_forms_are_equivalent() {
    for s in [
        "dev:dsk/c0t0d0s0",
        "dev:/dev/dsk/c0t0d0s0",
        "dev:///dev/dsk/c0t0d0s0",
        "dev://dev/dsk/c0t0d0s0",
        "DEV:dsk/c0t0d0s0",
    ] {
        assert_eq!(norm(s), "dev:dsk/c0t0d0s0", "{s}");
    }
    assert_eq!(norm("dev:zvol/dsk/rpool/kz1"), "dev:zvol/dsk/rpool/kz1");
    assert_eq!(
        norm("dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0"),
        "dev:zvol/dsk/rpool/VARSHARE/zones/kz1/disk0"
    );
    assert_eq!(norm("dev:chassis/SYS/HD1/disk"), "dev:chassis/SYS/HD1/disk");
    // Case of the device path is kept: /dev names are case-sensitive.
    assert_eq!(
        norm("dev:dsk/c0t60A98000564C303132302D6F72613939d0"),
        "dev:dsk/c0t60A98000564C303132302D6F72613939d0"
    );
}

#[test]
fn dev_bad() {
    for (s, want) in [
        ("dev:/etc/passwd", "not under /dev"),
        ("dev:dsk/../../etc", "component"),
        ("dev:dsk/c0t0d0 s0", "component"),
        ("dev:", "empty"),
        ("dev:dsk//c0", "component"),
    ] {
        let e = StorageUri::parse(s).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("byte offset"), "{s}: {e}");
    }
}

#[test]
fn lu_forms() {
    assert_eq!(
        norm("lu:luname.naa.5000C5000288FA25"),
        "lu:luname.naa.5000c5000288fa25"
    );
    assert_eq!(
        norm("LU:LUNAME.EUI.0021280001CF80F6"),
        "lu:luname.eui.0021280001cf80f6"
    );
    assert_eq!(
        norm(
            "lu:initiator.naa.2100001D38089FB0,target.naa.2100001d38089fb0,luname.naa.5000c5000288fa25"
        ),
        "lu:initiator.naa.2100001d38089fb0,target.naa.2100001d38089fb0,luname.naa.5000c5000288fa25"
    );
    assert_eq!(
        norm("lu:luname.naa.600144F0DBF8AF19000052E820D60003"),
        "lu:luname.naa.600144f0dbf8af19000052e820d60003"
    );
    for s in [
        "lu:luname.naa.5000c50",                                         // too short
        "lu:luname.t10.5000c5000288fa25",                                // not naa/eui
        "lu:luname.naa.5000c5000288fa2g",                                // not hex
        "lu:initiator.naa.2100001d38089fb0,luname.naa.5000c5000288fa25", // two parts
        "lu:target.naa.2100001d38089fb0",
    ] {
        assert!(StorageUri::parse(s).is_err(), "{s}");
    }
}

#[test]
fn iscsi_forms() {
    assert_eq!(
        norm("iscsi://zfssa/luname.naa.600144F0DBF8AF19000052E820D60003"),
        "iscsi://zfssa/luname.naa.600144f0dbf8af19000052e820d60003"
    );
    assert_eq!(
        norm("ISCSI://HostName:3260/luname.naa.600144f03d70c80000004ea57da10001"),
        "iscsi://hostname/luname.naa.600144f03d70c80000004ea57da10001"
    );
    assert_eq!(
        norm("iscsi://hostname:3261/luname.naa.600144f03d70c80000004ea57da10001"),
        "iscsi://hostname:3261/luname.naa.600144f03d70c80000004ea57da10001"
    );
    assert_eq!(
        norm("iscsi:///luname.eui.0021280001CF80F6"),
        "iscsi:///luname.eui.0021280001cf80f6"
    );
    assert_eq!(
        norm("iscsi://[::1]/target.iqn.com.sun:02:d0f2d311-f703,lun.2"),
        "iscsi://[::1]/target.iqn.com.sun:02:d0f2d311-f703,lun.2"
    );
    assert_eq!(
        norm("iscsi://[2001:DB8::1]:3260/target.IQN.1986-03.com.sun:02:ABC,lun.0"),
        "iscsi://[2001:db8::1]/target.iqn.1986-03.com.sun:02:abc,lun.0"
    );
    assert_eq!(
        norm("iscsi://10.0.0.5:3260/target.iqn.2010-09.org.openstack:volume-1,lun.1"),
        "iscsi://10.0.0.5/target.iqn.2010-09.org.openstack:volume-1,lun.1"
    );
    match StorageUri::parse("iscsi://h:860/target.iqn.x:y,lun.7").unwrap() {
        StorageUri::Iscsi {
            host,
            port,
            lu: IscsiLu::TargetLun { target, lun },
        } => {
            assert_eq!(
                (host.as_deref(), port, target.as_str(), lun),
                (Some("h"), Some(860), "iqn.x:y", 7)
            );
        }
        other => panic!("{other:?}"),
    }
    for s in [
        "iscsi:/luname.naa.600144f03d70c80000004ea57da10001",
        "iscsi://host",
        "iscsi://host:0/luname.naa.600144f03d70c80000004ea57da10001",
        "iscsi://host:99999/luname.naa.600144f03d70c80000004ea57da10001",
        "iscsi://[::1/luname.naa.600144f03d70c80000004ea57da10001",
        "iscsi://[nothex]/luname.naa.600144f03d70c80000004ea57da10001",
        "iscsi://::1/luname.naa.600144f03d70c80000004ea57da10001", // IPv6 needs brackets
        "iscsi://a:b:3260/luname.naa.600144f03d70c80000004ea57da10001",
        "iscsi://host/target.iqn.x:y",
        "iscsi://host/target.iqn.x:y,lun.x",
        "iscsi://host/target.iqn.x:y,lun.99999",
        "iscsi://host/something",
    ] {
        assert!(StorageUri::parse(s).is_err(), "{s}");
    }
}

#[test]
fn nfs_and_file() {
    assert_eq!(
        norm("nfs://admin:staff@host/export/test/nfs_file"),
        "nfs://admin:staff@host/export/test/nfs_file"
    );
    assert_eq!(
        norm("NFS://admin:staff@host:1000/export/test/nfs_file"),
        "nfs://admin:staff@host:1000/export/test/nfs_file"
    );
    assert_eq!(norm("nfs://0:10@[::1]/e/f"), "nfs://0:10@[::1]/e/f");
    for s in [
        "nfs://host/export/f",
        "nfs://admin@host/export/f",
        "nfs://a:b@host/export/",
        "nfs://a:b@host",
    ] {
        assert!(StorageUri::parse(s).is_err(), "{s}");
    }
    assert_eq!(norm("file:///var/tmp/kz1.img"), "file:///var/tmp/kz1.img");
    assert_eq!(norm("file:/var/tmp/kz1.img"), "file:///var/tmp/kz1.img");
    assert!(StorageUri::parse("file://otherhost/x").is_err());
    assert!(StorageUri::parse("file:relative").is_err());
    assert!(StorageUri::parse("http://x/y").is_err());
    assert!(StorageUri::parse("no-scheme").is_err());
}

#[test]
fn mapping() {
    let o = AccessOptions::default();
    // file: maps to its path, whether or not it exists yet.
    assert_eq!(
        map(&StorageUri::parse("file:///x/y.img").unwrap(), &o).unwrap(),
        Mapped::Path {
            path: PathBuf::from("/x/y.img")
        }
    );
    // dev: → /dev/<path> when it exists.
    assert_eq!(
        map(&StorageUri::parse("dev:null").unwrap(), &o).unwrap(),
        Mapped::Path {
            path: PathBuf::from("/dev/null")
        }
    );
    // Solaris names without a local equivalent: the error lists where we looked.
    let e = map(&StorageUri::parse("dev:zvol/dsk/rpool/kz1").unwrap(), &o)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/dev/zvol/dsk/rpool/kz1") && e.contains("/dev/zvol/rpool/kz1"),
        "{e}"
    );
    let e = map(
        &StorageUri::parse("dev:dsk/c0t600144F0DBF8AF19000052E820D60003d0s0").unwrap(),
        &o,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("/dev/disk/by-id/wwn-0x600144f0dbf8af19000052e820d60003-part1"),
        "{e}"
    );
    let e = map(
        &StorageUri::parse("lu:luname.naa.5000C5000288FA25").unwrap(),
        &o,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("/dev/disk/by-id/wwn-0x5000c5000288fa25"), "{e}");
    // iscsi: default port; host-less needs a portal.
    assert_eq!(
        map(
            &StorageUri::parse("iscsi://zfssa/luname.naa.600144F0DBF8AF19000052E820D60003")
                .unwrap(),
            &o
        )
        .unwrap(),
        Mapped::Iscsi {
            portal: "zfssa:3260".into(),
            lu: match StorageUri::parse("iscsi://zfssa/luname.naa.600144F0DBF8AF19000052E820D60003")
                .unwrap()
            {
                StorageUri::Iscsi { lu, .. } => lu,
                _ => unreachable!(),
            }
        }
    );
    let hostless =
        StorageUri::parse("iscsi:///luname.naa.600144f0dbf8af19000052e820d60003").unwrap();
    assert!(
        map(&hostless, &o)
            .unwrap_err()
            .to_string()
            .contains("names no portal")
    );
    let with_portal = AccessOptions {
        iscsi_portal: Some("[::1]".into()),
        ..AccessOptions::default()
    };
    match map(&hostless, &with_portal).unwrap() {
        Mapped::Iscsi { portal, .. } => assert_eq!(portal, "[::1]:3260"),
        m => panic!("{m:?}"),
    }
    // nfs: only through a declared mount.
    let u = StorageUri::parse("nfs://admin:staff@filer/export/test/kz1.img").unwrap();
    let e = map(&u, &o).unwrap_err().to_string();
    assert!(e.contains("--nfs-mount"), "{e}");
    let m = AccessOptions {
        nfs_mounts: vec![NfsMount::parse("filer:/export=/mnt/x").unwrap()],
        ..AccessOptions::default()
    };
    assert_eq!(
        map(&u, &m).unwrap(),
        Mapped::Path {
            path: PathBuf::from("/mnt/x/test/kz1.img")
        }
    );
    let m = AccessOptions {
        nfs_mounts: vec![NfsMount::parse("filer:/export/test=/mnt/t").unwrap()],
        ..AccessOptions::default()
    };
    assert_eq!(
        map(&u, &m).unwrap(),
        Mapped::Path {
            path: PathBuf::from("/mnt/t/kz1.img")
        }
    );
    let m = AccessOptions {
        nfs_mounts: vec![NfsMount::parse("other:/export=/mnt/x").unwrap()],
        ..AccessOptions::default()
    };
    assert!(map(&u, &m).is_err());
    let m = AccessOptions {
        nfs_mounts: vec![NfsMount::parse("filer:/exp=/mnt/x").unwrap()],
        ..AccessOptions::default()
    };
    assert!(
        map(&u, &m).is_err(),
        "/exp is not a prefix directory of /export"
    );
}

#[test]
fn cli_parse_normalize_map() {
    let (code, out, err) = common::kzrescue(&["uri", "normalize", "dev:///dev/dsk/c0t0d0s0"]);
    assert_eq!((code, out.trim()), (0, "dev:dsk/c0t0d0s0"), "{err}");
    let (code, out, _) = common::kzrescue(&[
        "uri",
        "parse",
        "--json",
        "iscsi://Zfssa:3260/luname.naa.600144F0DBF8AF19000052E820D60003",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["uri-type"], "iscsi");
    assert_eq!(v["schema"], "kzrescue.uri/1");
    assert_eq!(
        v["uri"],
        "iscsi://zfssa/luname.naa.600144f0dbf8af19000052e820d60003"
    );
    assert_eq!(v["host"], "Zfssa");
    assert_eq!(
        v["mapped-dev"],
        "/dev/dsk/c#t600144F0DBF8AF19000052E820D60003d0"
    );
    let (code, out, _) = common::kzrescue(&[
        "uri",
        "map",
        "--nfs-mount",
        "h:/e=/mnt/q",
        "nfs://a:b@h/e/f.img",
    ]);
    assert_eq!((code, out.trim()), (0, "/mnt/q/f.img"));
    let (code, _, err) = common::kzrescue(&["uri", "map", "nfs://a:b@h/e/f.img"]);
    assert_eq!(code, 2);
    assert!(err.contains("--nfs-mount"), "{err}");
    let (code, _, err) = common::kzrescue(&["uri", "parse", "lu:luname.naa.12"]);
    assert_eq!(code, 2);
    assert!(err.contains("byte offset"), "{err}");
    // Commands that take a target take a URI: file: and a missing dev:.
    let dir = tempfile::tempdir().unwrap();
    let img = common::unpack_fixture("gpt-x86-efi-512.img", dir.path());
    let (c1, o1, e1) = common::kzrescue(&["partitions", "--json", img.to_str().unwrap()]);
    let (c2, o2, e2) =
        common::kzrescue(&["partitions", "--json", &format!("file://{}", img.display())]);
    assert_eq!((c1, c2), (0, 0), "{e1} {e2}");
    assert_eq!(o1, o2);
    let (c, _, e) = common::kzrescue(&["partitions", "dev:zvol/dsk/rpool/nonexistent"]);
    assert_eq!(c, 2);
    assert!(e.contains("no such device here"), "{e}");
}

/// The global options count wherever they are given: before the
/// subcommand, after it, after a nested one; given on both sides, the one
/// after the subcommand wins (as with clap's `global`), and `--json-int`
/// holds wherever it stands.
#[test]
fn global_options_before_and_after_the_subcommand() {
    let (a, b) = ("h:/e=/mnt/a", "h:/e=/mnt/b");
    let uri = "nfs://u:g@h/e/f.img";
    for (args, want) in [
        (vec!["--nfs-mount", a, "uri", "map", uri], "/mnt/a/f.img"),
        (vec!["uri", "map", uri, "--nfs-mount", b], "/mnt/b/f.img"),
        (
            vec!["--nfs-mount", a, "uri", "map", uri, "--nfs-mount", b],
            "/mnt/b/f.img",
        ),
        (
            vec!["--nfs-mount", a, "--iscsi-portal", "p", "uri", "map", uri],
            "/mnt/a/f.img",
        ),
    ] {
        let (code, out, err) = common::kzrescue(&args);
        assert_eq!((code, out.trim()), (0, want), "{args:?}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let img = common::unpack_fixture("gpt-x86-efi-512.img", dir.path());
    let img = img.to_str().unwrap();
    let size = |args: &[&str]| {
        let (code, out, err) = common::kzrescue(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["disk_size"].clone()
    };
    let plain = size(&["partitions", "--json", img]);
    assert!(plain.is_string(), "{plain}");
    for args in [
        ["--json-int", "partitions", "--json", img],
        ["partitions", "--json", img, "--json-int"],
    ] {
        let n = size(&args);
        assert!(n.is_u64(), "{args:?}: {n}");
        assert_eq!(n.to_string(), plain.as_str().unwrap());
    }
    // a bad value after the subcommand is refused by the parser (exit 2)
    let (code, _, err) = common::kzrescue(&["partitions", img, "--iscsi-digest", "bogus"]);
    assert_eq!(code, 2);
    assert!(err.contains("--iscsi-digest"), "{err}");
}

fn hex_id(n: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::sample::select(b"0123456789abcdefABCDEF".to_vec()),
        n,
    )
    .prop_map(|v| String::from_utf8(v).unwrap())
}

proptest! {
    /// Arbitrary text never panics the parser.
    #[test]
    fn parse_never_panics(s in "\\PC{0,80}") {
        let _ = StorageUri::parse(&s);
    }

    /// Arbitrary text after a valid scheme never panics either.
    #[test]
    fn parse_scheme_tails(scheme in proptest::sample::select(vec!["dev:", "file:", "lu:", "iscsi:", "nfs:"]), s in "[ -~]{0,60}") {
        let _ = StorageUri::parse(&format!("{scheme}{s}"));
    }

    /// Normalizing is idempotent and parses back to the same object.
    #[test]
    fn normalize_idempotent(id in hex_id(32), host in "[a-zA-Z][a-zA-Z0-9-]{0,10}", port in proptest::option::of(1u16..), lun in 0u64..16384) {
        let p = port.map(|p| format!(":{p}")).unwrap_or_default();
        for s in [
            format!("iscsi://{host}{p}/luname.naa.{id}"),
            format!("iscsi://{host}{p}/target.iqn.2026-11.x:{host},lun.{lun}"),
            format!("lu:luname.naa.{id}"),
            format!("dev:/dev/dsk/c0t{id}d0"),
        ] {
            let n1 = StorageUri::parse(&s).unwrap().normalize();
            let n2 = StorageUri::parse(&n1).unwrap().normalize();
            prop_assert_eq!(&n1, &n2);
            if s.starts_with("iscsi") || s.starts_with("lu") {
                prop_assert_eq!(n1.clone(), n1.to_lowercase());
                prop_assert!(!n1.contains(":3260/"));
            }
        }
    }
}
