//! The error contract (issue 12, items 3, 4 and 7): every read command on
//! a set of broken inputs fails with exactly one line on stderr naming the
//! structure and a real offset — never nothing, never several lines for one
//! failure, never the `offset 0x0` placeholder, never a panic. Input files
//! that are not regular files (a device, a FIFO) are refused at once, and
//! every numeric flag is tried at its extremes.

mod common;

use common::bounded::{Outcome, run};
use common::synthpool::{Dn, Hooks, Spec, Writer};

fn check_failure(what: &str, o: &Outcome) {
    assert!(o.code >= 0, "{what}: killed by signal {}", -o.code);
    assert!(
        !o.stderr.contains("panicked"),
        "{what}: panic\n{}",
        o.stderr
    );
    assert_ne!(o.code, 0, "{what}: broken input accepted\n{}", o.out());
    assert!(
        !o.stderr.trim().is_empty(),
        "{what}: exit {} with nothing on stderr",
        o.code
    );
    if o.code == 2 {
        // warnings about other problems met on the way are lines of their own
        assert_eq!(
            o.stderr
                .lines()
                .filter(|l| !l.starts_with("kzrescue: warning:"))
                .count(),
            1,
            "{what}: one failure, one line on stderr\n{}",
            o.stderr
        );
    }
    assert!(
        !o.stderr.contains("offset 0x0:") && !o.stderr.contains("offset 0x0 "),
        "{what}: placeholder offset\n{}",
        o.stderr
    );
}

/// The standard pool with MOS object 1 (the object directory) pointing at
/// a block that is not a ZAP, every checksum valid.
fn bad_objdir() -> Vec<u8> {
    let mut hook = |w: &mut Writer, o: u64, dn: &mut Dn| {
        if o == 1 {
            *dn = common::synthpool::object(w, 1, 512, &[0x5au8; 512], 0, vec![]);
        }
    };
    Spec::default().build_with(Hooks {
        fs: None,
        mos: Some(&mut hook),
    })
}

#[test]
fn every_read_command_fails_with_one_line_and_a_real_offset() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    std::fs::write(p("empty.img"), b"").unwrap();
    std::fs::write(p("small.img"), vec![0x5a; 100_000]).unwrap();
    std::fs::File::create(p("zero.img"))
        .unwrap()
        .set_len(10 << 20)
        .unwrap();
    let objdir = common::synthpool::save(dir.path(), "objdir.img", &bad_objdir());
    // no valid uberblock anywhere: every active slot destroyed
    let mut img = Spec::default().build();
    let size = img.len();
    for base in [0, 256 << 10, size - (512 << 10), size - (256 << 10)] {
        let at = base + (128 << 10) + 10 * 1024;
        img[at..at + 8].copy_from_slice(&[0xee; 8]);
    }
    let noub = common::synthpool::save(dir.path(), "noub.img", &img);
    let images = [
        p("missing.img"),
        p("empty.img"),
        p("small.img"),
        p("zero.img"),
        objdir,
        noub,
    ];
    for img in &images {
        let out = p("export");
        let tar = p("x.tar");
        let cmds: Vec<Vec<&str>> = vec![
            vec!["label", img],
            vec!["uberblocks", img],
            vec!["datasets", img],
            vec!["ls", img, "synth:/"],
            vec!["cat", img, "synth:/hello.txt"],
            vec!["manifest", "--json-int", img, "synth"],
            vec!["export", img, "synth", "--to", &out],
            vec!["export", img, "synth", "--tar", &tar],
        ];
        for args in cmds {
            // pools whose labels are sound: label (and, with its rings
            // intact, uberblocks) rightly succeed
            let sound_labels = img.ends_with("objdir.img") || img.ends_with("noub.img");
            if sound_labels
                && (args[0] == "label" || (args[0] == "uberblocks" && img.ends_with("objdir.img")))
            {
                continue;
            }
            let o = run(&args);
            check_failure(&format!("{args:?}"), &o);
            let _ = std::fs::remove_dir_all(&out);
        }
    }
    // lookups name what was looked up and where
    let good = common::synthpool::save(dir.path(), "good.img", &Spec::default().build());
    for (args, needle) in [
        (
            vec!["ls", &good, "synth:/nothing/here"],
            "no such file or directory (nothing in directory object 3, dnode at byte offset 0x",
        ),
        (
            vec!["cat", &good, "synth:/dir/missing"],
            "no such file or directory (missing in directory object 5, dnode at byte offset 0x",
        ),
        (vec!["ls", &good, "nopool/x:/"], "no dataset named nopool/x"),
        (vec!["cat", &good, "synth:/hello.txt/x"], "not a directory"),
    ] {
        let o = run(&args);
        check_failure(&format!("{args:?}"), &o);
        assert!(o.stderr.contains(needle), "{args:?}: {}", o.stderr);
    }
}

#[test]
fn input_files_must_be_regular_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let fifo = fifo.to_str().unwrap().to_string();
    let json = dir.path().join("bad.json");
    std::fs::write(&json, b"{\"schema\": 1").unwrap();
    let json = json.to_str().unwrap();
    let mut cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["undo", "/dev/zero"], "is a character device"),
        (
            vec!["manifest", "diff", "/dev/zero", json],
            "is a character device",
        ),
        (
            vec!["manifest", "diff", json, json],
            "is not a kzrescue manifest",
        ),
        (
            vec![
                "diagnose",
                "--zone-config",
                "/dev/zero",
                "--liveness-interval",
                "0",
            ],
            "is a character device",
        ),
    ];
    if made {
        cases.push((vec!["undo", &fifo], "is a FIFO"));
        cases.push((vec!["manifest", "diff", &fifo, json], "is a FIFO"));
        cases.push((
            vec![
                "diagnose",
                "--zone-config",
                &fifo,
                "--liveness-interval",
                "0",
            ],
            "is a FIFO",
        ));
    }
    for (args, needle) in cases {
        let o = run(&args);
        check_failure(&format!("{args:?}"), &o);
        assert!(o.stderr.contains(needle), "{args:?}: {}", o.stderr);
        assert!(o.rss_kib < 256 * 1024, "{args:?}: {} KiB", o.rss_kib);
    }
}

#[test]
fn numeric_flags_at_their_extremes() {
    let dir = tempfile::tempdir().unwrap();
    let img = common::synthpool::save(dir.path(), "good.img", &Spec::default().build());
    let out = dir.path().join("x");
    let out = out.to_str().unwrap();
    let huge = "18446744073709551616";
    let max = "18446744073709551615";
    // (args, whether it may succeed)
    let cases: Vec<(Vec<&str>, bool)> = vec![
        (
            vec!["manifest", "--json-int", &img, "synth", "--jobs", "2000"],
            true,
        ),
        (
            vec!["manifest", "--json-int", &img, "synth", "--jobs", max],
            true,
        ),
        (
            vec!["manifest", "--json-int", &img, "synth", "--jobs", huge],
            true,
        ),
        (
            vec!["manifest", "--json-int", &img, "synth", "--jobs", "0"],
            false,
        ),
        (
            vec!["manifest", "--json-int", &img, "synth", "--jobs", "-1"],
            false,
        ),
        (
            vec![
                "manifest",
                "--json-int",
                &img,
                "synth",
                "--max-file-size",
                "0",
            ],
            true,
        ),
        (
            vec![
                "manifest",
                "--json-int",
                &img,
                "synth",
                "--max-file-size",
                max,
            ],
            false,
        ),
        (
            vec!["cat", &img, "synth:/hello.txt", "--max-file-size", "8E"],
            true,
        ),
        (
            vec!["cat", &img, "synth:/hello.txt", "--max-file-size", "16E"],
            false,
        ),
        (
            vec![
                "export",
                &img,
                "synth",
                "--tar",
                "-",
                "--max-file-size",
                "1",
            ],
            true,
        ),
        (vec!["ls", &img, "synth:/", "--txg", "0"], false),
        (vec!["ls", &img, "synth:/", "--txg", max], true),
        (vec!["ls", &img, "synth:/", "--txg", huge], false),
        (vec!["ls", &img, "synth:/", "--slice", "127"], false),
        (vec!["ls", &img, "synth:/", "--slice", "4294967295"], false),
        (vec!["label", &img, "--slice", max], false),
        (vec!["label", &img, "--sector-size", "4294967295"], false),
        (vec!["uberblocks", &img, "--sector-size", "0"], false),
        (vec!["physpath", &img, "--liveness-interval", "NaN"], false),
        (vec!["physpath", &img, "--liveness-interval", "inf"], false),
        (vec!["physpath", &img, "--liveness-interval", "-1"], false),
        (
            vec!["physpath", &img, "--liveness-interval", "1e300"],
            false,
        ),
        (
            vec!["physpath", &img, "--device-id", max, "--dry-run"],
            true,
        ),
        (vec!["demo", "--liveness-interval", "NaN"], false),
        (
            vec![
                "diagnose",
                "--zone-config",
                "/nonexistent",
                "--liveness-interval",
                "1e309",
            ],
            false,
        ),
        (
            vec!["export", &img, "synth", "--to", out, "--txg", max],
            true,
        ),
    ];
    for (args, may_succeed) in cases {
        let o = run(&args);
        let what = format!("{args:?}");
        assert!(o.code >= 0, "{what}: killed by signal {}", -o.code);
        assert!(
            !o.stderr.contains("panicked"),
            "{what}: panic\n{}",
            o.stderr
        );
        if !may_succeed {
            assert_ne!(o.code, 0, "{what}: accepted\n{}", o.out());
            assert!(!o.stderr.trim().is_empty(), "{what}: nothing on stderr");
        }
        let _ = std::fs::remove_dir_all(out);
    }
    // --jobs is clamped, with a note
    let o = run(&["manifest", "--json-int", &img, "synth", "--jobs", "2000"]);
    assert_eq!(o.code, 0, "{}", o.out());
    assert!(
        o.stderr.contains("--jobs 2000 lowered to 256"),
        "{}",
        o.stderr
    );
}

#[test]
fn documented_garbage_warns_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    // the active uberblock (txg 10, slot 10) of label 1 destroyed
    let mut img = Spec::default().build();
    let at = (256 << 10) + (128 << 10) + 10 * 1024;
    img[at..at + 8].copy_from_slice(&[0xee; 8]);
    let p = common::synthpool::save(dir.path(), "ub.img", &img);
    let o = run(&["uberblocks", &p]);
    assert_eq!(o.code, 1, "{}", o.out());
    assert!(
        o.stderr.contains(
            "uberblock ring of label 1 at byte offset 0x60000: no valid uberblock of the active txg 10"
        ),
        "{}",
        o.stderr
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "root dnode retyped as a plain file",
            common::synthpool::with_fs_object(common::synthpool::ROOT, |_, dn| {
                dn.dtype = common::synthpool::ot::PLAIN_FILE
            }),
            "has dnode type 19, not 20 (directory contents)",
        ),
        (
            "root znode mode a regular file",
            common::synthpool::with_fs_object(common::synthpool::ROOT, |_, dn| {
                dn.bonus[72..80].copy_from_slice(&0o100644u64.to_le_bytes())
            }),
            "the root directory (master node ROOT) is a File",
        ),
        (
            "ZPL version 2^64-1",
            common::synthpool::with_fs_object(1, |w, dn| {
                let z = common::synthpool::micro_zap(&[
                    ("VERSION", u64::MAX),
                    ("ROOT", common::synthpool::ROOT),
                    ("DELETE_QUEUE", 2),
                ]);
                *dn = common::synthpool::object(
                    w,
                    common::synthpool::ot::MASTER_NODE,
                    512,
                    &z,
                    0,
                    vec![],
                );
            }),
            "VERSION at byte offset 0x",
        ),
    ];
    for (what, img, needle) in cases {
        let p = common::synthpool::save(dir.path(), "g.img", &img);
        for args in [
            vec!["ls", &p, "synth:/"],
            vec!["manifest", "--json-int", &p, "synth"],
        ] {
            let o = run(&args);
            assert_eq!(o.code, 1, "{what}: {args:?}\n{}", o.out());
            assert!(o.stderr.contains(needle), "{what}: {args:?}\n{}", o.stderr);
            assert!(
                o.stderr.contains("warning"),
                "{what}: {args:?}\n{}",
                o.stderr
            );
        }
    }
}
