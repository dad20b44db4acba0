//! The pool-carrying GPT disks of `testimages/` (written by
//! `testimages/tools/solgpt.py`, a GPT writer independent of ours): the table
//! kzrescue reads equals the layout the writer recorded, `sfdisk` agrees when
//! installed, and the target resolver picks the slice the pool was put in.

mod common;

use common::{require_tool, root, unpack_fixture};
use kzrescue::partition;
use kzrescue::source::{FileSource, OpenMode};
use kzrescue::target::{TargetOptions, open_vdev};
use serde_json::Value;
use std::process::Command;

fn layouts() -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = std::fs::read_dir(root().join("testimages"))
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let img = name.strip_suffix(".layout.json")?.to_string();
            let text = std::fs::read_to_string(root().join("testimages").join(&name)).ok()?;
            Some((img, serde_json::from_str(&text).unwrap()))
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn tables_equal_the_recorded_layouts() {
    let all = layouts();
    assert!(all.len() >= 5, "expected the gptdisk/gptmirror layouts");
    let sfdisk = require_tool("sfdisk", "fdisk", "tables_equal_the_recorded_layouts");
    let mut agreed = 0;
    for (img, layout) in &all {
        let d = tempfile::tempdir().unwrap();
        let path = unpack_fixture(img, d.path());
        let src = FileSource::open(&path, OpenMode::ReadOnly).unwrap();
        let t = partition::read(&src, None).unwrap();
        assert!(t.notes.is_empty(), "{img}: {:?}", t.notes);
        let ss = u64::from(t.sector_size);
        assert_eq!(ss, layout["sector_size"].as_u64().unwrap(), "{img}");
        assert_eq!(t.disk_size, layout["size_bytes"].as_u64().unwrap(), "{img}");
        let g = t.gpt.as_ref().unwrap();
        assert_eq!(g.disk_guid, layout["disk_guid"].as_str().unwrap(), "{img}");
        assert_eq!(
            g.first_usable_lba,
            layout["first_usable_lba"].as_u64().unwrap()
        );
        assert_eq!(
            g.last_usable_lba,
            layout["last_usable_lba"].as_u64().unwrap()
        );
        let theirs = layout["partitions"].as_array().unwrap();
        assert_eq!(theirs.len(), t.partitions.len(), "{img}");
        for (ours, their) in t.partitions.iter().zip(theirs) {
            assert_eq!(u64::from(ours.slice), their["index"].as_u64().unwrap());
            assert_eq!(ours.label(), their["slice"].as_str().unwrap());
            assert_eq!(ours.type_guid.as_deref(), their["type"].as_str());
            assert_eq!(ours.name, their["name"].as_str().unwrap());
            assert_eq!(
                ours.first_lba(t.sector_size),
                their["start_lba"].as_u64().unwrap()
            );
            assert_eq!(
                ours.last_lba(t.sector_size),
                their["end_lba"].as_u64().unwrap()
            );
            assert_eq!(ours.start, their["offset"].as_u64().unwrap());
            assert_eq!(ours.len, their["size"].as_u64().unwrap());
            agreed += 1;
        }
        let v = open_vdev(path.to_str().unwrap(), &TargetOptions::default()).unwrap();
        assert_eq!(
            v.partition.as_ref().unwrap().label(),
            layout["zfs_slice"].as_str().unwrap(),
            "{img}"
        );
        if sfdisk && ss == 512 {
            let out = Command::new("sfdisk")
                .arg("--json")
                .arg(&path)
                .output()
                .unwrap();
            let j: Value = serde_json::from_slice(&out.stdout).unwrap();
            let parts = j["partitiontable"]["partitions"].as_array().unwrap();
            assert_eq!(parts.len(), t.partitions.len());
            for (ours, their) in t.partitions.iter().zip(parts) {
                assert_eq!(ours.first_lba(512), their["start"].as_u64().unwrap());
                assert_eq!(ours.len / 512, their["size"].as_u64().unwrap());
                assert_eq!(ours.type_guid.as_deref(), their["type"].as_str());
            }
        }
    }
    println!("layouts: {agreed} partitions on {} disks agree", all.len());
}
