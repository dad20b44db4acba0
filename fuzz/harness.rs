//! The fuzz harnesses: one module per fuzz target, each with `run`, the
//! function libFuzzer calls. The cargo-fuzz binaries in `fuzz_targets/` and
//! the CI smoke test (`tests/reliability_fuzz_smoke.rs`) both include this
//! file, so the fuzzed code and its assertions are written once.
#![allow(dead_code)]

pub mod blkptr {
    //! Fuzzes block-pointer decoding in both byte orders: any 128 bytes must
    //! decode to a pointer whose summary prints, never a panic.

    use kzrescue::zfs::blkptr::{BlkPtr, ByteOrder, Payload};

    pub fn run(data: &[u8]) {
        for bo in [ByteOrder::Little, ByteOrder::Big] {
            if let Ok(bp) = BlkPtr::decode(data, bo) {
                let _ = bp.to_string();
                let _ = bp.where_();
                if let Payload::Embedded { data, .. } = &bp.payload {
                    assert!(data.len() <= 112);
                }
            }
        }
    }
}

pub mod decompress {
    //! Fuzzes every decompressor with ZFS's framing (lzjb, gzip 1–9, zle, lz4,
    //! zstd, and the trivial ones): the first byte picks the function, the next
    //! two the logical size (up to 64 KiB), the rest is the physical block. Any
    //! input must decompress to exactly that size or give an error.

    use kzrescue::zfs::compress;

    pub fn run(data: &[u8]) {
        if data.len() < 3 {
            return;
        }
        let algo = data[0] % 18;
        let lsize = u16::from_le_bytes([data[1], data[2]]) as usize;
        if let Ok(out) = compress::decompress(algo, &data[3..], lsize) {
            assert_eq!(out.len(), lsize);
        }
    }
}

pub mod dnode {
    //! Fuzzes dnode decoding (including large dnodes, bonus and spill
    //! pointers) in both byte orders, and object-set headers built around the
    //! dnode: never a panic, and a decoded dnode's parts stay inside it.

    use kzrescue::zfs::ByteOrder;
    use kzrescue::zfs::dnode::Dnode;

    pub fn run(data: &[u8]) {
        for bo in [ByteOrder::Little, ByteOrder::Big] {
            if let Ok(dn) = Dnode::decode(data, bo, 5)
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
}

pub mod gpt {
    //! Fuzzes partition-table detection and the GPT reader. The input is a small
    //! disk image; it is read as given, and again with "EFI PART" headers at LBA 1
    //! and the last LBA whose entry-array and header CRCs are re-sealed, so that
    //! the checks behind the CRCs are reached. Any input must give a table or an
    //! error, never a panic, and a table's partitions must lie within u64.

    use kzrescue::partition;
    use kzrescue::source::MemSource as Mem;

    fn check(img: &[u8], ss: Option<u32>) {
        match partition::read(&Mem::new(img), ss) {
            Ok(t) => {
                for p in &t.partitions {
                    assert!(p.start.checked_add(p.len).is_some());
                }
            }
            Err(e) => assert_eq!(e.to_string().lines().count(), 1),
        }
    }

    fn reseal(img: &mut [u8], ss: usize) {
        let n = img.len();
        if n < 3 * ss {
            return;
        }
        for hdr in [ss, (n / ss - 1) * ss] {
            img[hdr..hdr + 8].copy_from_slice(b"EFI PART");
            let start = u64::from_le_bytes(img[hdr + 72..hdr + 80].try_into().unwrap());
            let count = u32::from_le_bytes(img[hdr + 80..hdr + 84].try_into().unwrap()) as u64;
            let arr = start.saturating_mul(ss as u64);
            let end = arr.saturating_add(count.saturating_mul(128));
            if end <= n as u64 {
                let c = crc32fast::hash(&img[arr as usize..end as usize]);
                img[hdr + 88..hdr + 92].copy_from_slice(&c.to_le_bytes());
            }
            img[hdr + 16..hdr + 20].fill(0);
            let c = crc32fast::hash(&img[hdr..hdr + 92]);
            img[hdr + 16..hdr + 20].copy_from_slice(&c.to_le_bytes());
        }
    }

    pub fn run(data: &[u8]) {
        let Some((&mode, body)) = data.split_first() else {
            return;
        };
        let ss = match mode & 3 {
            0 => None,
            1 => Some(512),
            2 => Some(4096),
            _ => Some(mode as u32),
        };
        check(body, ss);
        let mut img = body.to_vec();
        reseal(&mut img, if mode & 4 == 0 { 512 } else { 4096 });
        check(&img, ss);
    }
}

pub mod hostdata_container {
    //! Fuzzes the host-data container reader: arbitrary slot bytes, and the same
    //! bytes with the magic set and both CRCs recomputed so that the framing
    //! checks, the key-id check and AES-CCM verification behind them are reached.
    //! It must never panic, and a copy that opens must re-serialize to its input.

    use kzrescue::hostdata::HostKey;
    use kzrescue::hostdata::container::{self, Slot};

    pub fn run(data: &[u8]) {
        check(data);
        let mut forged = data.to_vec();
        if forged.len() >= container::HEADER_LEN {
            forged[..8].copy_from_slice(&container::MAGIC);
            forged[8..12].copy_from_slice(&[0, 1, 0, 64]);
            container::fix_crcs(&mut forged);
            check(&forged);
        }
    }

    fn check(bytes: &[u8]) {
        let mut k = [7u8; 16];
        let key = HostKey::from_bytes(&mut k);
        if let Slot::Sealed(s) = container::parse(bytes) {
            let copy = s.to_bytes();
            assert_eq!(
                &bytes[..copy.len()],
                &copy[..],
                "sealed copy does not re-serialize"
            );
            if let Ok(plain) = s.open(&key) {
                assert_eq!(plain.len(), s.header.payload_len as usize);
            }
            let _ = kzrescue::hostdata::store::judge(bytes, Some(&key));
        }
    }
}

pub mod hostdata_payload {
    //! Fuzzes the host-data payload decoder (XDR nvlist → typed fields): it must
    //! return an error or host data that encodes and decodes back to itself.

    use kzrescue::hostdata::{payload_decode, payload_encode};

    pub fn run(data: &[u8]) {
        if let Ok(d) = payload_decode(data) {
            let again = payload_encode(&d).expect("decoded host data encodes");
            let d2 = payload_decode(&again).expect("re-encoded host data decodes");
            assert_eq!(d, d2, "decode/encode/decode is not stable");
        }
    }
}

pub mod iscsi_pdu {
    //! iSCSI PDU decoding: BHS checks, AHS, padding, digests.

    use kzrescue::source::iscsi::pdu::{Digests, Pdu};

    pub fn run(data: &[u8]) {
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
            // What decodes re-encodes to the same bytes (padding is zero on
            // encode, so compare only when the input's padding was zero).
            let again = pdu.encode(digests).unwrap();
            let (back, _) = Pdu::decode(&again, max, digests).unwrap();
            assert_eq!(back.data, pdu.data);
            assert_eq!(back.ahs, pdu.ahs);
        }
    }
}

pub mod iscsi_text {
    //! Login/text key=value parsing, SendTargets grouping, CHAP and negotiation.

    use kzrescue::source::iscsi::login::{self, ChapCredentials, OpOffer};

    pub fn run(data: &[u8]) {
        if let Ok(pairs) = login::parse_text(data) {
            let _ = login::parse_send_targets(&pairs);
            let creds = ChapCredentials::new("u", b"secret").unwrap();
            let _ = login::chap_answer(&pairs, &creds);
            if let Ok(p) = OpOffer::default().agree(&pairs) {
                assert!(p.first_burst <= p.max_burst);
            }
            // Encoding what was parsed parses back to the same pairs.
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
}

pub mod journal {
    //! Fuzzes the undo-journal reader: arbitrary bytes, and arbitrary bodies
    //! re-sealed with a valid SHA-256 so that the parser behind the checksum is
    //! reached. It must return an error or a journal that re-encodes to itself.

    use kzrescue::repair::journal::Journal;
    use sha2::{Digest, Sha256};

    pub fn run(data: &[u8]) {
        check(data);
        let mut sealed = data.to_vec();
        if sealed.len() >= 8 {
            sealed[..8].copy_from_slice(b"KZJRNL\r\n");
        }
        let d = Sha256::digest(&sealed);
        sealed.extend_from_slice(&d);
        check(&sealed);
    }

    fn check(bytes: &[u8]) {
        if let Ok(j) = Journal::decode(bytes) {
            let again = j.encode().expect("a decoded journal re-encodes");
            assert_eq!(again, bytes, "decode/encode is not the identity");
        }
    }
}

pub mod label {
    //! Fuzzes label decoding. The input is the start of a 112 KiB vdev_phys
    //! (zero-filled after it); it is decoded as given, and again sealed with a
    //! correct embedded checksum so that the nvlist decoder behind the checksum
    //! is reached. It is also read as a whole (tiny) vdev through `read_labels`.
    //! Any input must give a verdict per label, never a panic; problems are one
    //! line; a valid label re-encodes to a vdev_phys that decodes to the same
    //! config.

    use kzrescue::source::MemSource as Mem;
    use kzrescue::zfs::ByteOrder;
    use kzrescue::zfs::eck;
    use kzrescue::zfs::label::{self, LabelStatus, VDEV_PHYS_SIZE};

    fn check(l: &label::LabelRead) {
        if let Some(p) = &l.problem {
            assert_eq!(p.lines().count(), 1, "{p}");
        }
        match &l.status {
            LabelStatus::Valid => {
                let cfg = l.config.as_ref().expect("valid label has a config");
                let (h, e) = (l.header.unwrap(), l.endian.unwrap());
                if let Ok(phys) = label::encode_vdev_phys(h, cfg, e, l.offset) {
                    let again = label::decode_label(l.index, l.offset, phys);
                    assert_eq!(again.status, LabelStatus::Valid);
                    assert_eq!(again.config.as_ref(), Some(cfg));
                }
            }
            LabelStatus::ChecksumBad | LabelStatus::Blank => {}
            LabelStatus::Undecodable(p) | LabelStatus::Unreadable(p) => {
                assert_eq!(p.to_string().lines().count(), 1)
            }
        }
    }

    pub fn run(data: &[u8]) {
        let Some((&mode, body)) = data.split_first() else {
            return;
        };
        let mut phys = vec![0u8; VDEV_PHYS_SIZE];
        let n = body.len().min(VDEV_PHYS_SIZE);
        phys[..n].copy_from_slice(&body[..n]);
        let off = u64::from(mode) * 0x40000;
        check(&label::decode_label(1, off, phys.clone()));
        let e = if mode & 1 == 0 {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        };
        eck::seal(&mut phys, off + label::VDEV_PHYS_OFFSET, e);
        check(&label::decode_label(1, off, phys));
        let labels = label::read_labels(&Mem::new(body));
        assert_eq!(labels.len(), 4);
        labels.iter().for_each(check);
        let _ = label::compare(&labels);
    }
}

pub mod scan {
    //! Fuzzes the label recogniser of `kzrescue scan` and the label rebuild
    //! planner. Byte 0 picks where the input goes; the rest is a vdev_phys
    //! (zero-filled to 112 KiB), sealed for a verifier chosen by byte 0 (label
    //! 0, label 1, a back label, or left as given) and written into a 2 MiB
    //! device at a sector chosen by byte 0 — and, when bit 7 is set, at every
    //! 8th sector too (the hostile case: label-looking blocks everywhere).
    //! Any input must end in a report, never a panic: verified labels name a
    //! vdev start at or before their block, vdevs list labels 0–3 only, the
    //! counts stay within the scan's bounds. The same block, as all four
    //! labels of a 1 MiB vdev, goes through `relabel::plan`, whose edits must
    //! stay inside the labels and keep their lengths.

    use kzrescue::scan::{self, ScanOptions};
    use kzrescue::source::MemSource as Mem;
    use kzrescue::zfs::ByteOrder;
    use kzrescue::zfs::eck;
    use kzrescue::zfs::label::{self, LABEL_SIZE, VDEV_PHYS_OFFSET, VDEV_PHYS_SIZE};
    use kzrescue::zfs::relabel::{self, RelabelOptions};

    const DEV: usize = 2 << 20;

    pub fn run(data: &[u8]) {
        let Some((&mode, body)) = data.split_first() else {
            return;
        };
        let mut phys = vec![0u8; VDEV_PHYS_SIZE];
        let n = body.len().min(VDEV_PHYS_SIZE);
        phys[..n].copy_from_slice(&body[..n]);
        let sector = u64::from(mode & 0x0f) * 512 + u64::from(mode & 0x30) * 0x800;
        let verifier = match (mode >> 4) & 3 {
            0 => Some(VDEV_PHYS_OFFSET),
            1 => Some(LABEL_SIZE + VDEV_PHYS_OFFSET),
            2 => Some(4 * LABEL_SIZE + VDEV_PHYS_OFFSET),
            _ => None,
        };
        let at = sector + verifier.unwrap_or(0);
        if let Some(v) = verifier {
            let e = if mode & 1 == 0 {
                ByteOrder::Big
            } else {
                ByteOrder::Little
            };
            eck::seal(&mut phys, v, e);
        }
        let mut dev = vec![0u8; DEV];
        let mut place = |off: usize| {
            if off + VDEV_PHYS_SIZE <= DEV {
                dev[off..off + VDEV_PHYS_SIZE].copy_from_slice(&phys);
            }
        };
        place(at as usize);
        if mode & 0x80 != 0 {
            for off in (0..DEV).step_by(4096) {
                place(off);
            }
        }
        let mut budget = 10_000;
        let _ = scan::recognise(&phys, at, &[at], &mut budget);
        let src = Mem::new(&dev);
        let r = scan::scan(&src, ScanOptions::default(), &mut |_, _| {}).expect("scan of memory");
        assert!(r.hashed as usize <= scan::MAX_HASHED);
        assert!(r.labels.len() <= scan::MAX_LABELS);
        for l in &r.labels {
            assert!(l.vdev_start <= l.phys_at);
            assert_eq!(l.vdev_start + l.verifier, l.phys_at);
        }
        for v in &r.vdevs {
            assert!(v.labels.iter().all(|&i| i < 4));
        }
        // The rebuild planner on a 1 MiB vdev whose four labels hold `phys`
        // sealed for each label's own place (or as given).
        let size = 4 * LABEL_SIZE;
        let offs = label::label_offsets(size);
        let labels: [Vec<u8>; 4] = std::array::from_fn(|i| {
            let mut l = vec![0u8; LABEL_SIZE as usize];
            let mut p = phys.clone();
            if mode & (2 << i) != 0 {
                eck::seal(&mut p, offs[i] + VDEV_PHYS_OFFSET, ByteOrder::Little);
            }
            l[VDEV_PHYS_OFFSET as usize..][..VDEV_PHYS_SIZE].copy_from_slice(&p);
            l
        });
        for reseal_only in [false, true] {
            if let Ok(p) = relabel::plan(&labels, size, RelabelOptions { reseal_only }) {
                for e in &p.edits {
                    assert_eq!(e.old.len(), e.new.len());
                    let rel = e.offset - offs[e.label];
                    assert!(rel + e.new.len() as u64 <= LABEL_SIZE);
                }
            }
        }
        // The first 512 bytes as a sealed Sun label (big-endian SPARC or,
        // with bit 0, little-endian x86 with the VTOC sanity word) at five
        // odd sectors of a device: the Sun-label recogniser and both VTOC
        // restore planners end in a plan or a refusal, their writes inside
        // the device.
        let mut lab = [0u8; 512];
        lab.copy_from_slice(&phys[..512]);
        if mode & 1 == 1 {
            lab[12..16].copy_from_slice(&0x600d_deeeu32.to_le_bytes());
            lab[508..510].copy_from_slice(&0xdabeu16.to_le_bytes());
        } else {
            lab[508..510].copy_from_slice(&0xdabeu16.to_be_bytes());
        }
        let x = lab[..510]
            .chunks_exact(2)
            .fold(0u16, |a, w| a ^ u16::from_be_bytes([w[0], w[1]]));
        lab[510..512].copy_from_slice(&x.to_be_bytes());
        let mut dev = vec![0u8; 1 << 20];
        let first = 1 + 2 * usize::from(mode & 0x3f);
        for k in 0..5 {
            let at = (first + 2 * k) * 512;
            dev[at..at + 512].copy_from_slice(&lab);
        }
        let src = Mem::new(&dev);
        let r = scan::scan(&src, ScanOptions::default(), &mut |_, _| {}).expect("scan of memory");
        for plan in [
            kzrescue::partition::restore::vtoc_from_backup(&src, &r.sun_labels),
            kzrescue::partition::restore::x86_vtoc_from_backup(
                &src,
                &r.sun_labels,
                &r.vdevs.iter().map(|v| v.extent()).collect::<Vec<_>>(),
            ),
        ]
        .into_iter()
        .flatten()
        {
            for w in &plan.writes {
                assert!(w.offset + w.new.len() as u64 <= dev.len() as u64);
            }
        }
    }
}

pub mod nvlist_native {
    //! Fuzzes the native nvlist decoder in both byte orders (byte 0 forced to 0,
    //! byte 1 to 0 or 1). Whatever decodes must re-encode to a fixed point.

    use kzrescue::zfs::nvlist::native;

    pub fn run(data: &[u8]) {
        let mut buf = data.to_vec();
        if let Some(b) = buf.first_mut() {
            *b = 0;
        }
        if let Some(b) = buf.get_mut(1) {
            *b &= 1;
        }
        if let Ok(p) = native::decode(&buf) {
            assert!(p.len <= buf.len());
            let again = native::encode(p.header, &p.list).expect("a decoded list re-encodes");
            let p2 = native::decode(&again).expect("our own encoding decodes");
            assert_eq!(p2.len, again.len());
            assert_eq!(
                native::encode(p2.header, &p2.list).unwrap(),
                again,
                "decode/encode is not a fixed point"
            );
        }
    }
}

pub mod nvlist_roundtrip {
    //! Fuzzes the round trip between encodings: any list that decodes (either
    //! encoding) is re-encoded in every XDR style and both native byte orders,
    //! and each result must decode to the same list (compared through its
    //! canonical XDR bytes, so NaN doubles compare by their bits).

    use kzrescue::zfs::nvlist::{XdrStyle, decode_packed, native, xdr};

    pub fn run(data: &[u8]) {
        let Ok(p) = decode_packed(data) else { return };
        let canon = xdr::encode([1, 0, 0, 0], &p.list).expect("a decoded list encodes");
        let mut outs = Vec::new();
        for sign_extend in [false, true] {
            for empty_array_quirk in [false, true] {
                let st = XdrStyle {
                    sign_extend,
                    empty_array_quirk,
                };
                outs.push(xdr::encode_with([1, 1, 0, 0], &p.list, st).unwrap());
            }
        }
        outs.push(native::encode([0, 0, 0, 0], &p.list).unwrap());
        outs.push(native::encode([0, 1, 0, 0], &p.list).unwrap());
        for bytes in outs {
            let back = decode_packed(&bytes).expect("our own encoding decodes");
            assert_eq!(back.encode().unwrap(), bytes, "re-encode differs");
            assert_eq!(
                xdr::encode([1, 0, 0, 0], &back.list).unwrap(),
                canon,
                "list changed"
            );
        }
    }
}

pub mod nvlist_xdr {
    //! Fuzzes the XDR nvlist decoder (byte 0 forced to 1 so the body is
    //! reached). Whatever decodes must re-encode, and the re-encoding must be a
    //! fixed point of decode → encode.

    use kzrescue::zfs::nvlist::xdr;

    pub fn run(data: &[u8]) {
        let mut buf = data.to_vec();
        if let Some(b) = buf.first_mut() {
            *b = 1;
        }
        if let Ok(p) = xdr::decode(&buf) {
            assert!(p.len <= buf.len());
            let again = p.encode().expect("a decoded list re-encodes");
            let p2 = xdr::decode(&again).expect("our own encoding decodes");
            assert_eq!(
                p2.encode().unwrap(),
                again,
                "decode/encode is not a fixed point"
            );
        }
    }
}

pub mod scsi_sense {
    //! SCSI answers: sense data, INQUIRY, VPD 0x83, READ CAPACITY(16), REPORT LUNS,
    //! the MODE SENSE parameter header.

    use kzrescue::source::iscsi::scsi;

    pub fn run(data: &[u8]) {
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
        // The mode parameter header's WP bit (MODE SENSE 6 and 10).
        for ten in [false, true] {
            if let Ok(wp) = scsi::parse_mode_wp(data, ten) {
                assert_eq!(wp, data[if ten { 3 } else { 2 }] & 0x80 != 0);
            }
        }
    }
}

pub mod suri {
    //! Storage URI parsing: never panics; normalizing is idempotent.

    use kzrescue::source::uri::StorageUri;

    pub fn run(data: &[u8]) {
        let Ok(s) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(u) = StorageUri::parse(s) {
            let n = u.normalize();
            let again =
                StorageUri::parse(&n).unwrap_or_else(|e| panic!("{n:?} does not parse back: {e}"));
            assert_eq!(again.normalize(), n);
        }
    }
}

pub mod uberblock {
    //! Fuzzes uberblock ring decoding and the choice of the active uberblock.
    //! The input fills a 128 KiB ring (repeated); slots whose first word is the
    //! uberblock magic (either byte order) are optionally re-sealed so that they
    //! verify. Any input must decode without panicking, every slot must lie in
    //! the ring, and the chosen uberblock must be a checksum-valid one with
    //! txg > 0 that no other valid slot beats.

    use kzrescue::zfs::ByteOrder;
    use kzrescue::zfs::eck;
    use kzrescue::zfs::uberblock::{self, RING_SIZE, SlotStatus, UBERBLOCK_MAGIC};

    pub fn run(data: &[u8]) {
        let Some((&mode, body)) = data.split_first() else {
            return;
        };
        if body.is_empty() {
            return;
        }
        let shift = 10 + u32::from(mode % 8);
        let size = 1usize << shift;
        let mut ring = Vec::with_capacity(RING_SIZE);
        while ring.len() < RING_SIZE {
            let n = body.len().min(RING_SIZE - ring.len());
            ring.extend_from_slice(&body[..n]);
        }
        let at = 0x20000u64;
        if mode & 0x80 != 0 {
            for (i, s) in ring.chunks_exact_mut(size).enumerate() {
                let m: [u8; 8] = s[..8].try_into().unwrap();
                let e = if m == UBERBLOCK_MAGIC.to_be_bytes() {
                    Some(ByteOrder::Big)
                } else if m == UBERBLOCK_MAGIC.to_le_bytes() {
                    Some(ByteOrder::Little)
                } else {
                    None
                };
                if let Some(e) = e {
                    eck::seal(s, at + (i * size) as u64, e);
                }
            }
        }
        let slots = uberblock::decode_ring(2, at, &ring, shift);
        assert_eq!(slots.len(), RING_SIZE / size);
        for s in &slots {
            assert!(s.offset >= at && s.offset + s.slot_size as u64 <= at + RING_SIZE as u64);
            if let SlotStatus::ChecksumBad(p) = &s.status {
                assert_eq!(p.lines().count(), 1);
            }
        }
        if let Some(b) = uberblock::best(&slots) {
            assert!(b.txg > 0);
            for s in &slots {
                if s.status == SlotStatus::Valid {
                    let u = s.uberblock.as_ref().unwrap();
                    assert!(u.txg == 0 || uberblock::compare(u, b).is_le());
                }
            }
        }
    }
}

pub mod vtoc {
    //! Fuzzes the Sun label readers. The input becomes, in turn: sector 0 of a
    //! SPARC disk with the SMI magic and a valid checksum, and the label sector
    //! of an x86 Solaris fdisk partition (MBR type 0xBF or 0x82 at a start the
    //! input chooses) with the VTOC sanity word and a valid checksum. Any input
    //! must give a table or an error, never a panic.

    use kzrescue::partition;
    use kzrescue::source::MemSource as Mem;

    fn check(img: &[u8]) {
        match partition::read(&Mem::new(img), None) {
            Ok(t) => {
                for p in &t.partitions {
                    assert!(p.start.checked_add(p.len).is_some());
                }
            }
            Err(e) => assert_eq!(e.to_string().lines().count(), 1),
        }
    }

    /// Sets the checksum word so that the XOR of all 256 words is zero.
    fn seal(label: &mut [u8]) {
        let mut x = [0u8; 2];
        for w in label[..510].chunks(2) {
            x[0] ^= w[0];
            x[1] ^= w[1];
        }
        label[510..512].copy_from_slice(&x);
    }

    pub fn run(data: &[u8]) {
        check(data);
        if data.len() < 4 {
            return;
        }
        let (head, body) = data.split_at(4);
        // SPARC: the body is sector 0 (and what follows).
        let mut img = body.to_vec();
        img.resize(img.len().max(512), 0);
        img[508..510].copy_from_slice(&[0xda, 0xbe]);
        seal(&mut img[..512]);
        check(&img);
        // x86: an fdisk table pointing at a partition whose sector 1 is the body.
        let start = u32::from(head[0] % 8) + 1;
        let kind = if head[1] & 1 == 0 { 0xbf } else { 0x82 };
        let sectors = u32::from_le_bytes([head[2], head[3], 0, 0]);
        let label_off = (start as usize + 1) * 512;
        let mut img = vec![0u8; label_off];
        img[446] = 0x80;
        img[446 + 4] = kind;
        img[446 + 8..446 + 12].copy_from_slice(&start.to_le_bytes());
        img[446 + 12..446 + 16].copy_from_slice(&sectors.to_le_bytes());
        img[510..512].copy_from_slice(&[0x55, 0xaa]);
        img.extend_from_slice(body);
        img.resize(img.len().max(label_off + 512), 0);
        let label = &mut img[label_off..label_off + 512];
        label[12..16].copy_from_slice(&0x600d_deeeu32.to_le_bytes());
        label[508..510].copy_from_slice(&0xdabeu16.to_le_bytes());
        seal(label);
        check(&img);
    }
}

pub mod zap {
    //! Fuzzes ZAP block decoding: the input is used as a micro-ZAP block and,
    //! with the leaf block type and magic stamped on, as a fat-ZAP leaf of the
    //! next power-of-two size, in both byte orders. Errors are fine, panics and
    //! unbounded loops are not.

    use kzrescue::zfs::ByteOrder;
    use kzrescue::zfs::zap;

    pub fn run(data: &[u8]) {
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
}

pub mod zone_xml {
    //! Fuzzes the zone XML parser (the `/etc/zones/<zone>.xml` form) and the
    //! sniffing front door `zone::parse_config`. Any text must give a
    //! configuration or a one-line error, never a panic.

    use kzrescue::zone;

    pub fn run(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        for r in [zone::xml::parse_xml(&text), zone::parse_config(&text, None)] {
            match r {
                Ok(cfg) => {
                    let _ = cfg.devices();
                    let _ = cfg.boot_devices();
                }
                Err(e) => assert_eq!(e.to_string().lines().count(), 1),
            }
        }
    }
}

pub mod zonecfg {
    //! Fuzzes the `zonecfg export` text parser and what is derived from a parsed
    //! configuration (devices, boot devices). Any text must give a configuration
    //! or a one-line error, never a panic.

    use kzrescue::zone::zonecfg;

    pub fn run(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        match zonecfg::parse_export(&text, Some("fuzz")) {
            Ok(cfg) => {
                let _ = cfg.brand();
                let _ = cfg.is_kernel_zone();
                let _ = cfg.devices();
                let _ = cfg.boot_devices();
            }
            Err(e) => assert_eq!(e.to_string().lines().count(), 1),
        }
    }
}

pub mod sa {
    //! Fuzzes system-attribute parsing. The input carries its own registry
    //! and layout table (both are on-disk ZAPs an intruder controls) ahead of
    //! the SA buffer: a count byte, then per attribute its number (u8) and
    //! fixed length (u16 LE, 0 = variable); a count byte, then per layout its
    //! number (u8), attribute count (u8) and attribute numbers (u8 each); the
    //! rest is the bonus or spill buffer. Any input must parse or fail with a
    //! one-line error, and a parsed buffer's values must lie inside it with
    //! the registry's fixed lengths.

    use kzrescue::zfs::sa::SaTables;
    use std::collections::HashMap;

    /// Builds the fuzz input for `tables` and `buf` (seed generation).
    pub fn encode(tables: &SaTables, buf: &[u8]) -> Vec<u8> {
        let mut attrs: Vec<_> = tables.attrs().filter(|a| a.0 < 256).collect();
        attrs.sort();
        let mut v = vec![attrs.len() as u8];
        for (n, _, len) in attrs {
            v.push(n as u8);
            v.extend_from_slice(&len.to_le_bytes());
        }
        let mut lays: Vec<_> = tables.layouts().filter(|l| l.0 < 256).collect();
        lays.sort();
        v.push(lays.len() as u8);
        for (n, a) in lays {
            v.push(n as u8);
            v.push(a.len() as u8);
            v.extend(a.iter().map(|x| *x as u8));
        }
        v.extend_from_slice(buf);
        v
    }

    fn decode(data: &[u8]) -> Option<(SaTables, &[u8])> {
        let mut t = SaTables::default();
        let (&na, mut rest) = data.split_first()?;
        for _ in 0..na {
            let (a, r) = rest.split_at_checked(3)?;
            let len = u16::from_le_bytes([a[1], a[2]]);
            t.register(
                u64::from(a[0]) | (u64::from(len) << 24),
                format!("a{}", a[0]),
            );
            rest = r;
        }
        let (&nl, mut r) = rest.split_first()?;
        for _ in 0..nl {
            let (h, r2) = r.split_at_checked(2)?;
            let (a, r3) = r2.split_at_checked(usize::from(h[1]))?;
            t.add_layout(u64::from(h[0]), a.iter().map(|x| u16::from(*x)).collect());
            r = r3;
        }
        Some((t, r))
    }

    pub fn run(data: &[u8]) {
        let Some((tables, buf)) = decode(data) else {
            return;
        };
        let fixed: HashMap<String, u16> = tables
            .attrs()
            .map(|(_, name, len)| (name.to_string(), len))
            .collect();
        let mut out = HashMap::new();
        match tables.parse(buf, &mut out) {
            Ok(_) => {
                let total: usize = out.values().map(Vec::len).sum();
                // values are disjoint slices of the buffer after the header
                // (a name repeated in a layout keeps its last value)
                assert!(total <= buf.len());
                for (name, v) in &out {
                    if let Some(&len) = fixed.get(name)
                        && len != 0
                    {
                        assert_eq!(v.len(), usize::from(len), "{name}");
                    }
                }
            }
            Err(e) => assert_eq!(e.to_string().lines().count(), 1, "{e}"),
        }
    }
}
