//! Host data on a real reserved-partition image through the real write path
//! (`repair::apply`): round trip, single-byte damage, keys, torn writes and
//! crash matrices with the fault-injecting source.

mod common;

use common::hostdata::*;
use kzrescue::hostdata::store::{self, CopyId, CopyState};
use kzrescue::hostdata::{self, HostKey, InitOptions, Verdict, container};
use kzrescue::repair::apply::{TargetPlan, apply};
use kzrescue::source::{Fault, FaultSource, FileSource, OpenMode, SharedSource, Source};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn key(b: u8) -> HostKey {
    let mut k = [b; 16];
    k[0] = 0xA5;
    HostKey::from_bytes(&mut k)
}

struct Disk {
    _dir: tempfile::TempDir,
    path: PathBuf,
    base: u64,
    size: u64,
    journals: std::cell::Cell<u32>,
}

impl Disk {
    fn new() -> Disk {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        let parts = make_disk(&path);
        let (base, size) = reserved_range(&parts);
        Disk {
            _dir: dir,
            path,
            base,
            size,
            journals: std::cell::Cell::new(0),
        }
    }

    fn ro(&self) -> SharedSource {
        Arc::new(FileSource::open(&self.path, OpenMode::ReadOnly).unwrap())
    }

    fn rw(&self) -> SharedSource {
        Arc::new(FileSource::open(&self.path, OpenMode::ReadWrite).unwrap())
    }

    fn assess(&self, key: Option<&HostKey>) -> store::Assessment {
        store::assess(self.ro().as_ref(), self.base, self.size, key).unwrap()
    }

    fn journal(&self) -> PathBuf {
        let n = self.journals.get() + 1;
        self.journals.set(n);
        self._dir.path().join(format!("undo-{n}.journal"))
    }

    /// Writes `writes` through repair::apply onto `src`.
    fn apply(&self, src: SharedSource, writes: &[store::CopyWrite]) -> kzrescue::Result<()> {
        let plan = TargetPlan {
            path: self.path.display().to_string(),
            source: src,
            phases: kzrescue::repair::hostdata::phases(writes),
        };
        apply(&[plan], &self.journal(), "hostdata test").map(|_| ())
    }

    fn init(&self, key: &HostKey, hostid: u32) -> hostdata::HostData {
        let a = self.assess(Some(key));
        let opts = InitOptions {
            hostid,
            hostname: format!("host-{hostid:x}"),
            be_name: "solaris-1".into(),
            be_uuid: "69ed2e6a-e25a-6d36-e022-ed7261ed8899".into(),
            ..Default::default()
        };
        let (d, w) = hostdata::plan_init(&a, key, "kzone1", &opts, 1_700_000_000).unwrap();
        self.apply(self.rw(), &w).unwrap();
        d
    }

    fn poke(&self, offset: u64, xor: u8) {
        let src = FileSource::open(&self.path, OpenMode::ReadWrite).unwrap();
        let mut b = [0u8];
        src.read_at(offset, &mut b).unwrap();
        b[0] ^= xor;
        src.write_at(offset, &b).unwrap();
    }

    fn slot(&self, c: CopyId) -> u64 {
        self.base + store::Layout::for_partition(self.size).unwrap().offset(c)
    }
}

fn copy_len(a: &store::Assessment) -> usize {
    let h = a.copies[0].state.header().unwrap();
    container::HEADER_LEN + h.payload_len as usize + container::TAG_LEN
}

#[test]
fn round_trip_and_nothing_else_changes() {
    let d = Disk::new();
    let (s1, e1) = (d.slot(CopyId::Primary), d.slot(CopyId::Backup));
    assert_eq!(s1, d.base + 0x10000);
    assert_eq!(e1, d.base + d.size - 0x10000);
    let before_pool = hash_range(&d.path, 256 * SECTOR, d.base - 256 * SECTOR);
    let before_rest = hash_outside_two(&d.path, s1, e1);
    let k = key(1);
    let data = d.init(&k, 0x848611d4);
    let a = d.assess(Some(&k));
    assert!(matches!(
        hostdata::verdict(&a, Some(0x848611d4)),
        Verdict::Healthy
    ));
    let (_, h, got) = a.best().unwrap();
    assert_eq!(*got, data);
    assert_eq!(h.generation, 1);
    assert_eq!(got.owner_hostname, "host-848611d4");
    assert_eq!(
        hash_range(&d.path, 256 * SECTOR, d.base - 256 * SECTOR),
        before_pool
    );
    assert_eq!(hash_outside_two(&d.path, s1, e1), before_rest);
    // Both slots hold the same bytes, zero padded.
    assert_eq!(a.copies[0].raw, a.copies[1].raw);
    assert!(a.copies[0].raw[copy_len(&a)..].iter().all(|&b| b == 0));
}

fn hash_outside_two(path: &Path, a: u64, b: u64) -> String {
    use sha2::Digest;
    let all = std::fs::read(path).unwrap();
    let slot = container::SLOT_SIZE;
    let (a, b) = (a as usize, b as usize);
    let mut h = sha2::Sha256::new();
    h.update(&all[..a]);
    h.update(&all[a + slot..b]);
    h.update(&all[b + slot..]);
    hex::encode(h.finalize())
}

#[test]
fn every_single_byte_flip_of_a_copy_is_detected_and_the_other_serves() {
    let d = Disk::new();
    let k = key(2);
    let data = d.init(&k, 7);
    let n = copy_len(&d.assess(Some(&k)));
    for (bad, good) in [
        (CopyId::Primary, CopyId::Backup),
        (CopyId::Backup, CopyId::Primary),
    ] {
        let at = d.slot(bad);
        for i in 0..n as u64 {
            d.poke(at + i, 0x5A);
            let a = d.assess(Some(&k));
            match hostdata::verdict(&a, Some(7)) {
                Verdict::Degraded {
                    serving, bad: b, ..
                } => {
                    assert_eq!((serving, b), (good, bad), "byte {i} of {bad:?}");
                }
                v => panic!("byte {i} of {bad:?}: verdict {v:?}"),
            }
            assert!(
                matches!(
                    a.copy(bad).state,
                    CopyState::Damaged(_) | CopyState::Foreign
                ),
                "byte {i}: {}",
                a.copy(bad).state.describe()
            );
            assert_eq!(*a.best().unwrap().2, data);
            d.poke(at + i, 0x5A);
        }
    }
    assert!(matches!(
        hostdata::verdict(&d.assess(Some(&k)), Some(7)),
        Verdict::Healthy
    ));
}

#[test]
fn keys_incorrect_and_not_available() {
    let d = Disk::new();
    assert!(matches!(
        hostdata::verdict(&d.assess(None), None),
        Verdict::NoHostData { .. }
    ));
    let k = key(3);
    d.init(&k, 1);
    let v = hostdata::verdict(&d.assess(None), None);
    assert!(matches!(v, Verdict::KeyNotAvailable), "{v:?}");
    assert_eq!(v.exit_code(), 11);
    let other = key(4);
    match hostdata::verdict(&d.assess(Some(&other)), None) {
        Verdict::KeyIncorrect { stored, given } => {
            assert_eq!(stored, k.id());
            assert_eq!(given, other.id());
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn owned_by_another_host() {
    let d = Disk::new();
    let k = key(5);
    d.init(&k, 0x848611d4);
    let a = d.assess(Some(&k));
    let v = hostdata::verdict(&a, Some(0x11111111));
    assert!(matches!(v, Verdict::OwnedByAnotherHost), "{v:?}");
    assert_eq!(v.exit_code(), 14);
    assert!(matches!(
        hostdata::verdict(&a, Some(0x848611d4)),
        Verdict::Healthy
    ));
    assert!(matches!(hostdata::verdict(&a, None), Verdict::Healthy));
    let msg = hostdata::owner_message("kzone1", a.best().unwrap().2, "disk.img");
    assert!(
        msg.contains("is in use by host with  hostid 848611d4"),
        "{msg}"
    );
    // takeover makes this host the owner, keeps the rest, bumps the generation.
    let (nd, w) = hostdata::plan_takeover(&a, &k, 0x11111111, "global1", 1_800_000_000).unwrap();
    d.apply(d.rw(), &w).unwrap();
    let a2 = d.assess(Some(&k));
    assert!(matches!(
        hostdata::verdict(&a2, Some(0x11111111)),
        Verdict::Healthy
    ));
    let got = a2.best().unwrap().2;
    assert_eq!(*got, nd);
    assert_eq!(got.generation, 2);
    assert_eq!(got.be_name, "solaris-1");
    // An owner of 0 is nobody.
    let d0 = Disk::new();
    d0.init(&k, 0);
    assert!(matches!(
        hostdata::verdict(&d0.assess(Some(&k)), Some(0x1234)),
        Verdict::Healthy
    ));
}

#[test]
fn forged_copies_are_tampered() {
    let d = Disk::new();
    let k = key(6);
    d.init(&k, 1);
    let n = copy_len(&d.assess(Some(&k)));
    // Change one ciphertext byte of both copies and recompute their CRCs.
    for c in CopyId::BOTH {
        let src = FileSource::open(&d.path, OpenMode::ReadWrite).unwrap();
        let at = d.slot(c);
        let mut copy = vec![0u8; n];
        src.read_at(at, &mut copy).unwrap();
        copy[70] ^= 1;
        let body = crc32fast::hash(&copy[64..]);
        copy[48..52].copy_from_slice(&body.to_be_bytes());
        let hc = crc32fast::hash(&copy[..60]);
        copy[60..64].copy_from_slice(&hc.to_be_bytes());
        src.write_at(at, &copy).unwrap();
        let a = d.assess(Some(&k));
        assert!(matches!(a.copy(c).state, CopyState::Tampered(_)));
    }
    let v = hostdata::verdict(&d.assess(Some(&k)), None);
    assert!(matches!(v, Verdict::CorruptOrTampered), "{v:?}");
    assert_eq!(v.exit_code(), 13);
}

#[test]
fn torn_write_of_one_copy_the_other_wins() {
    for nth in [1u64, 2] {
        let d = Disk::new();
        let k = key(7);
        let old = d.init(&k, 1);
        let a = d.assess(Some(&k));
        let (new, w) = hostdata::plan_takeover(&a, &k, 2, "two", 1_800_000_000).unwrap();
        let fault: SharedSource = Arc::new(FaultSource::new(
            d.rw(),
            Fault::TearWrite { nth, bytes: 512 },
        ));
        assert!(d.apply(fault, &w).is_err());
        let a = d.assess(Some(&k));
        let (serving, _, got) = a.best().unwrap();
        // Tear of the first slot write: the untouched slot (old data) wins.
        // Tear of the second: the first slot already holds the new data.
        if nth == 1 {
            assert_eq!(*got, old);
        } else {
            assert_eq!(*got, new);
        }
        assert!(matches!(
            hostdata::verdict(&a, None),
            Verdict::Degraded { .. }
        ));
        assert_eq!(
            serving,
            if nth == 1 {
                CopyId::Primary
            } else {
                CopyId::Backup
            }
        );
    }
}

/// Crash matrix: stop the device after every k operations (and tear every
/// write) during init over existing host data and during takeover; at least
/// one valid copy must remain, under the old or the new key.
#[test]
fn crash_matrix_init_and_takeover() {
    let mut cases = 0;
    for op in ["init", "takeover"] {
        let mut faults: Vec<Fault> = (0..=6).map(Fault::StopAfterOps).collect();
        faults.extend((1..=2).map(|nth| Fault::TearWrite { nth, bytes: 4096 }));
        faults.extend((1..=2).map(|nth| Fault::TearWrite { nth, bytes: 100 }));
        for fault in faults {
            let d = Disk::new();
            let ka = key(8);
            let old = d.init(&ka, 1);
            let kb = key(9);
            let a = d.assess(Some(&ka));
            let (new, w, knew) = if op == "init" {
                let (n, w) =
                    hostdata::plan_init(&a, &kb, "kzone1", &InitOptions::default(), 1_800_000_000)
                        .unwrap();
                (n, w, &kb)
            } else {
                let (n, w) = hostdata::plan_takeover(&a, &ka, 2, "b", 1_800_000_000).unwrap();
                (n, w, &ka)
            };
            let src: SharedSource = Arc::new(FaultSource::new(d.rw(), fault));
            let res = d.apply(src, &w);
            let with_old = d.assess(Some(&ka));
            let with_new = d.assess(Some(knew));
            let old_ok = with_old.best().map(|b| b.2.clone());
            let new_ok = with_new.best().map(|b| b.2.clone());
            assert!(
                old_ok.as_ref() == Some(&old) || new_ok.as_ref() == Some(&new),
                "{op} {fault:?}: no valid copy ({res:?}); {} / {}",
                with_new.copies[0].state.describe(),
                with_new.copies[1].state.describe()
            );
            if res.is_ok() {
                assert!(matches!(
                    hostdata::verdict(&with_new, None),
                    Verdict::Healthy
                ));
            }
            cases += 1;
        }
    }
    assert_eq!(cases, 22);
}

#[test]
fn too_small_reserved_partition_is_refused() {
    assert!(store::Layout::for_partition(store::MIN_PARTITION - 512).is_err());
    let l = store::Layout::for_partition(8 * 1024 * 1024).unwrap();
    assert_eq!((l.primary, l.backup), (0x10000, 0x7F0000));
    // A size that is not a multiple of 4 KiB: the backup is aligned down.
    let l = store::Layout::for_partition(8 * 1024 * 1024 + 1536).unwrap();
    assert_eq!(l.backup, 0x7F0000);
}
