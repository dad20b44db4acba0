//! The initiator against a real target: Debian's user-space `tgtd`.

mod common;

use common::iscsi::{Tgt, pattern};
use kzrescue::Error;
use kzrescue::source::Source;
use kzrescue::source::iscsi::login::{ChapCredentials, DigestPref};
use kzrescue::source::iscsi::{self, IscsiSource, LuSelector, SessionConfig};
use std::time::{Duration, Instant};

const IQN: &str = "iqn.2026-11.org.kzrescue.test:disk1";
const SCSI_ID: &str = "600144f0a613c900000054521d550001";

fn cfg(t: &Tgt) -> SessionConfig {
    let mut c = SessionConfig::new(&t.portal(), None);
    c.io_timeout = Duration::from_secs(5);
    c.connect_timeout = Duration::from_secs(5);
    c
}

/// Small xorshift for offsets.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn check_random_reads(src: &dyn Source, want: &[u8], rounds: usize) {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let size = want.len() as u64;
    for i in 0..rounds {
        let len = match i % 4 {
            0 => (r.next() % 512 + 1) as usize,
            1 => (r.next() % (64 << 10)) as usize + 1,
            2 => 4096,
            _ => (r.next() % (3 << 20)) as usize + 1,
        };
        let off = r.next() % (size - len as u64 + 1);
        let off = if i % 4 == 2 { off / 4096 * 4096 } else { off };
        let mut buf = vec![0u8; len];
        src.read_at(off, &mut buf)
            .unwrap_or_else(|e| panic!("read {len} at {off:#x}: {e}"));
        assert!(
            buf == want[off as usize..off as usize + len],
            "bytes differ: {len} at {off:#x}"
        );
    }
    // Whole LUN in one call (many commands in flight).
    let mut all = vec![0u8; want.len()];
    src.read_at(0, &mut all).unwrap();
    assert!(all == want, "whole-LUN read differs");
    // Streams (the READs stay in flight across the range), in order.
    for (off, len) in [(0, size), (size / 3 + 7, size / 2), (size - 1, 1)] {
        let mut got = Vec::with_capacity(len as usize);
        src.stream(off, len, 1 << 20, &mut |p| {
            got.extend_from_slice(p);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("stream {len} at {off:#x}: {e}"));
        assert!(
            got == want[off as usize..(off + len) as usize],
            "stream of {len} at {off:#x} differs"
        );
    }
    // Across the end: an error, not a short read.
    let mut buf = vec![0u8; 1024];
    match src.read_at(size - 512, &mut buf) {
        Err(Error::OutOfBounds { offset, .. }) => assert_eq!(offset, size - 512),
        other => panic!("read across the end: {other:?}"),
    }
    assert!(src.read_at(size, &mut buf[..1]).is_err());
}

#[test]
fn reads_equal_backing_file_512_and_4096() {
    let Some(t) = Tgt::start("reads_equal_backing_file_512_and_4096") else {
        return;
    };
    let data = pattern(24 << 20, 7);
    let img = t.file("lun1.img", &data);
    let data4k = pattern(16 << 20, 11);
    let img4k = t.file("lun2.img", &data4k);
    t.target(1, IQN);
    t.lun(1, 1, &img, SCSI_ID, None);
    t.lun(1, 2, &img4k, "600144f0a613c900000054521d550002", Some(4096));

    // By LU name (discovery, REPORT LUNS, VPD 0x83), upper-case ID as zonecfg writes it.
    let src = IscsiSource::open(
        "test",
        &cfg(&t),
        &LuSelector::Name(format!("naa.{}", SCSI_ID.to_uppercase())),
        false,
    )
    .unwrap();
    assert_eq!(src.size(), data.len() as u64);
    assert_eq!(src.logical_sector_size(), Some(512));
    assert_eq!(src.identity(), format!("naa.{SCSI_ID}"));
    assert_eq!((src.target(), src.lun()), (IQN, 1));
    check_random_reads(&src, &data, 200);
    src.ping().unwrap();
    src.logout().unwrap();

    // By target and LUN, 4096-byte blocks.
    let src = IscsiSource::open(
        "test4k",
        &cfg(&t),
        &LuSelector::TargetLun {
            target: IQN.into(),
            lun: 2,
        },
        false,
    )
    .unwrap();
    assert_eq!(src.logical_sector_size(), Some(4096));
    assert_eq!(src.capacity().last_lba, (data4k.len() / 4096 - 1) as u64);
    assert_eq!(src.identity(), "naa.600144f0a613c900000054521d550002");
    check_random_reads(&src, &data4k, 120);

    // A name nobody has: a clear error listing what exists.
    let e = IscsiSource::open(
        "x",
        &cfg(&t),
        &LuSelector::Name("naa.600144f0000000000000000000000009".into()),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no logical unit named naa.600144f0000000000000000000000009"),
        "{e}"
    );
    assert!(e.contains(SCSI_ID), "{e}");
}

#[test]
fn crc32c_digests() {
    let Some(t) = Tgt::start("crc32c_digests") else {
        return;
    };
    let data = pattern(8 << 20, 3);
    let img = t.file("lun.img", &data);
    t.target(1, IQN);
    t.lun(1, 1, &img, SCSI_ID, None);
    let sel = LuSelector::TargetLun {
        target: IQN.into(),
        lun: 1,
    };
    let mut c = cfg(&t);
    c.offer.header_digest = DigestPref::Require;
    c.offer.data_digest = DigestPref::Require;
    // tgt offers None only by default: a required digest is refused.
    let e = IscsiSource::open("d", &c, &sel, false).unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e}");
    t.param(1, "HeaderDigest", "CRC32C,None");
    t.param(1, "DataDigest", "CRC32C,None");
    let src = IscsiSource::open("d", &c, &sel, true).unwrap();
    check_random_reads(&src, &data, 40);
    let new = pattern(300_000, 99);
    src.write_at(12345, &new).unwrap();
    src.flush().unwrap();
    let disk = std::fs::read(&img).unwrap();
    assert!(disk[12345..12345 + new.len()] == new[..]);
}

#[test]
fn writes_reach_backing_file() {
    let Some(t) = Tgt::start("writes_reach_backing_file") else {
        return;
    };
    let data = pattern(8 << 20, 5);
    let img = t.file("lun.img", &data);
    let img4k = t.file("lun4k.img", &data);
    t.target(1, IQN);
    t.lun(1, 1, &img, SCSI_ID, None);
    t.lun(1, 2, &img4k, "600144f0a613c900000054521d550002", Some(4096));
    let mut expect = data.clone();
    let mut expect4k = data.clone();
    // Two negotiation flavours: immediate data then R2T-solicited Data-Out,
    // and R2T only. (Unsolicited Data-Out, InitialR2T=No, is exercised by
    // the fake target in iscsi_fake.rs: tgt 1.0.85 agrees to InitialR2T=No
    // but then sends an R2T for the data already sent unsolicited.)
    for (i, (imm, r2t)) in [(true, true), (false, true)].into_iter().enumerate() {
        let mut c = cfg(&t);
        c.offer.immediate_data = imm;
        c.offer.initial_r2t = r2t;
        c.offer.first_burst = 65536;
        for (lun, exp) in [(1u64, &mut expect), (2u64, &mut expect4k)] {
            let src = IscsiSource::open(
                "w",
                &c,
                &LuSelector::TargetLun {
                    target: IQN.into(),
                    lun,
                },
                true,
            )
            .unwrap();
            let mut r = Rng(17 + i as u64 * 31 + lun);
            for k in 0..12 {
                let len = match k % 3 {
                    0 => (r.next() % 1000 + 1) as usize,
                    1 => 4096 * (r.next() % 8 + 1) as usize,
                    _ => (r.next() % (2 << 20)) as usize + 1,
                };
                let off = r.next() % (data.len() - len) as u64;
                let off = if k % 3 == 1 { off / 4096 * 4096 } else { off };
                let buf = pattern(len, r.next());
                src.write_at(off, &buf).unwrap();
                exp[off as usize..off as usize + len].copy_from_slice(&buf);
                let mut back = vec![0u8; len];
                src.read_at(off, &mut back).unwrap();
                assert!(back == buf, "read-back differs at {off:#x}");
            }
            src.flush().unwrap();
            // Past the end: refused before anything is sent.
            assert!(matches!(
                src.write_at(data.len() as u64 - 10, &[0u8; 20]),
                Err(Error::OutOfBounds { .. })
            ));
        }
    }
    assert!(
        std::fs::read(&img).unwrap() == expect,
        "backing file (512) differs"
    );
    assert!(
        std::fs::read(&img4k).unwrap() == expect4k,
        "backing file (4096) differs"
    );
    // A read-only source refuses writes.
    let ro = IscsiSource::open(
        "ro",
        &cfg(&t),
        &LuSelector::TargetLun {
            target: IQN.into(),
            lun: 1,
        },
        false,
    )
    .unwrap();
    assert!(matches!(ro.write_at(0, &[1]), Err(Error::Refused(_))));
}

#[test]
fn chap_accepted_and_rejected() {
    let Some(t) = Tgt::start("chap_accepted_and_rejected") else {
        return;
    };
    let data = pattern(1 << 20, 9);
    let img = t.file("lun.img", &data);
    t.target(1, IQN);
    t.lun(1, 1, &img, SCSI_ID, None);
    t.chap(1, "kzuser", "s3cret-passw0rd");
    let sel = LuSelector::TargetLun {
        target: IQN.into(),
        lun: 1,
    };

    let mut good = cfg(&t);
    good.chap = Some(ChapCredentials::new("kzuser", b"s3cret-passw0rd").unwrap());
    let src = IscsiSource::open("chap", &good, &sel, false).unwrap();
    let mut buf = vec![0u8; 4096];
    src.read_at(8192, &mut buf).unwrap();
    assert!(buf == data[8192..8192 + 4096]);

    let mut bad = cfg(&t);
    bad.chap = Some(ChapCredentials::new("kzuser", b"wrong-password").unwrap());
    let e = IscsiSource::open("chap", &bad, &sel, false).unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e}");
    assert!(e.to_string().contains("authentication failed"), "{e}");

    let e = IscsiSource::open("chap", &cfg(&t), &sel, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("CHAP"), "{e}");

    // Secret from a file, as the CLI reads it.
    let f = t.dir.path().join("secret");
    std::fs::write(&f, "s3cret-passw0rd\n").unwrap();
    let mut fromfile = cfg(&t);
    fromfile.chap = Some(ChapCredentials::from_file("kzuser", &f).unwrap());
    IscsiSource::open("chap", &fromfile, &sel, false).unwrap();
}

/// tgtd killed with SIGKILL in the middle of reading: a clean error soon
/// after (the one retry finds nobody listening), never a hang.
#[test]
fn target_killed_mid_read() {
    let Some(mut t) = Tgt::start("target_killed_mid_read") else {
        return;
    };
    let data = pattern(64 << 20, 1);
    let img = t.file("lun.img", &data);
    t.target(1, IQN);
    t.lun(1, 1, &img, SCSI_ID, None);
    let src = IscsiSource::open(
        "kill",
        &cfg(&t),
        &LuSelector::TargetLun {
            target: IQN.into(),
            lun: 1,
        },
        false,
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 20];
        let started = Instant::now();
        loop {
            if let Err(e) = src.read_at(0, &mut buf) {
                tx.send((e.to_string(), started.elapsed())).unwrap();
                return;
            }
            if started.elapsed() > Duration::from_secs(60) {
                tx.send(("never failed".into(), started.elapsed())).unwrap();
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let killed = Instant::now();
    t.kill9();
    let (msg, _) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("reader hung after tgtd was killed");
    let after = killed.elapsed();
    reader.join().unwrap();
    assert!(msg.contains("iSCSI"), "{msg}");
    assert!(msg.contains("retry after re-login failed"), "{msg}");
    assert!(
        after < Duration::from_secs(15),
        "error came {after:?} after the kill"
    );
}

/// A target that stops answering (SIGSTOP): the read times out, the one
/// retry times out too, and the error names the timeout.
#[test]
fn target_frozen_mid_read_times_out() {
    let Some(t) = Tgt::start("target_frozen_mid_read_times_out") else {
        return;
    };
    let data = pattern(32 << 20, 2);
    let img = t.file("lun.img", &data);
    t.target(1, IQN);
    t.lun(1, 1, &img, SCSI_ID, None);
    let mut c = cfg(&t);
    c.io_timeout = Duration::from_secs(2);
    c.connect_timeout = Duration::from_secs(2);
    let src = IscsiSource::open(
        "freeze",
        &c,
        &LuSelector::TargetLun {
            target: IQN.into(),
            lun: 1,
        },
        false,
    )
    .unwrap();
    t.signal("STOP");
    let started = Instant::now();
    let mut buf = vec![0u8; 8 << 20];
    let e = src.read_at(0, &mut buf).unwrap_err().to_string();
    let took = started.elapsed();
    t.signal("CONT");
    assert!(e.contains("no answer from the target within 2"), "{e}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn discovery_and_inquiry_match_libiscsi() {
    let Some(t) = Tgt::start("discovery_and_inquiry_match_libiscsi") else {
        return;
    };
    if !common::require_tool(
        "iscsi-ls",
        "libiscsi-bin",
        "discovery_and_inquiry_match_libiscsi",
    ) || !common::require_tool(
        "iscsi-inq",
        "libiscsi-bin",
        "discovery_and_inquiry_match_libiscsi",
    ) {
        return;
    }
    let a = t.file("a.img", &pattern(4 << 20, 1));
    let b = t.file("b.img", &pattern(8 << 20, 2));
    t.target(1, IQN);
    t.target(2, "iqn.2026-11.org.kzrescue.test:disk2");
    t.lun(1, 1, &a, SCSI_ID, None);
    t.lun(2, 1, &b, "600144f0a613c900000054521d550007", Some(4096));

    let ours = iscsi::discover(&cfg(&t)).unwrap();
    let out = std::process::Command::new("iscsi-ls")
        .args(["-s", &format!("iscsi://{}", t.portal())])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut theirs: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Target:") {
            let (name, portal) = rest.split_once(" Portal:").unwrap();
            theirs.push((name.to_string(), portal.to_string()));
        }
    }
    let mut mine: Vec<(String, String)> = ours
        .iter()
        .flat_map(|t| t.addresses.iter().map(|a| (t.name.clone(), a.clone())))
        .collect();
    mine.sort();
    theirs.sort();
    assert_eq!(mine, theirs, "SendTargets: ours vs iscsi-ls");
    assert_eq!(mine.len(), 2);

    for (iqn, lun) in [(IQN, 1u64), ("iqn.2026-11.org.kzrescue.test:disk2", 1)] {
        let mut c = cfg(&t);
        c.target = Some(iqn.to_string());
        let mut s = iscsi::Session::login(&c).unwrap();
        let luns = iscsi::report_luns(&mut s).unwrap();
        assert_eq!(luns, vec![0, 1]);
        let info = iscsi::lun_info(&mut s, lun).unwrap();
        let url = format!("iscsi://{}/{iqn}/{lun}", t.portal());
        let std = String::from_utf8_lossy(
            &std::process::Command::new("iscsi-inq")
                .arg(&url)
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned();
        let field = |k: &str| {
            std.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("iscsi-inq has no {k}: {std}"))
        };
        assert_eq!(info.inquiry.vendor, field("Vendor:"));
        assert_eq!(info.inquiry.product, field("Product:"));
        assert_eq!(info.inquiry.revision, field("Revision:"));
        let vpd = String::from_utf8_lossy(
            &std::process::Command::new("iscsi-inq")
                .args(["-e", "1", "-c", "131", &url])
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned();
        // iscsi-inq lists designators in reverse wire order; compare types,
        // associations and code sets, and ASCII values verbatim.
        let mut theirs = Vec::new();
        let mut cur: (u8, u8, u8) = (0, 0, 0);
        for l in vpd.lines() {
            let num = |l: &str| {
                l.split_once('(')
                    .and_then(|(_, r)| r.split_once(')'))
                    .map(|(n, _)| n.parse::<u8>().unwrap())
            };
            if l.starts_with("Code Set:") {
                cur.0 = num(l).unwrap();
            } else if l.starts_with("Association:") {
                cur.1 = num(l).unwrap();
            } else if l.starts_with("Designator Type:") {
                cur.2 = num(l).unwrap();
                theirs.push(cur);
            }
        }
        theirs.reverse();
        let mine: Vec<(u8, u8, u8)> = info
            .designators
            .iter()
            .map(|d| (d.code_set, d.association, d.designator_type))
            .collect();
        assert_eq!(
            mine, theirs,
            "VPD 0x83 designators: ours vs iscsi-inq\n{vpd}"
        );
        let scsi_id = if iqn == IQN {
            SCSI_ID
        } else {
            "600144f0a613c900000054521d550007"
        };
        assert!(
            info.lu_names.contains(&format!("naa.{scsi_id}")),
            "{:?}",
            info.lu_names
        );
        // The 16-byte NAA-6 designator is not the first NAA one in tgt's order.
        let first_naa = info
            .designators
            .iter()
            .find(|d| d.designator_type == 3)
            .unwrap();
        assert_eq!(first_naa.value.len(), 8);
        let cap = info.capacity.unwrap();
        let rc = String::from_utf8_lossy(
            &std::process::Command::new("iscsi-readcapacity16")
                .arg(&url)
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned();
        assert!(
            rc.contains(&format!("LOGICAL BLOCK LENGTH IN BYTES:{}", cap.block_len)),
            "{rc}"
        );
        assert!(
            rc.contains(&format!("RETURNED LOGICAL BLOCK ADDRESS:{}", cap.last_lba)),
            "{rc}"
        );
        s.nop().unwrap();
        s.logout().unwrap();
    }
}
