//! A TCP relay between an iSCSI initiator and a real target on 127.0.0.1
//! that parses the PDU stream in both directions and, once per run, cuts the
//! connection at a chosen point of the write sequence: before the k-th
//! WRITE command reaches the target, right after it, in the middle of the
//! data segment that completes its data, before the k-th SYNCHRONIZE CACHE,
//! or before the target's response to either reaches the initiator.
//!
//! After the cut the target is either *gone* (every open connection is cut
//! and every new one is closed at once, so re-login fails) or *back* (only
//! the faulted connection is cut; new logins are relayed normally).
//!
//! PDU framing (RFC 7143 §11.2): 48-byte BHS, TotalAHSLength × 4 bytes of
//! AHS, a 4-byte header digest when negotiated, DataSegmentLength bytes of
//! data padded to a multiple of 4, a 4-byte data digest when negotiated and
//! the segment is not empty. Digests are learnt per connection from the
//! target's Login Responses (`HeaderDigest=CRC32C`, `DataDigest=CRC32C`)
//! and apply from the first PDU after the final one; login PDUs never
//! carry digests.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where to cut. `k` counts from 1 over every connection of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cut {
    /// Relay everything.
    Never,
    /// The k-th WRITE command PDU is not forwarded.
    BeforeWrite(u32),
    /// The k-th WRITE command PDU (with its immediate data) is forwarded,
    /// then the connection is cut before anything else moves.
    AfterWrite(u32),
    /// The PDU that completes the k-th WRITE's data (the last Data-Out, or
    /// the command itself when its immediate data is all of it) is
    /// forwarded up to half of its data segment.
    TearData(u32),
    /// The target's SCSI Response to the k-th WRITE is not relayed (the
    /// write was carried out; the initiator cannot know).
    BeforeWriteResponse(u32),
    /// The k-th SYNCHRONIZE CACHE command is not forwarded.
    BeforeSync(u32),
    /// The target's response to the k-th SYNCHRONIZE CACHE is not relayed.
    BeforeSyncResponse(u32),
    /// The first READ command after the k-th SYNCHRONIZE CACHE (the
    /// read-back of what was just flushed) is not forwarded.
    BeforeReadBack(u32),
}

/// What the target does after the cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum After {
    /// All connections cut, new ones closed at once.
    Gone,
    /// Only the faulted connection cut; new logins relayed.
    Back,
    /// Nothing is cut: every connection stays open and silent, and new
    /// ones are accepted and never answered (a target that hangs).
    Frozen,
}

impl After {
    /// Whether the cut point stops every connection, not just its own.
    fn all(self) -> bool {
        matches!(self, After::Gone | After::Frozen)
    }
}

/// Counts seen by the proxy (over all connections).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Each WRITE in order: (LUN number, first LBA, blocks) from its CDB.
    pub write_extents: Vec<(u8, u64, u32)>,
    /// WRITE(10/12/16) commands from the initiator.
    pub writes: u32,
    /// SYNCHRONIZE CACHE(10/16) commands.
    pub syncs: u32,
    /// Data-Out PDUs.
    pub data_outs: u32,
    /// TCP connections accepted.
    pub connections: u32,
    /// Sessions that agreed to a header or data digest.
    pub digest_sessions: u32,
    /// READ(10/16) commands.
    pub reads: u32,
    /// Whether the cut happened.
    pub cut: bool,
    /// WRITE commands seen after the cut (a write retried on a new login
    /// would show here).
    pub writes_after_cut: u32,
    /// Whether the READ after the latest SYNCHRONIZE CACHE was seen.
    read_since_sync: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Write(u32),
    Sync(u32),
}

/// One relayed connection: both sockets (for cutting) and its open tasks.
struct Conn {
    client: TcpStream,
    target: TcpStream,
    /// ITT → what the command was (and its ordinal), with the write's
    /// expected data transfer length.
    tasks: Mutex<HashMap<u32, (Kind, u32)>>,
    /// Set (under the state lock) when this connection is to be cut: neither
    /// direction forwards another PDU.
    dead: AtomicBool,
    /// Digests agreed at login, in force once login is over.
    header_digest: AtomicBool,
    data_digest: AtomicBool,
    /// Agreed during login, not yet in force.
    pending_digests: Mutex<(bool, bool)>,
}

impl Conn {
    fn cut(&self) {
        self.dead.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.target.shutdown(Shutdown::Both);
    }
}

struct State {
    cut: Cut,
    after: After,
    counts: Counts,
    conns: Vec<Arc<Conn>>,
    /// Connections accepted while frozen, held open.
    held: Vec<TcpStream>,
}

/// A running proxy; stopped (all connections cut) on drop.
pub struct Proxy {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (a free port) and relays to `target`.
    pub fn start(target: SocketAddr, cut: Cut, after: After) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            cut,
            after,
            counts: Counts::default(),
            conns: Vec::new(),
            held: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        accept_one(client, target, &st);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Proxy {
            port,
            state,
            stop,
            accept: Some(accept),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn portal(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the proxy saw so far.
    pub fn counts(&self) -> Counts {
        self.state.lock().unwrap().counts.clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        let mut s = self.state.lock().unwrap();
        for c in s.conns.drain(..) {
            c.cut();
        }
        for h in s.held.drain(..) {
            let _ = h.shutdown(Shutdown::Both);
        }
    }
}

fn accept_one(client: TcpStream, target: SocketAddr, state: &Arc<Mutex<State>>) {
    {
        let mut s = state.lock().unwrap();
        s.counts.connections += 1;
        if s.counts.cut && s.after == After::Gone {
            // The target is gone: the TCP connection closes at once.
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        if s.counts.cut && s.after == After::Frozen {
            // The target hangs: the connection is held open, unanswered.
            s.held.push(client);
            return;
        }
    }
    let Ok(tgt) = TcpStream::connect(target) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = tgt.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let conn = Arc::new(Conn {
        client: client.try_clone().unwrap(),
        target: tgt.try_clone().unwrap(),
        tasks: Mutex::new(HashMap::new()),
        dead: AtomicBool::new(false),
        header_digest: AtomicBool::new(false),
        data_digest: AtomicBool::new(false),
        pending_digests: Mutex::new((false, false)),
    });
    state.lock().unwrap().conns.push(conn.clone());
    let (s1, c1) = (state.clone(), conn.clone());
    let (cr, tw) = (client.try_clone().unwrap(), tgt.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = relay(cr, tw, &s1, &c1, true);
        end(&s1, &c1);
    });
    let (s2, c2) = (state.clone(), conn);
    std::thread::spawn(move || {
        let _ = relay(tgt, client, &s2, &c2, false);
        end(&s2, &c2);
    });
}

/// When a relay direction ends, the connection is cut, unless the target
/// is frozen (then both sockets stay open until the proxy is dropped).
fn end(state: &Mutex<State>, conn: &Conn) {
    let frozen = {
        let s = state.lock().unwrap();
        s.counts.cut && s.after == After::Frozen
    };
    if !frozen {
        conn.cut();
    }
}

/// One PDU as read off the wire.
struct Pdu {
    bytes: Vec<u8>,
    /// Offset of the data segment within `bytes`, and its length (unpadded).
    data_at: usize,
    data_len: usize,
}

impl Pdu {
    fn opcode(&self) -> u8 {
        self.bytes[0] & 0x3f
    }
    fn flags(&self) -> u8 {
        self.bytes[1]
    }
    fn u32_at(&self, o: usize) -> u32 {
        u32::from_be_bytes(self.bytes[o..o + 4].try_into().unwrap())
    }
    fn itt(&self) -> u32 {
        self.u32_at(16)
    }
}

/// Reads one PDU; `digests` is asked after the BHS has arrived (a login
/// that just ended may have put digests in force meanwhile).
fn read_pdu(r: &mut impl Read, digests: impl Fn() -> (bool, bool)) -> std::io::Result<Pdu> {
    let mut bhs = [0u8; 48];
    r.read_exact(&mut bhs)?;
    let digests = digests();
    let ahs = bhs[4] as usize * 4;
    let dsl = u32::from_be_bytes([0, bhs[5], bhs[6], bhs[7]]) as usize;
    let hd = if digests.0 { 4 } else { 0 };
    let dd = if digests.1 && dsl > 0 { 4 } else { 0 };
    let rest = ahs + hd + dsl.div_ceil(4) * 4 + dd;
    let mut bytes = Vec::with_capacity(48 + rest);
    bytes.extend_from_slice(&bhs);
    bytes.resize(48 + rest, 0);
    r.read_exact(&mut bytes[48..])?;
    Ok(Pdu {
        data_at: 48 + ahs + hd,
        data_len: dsl,
        bytes,
    })
}

const SCSI_CMD: u8 = 0x01;
const DATA_OUT: u8 = 0x05;
const SCSI_RSP: u8 = 0x21;
const LOGIN_RSP: u8 = 0x23;

/// Notes the digests a Login Response agrees to; the final response of a
/// successful login (T set, next stage full feature) puts them in force
/// for the PDUs after it.
fn learn_digests(conn: &Conn, p: &Pdu, state: &Mutex<State>) {
    let text = &p.bytes[p.data_at..p.data_at + p.data_len];
    let mut pending = conn.pending_digests.lock().unwrap();
    for kv in text.split(|&b| b == 0) {
        match kv {
            b"HeaderDigest=CRC32C" => pending.0 = true,
            b"DataDigest=CRC32C" => pending.1 = true,
            _ => {}
        }
    }
    let final_login = p.flags() & 0x80 != 0 && p.flags() & 3 == 3 && p.bytes[36] == 0;
    if final_login {
        conn.header_digest.store(pending.0, Ordering::SeqCst);
        conn.data_digest.store(pending.1, Ordering::SeqCst);
        if pending.0 || pending.1 {
            state.lock().unwrap().counts.digest_sessions += 1;
        }
    }
}

fn is_write(cdb0: u8) -> bool {
    matches!(cdb0, 0x2a | 0xaa | 0x8a)
}

/// (LUN, LBA, blocks) of a WRITE(10/12/16) CDB.
fn write_extent(lun: u8, cdb: &[u8]) -> (u8, u64, u32) {
    let be = |r: std::ops::Range<usize>| cdb[r].iter().fold(0u64, |a, &b| a << 8 | b as u64);
    match cdb[0] {
        0x2a => (lun, be(2..6), be(7..9) as u32),
        0xaa => (lun, be(2..6), be(6..10) as u32),
        _ => (lun, be(2..10), be(10..14) as u32),
    }
}

fn is_read(cdb0: u8) -> bool {
    matches!(cdb0, 0x28 | 0xa8 | 0x88)
}

fn is_sync(cdb0: u8) -> bool {
    matches!(cdb0, 0x35 | 0x91)
}

/// What to do with one PDU.
enum Action {
    Forward,
    /// Forward this many bytes of the PDU, then cut.
    ForwardPartThenCut(usize),
    /// Forward it whole, then cut.
    ForwardThenCut,
    /// Cut without forwarding.
    Cut,
}

/// Relays PDUs from `from` to `to` (`up`: initiator → target) until either
/// side closes or the cut happens.
fn relay(
    mut from: TcpStream,
    mut to: TcpStream,
    state: &Arc<Mutex<State>>,
    conn: &Arc<Conn>,
    up: bool,
) -> std::io::Result<()> {
    // Write progress per ITT on this connection: (write ordinal, EDTL, bytes seen).
    let mut progress: HashMap<u32, (u32, u32, u32)> = HashMap::new();
    loop {
        let p = read_pdu(&mut from, || {
            (
                conn.header_digest.load(Ordering::SeqCst),
                conn.data_digest.load(Ordering::SeqCst),
            )
        })?;
        if !up && p.opcode() == LOGIN_RSP {
            learn_digests(conn, &p, state);
        }
        let action = {
            let mut s = state.lock().unwrap();
            if conn.dead.load(Ordering::SeqCst) || (s.counts.cut && s.after.all()) {
                return Ok(());
            }
            let armed = !s.counts.cut;
            let cut = s.cut;
            let mut act = Action::Forward;
            if up {
                match p.opcode() {
                    SCSI_CMD => {
                        let cdb0 = p.bytes[32];
                        let itt = p.itt();
                        let edtl = p.u32_at(20);
                        if is_write(cdb0) {
                            s.counts.writes += 1;
                            if s.counts.cut {
                                s.counts.writes_after_cut += 1;
                            }
                            // Peripheral LUN addressing: the number is in byte 1.
                            let lun = p.bytes[9];
                            s.counts
                                .write_extents
                                .push(write_extent(lun, &p.bytes[32..48]));
                            let k = s.counts.writes;
                            conn.tasks
                                .lock()
                                .unwrap()
                                .insert(itt, (Kind::Write(k), edtl));
                            let imm = p.data_len as u32;
                            progress.insert(itt, (k, edtl, imm));
                            if armed {
                                act = match cut {
                                    Cut::BeforeWrite(n) if n == k => Action::Cut,
                                    Cut::AfterWrite(n) if n == k => Action::ForwardThenCut,
                                    Cut::TearData(n) if n == k && imm >= edtl => {
                                        Action::ForwardPartThenCut(p.data_at + p.data_len / 2)
                                    }
                                    _ => Action::Forward,
                                };
                            }
                        } else if is_read(cdb0) {
                            s.counts.reads += 1;
                            let first = !s.counts.read_since_sync;
                            s.counts.read_since_sync = true;
                            if armed && first && cut == Cut::BeforeReadBack(s.counts.syncs) {
                                act = Action::Cut;
                            }
                        } else if is_sync(cdb0) {
                            s.counts.syncs += 1;
                            s.counts.read_since_sync = false;
                            let k = s.counts.syncs;
                            conn.tasks.lock().unwrap().insert(itt, (Kind::Sync(k), 0));
                            if armed && cut == Cut::BeforeSync(k) {
                                act = Action::Cut;
                            }
                        }
                    }
                    DATA_OUT => {
                        s.counts.data_outs += 1;
                        let itt = p.itt();
                        if let Some(e) = progress.get_mut(&itt) {
                            let off = p.u32_at(40);
                            let end = off + p.data_len as u32;
                            e.2 = e.2.max(end);
                            if armed && cut == Cut::TearData(e.0) && end >= e.1 {
                                act = Action::ForwardPartThenCut(p.data_at + p.data_len / 2);
                            }
                        }
                    }
                    _ => {}
                }
            } else if p.opcode() == SCSI_RSP {
                let task = conn.tasks.lock().unwrap().remove(&p.itt());
                if armed {
                    act = match (task, cut) {
                        (Some((Kind::Write(k), _)), Cut::BeforeWriteResponse(n)) if n == k => {
                            Action::Cut
                        }
                        (Some((Kind::Sync(k), _)), Cut::BeforeSyncResponse(n)) if n == k => {
                            Action::Cut
                        }
                        _ => Action::Forward,
                    };
                }
            }
            if !matches!(act, Action::Forward) {
                s.counts.cut = true;
                conn.dead.store(true, Ordering::SeqCst);
                if s.after.all() {
                    for c in &s.conns {
                        c.dead.store(true, Ordering::SeqCst);
                    }
                }
            }
            act
        };
        match action {
            Action::Forward => to.write_all(&p.bytes)?,
            Action::ForwardThenCut => {
                to.write_all(&p.bytes)?;
                trip(state, conn);
                return Ok(());
            }
            Action::ForwardPartThenCut(n) => {
                to.write_all(&p.bytes[..n])?;
                // Let the partial segment reach the target before the FIN.
                to.flush()?;
                trip(state, conn);
                return Ok(());
            }
            Action::Cut => {
                trip(state, conn);
                return Ok(());
            }
        }
    }
}

/// Cuts the faulted connection, and every other one when the target is
/// gone; when it is frozen, nothing is cut (the relays just stop).
fn trip(state: &Arc<Mutex<State>>, conn: &Arc<Conn>) {
    let s = state.lock().unwrap();
    if s.after == After::Frozen {
        return;
    }
    conn.cut();
    if s.after == After::Gone {
        for c in &s.conns {
            c.cut();
        }
    }
}
