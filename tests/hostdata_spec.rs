//! formats/hostdata.md is complete and true: its worked example is exactly
//! what kzrescue produces, and an independent implementation written from
//! the document alone (tests/hostdata_independent.py, on python3-cryptography's
//! AES-CCM) reads what kzrescue writes and writes what kzrescue reads.

mod common;
mod hostdata_util;

use common::{kzrescue, require_tool, root, unpack_fixture};
use kzrescue::hostdata::{self, HostData, HostKey, SuspendInfo, container};
use std::path::Path;

/// The documented test key 00 01 … 0f.
fn doc_key() -> HostKey {
    let mut k = [0u8; 16];
    for (i, b) in k.iter_mut().enumerate() {
        *b = i as u8;
    }
    HostKey::from_bytes(&mut k)
}

/// The documented nonce 10 11 … 1b.
const DOC_NONCE: [u8; 12] = [
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
];

fn doc_payload() -> HostData {
    HostData {
        zonename: "kzone1".into(),
        owner_hostid: 0x848611d4,
        owner_hostname: "global2".into(),
        state: "installed".into(),
        be_name: "solaris-1".into(),
        be_uuid: "69ed2e6a-e25a-6d36-e022-ed7261ed8899".into(),
        last_update: 1_397_419_693,
        tod_offset_ns: -1_500_000_000,
        suspend: SuspendInfo {
            suspended: false,
            image: String::new(),
            time: 0,
            extra: Vec::new(),
        },
        obp_vars: vec![("auto-boot?".into(), "true".into())],
        generation: 1,
        extra: Vec::new(),
    }
}

fn dump(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(i, c)| {
            let hex: Vec<String> = c.iter().map(|b| format!("{b:02x}")).collect();
            format!("{:04x}: {}\n", i * 16, hex.join(" "))
        })
        .collect()
}

/// The hex bytes of the fenced block that follows `marker` in the document.
fn doc_block(doc: &str, marker: &str) -> Vec<u8> {
    let at = doc
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in the document"));
    let rest = &doc[at..];
    let start = rest.find("```\n").unwrap() + 4;
    let end = start + rest[start..].find("```").unwrap();
    let mut out = Vec::new();
    for line in rest[start..end].lines() {
        let (_, hex) = line.split_once(": ").unwrap();
        for h in hex.split_whitespace() {
            out.push(u8::from_str_radix(h, 16).unwrap());
        }
    }
    out
}

#[test]
fn worked_example_is_what_kzrescue_writes() {
    let plain = hostdata::payload_encode(&doc_payload()).unwrap();
    let copy = container::seal(&doc_key(), 1, DOC_NONCE, &plain).unwrap();
    if std::env::var("KZR_PRINT_EXAMPLE").is_ok() {
        println!(
            "key id {}\nPAYLOAD\n{}COPY\n{}",
            doc_key().id(),
            dump(&plain),
            dump(&copy)
        );
    }
    let doc = std::fs::read_to_string(root().join("formats/hostdata.md")).unwrap();
    assert_eq!(doc_block(&doc, "<!-- example: payload -->"), plain);
    assert_eq!(doc_block(&doc, "<!-- example: copy -->"), copy);
    assert!(doc.contains(&format!("key id `{}`", doc_key().id())));
    // And it opens back into the documented payload.
    match container::parse(&copy) {
        container::Slot::Sealed(s) => {
            let p = s.open(&doc_key()).unwrap();
            assert_eq!(hostdata::payload_decode(&p).unwrap(), doc_payload());
        }
        other => panic!("{other:?}"),
    }
}

fn python_ready(test: &str) -> bool {
    if !require_tool("python3", "python3", test) {
        return false;
    }
    let ok = std::process::Command::new("python3")
        .args([
            "-c",
            "from cryptography.hazmat.primitives.ciphers.aead import AESCCM",
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            !common::in_ci(),
            "{test}: python3-cryptography missing and CI=true"
        );
        println!(
            "SKIPPED {test}: python3 module cryptography missing (install python3-cryptography)"
        );
    }
    ok
}

fn py(args: &[&str]) -> (bool, String, String) {
    let script = root().join("tests/hostdata_independent.py");
    let o = std::process::Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

#[test]
fn independent_reader_reads_kzrescue_output() {
    if !python_ready("independent_reader_reads_kzrescue_output") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = unpack_fixture("gpt-x86-efi-512.img", dir.path());
    let key = dir.path().join("kzone1");
    let j = dir.path().join("u1");
    let (c, out, err) = kzrescue(&[
        "hostdata",
        "init",
        p(&disk),
        "--zone",
        "kzone1",
        "--key-out",
        p(&key),
        "--hostid",
        "848611d4",
        "--hostname",
        "global2",
        "--be-name",
        "solaris-1",
        "--be-uuid",
        "69ED2E6A-E25A-6D36-E022-ED7261ED8899",
        "--write",
        "--liveness-interval",
        "0.1",
        "--journal",
        p(&j),
    ]);
    assert_eq!(c, 0, "{out}{err}");
    let (ok, out, err) = py(&["read", p(&disk), p(&key)]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for (i, name) in ["primary", "backup"].iter().enumerate() {
        assert_eq!(v[i]["copy"], *name);
        assert_eq!(v[i]["state"], "valid", "{out}");
        let pl = &v[i]["payload"];
        assert_eq!(pl["zonename"], "kzone1");
        assert_eq!(pl["owner_hostid"], 0x848611d4u32);
        assert_eq!(pl["owner_hostname"], "global2");
        assert_eq!(pl["be_uuid"], "69ed2e6a-e25a-6d36-e022-ed7261ed8899");
        assert_eq!(pl["state"], "installed");
        assert_eq!(pl["generation"], 1);
        assert_eq!(pl["payload_version"], 1);
        assert_eq!(pl["suspend"]["suspended"], false);
    }
    // A wrong key: the independent reader also says "key-incorrect".
    let other = dir.path().join("other");
    std::fs::write(
        &other,
        "kzrescue-hostdata-key 1\naes-128-ccm ffeeddccbbaa99887766554433221100\n",
    )
    .unwrap();
    let (ok, out, _) = py(&["read", p(&disk), p(&other)]);
    assert!(ok);
    assert!(out.contains("\"state\": \"key-incorrect\""), "{out}");
}

#[test]
fn kzrescue_reads_independent_writer_output() {
    if !python_ready("kzrescue_reads_independent_writer_output") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The python reader assumes 512-byte sectors.
    let disk512 = unpack_fixture("gpt-sparc-512.img", dir.path());
    let key = dir.path().join("k");
    std::fs::write(
        &key,
        "kzrescue-hostdata-key 1\nzone kzone9\naes-128-ccm 00112233445566778899aabbccddeeff\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let d = serde_json::json!({
        "zonename": "kzone9", "owner_hostid": 0x2b2044c5u32, "owner_hostname": "gz9",
        "state": "running", "be_name": "be9", "be_uuid": "",
        "last_update": 1_600_000_000i64, "tod_offset_ns": 42i64,
        "suspend": {"suspended": true, "image": "/system/zones/kzone9/suspend", "time": 1_599_999_999i64},
        "obp_vars": [["auto-boot?", "false"], ["boot-device", "disk0"]],
        "generation": 7
    });
    let (ok, _, err) = py(&["write", p(&disk512), p(&key), &d.to_string()]);
    assert!(ok, "{err}");
    let (c, out, err) = kzrescue(&["hostdata", "show", p(&disk512), "--key", p(&key), "--json"]);
    assert_eq!(c, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let h = &v["host_data"];
    assert_eq!(v["verdict"], "healthy");
    assert_eq!(h["zonename"], "kzone9");
    assert_eq!(h["owner_hostid"], 0x2b2044c5u32);
    assert_eq!(h["tod_offset_ns"], 42);
    assert_eq!(h["suspend"]["suspended"], true);
    assert_eq!(h["suspend"]["image"], "/system/zones/kzone9/suspend");
    assert_eq!(h["obp_vars"][1][0], "boot-device");
    assert_eq!(h["generation"], 7);
    // kzrescue can take over what the other implementation wrote.
    let j = dir.path().join("u");
    let (c, out, err) = kzrescue(&[
        "hostdata",
        "takeover",
        p(&disk512),
        "--key",
        p(&key),
        "--hostid",
        "1",
        "--hostname",
        "me",
        "--write",
        "--liveness-interval",
        "0.1",
        "--journal",
        p(&j),
    ]);
    assert_eq!(c, 0, "{out}{err}");
    let (ok, out, err) = py(&["read", p(&disk512), p(&key)]);
    assert!(ok, "{err}");
    assert!(out.contains("\"owner_hostname\": \"me\""), "{out}");
    assert!(out.contains("\"generation\": 8"), "{out}");
    assert!(out.contains("\"boot-device\": \"disk0\""), "{out}");
}
