//! ZFS times are signed 64-bit seconds and nanoseconds (issue 12, item 2):
//! a file from before 1970 and times near 2^64 read through `ls`,
//! `manifest`, `export --to` and `export --tar` without a panic — shown
//! signed, set on exported files when the system can hold them, and
//! reported when it cannot. Pools are laid out by `tests/synthpool/`.

mod common;

use common::bounded::{Outcome, run};
use common::synthpool::{Dn, Hooks, Spec, Writer};
use serde_json::Value;
use std::os::unix::fs::MetadataExt;

/// 1960-01-01 00:00:00 UTC.
const Y1960: i64 = -315_619_200;

/// The standard pool with `/hello.txt`'s (object 4) legacy znode times set:
/// atime and mtime to (`sec`, `nsec`) words as stored.
fn hello_times(sec: u64, nsec: u64) -> Vec<u8> {
    let mut hook = |_: &mut Writer, o: u64, dn: &mut Dn| {
        if o == 4 {
            for at in [0usize, 16] {
                dn.bonus[at..at + 8].copy_from_slice(&sec.to_le_bytes());
                dn.bonus[at + 8..at + 16].copy_from_slice(&nsec.to_le_bytes());
            }
        }
    };
    Spec::default().build_with(Hooks {
        fs: Some(&mut hook),
        mos: None,
    })
}

fn no_crash(what: &str, o: &Outcome) {
    assert!(o.code >= 0, "{what}: killed by signal {}", -o.code);
    assert!(!o.stderr.contains("panicked"), "{what}: {}", o.stderr);
}

fn hello_entry(json: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(json).unwrap();
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/hello.txt")
        .unwrap()
        .clone()
}

#[test]
fn time_before_1970_reads_signed_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let img = common::synthpool::save(dir.path(), "t1960.img", &hello_times(Y1960 as u64, 5));
    let o = run(&["ls", &img, "synth:/"]);
    no_crash("ls", &o);
    assert_eq!(o.code, 0, "{}", o.out());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(" 1960-01-01 00:00:00.000000005 +0000 hello.txt"),
        "{text}"
    );

    let o = run(&["manifest", "--json-int", &img, "synth"]);
    no_crash("manifest", &o);
    assert_eq!(o.code, 0, "{}", o.out());
    let e = hello_entry(&o.stdout);
    assert_eq!(e["mtime"].as_i64(), Some(Y1960), "{e}");
    assert_eq!(e["mtime_nsec"].as_u64(), Some(5), "{e}");

    let out = dir.path().join("x");
    let o = run(&["export", &img, "synth", "--to", out.to_str().unwrap()]);
    no_crash("export --to", &o);
    assert_eq!(o.code, 0, "{}", o.out());
    let m = std::fs::symlink_metadata(out.join("hello.txt")).unwrap();
    assert_eq!((m.mtime(), m.mtime_nsec()), (Y1960, 5));
    assert_eq!(m.atime(), Y1960);

    let tar = dir.path().join("x.tar");
    let o = run(&["export", &img, "synth", "--tar", tar.to_str().unwrap()]);
    no_crash("export --tar", &o);
    assert_eq!(o.code, 0, "{}", o.out());
    // the mtime field of /hello.txt's header: base-256, two's complement
    let bytes = std::fs::read(&tar).unwrap();
    let at = bytes
        .windows(10)
        .position(|w| w == b"hello.txt\0")
        .expect("hello.txt in the archive");
    let field = &bytes[at + 136..at + 148];
    assert_eq!(field[0], 0xff, "{field:02x?}");
    let v = i64::from_be_bytes(field[4..].try_into().unwrap());
    assert_eq!(v, Y1960);
    if common::require_tool("tar", "tar", "time_before_1970_reads_signed_everywhere") {
        let x = dir.path().join("untar");
        std::fs::create_dir(&x).unwrap();
        let st = std::process::Command::new("tar")
            .args(["-xf", tar.to_str().unwrap(), "-C", x.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(st.success());
        let m = std::fs::symlink_metadata(x.join("hello.txt")).unwrap();
        assert_eq!(m.mtime(), Y1960, "GNU tar reads the time back as 1960");
    }
}

#[test]
fn times_near_2_pow_64_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (sec, nsec)) in [
        (u64::MAX, u64::MAX),
        (u64::MAX - 100, 0),
        (1 << 63, 999_999_999),
        ((1 << 63) - 1, 0),
        (1_700_000_000, 1_000_000_000),
    ]
    .into_iter()
    .enumerate()
    {
        let what = format!("sec {sec:#x} nsec {nsec:#x}");
        let img = common::synthpool::save(dir.path(), "t.img", &hello_times(sec, nsec));
        let o = run(&["ls", &img, "synth:/"]);
        no_crash(&format!("{what}: ls"), &o);
        assert_eq!(o.code, 0, "{what}: {}", o.out());
        let text = String::from_utf8_lossy(&o.stdout);
        // full-iso, UTC; a nanosecond field no system writes is not shown
        let when = match sec {
            u64::MAX => "1969-12-31 23:59:59.????????? +0000",
            1_700_000_000 => "2023-11-14 22:13:20.????????? +0000",
            _ => " +0000",
        };
        assert!(
            text.contains(&format!("{when} hello.txt")),
            "{what}: {text}"
        );
        let o = run(&["manifest", "--json-int", &img, "synth"]);
        no_crash(&format!("{what}: manifest"), &o);
        let e = hello_entry(&o.stdout);
        assert_eq!(e["mtime"].as_i64(), Some(sec as i64), "{what}: {e}");
        let out = dir.path().join(format!("x{i}"));
        let o = run(&["export", &img, "synth", "--to", out.to_str().unwrap()]);
        no_crash(&format!("{what}: export --to"), &o);
        // the file is written; a time the system cannot hold is reported
        assert_eq!(
            std::fs::read(out.join("hello.txt")).unwrap(),
            b"hello, synthetic pool\n"
        );
        if nsec >= 1_000_000_000 {
            assert_eq!(o.code, 1, "{what}: {}", o.out());
            assert!(
                o.stderr.contains("/hello.txt: time"),
                "{what}: {}",
                o.stderr
            );
        }
        let tar = dir.path().join(format!("x{i}.tar"));
        let o = run(&["export", &img, "synth", "--tar", tar.to_str().unwrap()]);
        no_crash(&format!("{what}: export --tar"), &o);
        assert_eq!(o.code, 0, "{what}: {}", o.out());
    }
}
