//! A disk shorter than its partition table says (an image copied
//! incompletely, a LUN that shrank) is refused by the repair transaction's
//! preflight — for every writer, dry run included — with one line naming
//! the device's size and the table's end, and not a byte changes.

mod common;

use common::{kzrescue, unpack_fixture};
use kzrescue::ErrorKind;
use kzrescue::repair::apply::{TargetPlan, Write};
use kzrescue::repair::transaction::{Transaction, TxOptions, check_table_fits};
use std::path::{Path, PathBuf};

/// The demo kernel-zone disk: GPT, s1 (ZFS) at LBA 2304..149759, s8
/// (reserved) at 149760..166143, the backup GPT header at LBA 166176.
const FULL: u64 = 85_082_624;

/// A copy of the demo disk cut to `len` bytes.
fn truncated(dir: &Path, len: u64) -> PathBuf {
    let disk = unpack_fixture("demo-kz1.img", dir);
    assert_eq!(std::fs::metadata(&disk).unwrap().len(), FULL);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&disk)
        .unwrap()
        .set_len(len)
        .unwrap();
    disk
}

/// The one `kzrescue:` line of stderr.
fn refusal(err: &str) -> &str {
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("kzrescue:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    lines[0]
}

#[test]
fn the_table_check_names_size_and_end() {
    let dir = tempfile::tempdir().unwrap();
    let disk = truncated(dir.path(), 60 << 20);
    let src =
        kzrescue::target::open_source(disk.to_str().unwrap(), false, &Default::default()).unwrap();
    let e = check_table_fits("d", src.as_ref()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused);
    let m = e.to_string();
    assert!(
        m.contains("is 62914560 bytes") && m.contains("ends at byte 85082624"),
        "{m}"
    );
    assert!(m.contains("slice s1") && m.contains("slice s8"), "{m}");
    // The whole disk fits its table.
    let other = tempfile::tempdir().unwrap();
    let whole = unpack_fixture("demo-kz1.img", other.path());
    let src =
        kzrescue::target::open_source(whole.to_str().unwrap(), false, &Default::default()).unwrap();
    check_table_fits("d", src.as_ref()).unwrap();
}

#[test]
fn a_transaction_refuses_in_its_preflight() {
    let dir = tempfile::tempdir().unwrap();
    // Only the backup GPT is cut off: every slice is whole.
    let disk = truncated(dir.path(), 166_144 * 512);
    let spec = disk.to_str().unwrap().to_string();
    let src = kzrescue::target::open_source(&spec, false, &Default::default()).unwrap();
    let mut old = vec![0u8; 512];
    src.read_at(149_760 * 512 + 65536, &mut old).unwrap();
    let before = std::fs::read(&disk).unwrap();
    let plan = || TargetPlan {
        path: spec.clone(),
        source: src.clone(),
        phases: vec![vec![Write {
            offset: 149_760 * 512 + 65536,
            what: "a sector of s8".into(),
            old: old.clone(),
            new: vec![0x5a; 512],
        }]],
    };
    let journal = dir.path().join("j.kzj");
    for write in [false, true] {
        let mut tx = Transaction::new("test", TxOptions::from_interval_secs(0.0).unwrap());
        tx.group("s8", Some(journal.clone()), vec![plan()]);
        let e = if write {
            tx.commit().unwrap_err()
        } else {
            tx.dry_run().unwrap_err()
        };
        assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
        let m = e.to_string();
        assert!(
            m.contains("preflight") && m.contains("the GPT header at LBA 166176"),
            "{m}"
        );
        assert!(!journal.exists());
        assert!(std::fs::read(&disk).unwrap() == before, "written");
    }
}

#[test]
fn physpath_set_is_refused_dry_run_and_write() {
    let dir = tempfile::tempdir().unwrap();
    let disk = truncated(dir.path(), 60 << 20);
    let before = std::fs::read(&disk).unwrap();
    let d = disk.to_str().unwrap();
    let j = dir.path().to_str().unwrap();
    for extra in [&["--write"][..], &[][..], &["--dry-run"][..]] {
        let mut args = vec!["physpath", "set", d, "--device-id", "0", "--force"];
        args.extend(["--liveness-interval", "0", "--journal-dir", j]);
        args.extend(extra);
        let (c, out, err) = kzrescue(&args);
        assert_eq!(c, 3, "{args:?}\n{out}{err}");
        let line = refusal(&err);
        assert!(
            line.contains("preflight")
                && line.contains("is 62914560 bytes but its partition table ends at byte 85082624"),
            "{line}"
        );
        assert!(std::fs::read(&disk).unwrap() == before, "{args:?} wrote");
        let journals = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(journals, 1, "{args:?} left a journal");
    }
}

#[test]
fn hostdata_init_is_refused_when_only_the_backup_table_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let disk = truncated(dir.path(), 166_144 * 512);
    let before = std::fs::read(&disk).unwrap();
    let key = dir.path().join("kz1.key");
    let d = disk.to_str().unwrap();
    for extra in [&["--write"][..], &[][..]] {
        let mut args = vec!["hostdata", "init", d, "--zone", "kz1"];
        args.extend([
            "--key-out",
            key.to_str().unwrap(),
            "--liveness-interval",
            "0",
        ]);
        args.extend(["--journal-dir", dir.path().to_str().unwrap()]);
        args.extend(extra);
        let (c, out, err) = kzrescue(&args);
        assert_eq!(c, 3, "{args:?}\n{out}{err}");
        let line = refusal(&err);
        assert!(line.contains("ends at byte 85082624"), "{line}");
        assert!(std::fs::read(&disk).unwrap() == before, "{args:?} wrote");
        assert!(!key.exists(), "{args:?} made a key file");
    }
}
