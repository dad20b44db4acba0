//! Every command's `--json` document against its JSON Schema in
//! `formats/schemas/` (named after the document's `schema`, `/` as `-`),
//! running the real binary on the bundled test images.
//!
//! The validator is the subset of JSON Schema the files use — `type`,
//! `properties`, `required`, `additionalProperties`, `items`, `enum`, and
//! `pattern` for the two digit-string patterns — written here so that the
//! crate needs no validator dependency. Its own test shows it rejects wrong
//! documents; the schemas require integers as decimal strings, so a
//! `--json-int` document must fail them.

mod common;

use common::{kzrescue, root, unpack_fixture};
use serde_json::Value;
use std::path::Path;

/// The errors of `v` against `schema`, each with its JSON pointer.
fn validate(schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        panic!("{at}: a schema is an object");
    };
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(x) => vec![x.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("{at}: bad type keyword"),
        };
        let is = |t: &str| match t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "integer" => v.is_i64() || v.is_u64(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            other => panic!("{at}: unknown type {other}"),
        };
        if !types.iter().any(|t| is(t)) {
            errs.push(format!("{at}: {v} is not of type {types:?}"));
            return;
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        errs.push(format!("{at}: {v} is not one of {e:?}"));
    }
    if let (Some(p), Some(x)) = (s.get("pattern").and_then(Value::as_str), v.as_str()) {
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let ok = match p {
            "^[0-9]+$" => digits(x),
            "^-?[0-9]+$" => digits(x.strip_prefix('-').unwrap_or(x)),
            other => panic!("{at}: pattern {other} is outside the supported subset"),
        };
        if !ok {
            errs.push(format!("{at}: {x:?} does not match {p}"));
        }
    }
    if let Some(o) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !o.contains_key(r) {
                errs.push(format!("{at}: required {r:?} missing"));
            }
        }
        for (k, x) in o {
            let here = format!("{at}/{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(ps, x, &here, errs),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => errs.push(format!("{here}: not allowed")),
                    Some(a @ Value::Object(_)) => validate(a, x, &here, errs),
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(a)) = (s.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            validate(items, x, &format!("{at}/{i}"), errs);
        }
    }
}

/// The schema file of a document's `schema` name.
fn schema_of(name: &str) -> Value {
    let p = root()
        .join("formats/schemas")
        .join(format!("{}.json", name.replace('/', "-")));
    let t = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Runs `args`, expects exit `code` and a document of schema `name` that
/// its schema file accepts; returns the document.
fn check(args: &[&str], code: i32, name: &str) -> Value {
    let (c, out, err) = kzrescue(args);
    assert_eq!(c, code, "{args:?}: {out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
    assert_eq!(v["schema"], name, "{args:?}");
    // one `schema` key (a parser keeps only the last of duplicated keys)
    assert_eq!(
        out.matches(&format!("\"schema\": \"{name}\"")).count(),
        1,
        "{args:?}: {out}"
    );
    let mut errs = Vec::new();
    validate(&schema_of(name), &v, "", &mut errs);
    assert!(
        errs.is_empty(),
        "{args:?} against {name}:\n{}",
        errs.join("\n")
    );
    v
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn validator_rejects_wrong_documents() {
    let schema = schema_of("kzrescue.undo/1");
    let good = serde_json::json!({
        "schema": "kzrescue.undo/1", "exit": "0", "journal": "j.kzj", "purpose": "p",
        "created": "1796608807", "to_restore": "0", "liveness": null, "restored": "0",
        "written": false,
        "targets": [{"path": "a.img", "identity_matches": true,
                     "ranges": [{"what": "label 0", "offset": "4096", "length": "512", "state": "new"}]}]
    });
    let errs = |v: &Value| {
        let mut e = Vec::new();
        validate(&schema, v, "", &mut e);
        e
    };
    assert_eq!(errs(&good), Vec::<String>::new());
    let bad = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        errs(&v)
    };
    // an integer as a number, a negative size, a missing field, an unknown
    // field, a wrong enum value, a wrong item type, a wrong schema name
    assert!(bad(&|v| v["exit"] = 0.into())[0].contains("/exit"));
    assert!(bad(&|v| v["targets"][0]["ranges"][0]["offset"] = "-1".into())[0].contains("offset"));
    assert!(bad(&|v| v["created"] = "12a".into())[0].contains("created"));
    assert!(
        bad(&|v| {
            v.as_object_mut().unwrap().remove("journal");
        })[0]
            .contains("journal")
    );
    assert!(bad(&|v| v["extra"] = 1.into())[0].contains("/extra"));
    assert!(bad(&|v| v["targets"][0]["ranges"][0]["state"] = "gone".into())[0].contains("state"));
    assert!(bad(&|v| v["targets"][0] = "a.img".into())[0].contains("/targets/0"));
    assert!(bad(&|v| v["schema"] = "kzrescue.undo/2".into())[0].contains("/schema"));
    assert!(bad(&|v| v["liveness"] = serde_json::json!({}))[0].contains("/liveness"));
}

/// Every schema file is a document formats/json-schema.md describes, and
/// uses only the validator's subset.
#[test]
fn every_schema_file_is_documented() {
    let doc = std::fs::read_to_string(root().join("formats/json-schema.md")).unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(root().join("formats/schemas")).unwrap() {
        let p = e.unwrap().path();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let name = v["title"].as_str().unwrap();
        assert_eq!(
            p.file_name().unwrap().to_str().unwrap(),
            format!("{}.json", name.replace('/', "-"))
        );
        assert!(
            doc.contains(&format!("`{name}`")),
            "{name} not in json-schema.md"
        );
        // the subset: validating a null against it must not panic
        validate(&v, &Value::Null, "", &mut Vec::new());
        n += 1;
    }
    assert!(n >= 10, "{n} schema files");
}

#[test]
fn physpath_undo_documents() {
    let dir = tempfile::tempdir().unwrap();
    let a = unpack_fixture("gptmirror-a.img", dir.path());
    let b = unpack_fixture("gptmirror-b.img", dir.path());
    check(
        &["physpath", s(&a), s(&b), "--json"],
        0,
        "kzrescue.physpath/1",
    );
    // --json-int prints numbers: the schema (digit strings) refuses them
    let (_, out, _) = kzrescue(&["physpath", s(&a), "--json", "--json-int"]);
    let mut errs = Vec::new();
    let v: Value = serde_json::from_str(&out).unwrap();
    validate(&schema_of("kzrescue.physpath/1"), &v, "", &mut errs);
    assert!(errs.iter().any(|e| e.contains("/guid")), "{errs:?}");

    let set = |extra: &[&str]| {
        let mut args = vec!["physpath", "set", s(&a), "--device-id", "0", "--json"];
        args.extend_from_slice(extra);
        check(&args, 0, "kzrescue.physpath-set/1")
    };
    assert_eq!(set(&[])["result"], "dry-run");
    let jd = dir.path().join("journals");
    std::fs::create_dir(&jd).unwrap();
    let w = set(&[
        "--write",
        "--liveness-interval",
        "0",
        "--journal-dir",
        s(&jd),
    ]);
    assert_eq!(w["result"], "written");
    assert_eq!(set(&[])["result"], "unchanged");
    let j = w["journal"].as_str().unwrap().to_string();
    assert!(
        j.ends_with(".kzj") && j.contains("kzrescue-physpath-rpool-"),
        "{j}"
    );
    let u = check(&["undo", &j, "--json"], 0, "kzrescue.undo/1");
    assert_eq!(u["written"], false);
    let u = check(
        &["undo", &j, "--write", "--liveness-interval", "0", "--json"],
        0,
        "kzrescue.undo/1",
    );
    assert_eq!(u["restored"], "4");
}

#[test]
fn hostdata_documents() {
    let dir = tempfile::tempdir().unwrap();
    let d = unpack_fixture("gpt-sparc-512.img", dir.path());
    let v = check(
        &["hostdata", "check", s(&d), "--json"],
        10,
        "kzrescue.hostdata/2",
    );
    assert_eq!(v["verdict"], "no-host-data");
    let k = dir.path().join("kz1.key");
    let j = dir.path().join("hd.kzj");
    let (c, out, err) = kzrescue(&[
        "hostdata",
        "init",
        s(&d),
        "--zone",
        "kz1",
        "--key-out",
        s(&k),
        "--hostid",
        "848611d4",
        "--hostname",
        "global2",
        "-y",
        "--liveness-interval",
        "0",
        "--journal",
        s(&j),
    ]);
    assert_eq!(c, 0, "{out}{err}");
    let v = check(
        &["hostdata", "show", s(&d), "--key", s(&k), "--json"],
        0,
        "kzrescue.hostdata/2",
    );
    assert_eq!(v["host_data"]["owner_hostid"], 0x848611d4u32.to_string());
    check(
        &["hostdata", "check", s(&d), "--key", s(&k), "--json"],
        0,
        "kzrescue.hostdata/2",
    );
}

#[test]
fn uri_documents() {
    let v = check(
        &[
            "uri",
            "parse",
            "--json",
            "iscsi://Zfssa:3260/luname.naa.600144F0DBF8AF19000052E820D60003",
        ],
        0,
        "kzrescue.uri/1",
    );
    assert_eq!(v["port"], "3260");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.img");
    std::fs::write(&f, [0u8; 512]).unwrap();
    check(
        &["uri", "map", &format!("file://{}", f.display()), "--json"],
        0,
        "kzrescue.uri-map/1",
    );
    check(
        &[
            "uri",
            "map",
            "dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0",
            "--via-iscsi",
            "--rescue-host",
            "192.0.2.10",
            "--zone",
            "kz1",
            "--json",
        ],
        0,
        "kzrescue.zvol-route/2",
    );
}

/// The read-path commands' documents.
#[test]
fn read_path_documents() {
    let dir = tempfile::tempdir().unwrap();
    let d = unpack_fixture("gptdisk-x86-512.img", dir.path());
    check(&["label", s(&d), "--json"], 0, "kzrescue.label/2");
    check(&["uberblocks", s(&d), "--json"], 0, "kzrescue.uberblocks/2");
    check(&["partitions", s(&d), "--json"], 0, "kzrescue.partitions/1");
    check(&["datasets", s(&d), "--json"], 0, "kzrescue.datasets/2");
    check(&["scan", s(&d), "--json"], 0, "kzrescue.scan/2");
    check(&["timeline", s(&d), "--json"], 0, "kzrescue.timeline/2");
}

/// The examiner's documents, on the bundled demo zone disk.
#[test]
fn forensic_documents() {
    let dir = tempfile::tempdir().unwrap();
    let d = unpack_fixture("demo-kz1.img", dir.path());
    let fs = "rpool/ROOT/solaris";
    check(&["datasets", s(&d), "--json"], 0, "kzrescue.datasets/2");
    check(&["scan", s(&d), "--json"], 0, "kzrescue.scan/2");
    check(&["partitions", s(&d), "--json"], 0, "kzrescue.partitions/1");
    check(
        &["ls", s(&d), &format!("{fs}:/"), "--json"],
        0,
        "kzrescue.ls/1",
    );
    check(
        &["ls", s(&d), &format!("{fs}:/etc"), "--json"],
        0,
        "kzrescue.ls/1",
    );
    check(
        &["changes", s(&d), fs, "--since", "@install", "--json"],
        0,
        "kzrescue.changes/2",
    );
    check(&["deleted", s(&d), fs, "--json"], 0, "kzrescue.deleted/2");
    check(&["manifest", s(&d), fs], 0, "kzrescue.manifest/2");
}
