//! The physpath, host-data and undo workflows through the library alone (no
//! binary): what `kzrescue physpath`, `physpath set`, `hostdata
//! show/check/init/takeover` and `undo` call, on the demo kernel-zone disk.

mod common;

use common::unpack_fixture;
use kzrescue::hostdata::Verdict;
use kzrescue::hostdata::inspect::{self, DiskRequest, HostDataDisk};
use kzrescue::repair::hostdata::{self as writer, InitRequest, TakeoverRequest};
use kzrescue::repair::physpath::{SetRequest, SetResult, SetWrite, plan_set};
use kzrescue::repair::transaction::TxOptions;
use kzrescue::repair::undo::{UndoRequest, undo};
use kzrescue::target::TargetOptions;
use std::path::Path;

fn demo(dir: &Path) -> String {
    unpack_fixture("demo-kz1.img", dir).display().to_string()
}

fn tx() -> TxOptions {
    TxOptions::from_interval_secs(0.0).unwrap()
}

fn set_request(disk: &str) -> SetRequest {
    SetRequest {
        targets: vec![disk.to_string()],
        device_id: vec![0],
        ..Default::default()
    }
}

#[test]
fn physpath_show_reads_every_label_and_names_the_slot() {
    let dir = tempfile::tempdir().unwrap();
    let disk = demo(dir.path());
    let shown =
        kzrescue::zone::physpath::read(std::slice::from_ref(&disk), &TargetOptions::default())
            .unwrap();
    assert!(shown.all_valid());
    let text = shown.text();
    assert_eq!(text.matches("<- this disk").count(), 4, "{text}");
    assert!(
        text.contains("a kernel zone sees this slice as /zvnex/zvblk@<device id>:b"),
        "{text}"
    );
    let doc = serde_json::to_value(shown.doc(0)).unwrap();
    assert_eq!(doc["disks"][0]["slice_letter"], "b");
    assert_eq!(doc["disks"][0]["labels"].as_array().unwrap().len(), 4);
    assert_eq!(doc["disks"][0]["labels"][0]["leaves"][0]["this_disk"], true);
}

#[test]
fn physpath_set_dry_run_write_verify_and_undo() {
    let dir = tempfile::tempdir().unwrap();
    let disk = demo(dir.path());
    let before = std::fs::read(&disk).unwrap();
    let planned = plan_set(&set_request(&disk)).unwrap();
    assert_eq!(planned.exit_code(), 0);
    assert_eq!(planned.plan.changes.len(), 4, "one phys_path per label");
    assert!(planned.text().contains("-> '/zvnex/zvblk@0:b'"));
    let journal = dir.path().join("j.kzj");
    let name = |_: &str| journal.clone();
    let mut how = SetWrite {
        write: false,
        tx: tx(),
        purpose: "test".into(),
        journal: &name,
    };
    let r = planned.carry_out(&how).unwrap();
    assert_eq!(r.result, SetResult::DryRun);
    assert!(r.message().is_none() && !journal.exists());
    assert!(std::fs::read(&disk).unwrap() == before);

    how.write = true;
    let r = planned.carry_out(&how).unwrap();
    assert_eq!((r.result, r.writes), (SetResult::Written, Some(4)));
    assert!(r.timing_ms.as_ref().unwrap().verify.is_some());
    assert!(r.message().unwrap().contains("wrote 4 label(s)"));
    // Planned again, the labels already say it.
    let again = plan_set(&set_request(&disk)).unwrap();
    let r = again.carry_out(&how).unwrap();
    assert_eq!(r.result, SetResult::Unchanged);
    assert!(r.message().unwrap().contains("no journal, nothing written"));

    let mut u = UndoRequest {
        journal: journal.clone(),
        tx: tx(),
        ..Default::default()
    };
    let shown = undo(&u).unwrap();
    assert_eq!((shown.to_restore, shown.restored), (4, 0));
    assert!(shown.text().contains("4 range(s) would be restored"));
    u.write = true;
    let done = undo(&u).unwrap();
    assert_eq!(done.restored, 4);
    assert!(
        std::fs::read(&disk).unwrap() == before,
        "undo restores every byte"
    );
}

#[test]
fn physpath_set_refuses_what_it_cannot_name() {
    let dir = tempfile::tempdir().unwrap();
    let disk = demo(dir.path());
    let mut r = set_request(&disk);
    r.device_id = vec![0, 1];
    let e = plan_set(&r).err().unwrap();
    assert_eq!(e.kind(), kzrescue::ErrorKind::Usage);
    r.device_id.clear();
    assert_eq!(
        plan_set(&r).err().unwrap().kind(),
        kzrescue::ErrorKind::Usage
    );
}

#[test]
fn hostdata_inspect_init_and_takeover() {
    let dir = tempfile::tempdir().unwrap();
    let d = DiskRequest {
        target: demo(dir.path()),
        ..Default::default()
    };
    // Without a key: both copies found, nothing readable.
    let r = inspect::inspect(&HostDataDisk::open(&d).unwrap(), None, None).unwrap();
    assert!(
        matches!(r.verdict, Verdict::KeyNotAvailable),
        "{:?}",
        r.verdict
    );
    assert_eq!(r.copies.len(), 2);
    assert!(serde_json::to_value(&r).unwrap()["host_data"].is_null());

    // init, dry run: the transaction's preflight only; no key file made.
    let before = std::fs::read(&d.target).unwrap();
    let key = dir.path().join("new.key");
    let init = InitRequest {
        zone: "kz1".into(),
        key_out: key.clone(),
        ..Default::default()
    };
    let plan = writer::plan_init(&d, &init).unwrap();
    assert_eq!(plan.writes.len(), 2);
    assert!(plan.text().contains("new host data:"));
    assert_eq!(plan.key_file(), Some(key.as_path()));
    let tx_init = plan.transaction(dir.path().join("i.kzj"), tx());
    tx_init.dry_run().unwrap();
    assert!(!key.exists() && std::fs::read(&d.target).unwrap() == before);
    // … and written: the key file first, then both slots.
    let plan = writer::plan_init(&d, &init).unwrap();
    let done = plan
        .transaction(dir.path().join("i.kzj"), tx())
        .commit()
        .unwrap();
    assert!(key.exists() && done.wrote());
    let k = kzrescue::hostdata::keyfile::read_keyfile(&key, false)
        .unwrap()
        .key;
    let r = inspect::inspect(&HostDataDisk::open(&d).unwrap(), Some(&k), None).unwrap();
    assert!(matches!(r.verdict, Verdict::Healthy), "{:?}", r.verdict);
    let doc = serde_json::to_value(&r).unwrap();
    assert_eq!(
        (
            doc["host_data"]["zonename"].as_str(),
            doc["verdict"].as_str()
        ),
        (Some("kz1"), Some("healthy"))
    );

    // takeover, written: the owner changes, the generation goes up.
    let t = TakeoverRequest {
        key: key.clone(),
        hostid: 0x1234_5678,
        hostname: "rescuer".into(),
        ..Default::default()
    };
    let mut owners = Vec::new();
    let plan = writer::plan_takeover(&d, &t, &mut |h| owners.push(writer::owner_line(h))).unwrap();
    assert_eq!(owners.len(), 1);
    let generation = plan.data.generation;
    let done = plan
        .transaction(dir.path().join("t.kzj"), tx())
        .commit()
        .unwrap();
    assert!(writer::outcome_text(&done).contains("wrote 2 slot(s)"));
    let r = inspect::inspect(
        &HostDataDisk::open(&d).unwrap(),
        Some(&k),
        Some(0x1234_5678),
    )
    .unwrap();
    assert!(matches!(r.verdict, Verdict::Healthy), "{:?}", r.verdict);
    let h = r.host_data().unwrap();
    assert_eq!(
        (h.owner_hostname.as_str(), h.generation),
        ("rescuer", generation)
    );
    assert!(inspect::host_data_text(h).contains("owner hostid:           12345678"));
    // A bad host name is the caller's mistake.
    let bad = TakeoverRequest {
        hostname: "two words".into(),
        ..t
    };
    let e = writer::plan_takeover(&d, &bad, &mut |_| {}).err().unwrap();
    assert_eq!(e.kind(), kzrescue::ErrorKind::Usage);
}
