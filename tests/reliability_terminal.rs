//! Terminal hygiene: names that come from a disk cannot drive the examiner's
//! terminal. A synthetic pool (tests/synthpool) whose pool name and file
//! names carry escape sequences (clear screen, set window title, CSI in its
//! 8-bit C1 form, DEL) is listed with every text command; no raw control
//! byte other than newline and tab reaches stdout or stderr, the names are
//! shown escaped, and JSON output stays valid JSON that decodes to the real
//! names.

mod common;

use common::synthpool::{Node, ROOT, Spec};

const POOL: &str = "ev\u{1b}[2Jil";
const FILE: &str = "x\u{1b}]0;owned\u{7}\u{9b}31m\u{7f}.txt";

fn raw_controls(s: &str) -> Vec<char> {
    s.chars()
        .filter(|&c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}')
        .collect()
}

#[test]
fn disk_names_cannot_drive_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = Spec {
        name: POOL.into(),
        ..Spec::default()
    };
    if let Some(Node::Dir(e)) = spec.fs.objects.get_mut(&ROOT) {
        e.push((FILE.into(), 4));
    }
    let img = common::synthpool::save(dir.path(), "names.img", &spec.build());
    let root = format!("{POOL}:/");
    let missing = format!("{POOL}:/{FILE}/nope");
    let runs: Vec<(&str, Vec<&str>)> = vec![
        ("label", vec!["label", &img]),
        ("physpath", vec!["physpath", &img]),
        ("datasets", vec!["datasets", &img]),
        ("ls", vec!["ls", &img, &root]),
        ("manifest", vec!["manifest", "--json-int", &img, POOL]),
        ("missing file", vec!["cat", &img, &missing]),
    ];
    for (what, args) in runs {
        let (code, out, err) = common::kzrescue(&args);
        assert!(code <= 2, "{what}: exit {code}: {err}");
        for (stream, text) in [("stdout", &out), ("stderr", &err)] {
            let bad = raw_controls(text);
            assert!(bad.is_empty(), "{what}: raw {bad:?} on {stream}: {text:?}");
        }
        let shown = |t: &str| t.contains("\\x1b") || t.contains("\\u001b");
        assert!(
            shown(&out) || shown(&err),
            "{what}: the escape is not shown: {out:?} {err:?}"
        );
    }
    // the names survive, escaped, in ls; and JSON decodes to the real bytes
    let (_, out, _) = common::kzrescue(&["ls", &img, &root]);
    assert!(
        out.contains("x\\x1b]0;owned\\x07\\u009b31m\\u007f.txt"),
        "{out}"
    );
    let (_, json, _) = common::kzrescue(&["datasets", &img, "--json", "--json-int"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(json.contains(&POOL.replace('\u{1b}', "\\u001b")), "{json}");
    assert!(v.to_string().contains("ev\\u001b[2Jil"), "{v}");
    let (_, json, _) = common::kzrescue(&["manifest", "--json-int", &img, POOL]);
    let m: serde_json::Value = serde_json::from_str(&json).unwrap();
    let paths: Vec<&str> = m["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&format!("/{FILE}").as_str()), "{paths:?}");
}
