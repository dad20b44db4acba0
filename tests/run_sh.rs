//! tests/run.sh: what it prints of test output is escaped (no raw control
//! bytes reach the terminal or the summary), the summary still counts the
//! `test result:` lines, and the build directory honours an explicitly
//! passed CARGO_TARGET_DIR (relative to the caller's directory).

mod common;

use common::root;
use std::io::Write;
use std::process::{Command, Stdio};

fn run_sh(args: &[&str], stdin: &[u8], cwd: &std::path::Path, env: &[(&str, &str)]) -> Vec<u8> {
    let mut c = Command::new("bash");
    c.arg(root().join("tests/run.sh"))
        .args(args)
        .current_dir(cwd)
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    o.stdout
}

#[test]
fn control_bytes_are_escaped_and_the_summary_still_counts() {
    let log =
        b"running 4 tests\n\x1b[31mred\x1b[0m \x07bell\rover\n\xc2\x9b2J \xc3\xa9 tab\tkept\n\
test a ... ok\ntest b ... FAILED\n\
test result: FAILED. 3 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out\n\
\rtest result: ok. 1000 passed; 0 failed; 0 ignored\n\
SKIPPED x (install Debian package y)\n";
    let dir = tempfile::tempdir().unwrap();
    let out = run_sh(&["--sanitize"], log, dir.path(), &[]);
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        !out.iter()
            .any(|&b| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f),
        "{text}"
    );
    assert!(!text.contains('\u{9b}'), "{text}");
    assert!(
        text.contains("\\x1b[31mred\\x1b[0m \\x07bell\\x0dover"),
        "{text}"
    );
    assert!(text.contains("\\u009b2J é tab\tkept"), "{text}");
    let f = dir.path().join("log");
    std::fs::write(&f, &out).unwrap();
    let sum = run_sh(&["--summary", f.to_str().unwrap()], b"", dir.path(), &[]);
    let sum = String::from_utf8(sum).unwrap();
    // The forged line (a CR before `test result:`) does not count.
    assert!(
        sum.contains("TOTAL: 3 passed, 1 failed, 2 ignored"),
        "{sum}"
    );
    assert!(sum.contains("test b ... FAILED"), "{sum}");
    assert!(sum.contains("SKIPPED: 1"), "{sum}");
}

#[test]
fn cargo_target_dir_is_honoured_relative_to_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let d = |env: &[(&str, &str)]| {
        String::from_utf8(run_sh(&["--target-dir"], b"", dir.path(), env))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(
        d(&[("CARGO_TARGET_DIR", "build/x")]),
        dir.path().join("build/x").to_str().unwrap()
    );
    assert_eq!(d(&[("CARGO_TARGET_DIR", "/abs/t")]), "/abs/t");
    assert_eq!(
        d(&[]),
        root()
            .canonicalize()
            .unwrap()
            .join("target")
            .to_str()
            .unwrap()
    );
}
