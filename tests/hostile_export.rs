//! Confined export (issue 12, item 1): every hostile layout of names and
//! symlinks an intruder can put in a directory ZAP — `../` and `/` in
//! names, `.`, `..` and empty names, a NUL byte, a symlink to an outside
//! path (absolute or relative) followed by a directory of the same name,
//! nested escapes — exported with `--to` (names refused, then escaped) and
//! `--tar` (then unpacked by GNU tar). The proof is a full listing of the
//! destination's parent (every path, type, size and symlink target) taken
//! before and after: nothing may change outside the destination. Pools are
//! laid out by `tests/synthpool/`.

mod common;

use common::bounded::{Outcome, run};
use common::synthpool::{Fs, Node, ROOT, Spec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every path under `dir` (not following symlinks) → "type size target".
fn listing(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let desc = if m.file_type().is_symlink() {
                format!("symlink -> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else {
                format!("file {} bytes", m.len())
            };
            out.insert(p, desc);
        }
    }
    out
}

/// Asserts that nothing in `parent`'s listing changed except under `dest`.
fn nothing_outside(what: &str, before: &BTreeMap<PathBuf, String>, parent: &Path, dest: &Path) {
    let after = listing(parent);
    let outside = |m: &BTreeMap<PathBuf, String>| -> BTreeMap<PathBuf, String> {
        m.iter()
            .filter(|(p, _)| !p.starts_with(dest))
            .map(|(p, d)| (p.clone(), d.clone()))
            .collect()
    };
    // the destination itself is created by the export
    let mut b = outside(before);
    let mut a = outside(&after);
    b.remove(dest);
    a.remove(dest);
    assert_eq!(a, b, "{what}: something changed outside {}", dest.display());
}

/// The hostile layouts: (name, file system). `outside` is an absolute path
/// next to the destination that an escaping export would create.
fn layouts(outside: &str) -> Vec<(&'static str, Fs)> {
    let file = |s: &str| Node::File(s.as_bytes().to_vec(), 512);
    let mut v = Vec::new();
    let mk = |entries: Vec<(&str, u64)>, objs: Vec<(u64, Node)>| {
        let mut o = BTreeMap::new();
        o.insert(
            ROOT,
            Node::Dir(
                entries
                    .into_iter()
                    .map(|(n, x)| (n.to_string(), x))
                    .collect(),
            ),
        );
        for (k, n) in objs {
            o.insert(k, n);
        }
        Fs { objects: o }
    };
    v.push((
        "name ../escaped",
        mk(
            vec![("../escaped", 4), ("ok", 5)],
            vec![(4, file("evil\n")), (5, file("ok\n"))],
        ),
    ));
    v.push((
        "name ../../escaped2 in a subdirectory",
        mk(
            vec![("d", 5)],
            vec![
                (5, Node::Dir(vec![("../../escaped2".into(), 4)])),
                (4, file("evil\n")),
            ],
        ),
    ));
    v.push((
        "name a/b with a slash",
        mk(
            vec![("a/b", 4), ("a", 5)],
            vec![(4, file("evil\n")), (5, Node::Dir(vec![]))],
        ),
    ));
    v.push((
        "names . and ..",
        mk(
            vec![(".", 4), ("..", 5), ("ok", 7)],
            vec![
                (4, file("dot\n")),
                (5, file("dotdot\n")),
                (6, file("empty\n")),
                (7, file("ok\n")),
            ],
        ),
    ));
    v.push((
        "absolute symlink then a directory of the same name",
        mk(
            vec![("s", 4), ("s", 5)],
            vec![
                (4, Node::Symlink(outside.to_string())),
                (5, Node::Dir(vec![("planted".into(), 6)])),
                (6, file("evil\n")),
            ],
        ),
    ));
    v.push((
        "relative symlink .. then a directory of the same name",
        mk(
            vec![("r", 4), ("r", 5)],
            vec![
                (4, Node::Symlink("..".into())),
                (5, Node::Dir(vec![("planted-rel".into(), 6)])),
                (6, file("evil\n")),
            ],
        ),
    ));
    v.push((
        "directory then a symlink of the same name",
        mk(
            vec![("q", 5), ("q", 4)],
            vec![
                (4, Node::Symlink("..".into())),
                (5, Node::Dir(vec![("inside".into(), 6)])),
                (6, file("fine\n")),
            ],
        ),
    ));
    v.push((
        "symlink to .. then a name through it",
        mk(
            vec![("t", 4), ("t/planted-through", 5)],
            vec![(4, Node::Symlink("../..".into())), (5, file("evil\n"))],
        ),
    ));
    v.push((
        "symlink then a file of the same name (write through it)",
        mk(
            vec![("w", 4), ("w", 5)],
            vec![
                (4, Node::Symlink(format!("{outside}-file"))),
                (5, file("evil\n")),
            ],
        ),
    ));
    v.push((
        "a hard link whose first name is refused",
        mk(vec![("../x", 4), ("kept", 4)], vec![(4, file("linked\n"))]),
    ));
    v.push(("fat-ZAP names: empty, with a NUL byte, with a slash", {
        let mut f = mk(vec![("fat", 5)], vec![(4, file("evil\n"))]);
        f.objects.insert(
            5,
            Node::FatDir(vec![
                ("a\0b".into(), 4),
                ("".into(), 4),
                ("../../fat-escaped".into(), 4),
                ("fine".into(), 4),
            ]),
        );
        f
    }));
    v
}

fn no_crash(what: &str, o: &Outcome) {
    assert!(o.code >= 0, "{what}: killed by signal {}", -o.code);
    assert!(!o.stderr.contains("panicked"), "{what}: {}", o.stderr);
}

#[test]
fn hostile_layouts_stay_inside_the_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("parent");
    std::fs::create_dir(&parent).unwrap();
    std::fs::write(parent.join("bystander"), b"untouched\n").unwrap();
    let outside = parent.join("outside");
    let with_tar =
        common::require_tool("tar", "tar", "hostile_layouts_stay_inside_the_destination");
    for (i, (what, fs)) in layouts(outside.to_str().unwrap()).into_iter().enumerate() {
        let spec = Spec {
            fs,
            ..Spec::default()
        };
        let img = common::synthpool::save(tmp.path(), &format!("l{i}.img"), &spec.build());
        // ls and manifest report hostile names and duplicates
        let o = run(&["ls", &img, "synth:/"]);
        no_crash(&format!("{what}: ls"), &o);
        let nested = what.contains("subdirectory") || what.contains("fat-ZAP");
        assert_eq!(
            o.code,
            if nested { 0 } else { 1 },
            "{what}: ls\n{}",
            o.out()
        );
        let o = run(&["manifest", "--json-int", &img, "synth"]);
        no_crash(&format!("{what}: manifest"), &o);
        assert_eq!(o.code, 1, "{what}: manifest\n{}", o.out());
        for (mode, extra) in [("refuse", None), ("escape", Some("--escape-names"))] {
            let dest = parent.join(format!("dest-{i}-{mode}"));
            let before = listing(&parent);
            let mut args = vec!["export", &img, "synth", "--to", dest.to_str().unwrap()];
            args.extend(extra);
            let o = run(&args);
            no_crash(&format!("{what}: export --to ({mode})"), &o);
            assert_eq!(
                o.code,
                1,
                "{what}: export --to ({mode}): problems reported\n{}",
                o.out()
            );
            nothing_outside(
                &format!("{what}: export --to ({mode})"),
                &before,
                &parent,
                &dest,
            );
            // every symlink made is exactly as stored, nothing under one
            for (p, d) in listing(&dest) {
                if d.starts_with("symlink") {
                    assert!(
                        listing(&dest).keys().all(|q| q == &p || !q.starts_with(&p)),
                        "{what}: something was written under symlink {}",
                        p.display()
                    );
                }
            }
            if with_tar {
                let tar = tmp.path().join(format!("l{i}-{mode}.tar"));
                let mut args = vec!["export", &img, "synth", "--tar", tar.to_str().unwrap()];
                args.extend(extra);
                let o = run(&args);
                no_crash(&format!("{what}: export --tar ({mode})"), &o);
                assert_eq!(o.code, 1, "{what}: export --tar ({mode})\n{}", o.out());
                let x = parent.join(format!("untar-{i}-{mode}"));
                std::fs::create_dir(&x).unwrap();
                let before = listing(&parent);
                let st = std::process::Command::new("tar")
                    .args(["-xf", tar.to_str().unwrap(), "-C", x.to_str().unwrap()])
                    .output()
                    .unwrap();
                assert!(
                    st.status.success(),
                    "{what}: GNU tar refused the archive ({mode}): {}",
                    String::from_utf8_lossy(&st.stderr)
                );
                nothing_outside(&format!("{what}: untar ({mode})"), &before, &parent, &x);
            }
        }
    }
    assert!(!outside.exists() && !parent.join("escaped").exists());
    assert_eq!(
        std::fs::read(parent.join("bystander")).unwrap(),
        b"untouched\n"
    );
}

#[test]
fn refused_and_escaped_names_are_reported_and_duplicates_keep_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    let ls = layouts(outside.to_str().unwrap());
    // ../escaped and ok
    let img = common::synthpool::save(
        tmp.path(),
        "a.img",
        &Spec {
            fs: ls[0].1.clone(),
            ..Spec::default()
        }
        .build(),
    );
    let d = tmp.path().join("refuse");
    let o = run(&["export", &img, "synth", "--to", d.to_str().unwrap()]);
    assert!(
        o.stderr
            .contains("/..%2Fescaped: name refused: the name contains '/'"),
        "{}",
        o.stderr
    );
    assert_eq!(std::fs::read(d.join("ok")).unwrap(), b"ok\n");
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
    let d = tmp.path().join("escape");
    let o = run(&[
        "export",
        &img,
        "synth",
        "--to",
        d.to_str().unwrap(),
        "--escape-names",
    ]);
    assert!(
        o.stderr
            .contains("the name contains '/': written as \"..%2Fescaped\""),
        "{}",
        o.stderr
    );
    assert_eq!(std::fs::read(d.join("..%2Fescaped")).unwrap(), b"evil\n");
    // . .. and empty, escaped
    let img = common::synthpool::save(
        tmp.path(),
        "b.img",
        &Spec {
            fs: ls[3].1.clone(),
            ..Spec::default()
        }
        .build(),
    );
    let d = tmp.path().join("dots");
    run(&[
        "export",
        &img,
        "synth",
        "--to",
        d.to_str().unwrap(),
        "--escape-names",
    ]);
    assert_eq!(std::fs::read(d.join("%2E")).unwrap(), b"dot\n");
    assert_eq!(std::fs::read(d.join("%2E%2E")).unwrap(), b"dotdot\n");
    // an empty name and one with a NUL byte (a fat ZAP holds them), escaped
    let img = common::synthpool::save(
        tmp.path(),
        "e.img",
        &Spec {
            fs: ls[10].1.clone(),
            ..Spec::default()
        }
        .build(),
    );
    let d = tmp.path().join("fat");
    let o = run(&[
        "export",
        &img,
        "synth",
        "--to",
        d.to_str().unwrap(),
        "--escape-names",
    ]);
    assert_eq!(
        std::fs::read(d.join("fat/%")).unwrap(),
        b"evil\n",
        "{}",
        o.stderr
    );
    assert_eq!(
        std::fs::read(d.join("fat/a%00b")).unwrap(),
        b"evil\n",
        "{}",
        o.stderr
    );
    // a symlink then a directory of the same name: the symlink stays, the
    // directory is reported and not merged through it
    let img = common::synthpool::save(
        tmp.path(),
        "c.img",
        &Spec {
            fs: ls[4].1.clone(),
            ..Spec::default()
        }
        .build(),
    );
    let d = tmp.path().join("dup");
    let o = run(&["export", &img, "synth", "--to", d.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_link(d.join("s")).unwrap(),
        PathBuf::from(outside.to_str().unwrap())
    );
    assert!(
        o.stderr
            .contains("/s: a second entry of this name in one directory"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("/s/planted: not written: its directory was not"),
        "{}",
        o.stderr
    );
    // the hard link whose first name was refused is written once, whole
    let img = common::synthpool::save(
        tmp.path(),
        "d.img",
        &Spec {
            fs: ls[9].1.clone(),
            ..Spec::default()
        }
        .build(),
    );
    let d = tmp.path().join("link");
    run(&["export", &img, "synth", "--to", d.to_str().unwrap()]);
    assert_eq!(std::fs::read(d.join("kept")).unwrap(), b"linked\n");
}
