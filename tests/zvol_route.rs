//! The zvol route (issue 18): the generated Solaris host commands, pinned by
//! goldens; `diagnose` pointing at them for a zvol it cannot open; and the
//! initiator's write-protection handling against the real thing — tgtd on
//! 127.0.0.1 serving the demo zone's disk as a read-only LU, then
//! read-write: diagnose works read-only, repair refuses before the first
//! byte with the lifting command, then writes; zdb imports the result from
//! each label alone, and undo over iSCSI restores every byte.

mod common;

use common::iscsi::Tgt;
use kzrescue::Error;
use kzrescue::source::Source;
use kzrescue::source::iscsi::{IscsiSource, LuSelector, SessionConfig};
use std::path::Path;
use std::time::Duration;

const STORAGE: &str = "dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0";
/// The demo disk's LU name: the GUID its global-zone phys_path carries.
const SCSI_ID: &str = "600144f0a613c900000054521d550001";
const IQN: &str = "iqn.2026-11.org.kzrescue.test:zvol";

fn golden_dir() -> std::path::PathBuf {
    common::root().join("tests/zvol_route_golden")
}

/// Compares `got` with golden `name`; `KZRESCUE_BLESS=1` rewrites it.
fn check_golden(name: &str, got: &str) {
    let p = golden_dir().join(name);
    if std::env::var("KZRESCUE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&p, got).unwrap();
    }
    let want = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if got != want {
        let line = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        panic!(
            "{name} differs from the golden at line {}:\n got: {:?}\nwant: {:?}\n(KZRESCUE_BLESS=1 rewrites it after review)",
            line + 1,
            got.lines().nth(line),
            want.lines().nth(line)
        );
    }
}

fn route_args(json: bool) -> Vec<&'static str> {
    let mut a = vec![
        "uri",
        "map",
        STORAGE,
        "--via-iscsi",
        "--rescue-host",
        "192.0.2.10",
        "--initiator",
        "iqn.2026-11.org.kzrescue:rescue",
        "--zone",
        "kz1",
    ];
    if json {
        a.push("--json");
    }
    a
}

#[test]
fn generated_route_for_the_demo_zone_matches_the_golden() {
    let (code, text, err) = common::kzrescue(&route_args(false));
    assert_eq!(code, 0, "{err}");
    check_golden("kz1.txt", &text);
    let (code, json, err) = common::kzrescue(&route_args(true));
    assert_eq!(code, 0, "{err}");
    check_golden("kz1.json", &json);

    // The README shows this very output.
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    assert!(
        readme.contains(text.trim_end()),
        "README's \"When the disk is a zvol on the host\" no longer shows the generated route"
    );

    // The JSON steps are the text's commands, in the same order.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema"], "kzrescue.zvol-route/2");
    let steps = v["steps"].as_array().unwrap();
    let mut pos = 0;
    for s in steps {
        let cmd = s["command"].as_str().unwrap();
        let at = text[pos..]
            .find(cmd)
            .unwrap_or_else(|| panic!("{cmd:?} missing or out of order in the text"));
        pos += at + cmd.len();
    }
    let ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids.first(), Some(&"zone-state"));
    assert_eq!(ids.last(), Some(&"zone-boot"));
    let create = steps.iter().find(|s| s["id"] == "create-lu").unwrap();
    assert_eq!(create["sets"], "GUID");
    assert_eq!(
        create["argv"],
        serde_json::json!([
            "stmfadm",
            "create-lu",
            "-p",
            "wp=true",
            "/dev/zvol/rdsk/rpool/VARSHARE/zones/kz1/disk0"
        ])
    );
    assert_eq!(
        v["lus"][0]["map"],
        format!("{STORAGE}=iscsi://192.0.2.10/luname.naa.$GUID")
    );
}

#[test]
fn route_refuses_what_it_cannot_export() {
    let (code, _, err) = common::kzrescue(&[
        "uri",
        "map",
        "dev:dsk/c0t0d0",
        "--via-iscsi",
        "--rescue-host",
        "192.0.2.10",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ZFS volumes"), "{err}");
    let (code, _, err) = common::kzrescue(&["uri", "map", STORAGE, "--via-iscsi"]);
    assert_eq!(code, 2);
    assert!(err.contains("--rescue-host"), "{err}");
    let (code, _, err) = common::kzrescue(&["uri", "map", STORAGE, "dev:zvol/dsk/a/b"]);
    assert_eq!(code, 2);
    assert!(err.contains("several only with --via-iscsi"), "{err}");
}

fn demo_zone(dir: &Path) -> (String, String) {
    let cfg = dir.join("kz1.zonecfg");
    std::fs::copy(common::root().join("testimages/demo-kz1.cfg"), &cfg).unwrap();
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(keys.join("kz1"))
            .unwrap();
        f.write_all(&std::fs::read(common::root().join("testimages/demo-kz1.key")).unwrap())
            .unwrap();
    }
    (cfg.display().to_string(), keys.display().to_string())
}

fn findings<'a>(v: &'a serde_json::Value, check: &str) -> Vec<&'a serde_json::Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == check)
        .collect()
}

#[test]
fn diagnose_points_an_unopenable_zvol_at_the_route() {
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, keys) = demo_zone(tmp.path());
    let (code, out, err) = common::kzrescue(&[
        "diagnose",
        "--zone-config",
        &cfg,
        "--zone",
        "kz1",
        "--keys",
        &keys,
        "--json",
    ]);
    assert_eq!(code, 2, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let route = findings(&v, "zvol-route");
    assert_eq!(route.len(), 1, "{out}");
    assert_eq!(route[0]["severity"], "info");
    assert!(
        route[0]["message"]
            .as_str()
            .unwrap()
            .contains("rpool/VARSHARE/zones/kz1/disk0"),
        "{out}"
    );
    assert_eq!(
        route[0]["fix"],
        format!(
            "kzrescue uri map {STORAGE} --via-iscsi --rescue-host SOLARIS-HOST-ADDRESS --zone kz1"
        )
    );
    // The command it names works once the address is filled in.
    let fix = route[0]["fix"]
        .as_str()
        .unwrap()
        .replace("SOLARIS-HOST-ADDRESS", "192.0.2.10");
    let args: Vec<&str> = fix.split(' ').skip(1).collect();
    let (code, text, err) = common::kzrescue(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("stmfadm create-lu -p wp=true /dev/zvol/rdsk/rpool/VARSHARE/zones/kz1/disk0")
    );

    // A zvol mapped to a copy is opened, so no route is proposed.
    let img = common::unpack_fixture("demo-kz1.img", tmp.path());
    let (_, out, _) = common::kzrescue(&[
        "diagnose",
        "--zone-config",
        &cfg,
        "--zone",
        "kz1",
        "--keys",
        &keys,
        "--map",
        &format!("{STORAGE}={}", img.display()),
        "--liveness-interval",
        "0",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(findings(&v, "zvol-route").is_empty(), "{out}");
}

fn sha(p: &Path) -> Vec<u8> {
    common::physpath::sha(&std::fs::read(p).unwrap())
}

fn set_readonly(t: &Tgt, on: bool) {
    t.adm(&[
        "--op",
        "update",
        "--mode",
        "logicalunit",
        "--tid",
        "1",
        "--lun",
        "1",
        "--params",
        &format!("readonly={}", u8::from(on)),
    ]);
}

/// tgtd serving `img` as LUN 1 of target 1, LU name naa.SCSI_ID.
fn serve(t: &Tgt, img: &Path) {
    t.target(1, IQN);
    t.lun(1, 1, img, SCSI_ID, None);
}

#[test]
fn tgt_read_only_lu_then_read_write_repair_zdb_and_undo() {
    let test = "tgt_read_only_lu_then_read_write_repair_zdb_and_undo";
    let Some(t) = Tgt::start(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, keys) = demo_zone(tmp.path());
    let img = common::unpack_fixture("demo-kz1.img", tmp.path());
    let original = std::fs::read(&img).unwrap();
    serve(&t, &img);
    set_readonly(&t, true);
    // The URI as the route prints it (create-lu's GUID is upper case).
    let uri = format!(
        "iscsi://127.0.0.1:{}/luname.naa.{}",
        t.port,
        SCSI_ID.to_uppercase()
    );
    let map = format!("{STORAGE}={uri}");
    let journals = tmp.path().join("journals");
    std::fs::create_dir_all(&journals).unwrap();
    let jdir = journals.display().to_string();
    let common_args = [
        "--zone-config",
        &cfg,
        "--zone",
        "kz1",
        "--keys",
        &keys,
        "--hostid",
        "1a2b3c4d",
        "--map",
        &map,
        "--liveness-interval",
        "0.2",
    ];

    // The LU says it is write-protected.
    let (code, out, err) = common::kzrescue(&["iscsi", "inquiry", &uri]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("write-protected yes"), "{out}");

    // 1. diagnose over the read-only LU: the phys_path problem is found.
    let mut a = vec!["diagnose"];
    a.extend(common_args);
    a.push("--json");
    let (code, out, err) = common::kzrescue(&a);
    assert_eq!(code, 1, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        findings(&v, "phys_path")[0]["severity"],
        "repairable",
        "{out}"
    );
    assert_eq!(findings(&v, "liveness")[0]["severity"], "ok", "{out}");
    assert!(findings(&v, "zvol-route").is_empty());

    // 2. repair --write refuses before the first byte, naming the lifting command.
    let mut a = vec!["repair"];
    a.extend(common_args);
    a.extend(["--journal-dir", &jdir, "--write"]);
    let (code, out, err) = common::kzrescue(&a);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("write-protected"), "{err}");
    assert!(
        err.contains("tgtadm --lld iscsi --op update --mode logicalunit --tid <TID> --lun 1 --params readonly=0"),
        "{err}"
    );
    assert!(std::fs::read(&img).unwrap() == original, "a byte changed");
    assert_eq!(
        std::fs::read_dir(&journals).unwrap().count(),
        0,
        "journal written"
    );

    // 3. The LU made read-write: the repair writes.
    set_readonly(&t, false);
    let (code, out, err) = common::kzrescue(&a);
    assert!(code == 0 || code == 1, "{code}: {out}{err}");
    let repaired = std::fs::read(&img).unwrap();
    assert!(repaired != original, "nothing was written");
    let (code, out, _) = common::kzrescue(&["label", &img.display().to_string(), "--json"]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("/zvnex/zvblk@0:b").count(), 4, "{out}");

    // zdb imports the repaired pool from each label alone.
    if common::require_tool("zdb", "zfsutils-linux", test) {
        let (code, out, _) = common::kzrescue(&[
            "partitions",
            &img.display().to_string(),
            "--json",
            "--json-int",
        ]);
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let s1 = v["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["slice"] == 1)
            .unwrap();
        let (start, len) = (
            s1["start"].as_u64().unwrap() as usize,
            s1["len"].as_u64().unwrap() as usize,
        );
        let vdev = &repaired[start..start + len];
        let alone = common::physpath::labels_that_import_alone(vdev, "rpool", tmp.path());
        assert_eq!(alone, vec![0, 1, 2, 3], "labels importing alone");
    }

    // 4. undo over iSCSI (the journal names the URI) restores every byte.
    let mut js: Vec<_> = std::fs::read_dir(&journals)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(js.len(), 1, "{js:?}");
    let j = js.pop().unwrap().display().to_string();
    let (code, out, err) = common::kzrescue(&["undo", &j, "--write"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("iscsi://127.0.0.1"), "{out}");
    assert!(
        std::fs::read(&img).unwrap() == original,
        "undo did not restore every byte"
    );
    drop(t);
}

#[test]
fn data_protect_on_write_is_a_clean_refusal() {
    let test = "data_protect_on_write_is_a_clean_refusal";
    let Some(t) = Tgt::start(test) else {
        return;
    };
    let data = common::iscsi::pattern(4 << 20, 3);
    let img = t.file("lu.img", &data);
    serve(&t, &img);
    let mut cfg = SessionConfig::new(&t.portal(), None);
    cfg.io_timeout = Duration::from_secs(5);
    let sel = LuSelector::Name(format!("naa.{SCSI_ID}"));

    // Opened for writing while writable; the target then protects it.
    let src = IscsiSource::open("lu", &cfg, &sel, true).unwrap();
    set_readonly(&t, true);
    let t0 = std::time::Instant::now();
    match src.write_at(8192, &[0x5a; 4096]) {
        Err(Error::Refused(m)) => {
            assert!(m.contains("DATA PROTECT"), "{m}");
            assert!(m.contains("no byte was acknowledged"), "{m}");
            assert!(m.contains("readonly=0"), "{m}");
        }
        other => panic!("write to a protected LU: {other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(5), "the refusal waited");
    assert!(sha(&img) == common::physpath::sha(&data), "a byte changed");
    drop(src);

    // Opening it for writing now is refused before any write; reading works.
    match IscsiSource::open("lu", &cfg, &sel, true) {
        Err(Error::Refused(m)) => assert!(m.contains("MODE SENSE"), "{m}"),
        other => panic!("open for writing: {other:?}"),
    }
    let ro = IscsiSource::open("lu", &cfg, &sel, false).unwrap();
    let mut buf = vec![0u8; 4096];
    ro.read_at(8192, &mut buf).unwrap();
    assert!(buf == data[8192..12288]);
    drop(ro);

    // Writable again: the write goes through.
    set_readonly(&t, false);
    let src = IscsiSource::open("lu", &cfg, &sel, true).unwrap();
    src.write_at(8192, &[0x5a; 4096]).unwrap();
    src.flush().unwrap();
    drop(src);
    assert!(std::fs::read(&img).unwrap()[8192..12288] == [0x5a; 4096]);
}
