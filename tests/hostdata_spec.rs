//! formats/hostdata.md is complete and true: its worked example is exactly
//! what kzrescue produces, and an independent implementation written from
//! the document alone (tests/hostdata_independent.py, on python3-cryptography's
//! AES-CCM) reads what kzrescue writes and writes what kzrescue reads.

mod common;

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
        "suspend": {"suspended": true, "image": "/system/zones/kzone9/suspend", "time": 1_599_999_999i64,
                    "other_pairs": [["resume_uri", 9, "nfs://h/kzone9"]]},
        "obp_vars": [["auto-boot?", "false"], ["boot-device", "disk0"]],
        "generation": 7,
        "other_pairs": [["future_count", 8, 5]]
    });
    let (ok, _, err) = py(&["write", p(&disk512), p(&key), &d.to_string()]);
    assert!(ok, "{err}");
    let (c, out, err) = kzrescue(&["hostdata", "show", p(&disk512), "--key", p(&key), "--json"]);
    assert_eq!(c, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let h = &v["host_data"];
    // formats/json-schema.md `kzrescue.hostdata/1`
    assert_eq!(v["schema"], "kzrescue.hostdata/1");
    assert_eq!(v["exit"], 0);
    assert_eq!(v["copies"][0]["state"], "valid");
    assert_eq!(h["payload_version"], 1);
    assert_eq!(h["other_pairs"]["future_count"], 5);
    assert_eq!(h["suspend"]["other_pairs"]["resume_uri"], "nfs://h/kzone9");
    assert_eq!(v["verdict"], "healthy");
    assert_eq!(h["zonename"], "kzone9");
    assert_eq!(h["owner_hostid"], 0x2b2044c5u32);
    assert_eq!(h["tod_offset_ns"], 42);
    assert_eq!(h["suspend"]["suspended"], true);
    assert_eq!(h["suspend"]["image"], "/system/zones/kzone9/suspend");
    assert_eq!(h["obp_vars"][1]["name"], "boot-device");
    assert_eq!(h["obp_vars"][1]["value"], "disk0");
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
    // The unknown pairs survived kzrescue's takeover, after the known ones (§5.2).
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    for c in 0..2 {
        assert_eq!(
            r[c]["payload"]["other_pairs"],
            serde_json::json!(["future_count"])
        );
        assert_eq!(
            r[c]["payload"]["suspend_other_pairs"],
            serde_json::json!(["resume_uri"])
        );
        assert_eq!(r[c]["payload"]["future_count"], 5);
    }
    let (c, out, _) = kzrescue(&["hostdata", "check", p(&disk512), "--key", p(&key), "--json"]);
    assert_eq!(c, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "kzrescue.hostdata/1");
    assert_eq!(v["host_data"]["other_pairs"]["future_count"], 5);
}

// ---- formats/hostdata.md, point by point (issue 14 item 8) ----

use kzrescue::hostdata::store::{self, CopyState};
use kzrescue::source::MemSource;
use kzrescue::zfs::nvlist::{NvList, NvPair, NvValue, xdr};

fn np(name: &str, value: NvValue) -> NvPair {
    NvPair {
        name: name.into(),
        value,
    }
}

/// A 64 KiB slot holding `plain` sealed under the documented key.
fn slot_of_plain(plain: &[u8], generation: u64) -> Vec<u8> {
    let copy = container::seal(&doc_key(), generation, DOC_NONCE, plain).unwrap();
    let mut slot = vec![0u8; container::SLOT_SIZE];
    slot[..copy.len()].copy_from_slice(&copy);
    slot
}

fn slot_of_list(l: &NvList, generation: u64) -> Vec<u8> {
    slot_of_plain(&xdr::encode([1, 1, 0, 0], l).unwrap(), generation)
}

fn list_mut<'a>(l: &'a mut NvList, name: &str) -> &'a mut NvList {
    match l
        .pairs
        .iter_mut()
        .find(|p| p.name == name)
        .map(|p| &mut p.value)
    {
        Some(NvValue::NvList(x)) => x,
        _ => panic!("{name}"),
    }
}

/// Rust's judgement of a slot, and the independent implementation's when
/// python3-cryptography is there.
fn both_states(slot: &[u8], dir: &Path, py_ok: bool) -> (String, Option<String>) {
    let rust = store::judge(slot, Some(&doc_key())).kind().to_string();
    if !py_ok {
        return (rust, None);
    }
    let sf = dir.join("slot");
    std::fs::write(&sf, slot).unwrap();
    let kf = dir.join("key");
    if !kf.exists() {
        std::fs::write(
            &kf,
            "kzrescue-hostdata-key 1\naes-128-ccm 000102030405060708090a0b0c0d0e0f\n",
        )
        .unwrap();
    }
    let (ok, out, err) = py(&["slot", p(&sf), p(&kf)]);
    assert!(ok, "{err}");
    (rust, Some(out.trim().to_string()))
}

/// §4.5 step 9 and §5/§5.2: what is a valid payload and what a bad one —
/// payload_version, suspend's pairs (any order, unknown ones allowed),
/// embedded nvl_nvflag, obp_vars types, top-level order. Rust and the
/// independent implementation agree on every case.
#[test]
fn payload_rules_rust_and_independent_agree() {
    let py_ok = python_ready("payload_rules_rust_and_independent_agree");
    let dir = tempfile::tempdir().unwrap();
    let base = doc_payload().to_nvlist();
    let mut cases: Vec<(&str, NvList, &str)> = vec![("documented", base.clone(), "valid")];
    let mut v = base.clone();
    v.set("payload_version", NvValue::UInt32(2));
    cases.push((
        "payload_version 2 is a bad payload, not unsupported",
        v,
        "bad-payload",
    ));
    let mut v = base.clone();
    list_mut(&mut v, "suspend").pairs.reverse();
    cases.push(("suspend pairs in another order", v, "valid"));
    let mut v = base.clone();
    list_mut(&mut v, "suspend")
        .pairs
        .insert(1, np("resume_uri", NvValue::String("nfs://h/x".into())));
    cases.push(("an unknown pair inside suspend", v, "valid"));
    let mut v = base.clone();
    list_mut(&mut v, "suspend").remove("time");
    cases.push(("suspend without time", v, "bad-payload"));
    let mut v = base.clone();
    list_mut(&mut v, "suspend").set("time", NvValue::UInt64(0));
    cases.push(("suspend/time of the wrong type", v, "bad-payload"));
    let mut v = base.clone();
    list_mut(&mut v, "obp_vars").nvflag = 0;
    cases.push(("obp_vars with nvl_nvflag 0", v, "bad-payload"));
    let mut v = base.clone();
    list_mut(&mut v, "suspend").nvflag = 2;
    cases.push(("suspend with nvl_nvflag 2", v, "bad-payload"));
    let mut v = base.clone();
    list_mut(&mut v, "obp_vars")
        .pairs
        .push(np("diag-level", NvValue::UInt32(1)));
    cases.push(("an OBP variable that is not a STRING", v, "bad-payload"));
    let mut v = base.clone();
    v.pairs.reverse();
    cases.push(("top-level pairs in reverse order", v, "valid"));
    let mut v = base.clone();
    v.pairs.insert(3, np("future", NvValue::UInt64(9)));
    cases.push(("an unknown top-level pair among the known", v, "valid"));
    for (what, l, want) in cases {
        let (rust, pyst) = both_states(&slot_of_list(&l, 1), dir.path(), py_ok);
        assert_eq!(rust, want, "{what}");
        if let Some(s) = pyst {
            assert_eq!(s, want, "independent implementation: {what}");
        }
    }
    // Duplicate names inside an embedded list: NV_UNIQUE_NAME binds every list.
    let mut v = base.clone();
    list_mut(&mut v, "suspend")
        .pairs
        .push(np("image", NvValue::String("/x".into())));
    let e = HostData::from_nvlist(&v).unwrap_err().to_string();
    assert!(e.contains("suspend/\"image\" appears twice"), "{e}");
}

/// A whole disk image in memory: a reserved partition of `size` bytes at 0.
fn partition_with(primary: &[u8], backup: &[u8], size: usize) -> Vec<u8> {
    let mut d = vec![0u8; size];
    let l = store::Layout::for_partition(size as u64).unwrap();
    d[l.primary as usize..][..primary.len()].copy_from_slice(primary);
    d[l.backup as usize..][..backup.len()].copy_from_slice(backup);
    d
}

/// §5.2 and §7: takeover keeps unknown pairs — top level and inside
/// `suspend` — and writes them after the known ones, in their read order.
#[test]
fn takeover_keeps_unknown_pairs_after_the_known_ones() {
    let mut l = doc_payload().to_nvlist();
    l.pairs.insert(2, np("future_a", NvValue::UInt64(7)));
    l.pairs
        .insert(0, np("future_b", NvValue::String("b".into())));
    list_mut(&mut l, "suspend")
        .pairs
        .insert(0, np("resume_uri", NvValue::String("nfs://h/x".into())));
    let slot = slot_of_list(&l, 1);
    let size = store::MIN_PARTITION as usize;
    let disk = partition_with(&slot, &slot, size);
    let a = store::assess(&MemSource::new(&disk), 0, size as u64, Some(&doc_key())).unwrap();
    let (data, writes) = hostdata::plan_takeover(&a, &doc_key(), 1, "me", 2).unwrap();
    assert_eq!(data.generation, 2);
    let CopyState::Valid(_, d) = store::judge(&writes[0].new, Some(&doc_key())) else {
        panic!("takeover wrote no valid copy")
    };
    let names: Vec<String> = d.to_nvlist().pairs.into_iter().map(|p| p.name).collect();
    let mut want: Vec<&str> = hostdata::payload::FIELD_NAMES.to_vec();
    want.extend(["future_b", "future_a"]);
    assert_eq!(names, want);
    let s: Vec<String> = match d.to_nvlist().get("suspend") {
        Some(NvValue::NvList(s)) => s.pairs.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        _ => panic!("no suspend"),
    };
    assert_eq!(s, ["suspended", "image", "time", "resume_uri"]);
    assert_eq!(d.owner_hostname, "me");
}

/// §7 "same contents": equal decoded payloads. Known pairs in another
/// order are the same contents; a differing unknown pair is not.
#[test]
fn same_contents_means_equal_decoded_payloads() {
    let size = store::MIN_PARTITION as usize;
    let l = doc_payload().to_nvlist();
    let mut reordered = l.clone();
    reordered.pairs.reverse();
    let disk = partition_with(&slot_of_list(&l, 1), &slot_of_list(&reordered, 1), size);
    let a = store::assess(&MemSource::new(&disk), 0, size as u64, Some(&doc_key())).unwrap();
    assert_eq!(hostdata::verdict(&a, None).name(), "healthy");
    let mut other = l.clone();
    other.pairs.push(np("future", NvValue::UInt32(1)));
    let disk = partition_with(&slot_of_list(&l, 1), &slot_of_list(&other, 1), size);
    let a = store::assess(&MemSource::new(&disk), 0, size as u64, Some(&doc_key())).unwrap();
    let v = hostdata::verdict(&a, None);
    assert_eq!(v.name(), "degraded");
    assert!(format!("{v:?}").contains("different contents"), "{v:?}");
}

/// §7 generations: the maximum over *intact* copies (locked, key-incorrect,
/// tampered, bad-payload, valid), never over corrupt or unsupported ones.
#[test]
fn generation_counts_intact_copies_only() {
    let size = store::MIN_PARTITION as usize;
    let good = slot_of_list(&doc_payload().to_nvlist(), 1);
    // An unsupported copy (format version 2, CRCs right) claiming generation 90.
    let mut unsup = slot_of_list(&doc_payload().to_nvlist(), 1);
    unsup[9] = 2;
    unsup[16..24].copy_from_slice(&90u64.to_be_bytes());
    container::fix_crcs(&mut unsup);
    // A corrupt copy (body CRC wrong) claiming generation 80.
    let mut corrupt = slot_of_list(&doc_payload().to_nvlist(), 1);
    corrupt[16..24].copy_from_slice(&80u64.to_be_bytes());
    container::fix_crcs(&mut corrupt);
    corrupt[100] ^= 1;
    for bad in [&unsup, &corrupt] {
        let disk = partition_with(bad, &good, size);
        let a = store::assess(&MemSource::new(&disk), 0, size as u64, None).unwrap();
        assert_eq!(a.max_generation(), Some(1));
    }
    // A tampered copy (CRCs recomputed after a change) counts: its header is intact.
    let mut tampered = slot_of_list(&doc_payload().to_nvlist(), 1);
    tampered[16..24].copy_from_slice(&70u64.to_be_bytes());
    container::fix_crcs(&mut tampered);
    let disk = partition_with(&tampered, &good, size);
    let a = store::assess(&MemSource::new(&disk), 0, size as u64, Some(&doc_key())).unwrap();
    assert_eq!(a.copies[0].state.kind(), "tampered");
    assert_eq!(a.max_generation(), Some(70));
    // And a bad payload counts too.
    let mut v = doc_payload().to_nvlist();
    v.set("payload_version", NvValue::UInt32(2));
    v.set("generation", NvValue::UInt64(60));
    let disk = partition_with(&slot_of_list(&v, 60), &good, size);
    let a = store::assess(&MemSource::new(&disk), 0, size as u64, Some(&doc_key())).unwrap();
    assert_eq!(a.copies[0].state.kind(), "bad-payload");
    assert_eq!(a.max_generation(), Some(60));
}

/// §4.1/§8.2: every byte range in the document is half-open; the CRCs of
/// the worked example are over exactly the ranges the table names.
#[test]
fn byte_ranges_in_the_document_are_half_open() {
    let doc = std::fs::read_to_string(root().join("formats/hostdata.md")).unwrap();
    let copy = doc_block(&doc, "<!-- example: copy -->");
    let range = |marker: &str| -> (usize, usize) {
        let at = doc.find(marker).unwrap_or_else(|| panic!("{marker}")) + marker.len();
        let r = &doc[at..at + doc[at..].find('`').unwrap()];
        let (a, b) = r.split_once("..").unwrap();
        let h = |x: &str| usize::from_str_radix(x.trim_start_matches("0x"), 16).unwrap();
        (h(a), h(b))
    };
    let (a, b) = range("body CRC = crc32(bytes `");
    assert_eq!(crc32fast::hash(&copy[a..b]).to_be_bytes(), copy[48..52]);
    assert_eq!(b, copy.len());
    let (a, b) = range("header CRC = crc32(bytes `");
    assert_eq!(crc32fast::hash(&copy[a..b]).to_be_bytes(), copy[60..64]);
    assert!(doc.contains("CRC-32 of header bytes `0..60`"));
    assert!(doc.contains("(bytes `48..52`)") && doc.contains("(bytes `60..64`)"));
    // No inclusive forms are left (x..y where y+1 is a field boundary).
    for old in ["0..59", "48..51", "60..63", "0x303", "0x03b", "0..7 "] {
        assert!(!doc.contains(old), "inclusive range {old} in the document");
    }
}

/// §6/§6.1: key-file separators, line ends and quoting; the independent
/// implementation reads the same key from every form.
#[test]
fn key_file_syntax() {
    let py_ok = python_ready("key_file_syntax");
    let dir = tempfile::tempdir().unwrap();
    let hex = "000102030405060708090a0b0c0d0e0f";
    let id = doc_key().id().to_string();
    let good = [
        format!("kzrescue-hostdata-key 1\nzone kzone1\naes-128-ccm {hex}\n"),
        format!("kzrescue-hostdata-key\t1\r\nzone\tkzone1\r\naes-128-ccm \t {hex}\r\n"),
        format!(
            "\u{feff}# a comment\n  kzrescue-hostdata-key  1  \n\naes-128-ccm {}\n",
            hex.to_uppercase()
        ),
        format!("create -b\nadd keysource\nset raw={hex}\nend\n"),
        format!("add keysource\r\n\tset raw=\"{hex}\"\r\nend\r\n"),
        format!("add  keysource\nset raw = \"{hex}\"\nend\n"),
    ];
    for (i, text) in good.iter().enumerate() {
        let kf =
            hostdata::keyfile::parse_keyfile(text, "t").unwrap_or_else(|e| panic!("form {i}: {e}"));
        assert_eq!(kf.key.id().to_string(), id, "form {i}");
        if py_ok {
            let f = dir.path().join(format!("k{i}"));
            std::fs::write(&f, text).unwrap();
            let (ok, out, err) = py(&["keyid", p(&f)]);
            assert!(ok, "form {i}: {err}");
            assert_eq!(out.trim(), id, "independent, form {i}");
        }
    }
    let bad = [
        format!("add keysource\nset raw=\"{hex}\nend\n"),
        format!("add keysource\nset raw={hex}\"\nend\n"),
        format!("kzrescue-hostdata-key 1\naes-128-ccm {hex} # key\n"),
        format!("kzrescue-hostdata-key 1\naes-128-ccm={hex}\n"),
    ];
    for (i, text) in bad.iter().enumerate() {
        assert!(
            hostdata::keyfile::parse_keyfile(text, "t").is_err(),
            "bad form {i} accepted"
        );
    }
}

/// A disk whose GPT has the given reserved partitions (slot, first, last LBA).
fn disk_with_reserved(path: &Path, reserved: &[(usize, u64, u64)]) {
    use common::hostdata::{RESERVED, SECTOR, USR};
    let sectors = 16 * 1024 * 1024 / SECTOR;
    let mut entries = vec![common::gpt::Entry {
        slot: 0,
        type_guid: USR,
        unique: [1; 16],
        first: 256,
        last: 8191,
        name: "",
    }];
    for (i, (slot, first, last)) in reserved.iter().enumerate() {
        entries.push(common::gpt::Entry {
            slot: *slot,
            type_guid: RESERVED,
            unique: [i as u8 + 2; 16],
            first: *first,
            last: *last,
            name: "",
        });
    }
    let mut disk = vec![0u8; (sectors * SECTOR) as usize];
    common::gpt::write_into(&mut disk, SECTOR, [0x42; 16], &entries);
    std::fs::write(path, disk).unwrap();
}

/// §3.1/§7 exit codes: a too-small reserved partition is "no host data"
/// (10) for readers and a refusal (3) for writers; two reserved partitions
/// are a refusal (3) for every command.
#[test]
fn refusal_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.img");
    // 256 sectors = 131 072 bytes < 196 608.
    disk_with_reserved(&small, &[(8, 16384, 16639)]);
    let key = dir.path().join("k");
    let (c, out, err) = kzrescue(&["hostdata", "check", p(&small), "--json"]);
    assert_eq!(c, 10, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "no-host-data");
    assert_eq!(v["exit"], 10);
    assert!(
        v["explanation"].as_str().unwrap().contains("smaller than"),
        "{out}"
    );
    let (c, out, err) = kzrescue(&[
        "hostdata",
        "init",
        p(&small),
        "--zone",
        "z",
        "--key-out",
        p(&key),
    ]);
    assert_eq!(c, 3, "{out}{err}");
    assert!(err.contains("smaller than"), "{err}");
    let two = dir.path().join("two.img");
    disk_with_reserved(&two, &[(7, 16384, 24575), (8, 24576, 32767)]);
    for args in [
        vec!["hostdata", "check", p(&two)],
        vec![
            "hostdata",
            "init",
            p(&two),
            "--zone",
            "z",
            "--key-out",
            p(&key),
        ],
    ] {
        let (c, out, err) = kzrescue(&args);
        assert_eq!(c, 3, "{args:?}: {out}{err}");
        assert!(err.contains("Solaris reserved partitions"), "{err}");
    }
}
