//! The library's `zdb -l` / `zdb -lu` text against zdb 2.1's own output
//! (the committed goldens), without the binary: what `label` and
//! `uberblocks` print is gathered once and rendered without the disk.

mod common;

use common::label::strip_extras;
use kzrescue::source::{FileSource, OpenMode};
use kzrescue::zfs::report::{LabelReport, Problem, UberblockReport, Verdict};
use kzrescue::zfs::zdb::{self, ZdbView};
use std::os::unix::fs::FileExt;

fn golden(name: &str) -> String {
    std::fs::read_to_string(common::root().join("testimages").join(name)).unwrap()
}

#[test]
fn text_is_zdbs_and_rendering_never_reads_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["ztest-mirror1.0a.img", "fuse-v23.img"] {
        let path = common::unpack_fixture(name, dir.path());
        let src = FileSource::open(&path, OpenMode::ReadOnly).unwrap();
        let labels = LabelReport::read(&src, name.into(), 0, false);
        let rings = UberblockReport::read(&src, name.into(), 0);
        // the disk is gone: rendering must not need it
        drop(src);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            strip_extras(&labels.text()),
            golden(&format!("{name}.zdb-l.txt"))
        );
        assert_eq!(
            strip_extras(&rings.text()),
            golden(&format!("{name}.zdb-lu.txt"))
        );
        assert_eq!(labels.verdict(), Verdict::Sound, "{name}");
        assert_eq!(rings.verdict(), Verdict::Sound, "{name}");
        assert!(rings.problems().is_empty(), "{name}");
        let active = rings.active.as_ref().unwrap();
        assert!(
            rings
                .text()
                .contains(&format!("active = yes (txg {}", active.txg))
        );
        assert_eq!(labels.json().exit, 0);
        assert_eq!(rings.json().labels.len(), 4);
    }
}

#[test]
fn a_bad_slot_and_a_bad_label_are_problems_with_their_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::unpack_fixture("ztest-mirror1.0a.img", dir.path());
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    // a byte of label 0's nvlist, and one of a slot's rootbp in label 1's ring
    f.write_all_at(&[0xff], 0x4000 + 100).unwrap();
    let view = ZdbView::read(&FileSource::open(&path, OpenMode::ReadOnly).unwrap(), true);
    let ring1 = &view.rings.as_ref().unwrap().read[1];
    let used = ring1.iter().find(|s| s.uberblock.is_some()).unwrap();
    f.write_all_at(&[0x55], used.offset + 40).unwrap();
    let src = FileSource::open(&path, OpenMode::ReadOnly).unwrap();
    let r = UberblockReport::read(&src, "t".into(), 0);
    assert_eq!(r.verdict(), Verdict::Problems);
    let p = r.problems();
    assert!(
        p.iter()
            .any(|p| matches!(p, Problem::LabelNotValid(l) if l.index == 0))
    );
    let bad = p.iter().find_map(|p| match p {
        Problem::BadChecksums {
            label: 1, first, ..
        } => Some(first.offset),
        _ => None,
    });
    assert_eq!(bad, Some(used.offset));
    assert!(zdb::render(&r.labels.zdb, None).contains("0:BAD"));
}
