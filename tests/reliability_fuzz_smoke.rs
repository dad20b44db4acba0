//! CI smoke of every fuzz target without cargo-fuzz: each committed seed
//! (`fuzz/seeds/<target>/`, `fuzz/corpus/<target>/`, and the
//! crash inputs kept in `fuzz/artifacts/<target>/`) and a few thousand
//! deterministic mutations of them go through the same library entry points,
//! with the same assertions, as `fuzz/fuzz_targets/<target>.rs`: both
//! include the harnesses from `fuzz/harness.rs`. A panic is a
//! finding; the failing input is written to `target/fuzz-smoke-crash-<target>`.
//!
//! `cargo test --test reliability_fuzz_smoke -- --ignored make_seeds`
//! regenerates the seeds of the forensic targets from `testimages/fuse-v23.img.zst`.

mod common;
#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::PathBuf;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// One libFuzzer-like mutation: bit flips, interesting integers, byte
/// insertion/deletion, truncation, splicing a chunk of another seed.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 if v.len() >= 8 => {
                let i = rng.below(v.len() - 7) & !3;
                let vals: [u64; 6] = [0, 1, u64::MAX, 0x7fff_ffff, 1 << 60, 0xffff_fff0];
                let x = vals[rng.below(vals.len())];
                let be = rng.below(2) == 0;
                let b = if be { x.to_be_bytes() } else { x.to_le_bytes() };
                let w = [4usize, 8][rng.below(2)];
                let src = if be { &b[8 - w..] } else { &b[..w] };
                v[i..i + w].copy_from_slice(src);
            }
            3 => {
                let i = rng.below(v.len() + 1);
                let n = 1 + rng.below(16);
                for _ in 0..n {
                    v.insert(i, rng.next() as u8);
                }
            }
            4 if !v.is_empty() => {
                let i = rng.below(v.len());
                let n = (1 + rng.below(16)).min(v.len() - i);
                v.drain(i..i + n);
            }
            5 => v.truncate(rng.below(v.len() + 1)),
            _ if !other.is_empty() => {
                let a = rng.below(other.len());
                let n = (1 + rng.below(64)).min(other.len() - a);
                let i = rng.below(v.len() + 1);
                v.splice(i..i, other[a..a + n].iter().copied());
            }
            _ => {}
        }
    }
    v
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for d in ["seeds", "corpus", "artifacts"] {
        let dir = common::root().join("fuzz").join(d).join(target);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.is_file() {
                out.push(std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Runs `f` over the seeds and `mutations` mutants; returns how many inputs.
fn smoke(target: &str, mutations: usize, f: fn(&[u8])) -> usize {
    let mut corpus = seeds(target);
    assert!(!corpus.is_empty(), "no seeds for fuzz target {target}");
    corpus.push(Vec::new());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
    let mut n = 0;
    let run = |input: &[u8]| {
        if std::panic::catch_unwind(|| f(input)).is_err() {
            let p = common::root().join(format!("target/fuzz-smoke-crash-{target}"));
            let _ = std::fs::write(&p, input);
            panic!(
                "fuzz target {target} panicked; input saved to {}",
                p.display()
            );
        }
    };
    for s in &corpus {
        run(s);
        n += 1;
    }
    for _ in 0..mutations {
        let a = &corpus[rng.below(corpus.len())];
        let b = &corpus[rng.below(corpus.len())];
        let m = mutate(&mut rng, a, b);
        run(&m);
        n += 1;
    }
    n
}

const N: usize = 3000;

macro_rules! smoke_tests {
    ($($name:ident => $target:ident, $n:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let n = smoke(stringify!($target), $n, harness::$target::run);
                println!("{}: {n} inputs", stringify!($target));
            }
        )*
        /// Every fuzz target under fuzz/fuzz_targets has a smoke test here.
        #[test]
        fn every_fuzz_target_is_smoked() {
            let known = [$(stringify!($target)),*];
            let dir = common::root().join("fuzz/fuzz_targets");
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().trim_end_matches(".rs").to_string();
                assert!(known.contains(&name.as_str()), "fuzz target {name} has no smoke test");
            }
        }
    };
}

smoke_tests! {
    smoke_blkptr => blkptr, N;
    smoke_decompress => decompress, N;
    smoke_dnode => dnode, N;
    smoke_zap => zap, N;
    smoke_zonecfg => zonecfg, N;
    smoke_zone_xml => zone_xml, N;
    smoke_journal => journal, N;
    smoke_nvlist_xdr => nvlist_xdr, N;
    smoke_nvlist_native => nvlist_native, N;
    smoke_nvlist_roundtrip => nvlist_roundtrip, N;
    smoke_label => label, N / 4;
    smoke_uberblock => uberblock, N / 4;
    smoke_gpt => gpt, N;
    smoke_vtoc => vtoc, N;
    smoke_hostdata_container => hostdata_container, N;
    smoke_hostdata_payload => hostdata_payload, N;
    smoke_iscsi_pdu => iscsi_pdu, N;
    smoke_iscsi_text => iscsi_text, N;
    smoke_scsi_sense => scsi_sense, N;
    smoke_suri => suri, N;
    smoke_sa => sa, N;
    smoke_scan => scan, N / 10;
}

/// Regenerates the seeds of the forensic targets from a real pool image and
/// the seeds of the parsers that have no fixture file of their own.
#[test]
#[ignore]
fn make_seeds() {
    use kzrescue::source::{FileSource, OpenMode, SharedSource};
    use kzrescue::zfs::{compress, objset::ObjSet, spa};
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let img = common::unpack_fixture("fuse-v23.img", tmp.path());
    let src: SharedSource = Arc::new(FileSource::open(&img, OpenMode::ReadOnly).unwrap());
    let o = spa::open(&[src], None).unwrap();
    let put = |t: &str, name: &str, b: &[u8]| {
        let d = common::root().join("fuzz/seeds").join(t);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), b).unwrap();
    };
    // the MOS objset block: its meta-dnode and that dnode's first blkptr
    let osb = o.pool.read_block(&o.rootbp).unwrap();
    put("dnode", "fuse-v23.mos-meta-dnode", &osb[..512]);
    put("blkptr", "fuse-v23.mos-meta-blkptr0", &osb[64..192]);
    let mos = ObjSet::open(&o.pool, &o.rootbp).unwrap();
    // the dnode block holding objects 0..: a few real dnodes
    let dblk = mos.meta.read_block(&o.pool, 0).unwrap();
    for obj in 1..4 {
        put(
            "dnode",
            &format!("fuse-v23.mos-obj{obj}"),
            &dblk[obj * 512..(obj + 1) * 512],
        );
        put(
            "blkptr",
            &format!("fuse-v23.mos-obj{obj}-bp0"),
            &dblk[obj * 512 + 64..obj * 512 + 192],
        );
    }
    // the object directory: a real ZAP block (micro or fat)
    let dir = mos.dnode(&o.pool, 1).unwrap();
    let zb = dir.read_block(&o.pool, 0).unwrap();
    put("zap", "fuse-v23.mos-object-directory", &zb);
    // compressed streams of a real block: lzjb and zle of the dnode block
    let head = &dblk[..4096];
    for (algo, name, c) in [
        (
            compress::kind::LZJB,
            "lzjb",
            compress::lzjb::compress(head, 4096).unwrap(),
        ),
        (compress::kind::ZLE, "zle", compress::zle::compress(head)),
    ] {
        let mut s = vec![algo];
        s.extend_from_slice(&(head.len() as u16).to_le_bytes());
        s.extend_from_slice(&c);
        put("decompress", &format!("fuse-v23.dnodes.{name}"), &s);
    }
    let cfg = std::fs::read(common::root().join("testimages/demo-kz1.cfg")).unwrap();
    put("zonecfg", "demo-kz1.cfg", &cfg);

    // label: the vdev_phys nvlist region of label 0; uberblock: one slot
    let raw = std::fs::read(&img).unwrap();
    let mut l = vec![0u8];
    l.extend_from_slice(&raw[16 << 10..128 << 10]);
    put("label", "fuse-v23.label0-vdev-phys", &l);
    let ring = &raw[128 << 10..256 << 10];
    let slot = ring
        .chunks(1024)
        .find(|s| s[..8] == kzrescue::zfs::uberblock::UBERBLOCK_MAGIC.to_le_bytes())
        .unwrap();
    let mut u = vec![0x80u8];
    u.extend_from_slice(slot);
    put("uberblock", "fuse-v23.uberblock-slot", &u);

    // partition tables: the first 34 sectors of real GPT disks; a VTOC disk's sector 0
    for (t, fixture, mode, len) in [
        ("gpt", "gptdisk-x86-512.img", 1u8, 34 * 512),
        ("gpt", "gpt-sparc-512.img", 0, 34 * 512),
        ("vtoc", "gptdisk-sparc-512.img", 0, 1024),
    ] {
        let f = common::unpack_fixture(fixture, tmp.path());
        let raw = std::fs::read(&f).unwrap();
        let mut s = if t == "vtoc" {
            vec![0u8, 0, 0, 0]
        } else {
            vec![mode]
        };
        s.extend_from_slice(&raw[..len]);
        put(t, fixture, &s);
        std::fs::remove_file(&f).unwrap();
    }

    // host data: the primary slot of the demo disk, and its decrypted payload
    let demo = common::unpack_fixture("demo-kz1.img", tmp.path());
    let dsrc = FileSource::open(&demo, OpenMode::ReadOnly).unwrap();
    let table = kzrescue::partition::read(&dsrc, None).unwrap();
    let r = table.reserved().unwrap();
    let lay = kzrescue::hostdata::store::Layout::for_partition(r.len).unwrap();
    let draw = std::fs::read(&demo).unwrap();
    let at = (r.start + lay.offset(kzrescue::hostdata::store::CopyId::Primary)) as usize;
    let slot = &draw[at..at + 64 * 1024];
    let end = slot.len() - slot.iter().rev().take_while(|&&b| b == 0).count();
    put(
        "hostdata_container",
        "demo-kz1.primary",
        &slot[..end.max(64)],
    );
    let kf = kzrescue::hostdata::keyfile::read_keyfile(
        &common::root().join("testimages/demo-kz1.key"),
        true,
    )
    .unwrap();
    let _ = kf; // the demo disk's host data is sealed under another key on purpose
    let hd = kzrescue::hostdata::HostData {
        zonename: "demo-kz1".into(),
        owner_hostid: 0x2b2044c5,
        owner_hostname: "global1".into(),
        state: "installed".into(),
        be_name: "solaris-1".into(),
        be_uuid: "69ed2e6a-e25a-6d36-e022-ed7261ed8899".into(),
        last_update: 1_397_419_693,
        tod_offset_ns: -1_500_000_000,
        suspend: kzrescue::hostdata::SuspendInfo {
            suspended: true,
            image: "/system/zones/demo-kz1/suspend".into(),
            time: 1_397_419_000,
            extra: Vec::new(),
        },
        obp_vars: vec![("auto-boot?".into(), "true".into())],
        generation: 3,
        extra: Vec::new(),
    };
    put(
        "hostdata_payload",
        "demo-kz1.payload",
        &kzrescue::hostdata::payload_encode(&hd).unwrap(),
    );

    // iSCSI: RFC 7143 login text, a login-response PDU header, fixed-format sense
    put(
        "iscsi_text",
        "login",
        b"TargetPortalGroupTag=1\0HeaderDigest=None\0DataDigest=None\0MaxRecvDataSegmentLength=262144\0FirstBurstLength=65536\0MaxBurstLength=262144\0CHAP_A=5\0CHAP_I=1\0CHAP_C=0x0102030405060708\0",
    );
    let mut pdu = vec![0u8; 49];
    pdu[1] = 0x23; // login response
    pdu[2] = 0x87;
    put("iscsi_pdu", "login-response", &pdu);
    let mut sense = vec![
        0x70u8, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0,
    ];
    put("scsi_sense", "illegal-request", &sense);
    sense[2] = 0x06;
    sense[12] = 0x29;
    put("scsi_sense", "unit-attention", &sense);
    for (i, u) in [
        "dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0",
        "iscsi://tgt.example.com:3260/luname.naa.600144f0a613c900000054521d550001",
        "file:///export/kz1/disk0.img",
        "lu:luname.naa.600144f0a613c900000054521d550001",
    ]
    .iter()
    .enumerate()
    {
        put("suri", &format!("uri{i}"), u.as_bytes());
    }
}

/// Regenerates the SA seeds: the registry, layouts and root-directory bonus
/// of the ZPL 5 file systems in two pools of the OpenZFS test suite
/// (installed by zfsutils-linux; the fixtures made by zfs-fuse predate SA).
#[test]
#[ignore]
fn make_sa_seeds() {
    use kzrescue::source::{FileSource, OpenMode, SharedSource};
    use kzrescue::zfs::{spa, zpl::Zpl};
    use std::sync::Arc;
    let tests = "/usr/share/zfs/zfs-tests/tests/functional";
    let pools = [
        (
            "unclean_export",
            "cli_root/zpool_import/blockfiles/unclean_export.dat.bz2",
            "unclean_export",
        ),
        (
            "13709",
            "userquota/13709_reproducer.bz2",
            "testpool_13709/sendfs",
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let d = common::root().join("fuzz/seeds/sa");
    std::fs::create_dir_all(&d).unwrap();
    for (tag, rel, dataset) in pools {
        let img = tmp.path().join(tag);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("bzip2 -dc {tests}/{rel} > {}", img.display()))
            .status()
            .unwrap();
        assert!(out.success());
        let src: SharedSource = Arc::new(FileSource::open(&img, OpenMode::ReadOnly).unwrap());
        let o = spa::open(&[src], None).unwrap();
        let ds = o
            .mos
            .datasets(&o.pool)
            .into_iter()
            .flatten()
            .find(|x| x.name == dataset)
            .unwrap();
        let os = kzrescue::zfs::objset::ObjSet::open(&o.pool, &ds.ds.bp).unwrap();
        let fs = Zpl::open(o.pool.clone(), os).unwrap();
        let t = fs.sa_tables().expect("a ZPL 5 file system has SA tables");
        let root = fs.dnode(fs.root).unwrap();
        std::fs::write(
            d.join(format!("{tag}.root-bonus")),
            harness::sa::encode(t, &root.bonus),
        )
        .unwrap();
    }
}
