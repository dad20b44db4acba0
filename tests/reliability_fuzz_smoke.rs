//! CI smoke of every fuzz target without cargo-fuzz: each committed seed
//! (`fuzz/seeds/<target>/`, `fuzz/corpus/<target>/`, and the
//! crash inputs kept in `fuzz/artifacts/<target>/`) and a few thousand
//! deterministic mutations of them go through the same library entry points,
//! with the same assertions, as `fuzz/fuzz_targets/<target>.rs`. A panic is a
//! finding; the failing input is written to `target/fuzz-smoke-crash-<target>`.
//!
//! `cargo test --test reliability_fuzz_smoke -- --ignored make_seeds`
//! regenerates the seeds of the forensic targets from `testimages/fuse-v23.img.zst`.

mod common;

use kzrescue::source::{Source, check_bounds};
use std::path::PathBuf;

struct Mem<'a>(&'a [u8]);

impl Source for Mem<'_> {
    fn name(&self) -> String {
        "fuzz".into()
    }
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> kzrescue::Result<()> {
        check_bounds(&|| self.name(), offset, buf.len(), self.size())?;
        let o = offset as usize;
        buf.copy_from_slice(&self.0[o..o + buf.len()]);
        Ok(())
    }
}

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

// ---- one function per fuzz target, mirroring fuzz/fuzz_targets/<name>.rs ----

fn t_blkptr(data: &[u8]) {
    use kzrescue::zfs::blkptr::{BlkPtr, ByteOrder, Payload};
    for bo in [ByteOrder::Little, ByteOrder::Big] {
        if let Ok(bp) = BlkPtr::decode(data, bo) {
            let _ = (bp.to_string(), bp.where_());
            if let Payload::Embedded { data, .. } = &bp.payload {
                assert!(data.len() <= 112);
            }
        }
    }
}

fn t_decompress(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let algo = data[0] % 18;
    let lsize = u16::from_le_bytes([data[1], data[2]]) as usize;
    if let Ok(out) = kzrescue::zfs::compress::decompress(algo, &data[3..], lsize) {
        assert_eq!(out.len(), lsize);
    }
}

fn t_dnode(data: &[u8]) {
    use kzrescue::zfs::blkptr::ByteOrder;
    for bo in [ByteOrder::Little, ByteOrder::Big] {
        if let Ok(dn) = kzrescue::zfs::dnode::Dnode::decode(data, bo, 5)
            && !dn.is_free()
        {
            assert!((1..=3).contains(&dn.blkptrs.len()));
            assert!(dn.bonus.len() <= 512 * (1 + dn.extra_slots as usize));
            for bp in &dn.blkptrs {
                let _ = bp.to_string();
            }
        }
    }
}

fn t_zap(data: &[u8]) {
    use kzrescue::zfs::blkptr::ByteOrder;
    use kzrescue::zfs::zap;
    for bo in [ByteOrder::Little, ByteOrder::Big] {
        let _ = zap::micro(data, bo, 1);
        let size = data.len().clamp(512, 1 << 17).next_power_of_two();
        let mut leaf = vec![0u8; size];
        let n = data.len().min(size);
        leaf[..n].copy_from_slice(&data[..n]);
        leaf[..8].copy_from_slice(&bo.put_u64(zap::ZBT_LEAF));
        let m = match bo {
            ByteOrder::Little => zap::ZAP_LEAF_MAGIC.to_le_bytes(),
            ByteOrder::Big => zap::ZAP_LEAF_MAGIC.to_be_bytes(),
        };
        leaf[24..28].copy_from_slice(&m);
        let mut out = Vec::new();
        let _ = zap::leaf_entries(&leaf, bo, data.first() == Some(&1), &mut out);
    }
}

fn t_zonecfg(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match kzrescue::zone::zonecfg::parse_export(&text, Some("fuzz")) {
        Ok(cfg) => {
            let _ = (
                cfg.brand(),
                cfg.is_kernel_zone(),
                cfg.devices(),
                cfg.boot_devices(),
            );
        }
        Err(e) => assert_eq!(e.to_string().lines().count(), 1),
    }
}

fn t_zone_xml(data: &[u8]) {
    use kzrescue::zone;
    let text = String::from_utf8_lossy(data);
    for r in [zone::xml::parse_xml(&text), zone::parse_config(&text, None)] {
        match r {
            Ok(cfg) => {
                let _ = (cfg.devices(), cfg.boot_devices());
            }
            Err(e) => assert_eq!(e.to_string().lines().count(), 1),
        }
    }
}

fn t_journal(data: &[u8]) {
    use kzrescue::repair::journal::Journal;
    use sha2::{Digest, Sha256};
    fn check(bytes: &[u8]) {
        if let Ok(j) = Journal::decode(bytes) {
            assert_eq!(j.encode().expect("re-encodes"), bytes);
        }
    }
    check(data);
    let mut sealed = data.to_vec();
    if sealed.len() >= 8 {
        sealed[..8].copy_from_slice(b"KZJRNL\r\n");
    }
    let d = Sha256::digest(&sealed);
    sealed.extend_from_slice(&d);
    check(&sealed);
}

fn t_nvlist_xdr(data: &[u8]) {
    use kzrescue::zfs::nvlist::xdr;
    let mut buf = data.to_vec();
    if let Some(b) = buf.first_mut() {
        *b = 1;
    }
    if let Ok(p) = xdr::decode(&buf) {
        assert!(p.len <= buf.len());
        let again = p.encode().expect("re-encodes");
        let p2 = xdr::decode(&again).expect("our own encoding decodes");
        assert_eq!(p2.encode().unwrap(), again);
    }
}

fn t_nvlist_native(data: &[u8]) {
    use kzrescue::zfs::nvlist::native;
    let mut buf = data.to_vec();
    if let Some(b) = buf.first_mut() {
        *b = 0;
    }
    if let Some(b) = buf.get_mut(1) {
        *b &= 1;
    }
    if let Ok(p) = native::decode(&buf) {
        assert!(p.len <= buf.len());
        let again = native::encode(p.header, &p.list).expect("re-encodes");
        let p2 = native::decode(&again).expect("our own encoding decodes");
        assert_eq!(native::encode(p2.header, &p2.list).unwrap(), again);
    }
}

fn t_nvlist_roundtrip(data: &[u8]) {
    use kzrescue::zfs::nvlist::{decode_packed, native, xdr};
    let Ok(p) = decode_packed(data) else { return };
    let canon = xdr::encode([1, 0, 0, 0], &p.list).expect("encodes");
    for bytes in [
        native::encode([0, 0, 0, 0], &p.list).unwrap(),
        native::encode([0, 1, 0, 0], &p.list).unwrap(),
        xdr::encode([1, 1, 0, 0], &p.list).unwrap(),
    ] {
        let back = decode_packed(&bytes).expect("our own encoding decodes");
        assert_eq!(back.encode().unwrap(), bytes);
        assert_eq!(xdr::encode([1, 0, 0, 0], &back.list).unwrap(), canon);
    }
}

fn t_label(data: &[u8]) {
    use kzrescue::zfs::eck::{self, Endian};
    use kzrescue::zfs::label::{self, VDEV_PHYS_SIZE};
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let mut phys = vec![0u8; VDEV_PHYS_SIZE];
    let n = body.len().min(VDEV_PHYS_SIZE);
    phys[..n].copy_from_slice(&body[..n]);
    let off = u64::from(mode) * 0x40000;
    let _ = label::decode_label(1, off, phys.clone());
    let e = if mode & 1 == 0 {
        Endian::Big
    } else {
        Endian::Little
    };
    eck::seal(&mut phys, off + label::VDEV_PHYS_OFFSET, e);
    let l = label::decode_label(1, off, phys);
    if let Some(p) = &l.problem {
        assert_eq!(p.lines().count(), 1, "{p}");
    }
    let labels = label::read_labels(&Mem(body));
    assert_eq!(labels.len(), 4);
    let _ = label::compare(&labels);
}

fn t_uberblock(data: &[u8]) {
    use kzrescue::zfs::uberblock::{self, RING_SIZE};
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    if body.is_empty() {
        return;
    }
    let shift = 10 + u32::from(mode % 8);
    let ring: Vec<u8> = body.iter().copied().cycle().take(RING_SIZE).collect();
    let slots = uberblock::decode_ring(2, 0x20000, &ring, shift);
    assert_eq!(slots.len(), RING_SIZE >> shift);
    let _ = uberblock::best(&slots);
}

fn t_partition(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let ss = match mode & 3 {
        0 => None,
        1 => Some(512),
        2 => Some(4096),
        _ => Some(mode as u32),
    };
    for img in [data, body] {
        match kzrescue::partition::read(&Mem(img), ss) {
            Ok(t) => {
                for p in &t.partitions {
                    assert!(p.start.checked_add(p.len).is_some());
                }
            }
            Err(e) => assert_eq!(e.to_string().lines().count(), 1),
        }
    }
}

fn t_hostdata_container(data: &[u8]) {
    use kzrescue::hostdata::HostKey;
    use kzrescue::hostdata::container::{self, Slot};
    let mut k = [7u8; 16];
    let key = HostKey::from_bytes(&mut k);
    let mut forged = data.to_vec();
    if forged.len() >= container::HEADER_LEN {
        forged[..8].copy_from_slice(&container::MAGIC);
        forged[8..12].copy_from_slice(&[0, 1, 0, 64]);
        container::fix_crcs(&mut forged);
    }
    for bytes in [data, &forged[..]] {
        if let Slot::Sealed(s) = container::parse(bytes) {
            let copy = s.to_bytes();
            assert_eq!(&bytes[..copy.len()], &copy[..]);
            if let Ok(plain) = s.open(&key) {
                assert_eq!(plain.len(), s.header.payload_len as usize);
            }
            let _ = kzrescue::hostdata::store::judge(bytes, Some(&key));
        }
    }
}

fn t_hostdata_payload(data: &[u8]) {
    use kzrescue::hostdata::{payload_decode, payload_encode};
    if let Ok(d) = payload_decode(data) {
        let again = payload_encode(&d).expect("encodes");
        assert_eq!(payload_decode(&again).expect("decodes"), d);
    }
}

fn t_iscsi_pdu(data: &[u8]) {
    use kzrescue::source::iscsi::pdu::{Digests, Pdu};
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let digests = Digests {
        header: sel & 1 != 0,
        data: sel & 2 != 0,
    };
    let max = [0usize, 48, 8192, 262_144][(sel >> 2 & 3) as usize];
    if let Ok((pdu, used)) = Pdu::decode(bytes, max, digests) {
        assert!(used <= bytes.len());
        assert!(pdu.data.len() <= max);
        let again = pdu.encode(digests).unwrap();
        let (back, _) = Pdu::decode(&again, max, digests).unwrap();
        assert_eq!(back.data, pdu.data);
    }
}

fn t_iscsi_text(data: &[u8]) {
    use kzrescue::source::iscsi::login::{self, ChapCredentials, OpOffer};
    if let Ok(pairs) = login::parse_text(data) {
        let _ = login::parse_send_targets(&pairs);
        let creds = ChapCredentials::new("u", b"secret").unwrap();
        let _ = login::chap_answer(&pairs, &creds);
        if let Ok(p) = OpOffer::default().agree(&pairs) {
            assert!(p.first_burst <= p.max_burst);
        }
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            login::parse_text(&login::encode_text(&refs)).unwrap(),
            pairs
        );
    }
}

fn t_scsi_sense(data: &[u8]) {
    use kzrescue::source::iscsi::scsi;
    if let Ok(s) = scsi::parse_sense(data) {
        let _ = s.to_string();
    }
    let _ = scsi::parse_inquiry(data);
    if let Ok(ds) = scsi::parse_vpd83(data) {
        let _ = scsi::lu_names(&ds);
    }
    if let Ok(c) = scsi::parse_capacity16(data) {
        assert!(c.bytes().is_some());
    }
    let _ = scsi::parse_report_luns(data);
}

fn t_suri(data: &[u8]) {
    use kzrescue::source::uri::StorageUri;
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(u) = StorageUri::parse(s) {
        let n = u.normalize();
        let again = StorageUri::parse(&n).unwrap_or_else(|e| panic!("{n:?}: {e}"));
        assert_eq!(again.normalize(), n);
    }
}

macro_rules! smoke_tests {
    ($($name:ident => $target:literal, $f:ident, $n:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let n = smoke($target, $n, $f);
                println!("{}: {n} inputs", $target);
            }
        )*
        /// Every fuzz target under fuzz/fuzz_targets has a smoke test here.
        #[test]
        fn every_fuzz_target_is_smoked() {
            let known = [$($target),*];
            let dir = common::root().join("fuzz/fuzz_targets");
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().trim_end_matches(".rs").to_string();
                assert!(known.contains(&name.as_str()), "fuzz target {name} has no smoke test");
            }
        }
    };
}

smoke_tests! {
    smoke_blkptr => "blkptr", t_blkptr, N;
    smoke_decompress => "decompress", t_decompress, N;
    smoke_dnode => "dnode", t_dnode, N;
    smoke_zap => "zap", t_zap, N;
    smoke_zonecfg => "zonecfg", t_zonecfg, N;
    smoke_zone_xml => "zone_xml", t_zone_xml, N;
    smoke_journal => "journal", t_journal, N;
    smoke_nvlist_xdr => "nvlist_xdr", t_nvlist_xdr, N;
    smoke_nvlist_native => "nvlist_native", t_nvlist_native, N;
    smoke_nvlist_roundtrip => "nvlist_roundtrip", t_nvlist_roundtrip, N;
    smoke_label => "label", t_label, N / 4;
    smoke_uberblock => "uberblock", t_uberblock, N / 4;
    smoke_gpt => "gpt", t_partition, N;
    smoke_vtoc => "vtoc", t_partition, N;
    smoke_hostdata_container => "hostdata_container", t_hostdata_container, N;
    smoke_hostdata_payload => "hostdata_payload", t_hostdata_payload, N;
    smoke_iscsi_pdu => "iscsi_pdu", t_iscsi_pdu, N;
    smoke_iscsi_text => "iscsi_text", t_iscsi_text, N;
    smoke_scsi_sense => "scsi_sense", t_scsi_sense, N;
    smoke_suri => "suri", t_suri, N;
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
