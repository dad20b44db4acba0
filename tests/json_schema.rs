//! Every command's `--json` document against its JSON Schema in
//! `formats/schemas/` (named after the document's `schema`, `/` as `-`),
//! running the real binary on the bundled test images, a zone broken and
//! repaired by `kzrescue demo`, damaged copies, and a real `tgtd`.
//!
//! Each document is validated twice: as printed by default (integers as
//! decimal strings, what the schema files say) and with `--json-int`
//! (integers as JSON numbers: the schema with every digit-string node turned
//! into an integer node, [`int_schema`]).
//!
//! The validator is the subset of JSON Schema the files use — `type`,
//! `properties`, `required`, `additionalProperties`, `items`, `enum`,
//! `minimum`, `anyOf`, `$ref` (to `#/$defs/…` or another schema file) and `pattern`
//! for the two digit-string patterns and octal text (`^[0-7]+$`) — written here so that the crate needs
//! no validator dependency. Its own test shows it rejects wrong documents.
//!
//! `formats/json-schema.md` is checked against the files: its command table
//! must list exactly the commands whose `--help` offers `--json` (found by
//! walking the real binary's help tree), every schema file has a section
//! there, and the "Field reference" at its end is generated from the schema
//! files (`KZRESCUE_BLESS=1` rewrites it; the test fails when it is stale).

mod common;

use common::{kzrescue, root, unpack_fixture};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A digit-string pattern: `Some(signed)` for the two the schemas use.
fn int_pattern(p: &str) -> Option<bool> {
    match p {
        "^[0-9]+$" => Some(false),
        "^-?[0-9]+$" => Some(true),
        _ => None,
    }
}

/// The schema of the `--json-int` form: every `{"type": "string", "pattern":
/// <digits>}` node (or `["string", "null"]`) becomes an integer node (with
/// `minimum: 0` when unsigned, and an `enum` of digit strings as numbers).
fn int_schema(s: &Value) -> Value {
    match s {
        Value::Object(o) => {
            let mut n: serde_json::Map<String, Value> =
                o.iter().map(|(k, v)| (k.clone(), int_schema(v))).collect();
            if let Some(signed) = o
                .get("pattern")
                .and_then(Value::as_str)
                .and_then(int_pattern)
            {
                n.remove("pattern");
                let t = match &o["type"] {
                    Value::String(_) => Value::from("integer"),
                    Value::Array(a) => a
                        .iter()
                        .map(|t| {
                            if t == "string" {
                                "integer".into()
                            } else {
                                t.clone()
                            }
                        })
                        .collect(),
                    other => panic!("digit pattern on type {other}"),
                };
                n.insert("type".into(), t);
                if let Some(Value::Array(e)) = o.get("enum") {
                    let e = e.iter().map(|x| match x.as_str() {
                        Some(d) => d.parse::<i64>().map_or(x.clone(), Value::from),
                        None => x.clone(),
                    });
                    n.insert("enum".into(), e.collect());
                }
                if !signed {
                    n.insert("minimum".into(), 0.into());
                }
            }
            Value::Object(n)
        }
        Value::Array(a) => a.iter().map(int_schema).collect(),
        other => other.clone(),
    }
}

/// The schema file of a document's `schema` name, in the form of one
/// integer mode.
fn load(name: &str, int: bool) -> Value {
    let p = root()
        .join("formats/schemas")
        .join(format!("{}.json", name.replace('/', "-")));
    load_file(&p, int)
}

fn load_file(p: &Path, int: bool) -> Value {
    let t = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: Value = serde_json::from_str(&t).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if int { int_schema(&v) } else { v }
}

/// The schema document a node belongs to (for `$ref`) and the integer mode.
struct Ctx<'a> {
    root: &'a Value,
    int: bool,
}

/// The errors of `v` against `schema`, each with its JSON pointer.
fn validate(cx: &Ctx, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        panic!("{at}: a schema is an object");
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let (file, ptr) = r.split_once('#').unwrap_or((r, ""));
        if file.is_empty() {
            let sub = cx
                .root
                .pointer(ptr)
                .unwrap_or_else(|| panic!("{at}: $ref {r} not found"));
            return validate(cx, sub, v, at, errs);
        }
        let other = load_file(&root().join("formats/schemas").join(file), cx.int);
        let sub = other
            .pointer(ptr)
            .unwrap_or_else(|| panic!("{at}: $ref {r} not found"))
            .clone();
        let cx2 = Ctx {
            root: &other,
            int: cx.int,
        };
        return validate(&cx2, &sub, v, at, errs);
    }
    if let Some(alts) = s.get("anyOf").and_then(Value::as_array) {
        let fits = |a: &Value| {
            let mut e = Vec::new();
            validate(cx, a, v, at, &mut e);
            e.is_empty()
        };
        if !alts.iter().any(fits) {
            errs.push(format!("{at}: {v} fits none of anyOf"));
            return;
        }
    }
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
    if let (Some(m), Some(x)) = (s.get("minimum").and_then(Value::as_i64), v.as_number())
        && x.as_i64().is_some_and(|x| x < m)
    {
        errs.push(format!("{at}: {x} is below {m}"));
    }
    if let (Some(p), Some(x)) = (s.get("pattern").and_then(Value::as_str), v.as_str()) {
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let ok = match (int_pattern(p), p) {
            (Some(false), _) => digits(x),
            (Some(true), _) => digits(x.strip_prefix('-').unwrap_or(x)),
            // octal text (a file mode), a string in both integer modes
            (None, "^[0-7]+$") => digits(x) && !x.contains(['8', '9']),
            (None, _) => panic!("{at}: pattern {p} is outside the supported subset"),
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
                Some(ps) => validate(cx, ps, x, &here, errs),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => errs.push(format!("{here}: not allowed")),
                    Some(a @ Value::Object(_)) => validate(cx, a, x, &here, errs),
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(a)) = (s.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            validate(cx, items, x, &format!("{at}/{i}"), errs);
        }
    }
}

/// The errors of a whole document against schema `name` in one mode.
fn errors_of(name: &str, int: bool, v: &Value) -> Vec<String> {
    let schema = load(name, int);
    let cx = Ctx { root: &schema, int };
    let mut errs = Vec::new();
    validate(&cx, &schema, v, "", &mut errs);
    errs
}

/// Runs `args` (with `--json-int` appended when `int`), expects exit `code`
/// and a document of schema `name` that its schema accepts in that mode;
/// returns the document. With `KZRESCUE_SCHEMA_DUMP=DIR` (for writing a
/// schema from real output) the output is kept there and schema errors are
/// printed instead of failing.
fn check_mode(args: &[&str], code: i32, name: &str, int: bool) -> Value {
    let mut a = args.to_vec();
    if int {
        a.push("--json-int");
    }
    let (c, out, err) = kzrescue(&a);
    assert_eq!(c, code, "{a:?}: {out}{err}");
    if let Some(d) = std::env::var_os("KZRESCUE_SCHEMA_DUMP") {
        let n = std::fs::read_dir(&d).map(|r| r.count()).unwrap_or(0);
        let f = format!("{}.{n}.{}.json", name.replace('/', "-"), int as u8);
        std::fs::write(Path::new(&d).join(f), &out).unwrap();
    }
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{a:?}: {e}: {out}"));
    assert_eq!(v["schema"], name, "{a:?}");
    // one `schema` key (a parser keeps only the last of duplicated keys)
    assert_eq!(
        out.matches(&format!("\"schema\": \"{name}\"")).count(),
        1,
        "{a:?}: {out}"
    );
    if std::env::var_os("KZRESCUE_SCHEMA_DUMP").is_some() {
        if root()
            .join("formats/schemas")
            .join(format!("{}.json", name.replace('/', "-")))
            .exists()
        {
            for e in errors_of(name, int, &v) {
                eprintln!("{name} int {int}: {e}");
            }
        }
        return v;
    }
    let errs = errors_of(name, int, &v);
    assert!(
        errs.is_empty(),
        "{a:?} against {name} (int {int}):\n{}",
        errs.join("\n")
    );
    v
}

/// [`check_mode`] in both integer modes (for commands that change nothing);
/// returns the default document.
fn check(args: &[&str], code: i32, name: &str) -> Value {
    check_mode(args, code, name, true);
    check_mode(args, code, name, false)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn validator_rejects_wrong_documents() {
    let good = serde_json::json!({
        "schema": "kzrescue.undo/1", "exit": "0", "journal": "j.kzj", "purpose": "p",
        "created": "1796608807", "to_restore": "0", "liveness": null, "restored": "0",
        "written": false,
        "targets": [{"path": "a.img", "identity_matches": true,
                     "ranges": [{"what": "label 0", "offset": "4096", "length": "512", "state": "new"}]}]
    });
    let errs = |v: &Value| errors_of("kzrescue.undo/1", false, v);
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

    // The --json-int form: numbers pass, strings and negatives do not.
    let int = serde_json::json!({
        "schema": "kzrescue.undo/1", "exit": 0, "journal": "j.kzj", "purpose": "p",
        "created": 1796608807u64, "to_restore": 0, "liveness": null, "restored": 0,
        "written": false,
        "targets": [{"path": "a.img", "identity_matches": true,
                     "ranges": [{"what": "label 0", "offset": 4096, "length": 512, "state": "new"}]}]
    });
    let ierrs = |v: &Value| errors_of("kzrescue.undo/1", true, v);
    assert_eq!(ierrs(&int), Vec::<String>::new());
    assert!(!errs(&int).is_empty(), "numbers pass the string schema");
    assert!(!ierrs(&good).is_empty(), "strings pass the integer schema");
    let mut neg = int.clone();
    neg["targets"][0]["ranges"][0]["offset"] = (-1).into();
    assert!(ierrs(&neg)[0].contains("below 0"), "{:?}", ierrs(&neg));

    // $ref into another file: repair/3 holds two diagnoses.
    let d = serde_json::json!({"schema": "kzrescue.repair/3"});
    assert!(
        errors_of("kzrescue.repair/3", false, &d)
            .iter()
            .any(|e| e.contains("required \"before\""))
    );
}

/// The commands whose `--help` offers `--json`, found by walking the
/// binary's help tree (`Commands:` sections), as "sub sub" paths.
fn json_commands() -> BTreeSet<String> {
    fn walk(path: &mut Vec<String>, out: &mut BTreeSet<String>) {
        let mut a: Vec<&str> = path.iter().map(String::as_str).collect();
        a.push("--help");
        let (c, help, err) = kzrescue(&a);
        assert_eq!(c, 0, "{a:?}: {err}");
        let opt = |l: &str| {
            let l = l.trim_start();
            let l = l.strip_prefix("-j, ").unwrap_or(l);
            l.starts_with("--json ") || l == "--json"
        };
        if help.lines().any(opt) {
            out.insert(path.join(" "));
        }
        let mut subs = Vec::new();
        let mut inside = false;
        for l in help.lines() {
            if l == "Commands:" {
                inside = true;
            } else if inside && l.trim().is_empty() {
                inside = false;
            } else if inside
                && let Some(w) = l.split_whitespace().next()
                && w != "help"
            {
                subs.push(w.to_string());
            }
        }
        for w in subs {
            path.push(w);
            walk(path, out);
            path.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(&mut Vec::new(), &mut out);
    out
}

/// The table of `formats/json-schema.md`: command → (how JSON is asked
/// for, schemas).
fn doc_table(doc: &str) -> BTreeMap<String, (String, Vec<String>)> {
    let mut t = BTreeMap::new();
    let mut inside = false;
    for l in doc.lines() {
        if l.starts_with("| command | asked by | schema") {
            inside = true;
            continue;
        }
        if !inside || l.starts_with("|---") {
            continue;
        }
        if !l.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
        let cmd = cells[0]
            .trim_matches('`')
            .trim_start_matches("kzrescue ")
            .to_string();
        let schemas = cells[2]
            .split(',')
            .map(|x| x.trim().trim_matches('`').to_string())
            .collect();
        t.insert(cmd, (cells[1].to_string(), schemas));
    }
    t
}

fn schema_files() -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(root().join("formats/schemas")).unwrap() {
        let p = e.unwrap().path();
        let v = load_file(&p, false);
        let name = v["title"].as_str().unwrap().to_string();
        assert_eq!(
            p.file_name().unwrap().to_str().unwrap(),
            format!("{}.json", name.replace('/', "-"))
        );
        m.insert(name, v);
    }
    m
}

/// Every command that offers `--json` is in the document's table with a
/// schema file; every schema file is in the table, has a section, is run
/// by a test here; a schema `--help` names is the command's.
#[test]
fn every_json_command_has_a_schema() {
    let doc = std::fs::read_to_string(root().join("formats/json-schema.md")).unwrap();
    let table = doc_table(&doc);
    let files = schema_files();
    let by_flag: BTreeSet<String> = table
        .iter()
        .filter(|(_, (how, _))| how == "`--json`")
        .map(|(c, _)| c.clone())
        .collect();
    let found = json_commands();
    assert!(found.len() >= 20, "{found:?}");
    assert_eq!(
        found, by_flag,
        "commands with --json (left) vs formats/json-schema.md's table (right)"
    );
    let src = std::fs::read_to_string(root().join("tests/json_schema.rs")).unwrap();
    let mut named = BTreeSet::new();
    for (cmd, (how, schemas)) in &table {
        assert!(
            how == "`--json`" || how == "always",
            "{cmd}: asked by {how}"
        );
        for n in schemas {
            assert!(files.contains_key(n), "{cmd}: no schema file for {n}");
            named.insert(n.clone());
        }
        // a schema the help names is one of the command's
        let mut a: Vec<&str> = cmd.split(' ').collect();
        a.push("--help");
        let (_, help, _) = kzrescue(&a);
        for w in help.split(|c: char| c.is_whitespace() || c == '`' || c == ':' || c == ')') {
            if w.starts_with("kzrescue.") && w.contains('/') {
                assert!(schemas.iter().any(|n| n == w), "`{cmd} --help` names {w}");
            }
        }
    }
    // every schema the document names is a file
    for w in doc.split(|c: char| c == '`' || c.is_whitespace() || c == ',') {
        let w = w.trim_end_matches(|c: char| !c.is_ascii_digit());
        let name_like = w
            .strip_prefix("kzrescue.")
            .and_then(|r| r.split_once('/'))
            .is_some_and(|(c, n)| {
                !c.is_empty()
                    && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                    && !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit())
            });
        if name_like {
            assert!(
                files.contains_key(w),
                "json-schema.md names {w}: no schema file"
            );
        }
    }
    for (n, v) in &files {
        assert!(named.contains(n), "{n}: no command in the table");
        assert!(
            doc.lines()
                .any(|l| l.starts_with('#') && l.contains(&format!("`{n}`"))),
            "{n}: no section in json-schema.md"
        );
        assert!(
            src.matches(&format!("\"{n}\"")).count() >= 1,
            "{n}: no test here runs it"
        );
        assert_eq!(v["properties"]["schema"]["enum"][0], n.as_str());
        // the subset: validating a null against it must not panic
        let cx = Ctx {
            root: v,
            int: false,
        };
        validate(&cx, v, &Value::Null, "", &mut Vec::new());
    }
}

/// One line per object of a schema: its path, then each key with its
/// type (`?` when optional; enums spelled out).
fn field_lines(cx: &Value, s: &Value, path: &str, out: &mut Vec<String>) {
    let s = match s.get("$ref").and_then(Value::as_str) {
        Some(r) if r.starts_with('#') => cx.pointer(&r[1..]).unwrap(),
        Some(r) => {
            out.push(format!("- `{}`: see `{}`", or_root(path), r));
            return;
        }
        None => s,
    };
    if let Some(p) = s.get("properties").and_then(Value::as_object) {
        let req: BTreeSet<&str> = s["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let keys: Vec<String> = p
            .iter()
            .map(|(k, v)| {
                let opt = if req.contains(k.as_str()) { "" } else { "?" };
                format!("`{k}`{opt} {}", type_word(cx, v))
            })
            .collect();
        let open = match s.get("additionalProperties") {
            Some(Value::Bool(false)) => "",
            _ => " (more keys allowed)",
        };
        out.push(format!("- `{}`: {}{open}", or_root(path), keys.join(", ")));
        for (k, v) in p {
            field_lines(cx, v, &format!("{path}/{k}"), out);
        }
    } else if let Some(a) = s.get("additionalProperties").filter(|a| a.is_object()) {
        out.push(format!(
            "- `{}`: name → {}",
            or_root(path),
            type_word(cx, a)
        ));
        field_lines(cx, a, &format!("{path}/*"), out);
    }
    if let Some(i) = s.get("items") {
        field_lines(cx, i, &format!("{path}[]"), out);
    }
    for a in s
        .get("anyOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        field_lines(cx, a, path, out);
    }
}

fn or_root(p: &str) -> &str {
    if p.is_empty() { "/" } else { p }
}

fn type_word(cx: &Value, v: &Value) -> String {
    let v = match v.get("$ref").and_then(Value::as_str) {
        Some(r) if r.starts_with('#') => cx.pointer(&r[1..]).unwrap(),
        Some(_) => return "object".into(),
        None => v,
    };
    if let Some(alts) = v.get("anyOf").and_then(Value::as_array) {
        let w: Vec<String> = alts.iter().map(|a| type_word(cx, a)).collect();
        return format!("one of: {}", w.join("; "));
    }
    let mut t = match &v["type"] {
        Value::String(x) => x.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("|"),
        _ => "any".into(),
    };
    if let Some(p) = v.get("pattern").and_then(Value::as_str) {
        let w = match int_pattern(p) {
            Some(true) => "int±",
            Some(false) => "int",
            None => "octal",
        };
        t = t.replace("string", w);
    }
    if t == "array"
        && let Some(i) = v.get("items")
    {
        t = format!("[{}]", type_word(cx, i));
    }
    if let Some(e) = v.get("enum").and_then(Value::as_array)
        && e.len() > 1
    {
        let e: Vec<String> = e.iter().map(|x| x.to_string()).collect();
        t = format!("{t} ({})", e.join(" "));
    }
    t
}

const REF_START: &str =
    "<!-- field reference: generated from formats/schemas by tests/json_schema.rs -->";
const REF_END: &str = "<!-- end of field reference -->";

/// The "Field reference" section of json-schema.md is what the schema
/// files say (regenerated with `KZRESCUE_BLESS=1`).
#[test]
fn field_reference_matches_the_schema_files() {
    let mut text = String::new();
    text.push_str(REF_START);
    text.push_str("\n\n## Field reference\n\nGenerated from the schema files: per object (its JSON pointer, `[]` for the items of an array, `*` for any key), its keys with their types; `?` marks a key that may be absent, `int` an integer (a decimal string by default, a number with `--json-int`, `int±` signed), `octal` octal text, `|null` a value that may be null. Enumerations list every spelling.\n");
    for (n, v) in schema_files() {
        text.push_str(&format!("\n### `{n}` fields\n\n"));
        let mut lines = Vec::new();
        field_lines(&v, &v, "", &mut lines);
        for l in lines {
            text.push_str(&l);
            text.push('\n');
        }
    }
    text.push('\n');
    text.push_str(REF_END);
    let p = root().join("formats/json-schema.md");
    let doc = std::fs::read_to_string(&p).unwrap();
    let (a, rest) = doc.split_once(REF_START).unwrap_or((&doc, ""));
    let b = rest.split_once(REF_END).map(|x| x.1).unwrap_or("\n");
    let want = format!("{}{text}{b}", a.trim_end_matches('\n').to_string() + "\n\n");
    if std::env::var_os("KZRESCUE_BLESS").is_some() {
        std::fs::write(&p, &want).unwrap();
        return;
    }
    assert!(
        doc == want,
        "formats/json-schema.md's field reference is not what formats/schemas says; \
         regenerate: KZRESCUE_BLESS=1 cargo test --release --test json_schema field_reference"
    );
}

/// The diagnose schema's finding codes and severities are the README's
/// table ("Diagnosis findings"), exactly.
#[test]
fn diagnose_codes_are_the_readme_table() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut codes = BTreeSet::new();
    let mut sev = BTreeSet::new();
    for l in readme.lines() {
        if let Some(r) = l.strip_prefix("| `KZ-") {
            let code = format!("KZ-{}", r.split('`').next().unwrap());
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            codes.insert(code);
            sev.insert(cells[1].to_string());
        }
    }
    assert!(codes.len() > 30, "{codes:?}");
    // and the library's list of codes (src/diagnose/code.rs)
    let src = std::fs::read_to_string(root().join("src/diagnose/code.rs")).unwrap();
    let lib: BTreeSet<String> = src
        .split('"')
        .filter(|w| w.starts_with("KZ-") && w.len() > 7)
        .map(str::to_string)
        .collect();
    assert_eq!(lib, codes, "src/diagnose/code.rs (left) vs README (right)");
    let s = load("kzrescue.diagnose/3", false);
    let f = &s["$defs"]["finding"]["properties"];
    let set = |v: &Value| -> BTreeSet<String> {
        v["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(set(&f["code"]), codes, "schema (left) vs README (right)");
    assert_eq!(set(&f["severity"]), sev, "schema (left) vs README (right)");
}

#[test]
fn physpath_undo_documents() {
    for int in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let a = unpack_fixture("gptmirror-a.img", dir.path());
        let b = unpack_fixture("gptmirror-b.img", dir.path());
        check_mode(
            &["physpath", s(&a), s(&b), "--json"],
            0,
            "kzrescue.physpath/1",
            int,
        );
        let set = |extra: &[&str]| {
            let mut args = vec!["physpath", "set", s(&a), "--device-id", "0", "--json"];
            args.extend_from_slice(extra);
            check_mode(&args, 0, "kzrescue.physpath-set/1", int)
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
        let u = check_mode(&["undo", &j, "--json"], 0, "kzrescue.undo/1", int);
        assert_eq!(u["written"], false);
        let u = check_mode(
            &["undo", &j, "--write", "--liveness-interval", "0", "--json"],
            0,
            "kzrescue.undo/1",
            int,
        );
        assert_eq!(u["restored"], if int { 4.into() } else { Value::from("4") });
    }
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
    // without the key
    let v = check(
        &["hostdata", "check", s(&d), "--json"],
        11,
        "kzrescue.hostdata/2",
    );
    assert_eq!(v["verdict"], "key-not-available");
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
    for u in [
        "dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0",
        "file:///export/kz1.img",
        "lu:luname.naa.600144F0DBF8AF19000052E820D60003",
        "iscsi://10.0.0.1/target.iqn.2026-11.org.x:t1,lun.2",
        "nfs://u:g@host/export/kz1/disk0",
        "lu:initiator.naa.2100001D38089FB0,target.naa.2100001d38089fb0,luname.naa.5000c5000288fa25",
    ] {
        check(&["uri", "parse", "--json", u], 0, "kzrescue.uri/1");
    }
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
            "iscsi://10.0.0.1/luname.naa.600144F0DBF8AF19000052E820D60003",
            "--json",
        ],
        0,
        "kzrescue.uri-map/1",
    );
    check(
        &[
            "uri",
            "map",
            "iscsi://10.0.0.1/target.iqn.2026-11.org.x:t1,lun.2",
            "--json",
        ],
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
    for img in ["gptdisk-x86-512.img", "smi-sparc.img", "x86-vtoc.img"] {
        let d = unpack_fixture(img, dir.path());
        check(&["partitions", s(&d), "--json"], 0, "kzrescue.partitions/1");
    }
    let d = unpack_fixture("gptdisk-x86-512.img", dir.path());
    check(&["label", s(&d), "--json"], 0, "kzrescue.label/2");
    check(&["uberblocks", s(&d), "--json"], 0, "kzrescue.uberblocks/2");
    check(&["datasets", s(&d), "--json"], 0, "kzrescue.datasets/2");
    check(&["scan", s(&d), "--json"], 0, "kzrescue.scan/2");
    check(&["timeline", s(&d), "--json"], 0, "kzrescue.timeline/2");
    // a damaged label: status, problem and disagreement fields filled
    let mut b = std::fs::read(&d).unwrap();
    let p = check_mode(
        &["partitions", s(&d), "--json"],
        0,
        "kzrescue.partitions/1",
        true,
    );
    let start = p["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["slice"] == 1)
        .unwrap()["start"]
        .as_u64()
        .unwrap() as usize;
    b[start + 256 * 1024 + 20000] ^= 0xff;
    let bad = dir.path().join("bad.img");
    std::fs::write(&bad, &b).unwrap();
    check(&["label", s(&bad), "--json"], 1, "kzrescue.label/2");
    check(
        &["uberblocks", s(&bad), "--json"],
        1,
        "kzrescue.uberblocks/2",
    );
    check(&["scan", s(&bad), "--json"], 1, "kzrescue.scan/2");
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
    check(&["timeline", s(&d), "--json"], 0, "kzrescue.timeline/2");
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
    check(
        &[
            "changes",
            s(&d),
            fs,
            "--since",
            "@install",
            "--hash",
            "--json",
        ],
        0,
        "kzrescue.changes/2",
    );
    check(&["deleted", s(&d), fs, "--json"], 0, "kzrescue.deleted/2");
    check(&["manifest", s(&d), fs], 0, "kzrescue.manifest/2");
    check(
        &["manifest", s(&d), "rpool", "-r"],
        0,
        "kzrescue.manifest/2",
    );
    // manifest diff: a snapshot against the head, and two saved manifests
    check(
        &["manifest", s(&d), fs, "--against", "@install"],
        0,
        "kzrescue.manifest-diff/1",
    );
    let (c, base, e) = kzrescue(&["manifest", s(&d), &format!("{fs}@install")]);
    assert_eq!(c, 0, "{e}");
    let (c, now, e) = kzrescue(&["manifest", s(&d), fs]);
    assert_eq!(c, 0, "{e}");
    let (bp, np) = (dir.path().join("base.json"), dir.path().join("now.json"));
    std::fs::write(&np, now).unwrap();
    // a base as another day's manifest would have it: one file gone, one
    // with other contents and mode
    let mut b: Value = serde_json::from_str(&base).unwrap();
    let entries = b["entries"].as_array_mut().unwrap();
    let i = entries
        .iter()
        .position(|e| e["sha256"].is_string())
        .unwrap();
    entries[i]["sha256"] = "00".repeat(32).into();
    entries[i]["mode"] = "0600".into();
    let gone = entries.remove(i + 1)["path"].clone();
    std::fs::write(&bp, serde_json::to_string(&b).unwrap()).unwrap();
    let v = check(
        &["manifest", "diff", s(&bp), s(&np)],
        1,
        "kzrescue.manifest-diff/1",
    );
    assert_eq!(v["added"], serde_json::json!([gone]));
    assert_eq!(v["changed"][0]["content"], true, "{v}");
}

/// The pool-history documents on the zfs-fuse pool with snapshots, edits
/// and deletions after them (`testimages/make-fuse-v23.sh`).
#[test]
fn history_documents() {
    let dir = tempfile::tempdir().unwrap();
    let d = unpack_fixture("fuse-v23.img", dir.path());
    check(&["label", s(&d), "--json"], 0, "kzrescue.label/2");
    check(&["uberblocks", s(&d), "--json"], 0, "kzrescue.uberblocks/2");
    check(&["datasets", s(&d), "--json"], 0, "kzrescue.datasets/2");
    check(&["timeline", s(&d), "--json"], 0, "kzrescue.timeline/2");
    let v = check(
        &[
            "changes",
            s(&d),
            "kzpool/deep",
            "--since",
            "@clean",
            "--hash",
            "--json",
        ],
        0,
        "kzrescue.changes/2",
    );
    assert!(v["changes"].as_array().unwrap().len() > 10, "{v}");
    let v = check(
        &["deleted", s(&d), "kzpool/deep", "--json"],
        0,
        "kzrescue.deleted/2",
    );
    assert!(!v["deleted"].as_array().unwrap().is_empty(), "{v}");
    check(
        &[
            "deleted",
            s(&d),
            "kzpool/off",
            "--since",
            "@later",
            "--json",
        ],
        0,
        "kzrescue.deleted/2",
    );
    check(
        &["ls", s(&d), "kzpool/deep@clean:/", "--json"],
        0,
        "kzrescue.ls/1",
    );
}

/// A zone `kzrescue demo` set up: its directory, the diagnose/repair
/// arguments, the undo journals of its repair.
struct DemoZone {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    disk: PathBuf,
    journals: Vec<PathBuf>,
}

impl DemoZone {
    /// Runs `kzrescue demo` (broken → repaired) in a new directory.
    fn new() -> DemoZone {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("demo");
        let (c, out, err) = kzrescue(&["demo", "--dir", s(&dir), "--liveness-interval", "0"]);
        assert_eq!(c, 0, "{out}{err}");
        let mut journals: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "kzj"))
            .collect();
        journals.sort();
        assert_eq!(journals.len(), 2, "{journals:?}");
        DemoZone {
            disk: dir.join("kz1-disk0.img"),
            _tmp: tmp,
            dir,
            journals,
        }
    }

    fn zone_args(&self, verb: &str) -> Vec<String> {
        let d = self.dir.display();
        vec![
            verb.into(),
            "--zone-config".into(),
            format!("{d}/kz1.zonecfg"),
            "--zone".into(),
            "kz1".into(),
            "--keys".into(),
            format!("{d}/keys"),
            "--hostid".into(),
            "1a2b3c4d".into(),
            "--map".into(),
            format!(
                "dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0={}",
                self.disk.display()
            ),
            "--liveness-interval".into(),
            "0".into(),
            "--json".into(),
        ]
    }
}

/// The codes of a diagnosis's findings.
fn codes(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

/// diagnose, repair (dry run and --write), undo and hostdata on the zone
/// `kzrescue demo` repairs, put back broken by its own undo journals.
#[test]
fn zone_documents() {
    for int in [false, true] {
        let z = DemoZone::new();
        let args = |verb: &str, extra: &[&str]| -> Vec<String> {
            let mut a = z.zone_args(verb);
            a.extend(extra.iter().map(|x| x.to_string()));
            a
        };
        let run = |a: &[String], code: i32, name: &str| {
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            check_mode(&a, code, name, int)
        };
        let healthy = run(&args("diagnose", &[]), 0, "kzrescue.diagnose/3");
        assert!(codes(&healthy).contains(&"KZ-PHYS-000".to_string()));
        // put the broken state back: each journal, dry run then --write
        for j in &z.journals {
            let u = run(
                &["undo".into(), s(j).into(), "--json".into()],
                0,
                "kzrescue.undo/1",
            );
            assert_eq!(u["written"], false);
            run(
                &[
                    "undo".into(),
                    s(j).into(),
                    "--write".into(),
                    "--liveness-interval".into(),
                    "0".into(),
                    "--json".into(),
                ],
                0,
                "kzrescue.undo/1",
            );
        }
        // The demo's copy of the key it replaced is named after the second;
        // a repair in that same second would find its name taken (and
        // refuse, exit 3): the test has no use for it.
        for e in std::fs::read_dir(z.dir.join("keys")).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "old") {
                std::fs::remove_file(p).unwrap();
            }
        }
        let key = z.dir.join("keys/kz1");
        let hd = run(
            &[
                "hostdata".into(),
                "check".into(),
                s(&z.disk).into(),
                "--key".into(),
                s(&key).into(),
                "--json".into(),
            ],
            12,
            "kzrescue.hostdata/2",
        );
        assert_eq!(hd["verdict"], "key-incorrect");
        let broken = run(&args("diagnose", &[]), 1, "kzrescue.diagnose/3");
        let c = codes(&broken);
        assert!(
            c.contains(&"KZ-PHYS-001".into()) && c.contains(&"KZ-HOST-008".into()),
            "{c:?}"
        );
        let fix = &["--reinit-hostdata", "--hostname", "h"];
        let dry = run(&args("repair", fix), 0, "kzrescue.repair/3");
        assert!(dry.get("after").is_none_or(Value::is_null));
        let mut w = args("repair", fix);
        // journals of their own (the demo's, in its directory, may carry
        // this very second in their names)
        let jd = z.dir.join("j");
        std::fs::create_dir(&jd).unwrap();
        w.extend(["--write".into(), "--journal-dir".into(), s(&jd).into()]);
        let done = run(&w, 0, "kzrescue.repair/3");
        assert!(codes(&done["after"]).contains(&"KZ-PHYS-000".into()));
        // again: nothing left to do
        run(&w, 0, "kzrescue.repair/3");
        run(&args("diagnose", &[]), 0, "kzrescue.diagnose/3");

        // Oracle's host data (slice 8 holds nothing of kzrescue's), no key:
        // the post-rollback procedure; with the liveness check: best_txg
        let r = &hd["reserved_partition"];
        let (start, len) = if int {
            (r["start"].as_u64().unwrap(), r["len"].as_u64().unwrap())
        } else {
            let n = |k: &str| r[k].as_str().unwrap().parse::<u64>().unwrap();
            (n("start"), n("len"))
        };
        let mut b = std::fs::read(&z.disk).unwrap();
        b[start as usize..(start + len) as usize].fill(0);
        std::fs::write(&z.disk, b).unwrap();
        let mut a = args("diagnose", &[]);
        let k = a.iter().position(|x| x == "--keys").unwrap();
        a.drain(k..k + 2);
        let l = a.iter().position(|x| x == "--liveness-interval").unwrap();
        a[l + 1] = "0.1".into();
        let o = run(&a, 0, "kzrescue.diagnose/3");
        assert!(!o["post_rollback"].as_array().unwrap().is_empty(), "{o}");
        assert!(!o["best_txg"].is_null(), "{o}");
    }
}

/// label repair and partitions restore, dry run and --write, on damaged
/// copies of a bundled disk.
#[test]
fn recovery_documents() {
    for int in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let d = unpack_fixture("gptdisk-x86-512.img", dir.path());
        let p = check_mode(
            &["partitions", s(&d), "--json"],
            0,
            "kzrescue.partitions/1",
            true,
        );
        let s1 = p["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["slice"] == 1)
            .unwrap()
            .clone();
        let start = s1["start"].as_u64().unwrap() as usize;
        let good = std::fs::read(&d).unwrap();

        // label 1 zeroed
        let mut b = good.clone();
        b[start + 256 * 1024..start + 512 * 1024].fill(0);
        std::fs::write(&d, &b).unwrap();
        let lr = |extra: &[&str]| {
            let mut a = vec![
                "label",
                "repair",
                s(&d),
                "--json",
                "--liveness-interval",
                "0",
            ];
            a.extend_from_slice(extra);
            check_mode(&a, 0, "kzrescue.label-repair/2", int)
        };
        assert_eq!(lr(&[])["result"], "dry-run");
        let j = dir.path().join("lr.kzj");
        assert_eq!(lr(&["--write", "--journal", s(&j)])["result"], "written");
        assert_eq!(lr(&[])["result"], "unchanged");

        // the primary GPT zeroed
        let mut b = good.clone();
        b[..2 * 512 + 16384].fill(0);
        std::fs::write(&d, &b).unwrap();
        let pr = |extra: &[&str]| {
            let mut a = vec![
                "partitions",
                "restore",
                s(&d),
                "--from",
                "backup",
                "--json",
                "--liveness-interval",
                "0",
            ];
            a.extend_from_slice(extra);
            check_mode(&a, 0, "kzrescue.partitions-restore/2", int)
        };
        assert_eq!(pr(&[])["result"], "dry-run");
        let j = dir.path().join("pr.kzj");
        assert_eq!(pr(&["--write", "--journal", s(&j)])["result"], "written");
        assert_eq!(pr(&[])["result"], "unchanged");
        assert_eq!(std::fs::read(&d).unwrap(), good);
        // from the scan, on a disk whose both tables are gone
        let mut b = good.clone();
        b[..2 * 512 + 16384].fill(0);
        let n = b.len();
        b[n - 512 - 16384..].fill(0);
        std::fs::write(&d, &b).unwrap();
        check_mode(
            &["partitions", "restore", s(&d), "--from", "scan", "--json"],
            0,
            "kzrescue.partitions-restore/2",
            int,
        );
    }
}

/// iscsi discover and inquiry against a real tgtd on 127.0.0.1.
#[test]
fn iscsi_documents() {
    let Some(t) = common::iscsi::Tgt::start("iscsi_documents") else {
        return;
    };
    let iqn = "iqn.2026-11.org.kzrescue:schema";
    t.target(1, iqn);
    let f = t.file("lu0.img", &common::iscsi::pattern(4 << 20, 7));
    t.lun(1, 1, &f, "600144f0dbf8af19000052e820d60003", None);
    let portal = t.portal();
    for int in [false, true] {
        let v = check_mode(
            &["iscsi", "discover", &portal, "--json"],
            0,
            "kzrescue.iscsi-discover/1",
            int,
        );
        assert_eq!(v["targets"][0]["name"], iqn);
        check_mode(
            &["iscsi", "inquiry", &portal, "--json"],
            0,
            "kzrescue.iscsi-inquiry/1",
            int,
        );
        let v = check_mode(
            &[
                "iscsi",
                "inquiry",
                &format!("iscsi://{portal}/luname.naa.600144f0dbf8af19000052e820d60003"),
                "--json",
            ],
            0,
            "kzrescue.iscsi-inquiry/1",
            int,
        );
        assert_eq!(v["lus"].as_array().unwrap().len(), 1, "{v}");
        // a portal-less URI through the global --iscsi-portal
        check_mode(
            &[
                "iscsi",
                "inquiry",
                &format!("iscsi:///target.{iqn},lun.1"),
                "--iscsi-portal",
                &portal,
                "--json",
            ],
            0,
            "kzrescue.iscsi-inquiry/1",
            int,
        );
    }
}
