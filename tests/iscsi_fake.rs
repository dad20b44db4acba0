//! A fake iSCSI target (a thread on 127.0.0.1) that logs in correctly,
//! answers INQUIRY / VPD 0x83 / READ CAPACITY(16), and then misbehaves in
//! one chosen way. Every misbehaviour must end in an error (never a panic,
//! a hang or an allocation the target chose), and the honest paths (retry
//! after a dropped read, unsolicited Data-Out) must work.

use kzrescue::source::Source;
use kzrescue::source::iscsi::{IscsiSource, LuSelector, SessionConfig};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BLOCKS: u64 = 8192; // 4 MiB of 512-byte blocks
const NAA: [u8; 16] = [
    0x60, 0x01, 0x44, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Misbehave {
    None,
    OversizeSegment,
    OffsetPastTransfer,
    UnexpectedOpcode,
    InitiatorOpcode,
    TruncatedHeader,
    Garbage,
    MediumError,
    Reject,
    AhsGarbage,
    UnknownTag,
    Hang,
    /// Closes the connection on the first READ only.
    DropFirstRead,
    /// Answers four READs, closes the connection on the fifth (first
    /// connection only).
    DropFifthRead,
    /// Acknowledges the first WRITE, closes the connection on the second.
    DropSecondWrite,
    /// Answers the first WRITE with CHECK CONDITION, UNIT ATTENTION (power
    /// on or reset, as tgt does for a new nexus) without executing it.
    UnitAttentionFirstWrite,
    /// Agrees to InitialR2T=No (exercises unsolicited Data-Out).
    UnsolicitedWrites,
    /// Login keeps asking to continue forever.
    EndlessLogin,
    /// Data-In carries more data than the command asked for in total.
    TooMuchData,
    /// Answers a READ after the one behind it whenever that one has
    /// already arrived (counted in `REORDERED`).
    Reorder,
}

/// READ answers [`Misbehave::Reorder`] sent out of order, over all fakes.
static REORDERED: AtomicUsize = AtomicUsize::new(0);

/// Whether the next PDU's header has already arrived.
fn next_pdu_waiting(s: &TcpStream) -> bool {
    let mut b = [0u8; 48];
    if s.set_nonblocking(true).is_err() {
        return false;
    }
    let r = s.peek(&mut b);
    let _ = s.set_nonblocking(false);
    matches!(r, Ok(n) if n == b.len())
}

struct Fake {
    port: u16,
    image: Arc<Mutex<Vec<u8>>>,
    conns: Arc<AtomicUsize>,
}

fn read_pdu(s: &mut TcpStream) -> std::io::Result<([u8; 48], Vec<u8>)> {
    let mut bhs = [0u8; 48];
    s.read_exact(&mut bhs)?;
    let dsl = ((bhs[5] as usize) << 16) | ((bhs[6] as usize) << 8) | bhs[7] as usize;
    let mut data = vec![0u8; dsl.div_ceil(4) * 4];
    s.read_exact(&mut data)?;
    data.truncate(dsl);
    Ok((bhs, data))
}

fn pdu(opcode: u8, flags: u8, itt: u32, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 48];
    b[0] = opcode;
    b[1] = flags;
    let n = data.len();
    b[5] = (n >> 16) as u8;
    b[6] = (n >> 8) as u8;
    b[7] = n as u8;
    b[16..20].copy_from_slice(&itt.to_be_bytes());
    b[32..36].copy_from_slice(&1000u32.to_be_bytes()); // MaxCmdSN: wide window
    b.extend_from_slice(data);
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
    b
}

fn set32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn keys(k: &[(&str, &str)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (a, b) in k {
        v.extend_from_slice(format!("{a}={b}\0").as_bytes());
    }
    v
}

fn scsi_rsp(itt: u32, status: u8, sense: &[u8], stat_sn: u32) -> Vec<u8> {
    let mut data = Vec::new();
    if !sense.is_empty() {
        data.extend_from_slice(&(sense.len() as u16).to_be_bytes());
        data.extend_from_slice(sense);
    }
    let mut p = pdu(0x21, 0x80, itt, &data);
    p[3] = status;
    set32(&mut p, 24, stat_sn);
    p
}

fn data_in(itt: u32, offset: u32, data: &[u8], status: bool, stat_sn: u32) -> Vec<u8> {
    let mut p = pdu(0x25, if status { 0x81 } else { 0 }, itt, data);
    set32(&mut p, 24, stat_sn);
    set32(&mut p, 40, offset);
    p
}

fn serve(mut s: TcpStream, how: Misbehave, image: Arc<Mutex<Vec<u8>>>, conn_no: usize) {
    let mut stat_sn = 1u32;
    let mut writes = 0;
    let mut reads = 0;
    let mut held: Option<Vec<u8>> = None;
    // Login: security stage, then operational stage.
    loop {
        let Ok((bhs, _data)) = read_pdu(&mut s) else {
            return;
        };
        if bhs[0] & 0x3f != 0x03 {
            return;
        }
        let csg = (bhs[1] >> 2) & 3;
        let itt = u32::from_be_bytes([bhs[16], bhs[17], bhs[18], bhs[19]]);
        if how == Misbehave::EndlessLogin {
            // Continue bit set, never final.
            let mut r = pdu(0x23, 0x40 | (csg << 2), itt, &keys(&[("X", "1")]));
            r[8..14].copy_from_slice(&bhs[8..14]);
            if s.write_all(&r).is_err() {
                return;
            }
            continue;
        }
        let (flags, k) = if csg == 0 {
            (
                0x80 | 0x01,
                keys(&[("AuthMethod", "None"), ("TargetPortalGroupTag", "1")]),
            )
        } else {
            let r2t = if how == Misbehave::UnsolicitedWrites {
                "No"
            } else {
                "Yes"
            };
            (
                0x80 | (1 << 2) | 0x03,
                keys(&[
                    ("HeaderDigest", "None"),
                    ("DataDigest", "None"),
                    ("MaxRecvDataSegmentLength", "8192"),
                    ("MaxBurstLength", "262144"),
                    ("FirstBurstLength", "65536"),
                    ("ImmediateData", "Yes"),
                    ("InitialR2T", r2t),
                    ("MaxOutstandingR2T", "1"),
                ]),
            )
        };
        let mut r = pdu(0x23, flags, itt, &k);
        r[8..14].copy_from_slice(&bhs[8..14]);
        r[14..16].copy_from_slice(&7u16.to_be_bytes());
        set32(&mut r, 24, stat_sn);
        if s.write_all(&r).is_err() {
            return;
        }
        if flags & 3 == 3 {
            break;
        }
    }
    stat_sn += 1;
    loop {
        let Ok((bhs, imm)) = read_pdu(&mut s) else {
            return;
        };
        let itt = u32::from_be_bytes([bhs[16], bhs[17], bhs[18], bhs[19]]);
        match bhs[0] & 0x3f {
            0x06 => {
                let r = pdu(0x26, 0x80, itt, &[]);
                let _ = s.write_all(&r);
                return;
            }
            0x00 => {
                let mut r = pdu(0x20, 0x80, itt, &imm);
                set32(&mut r, 20, 0xffff_ffff);
                let _ = s.write_all(&r);
            }
            0x01 => {
                let cdb = &bhs[32..48];
                let edtl = u32::from_be_bytes([bhs[20], bhs[21], bhs[22], bhs[23]]) as usize;
                let reply: Vec<u8> = match cdb[0] {
                    0x12 if cdb[1] & 1 == 0 => {
                        let mut d = vec![0u8; 36];
                        d[2] = 5;
                        d[4] = 31;
                        d[8..16].copy_from_slice(b"FAKE    ");
                        d[16..32].copy_from_slice(b"kzrescue-test   ");
                        d[32..36].copy_from_slice(b"0001");
                        d.truncate(edtl);
                        data_in(itt, 0, &d, true, stat_sn)
                    }
                    0x12 => {
                        let mut d = vec![0, 0x83, 0, 20, 1, 3, 0, 16];
                        d.extend_from_slice(&NAA);
                        d.truncate(edtl);
                        data_in(itt, 0, &d, true, stat_sn)
                    }
                    0x9e => {
                        let mut d = vec![0u8; 32];
                        d[0..8].copy_from_slice(&(BLOCKS - 1).to_be_bytes());
                        d[8..12].copy_from_slice(&512u32.to_be_bytes());
                        d.truncate(edtl);
                        data_in(itt, 0, &d, true, stat_sn)
                    }
                    0x35 => scsi_rsp(itt, 0, &[], stat_sn),
                    0x88 => {
                        let lba = u64::from_be_bytes(cdb[2..10].try_into().unwrap()) as usize;
                        let n = u32::from_be_bytes(cdb[10..14].try_into().unwrap()) as usize * 512;
                        reads += 1;
                        match how {
                            Misbehave::OversizeSegment => {
                                let mut p = pdu(0x25, 0x81, itt, &[]);
                                p[5] = 0xff;
                                p[6] = 0xff;
                                p[7] = 0xff;
                                p
                            }
                            Misbehave::OffsetPastTransfer => {
                                data_in(itt, n as u32, &[0u8; 512], true, stat_sn)
                            }
                            Misbehave::TooMuchData => {
                                let mut v = data_in(itt, 0, &vec![0u8; n], false, stat_sn);
                                v.extend(data_in(itt, n as u32 - 512, &[0u8; 1024], true, stat_sn));
                                v
                            }
                            Misbehave::UnexpectedOpcode => pdu(0x23, 0x80, itt, &[]),
                            Misbehave::InitiatorOpcode => pdu(0x01, 0x80, itt, &[]),
                            Misbehave::TruncatedHeader => {
                                let _ = s.write_all(&[0x25, 0x81, 0, 0, 0, 0]);
                                return;
                            }
                            Misbehave::Garbage => (0..4096u32)
                                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                                .collect(),
                            Misbehave::MediumError => {
                                let mut sense = vec![0u8; 18];
                                sense[0] = 0xf0;
                                sense[2] = 0x03;
                                sense[3..7].copy_from_slice(&(lba as u32).to_be_bytes());
                                sense[7] = 10;
                                sense[12] = 0x11;
                                scsi_rsp(itt, 2, &sense, stat_sn)
                            }
                            Misbehave::Reject => {
                                let mut p = pdu(0x3f, 0x80, 0xffff_ffff, &bhs);
                                p[2] = 0x04;
                                p
                            }
                            Misbehave::AhsGarbage => {
                                let mut p = data_in(itt, 0, &[], true, stat_sn);
                                p[4] = 255; // 1020 bytes of AHS follow…
                                p.extend_from_slice(&[0xaa; 64]); // …but only 64 come
                                let _ = s.write_all(&p);
                                return;
                            }
                            Misbehave::UnknownTag => {
                                data_in(itt ^ 0x5555, 0, &vec![0u8; n], true, stat_sn)
                            }
                            Misbehave::Hang => {
                                std::thread::sleep(Duration::from_secs(30));
                                return;
                            }
                            Misbehave::DropFirstRead if conn_no == 0 => return,
                            Misbehave::DropFifthRead if conn_no == 0 && reads == 5 => return,
                            _ => {
                                let img = image.lock().unwrap();
                                let d = &img[lba * 512..lba * 512 + n];
                                // Several Data-In PDUs of at most 64 KiB, status in the last.
                                let mut out = Vec::new();
                                let mut off = 0;
                                while off < n {
                                    let k = (n - off).min(65536);
                                    out.extend(data_in(
                                        itt,
                                        off as u32,
                                        &d[off..off + k],
                                        off + k == n,
                                        stat_sn,
                                    ));
                                    off += k;
                                }
                                out
                            }
                        }
                    }
                    0x8a if how == Misbehave::UnitAttentionFirstWrite && writes == 0 => {
                        writes += 1;
                        let mut sense = vec![0u8; 18];
                        sense[0] = 0x70;
                        sense[2] = 0x06;
                        sense[7] = 10;
                        sense[12] = 0x29;
                        scsi_rsp(itt, 2, &sense, stat_sn)
                    }
                    0x8a => {
                        writes += 1;
                        if how == Misbehave::DropSecondWrite && writes == 2 {
                            return;
                        }
                        let lba = u64::from_be_bytes(cdb[2..10].try_into().unwrap()) as usize;
                        let n = u32::from_be_bytes(cdb[10..14].try_into().unwrap()) as usize * 512;
                        let mut buf = vec![0u8; n];
                        buf[..imm.len()].copy_from_slice(&imm);
                        let mut have = imm.len();
                        // Unsolicited Data-Out (InitialR2T=No) up to FirstBurstLength.
                        let unsolicited = if how == Misbehave::UnsolicitedWrites {
                            n.min(65536)
                        } else {
                            have
                        };
                        while have < unsolicited {
                            let Ok((h, d)) = read_pdu(&mut s) else { return };
                            assert_eq!(h[0] & 0x3f, 0x05, "expected Data-Out");
                            assert_eq!(
                                u32::from_be_bytes(h[20..24].try_into().unwrap()),
                                0xffff_ffff
                            );
                            let off = u32::from_be_bytes(h[40..44].try_into().unwrap()) as usize;
                            buf[off..off + d.len()].copy_from_slice(&d);
                            have += d.len();
                        }
                        // R2T for the rest, 64 KiB at a time.
                        let mut ttt = 100u32;
                        while have < n {
                            let want = (n - have).min(65536);
                            let mut r = pdu(0x31, 0x80, itt, &[]);
                            set32(&mut r, 20, ttt);
                            set32(&mut r, 40, have as u32);
                            set32(&mut r, 44, want as u32);
                            if s.write_all(&r).is_err() {
                                return;
                            }
                            let mut got = 0;
                            while got < want {
                                let Ok((h, d)) = read_pdu(&mut s) else { return };
                                assert_eq!(u32::from_be_bytes(h[20..24].try_into().unwrap()), ttt);
                                let off =
                                    u32::from_be_bytes(h[40..44].try_into().unwrap()) as usize;
                                buf[off..off + d.len()].copy_from_slice(&d);
                                got += d.len();
                            }
                            have += want;
                            ttt += 1;
                        }
                        image.lock().unwrap()[lba * 512..lba * 512 + n].copy_from_slice(&buf);
                        scsi_rsp(itt, 0, &[], stat_sn)
                    }
                    _ => {
                        let mut sense = vec![0u8; 18];
                        sense[0] = 0x70;
                        sense[2] = 0x05;
                        sense[7] = 10;
                        sense[12] = 0x20;
                        scsi_rsp(itt, 2, &sense, stat_sn)
                    }
                };
                stat_sn += 1;
                if how == Misbehave::Reorder
                    && cdb[0] == 0x88
                    && held.is_none()
                    && next_pdu_waiting(&s)
                {
                    held = Some(reply);
                    continue;
                }
                if s.write_all(&reply).is_err() {
                    return;
                }
                if let Some(h) = held.take() {
                    REORDERED.fetch_add(1, Ordering::SeqCst);
                    if s.write_all(&h).is_err() {
                        return;
                    }
                }
            }
            _ => return,
        }
    }
}

impl Fake {
    fn start(how: Misbehave) -> Fake {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let image: Vec<u8> = (0..BLOCKS as usize * 512)
            .map(|i| (i * 7 + i / 512) as u8)
            .collect();
        let image = Arc::new(Mutex::new(image));
        let conns = Arc::new(AtomicUsize::new(0));
        let (img, c) = (image.clone(), conns.clone());
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { return };
                let n = c.fetch_add(1, Ordering::SeqCst);
                let img = img.clone();
                std::thread::spawn(move || serve(s, how, img, n));
            }
        });
        Fake { port, image, conns }
    }

    fn cfg(&self) -> SessionConfig {
        let mut c = SessionConfig::new(&format!("127.0.0.1:{}", self.port), None);
        c.io_timeout = Duration::from_secs(2);
        c.connect_timeout = Duration::from_secs(2);
        c
    }

    fn open(&self, write: bool) -> IscsiSource {
        self.open_with(write, |_| {})
    }

    /// Opens with the configuration `tune` adjusts (read size, depth).
    fn open_with(&self, write: bool, tune: impl FnOnce(&mut SessionConfig)) -> IscsiSource {
        let mut c = self.cfg();
        c.offer.initial_r2t = false; // follow whatever the fake agrees to
        tune(&mut c);
        IscsiSource::open(
            "fake",
            &c,
            &LuSelector::TargetLun {
                target: "iqn.fake:t".into(),
                lun: 0,
            },
            write,
        )
        .unwrap()
    }
}

#[test]
fn honest_fake_target_works() {
    let f = Fake::start(Misbehave::None);
    let src = f.open(true);
    assert_eq!(src.size(), BLOCKS * 512);
    assert_eq!(src.identity(), format!("naa.{}", hex::encode(NAA)));
    let mut buf = vec![0u8; 300_000];
    src.read_at(1000, &mut buf).unwrap();
    assert!(buf[..] == f.image.lock().unwrap()[1000..301_000]);
    // R2T-driven write (InitialR2T=Yes), unaligned.
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    src.write_at(777, &data).unwrap();
    src.flush().unwrap();
    assert!(f.image.lock().unwrap()[777..777 + data.len()] == data[..]);
    src.ping().unwrap();
}

#[test]
fn unsolicited_data_out_when_initial_r2t_no() {
    let f = Fake::start(Misbehave::UnsolicitedWrites);
    let src = f.open(true);
    for (off, len) in [
        (0u64, 512usize),
        (4096, 65536),
        (1 << 19, 300_000),
        (5, 70_000),
    ] {
        let data: Vec<u8> = (0..len).map(|i| (i as u64 * 31 + off) as u8).collect();
        src.write_at(off, &data).unwrap();
        assert!(
            f.image.lock().unwrap()[off as usize..off as usize + len] == data[..],
            "{off} {len}"
        );
    }
}

#[test]
fn dropped_read_is_retried_once_after_relogin() {
    let f = Fake::start(Misbehave::DropFirstRead);
    let src = f.open(false);
    let mut buf = vec![0u8; 8192];
    src.read_at(4096, &mut buf).unwrap();
    assert!(buf[..] == f.image.lock().unwrap()[4096..4096 + 8192]);
    assert_eq!(f.conns.load(Ordering::SeqCst), 2, "one re-login");
}

/// A WRITE answered with UNIT ATTENTION was not executed (SAM): it is
/// reissued, as reads are, and the data lands once.
#[test]
fn unit_attention_on_a_write_is_reissued() {
    let f = Fake::start(Misbehave::UnitAttentionFirstWrite);
    let src = f.open(true);
    src.write_at(8192, &[7u8; 4096]).unwrap();
    assert!(
        f.image.lock().unwrap()[8192..8192 + 4096]
            .iter()
            .all(|&b| b == 7)
    );
}

#[test]
fn dropped_write_says_what_was_written() {
    let f = Fake::start(Misbehave::DropSecondWrite);
    let src = f.open(true);
    // 3 MiB: three WRITE(16) of 1 MiB; the connection drops on the second.
    let before = f.image.lock().unwrap().clone();
    let e = src
        .write_at(0, &vec![2u8; 3 << 20])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bytes 0x0..0x100000 were written and acknowledged"),
        "{e}"
    );
    assert!(
        e.contains("bytes 0x100000..0x200000 were in flight (state unknown)"),
        "{e}"
    );
    assert!(e.contains("bytes 0x200000..0x300000 were not sent"), "{e}");
    let after = f.image.lock().unwrap().clone();
    assert!(after[..1 << 20].iter().all(|&b| b == 2));
    assert!(
        after[1 << 20..] == before[1 << 20..],
        "nothing past the acknowledged range changed"
    );
}

#[test]
fn misbehaving_targets_give_errors() {
    for (how, want) in [
        (
            Misbehave::OversizeSegment,
            "more than the 262144 bytes negotiated",
        ),
        (Misbehave::OffsetPastTransfer, "exceeds the"),
        (Misbehave::TooMuchData, "exceeds the"),
        (Misbehave::UnexpectedOpcode, "unexpected Login Response"),
        (Misbehave::InitiatorOpcode, "not a target opcode"),
        (
            Misbehave::TruncatedHeader,
            "connection closed inside the basic header segment",
        ),
        (Misbehave::Garbage, "iSCSI"),
        (
            Misbehave::MediumError,
            "MEDIUM ERROR: unrecovered read error",
        ),
        (Misbehave::Reject, "Reject"),
        (Misbehave::AhsGarbage, "iSCSI"),
        (Misbehave::UnknownTag, "unknown task tag"),
        (Misbehave::Hang, "no answer from the target within 2"),
    ] {
        let f = Fake::start(how);
        let src = f.open(false);
        let mut buf = vec![0u8; 65536];
        let t = Instant::now();
        let e = src
            .read_at(0, &mut buf)
            .expect_err(&format!("{how:?} must fail"));
        let msg = e.to_string();
        assert!(msg.contains(want), "{how:?}: {msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{how:?} took {:?}",
            t.elapsed()
        );
    }
}

/// Everything `Source::stream` handed out, in order, and how many pieces.
fn streamed(src: &IscsiSource, off: u64, len: u64) -> kzrescue::Result<(Vec<u8>, usize)> {
    let (mut got, mut pieces) = (Vec::new(), 0);
    src.stream(off, len, 1 << 20, &mut |p| {
        assert!(!p.is_empty(), "empty piece");
        pieces += 1;
        got.extend_from_slice(p);
        Ok(())
    })?;
    Ok((got, pieces))
}

/// A sequential read keeps its READs in flight across the whole range and
/// hands out exactly the bytes asked for, in order, whatever the alignment,
/// command size and depth.
#[test]
fn stream_hands_out_the_range_in_order() {
    let f = Fake::start(Misbehave::None);
    let img = f.image.lock().unwrap().clone();
    let size = img.len() as u64;
    for (depth, kib) in [(1, 1), (4, 16), (32, 128), (128, 4096)] {
        let src = f.open_with(false, |c| {
            c.read_depth = depth;
            c.read_io_bytes = kib << 10;
        });
        for (off, len) in [
            (0, size),
            (1000, 300_000),
            (511, 2),
            (512, 512),
            (size - 100, 100),
            (3, size - 3),
            (77, 0),
        ] {
            let (got, pieces) = streamed(&src, off, len).unwrap();
            assert!(
                got == img[off as usize..(off + len) as usize],
                "depth {depth}, {kib} KiB: {len} bytes at {off}"
            );
            // one piece per command: the pipeline, not one big buffer
            let blocks = if len == 0 {
                0
            } else {
                (off + len).div_ceil(512) - off / 512
            };
            assert_eq!(
                pieces as u64,
                blocks.div_ceil(kib as u64 * 2),
                "{depth} {kib} {off} {len}"
            );
        }
        // Past the end: refused before a byte is handed out.
        let mut called = false;
        let e = src
            .stream(size - 10, 11, 4096, &mut |_| {
                called = true;
                Ok(())
            })
            .unwrap_err();
        assert!(
            matches!(e, kzrescue::Error::OutOfBounds { offset, len: 11, size: s, .. } if offset == size - 10 && s == size),
            "{e:?}"
        );
        assert!(!called);
    }
    assert_eq!(f.conns.load(Ordering::SeqCst), 4, "one login per source");
}

/// The connection drops after four of the stream's READs were answered:
/// the stream logs in again once and goes on from the first byte it had
/// not handed out, so every byte arrives exactly once.
#[test]
fn dropped_stream_resumes_after_relogin() {
    let f = Fake::start(Misbehave::DropFifthRead);
    let src = f.open_with(false, |c| {
        c.read_depth = 2;
        c.read_io_bytes = 16 << 10;
    });
    let img = f.image.lock().unwrap().clone();
    let (got, _) = streamed(&src, 3, 1 << 20).unwrap();
    assert!(got == img[3..3 + (1 << 20)]);
    assert_eq!(f.conns.load(Ordering::SeqCst), 2, "one re-login");
}

/// Answers out of order: each command's bytes still reach their place, and
/// a stream still hands them out in LBA order.
#[test]
fn reads_and_streams_take_answers_out_of_order() {
    let f = Fake::start(Misbehave::Reorder);
    let src = f.open_with(false, |c| {
        c.read_depth = 8;
        c.read_io_bytes = 16 << 10;
    });
    let img = f.image.lock().unwrap().clone();
    let before = REORDERED.load(Ordering::SeqCst);
    let (got, pieces) = streamed(&src, 5, img.len() as u64 - 5).unwrap();
    assert!(got == img[5..]);
    assert_eq!(pieces, img.len() / (16 << 10));
    let streamed_reordered = REORDERED.load(Ordering::SeqCst) - before;
    assert!(
        streamed_reordered >= 10,
        "only {streamed_reordered} answers out of order"
    );
    let mut buf = vec![0u8; 3 << 20];
    src.read_at(777, &mut buf).unwrap();
    assert!(buf[..] == img[777..777 + (3 << 20)]);
    assert_eq!(f.conns.load(Ordering::SeqCst), 1);
}

/// A sink that fails stops the stream with its own error, never retried;
/// the READs still in flight are received first, so the session stays
/// usable.
#[test]
fn failing_sink_stops_the_stream_and_keeps_the_session() {
    let f = Fake::start(Misbehave::None);
    let src = f.open_with(false, |c| {
        c.read_depth = 8;
        c.read_io_bytes = 16 << 10;
    });
    let mut pieces = 0;
    let e = src
        .stream(0, 1 << 20, 0, &mut |_| {
            pieces += 1;
            if pieces == 3 {
                Err(kzrescue::Error::Usage("the output is full".into()))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
    assert!(
        matches!(&e, kzrescue::Error::Usage(m) if m == "the output is full"),
        "{e:?}"
    );
    assert_eq!(pieces, 3);
    let mut buf = vec![0u8; 70_000];
    src.read_at(12_345, &mut buf).unwrap();
    assert!(buf[..] == f.image.lock().unwrap()[12_345..12_345 + 70_000]);
    assert_eq!(f.conns.load(Ordering::SeqCst), 1, "no re-login");
}

/// Every misbehaviour ends a stream in the same one-line error as a read,
/// and no byte of a failed command is handed out.
#[test]
fn misbehaving_targets_fail_a_stream() {
    for (how, want) in [
        (Misbehave::OffsetPastTransfer, "exceeds the"),
        (Misbehave::UnexpectedOpcode, "unexpected Login Response"),
        (Misbehave::Garbage, "iSCSI"),
        (
            Misbehave::MediumError,
            "MEDIUM ERROR: unrecovered read error",
        ),
        (Misbehave::UnknownTag, "unknown task tag"),
    ] {
        let f = Fake::start(how);
        let src = f.open(false);
        let mut handed = 0;
        let e = src
            .stream(0, 1 << 20, 0, &mut |p| {
                handed += p.len();
                Ok(())
            })
            .expect_err(&format!("{how:?} must fail"));
        let msg = e.to_string();
        assert!(msg.contains(want), "{how:?}: {msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
        assert_eq!(handed, 0, "{how:?}");
    }
}

#[test]
fn endless_login_ends() {
    let f = Fake::start(Misbehave::EndlessLogin);
    let e = IscsiSource::open(
        "fake",
        &f.cfg(),
        &LuSelector::TargetLun {
            target: "iqn.fake:t".into(),
            lun: 0,
        },
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("32 exchanges") || e.contains("256 KiB"), "{e}");
}

#[test]
fn nobody_listening_is_a_clean_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = SessionConfig::new(&format!("127.0.0.1:{port}"), None);
    c.connect_timeout = Duration::from_secs(2);
    let e = IscsiSource::open(
        "x",
        &c,
        &LuSelector::TargetLun {
            target: "iqn.x:y".into(),
            lun: 0,
        },
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("connecting to 127.0.0.1"), "{e}");
}
