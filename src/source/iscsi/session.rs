//! One iSCSI session over one TCP connection (RFC 7143): connect with
//! timeouts, login (security and operational stages), SendTargets, SCSI
//! commands with Data-In, immediate data, R2T and Data-Out, NOP, logout.
//!
//! Synchronous and single-threaded: the owner (an [`super::IscsiSource`])
//! keeps the session behind a mutex. Any transport or protocol failure
//! marks the session [`Session::is_broken`]; it is then dropped and a new
//! one logged in.

use super::login::{self, ChapCredentials, DiscoveredTarget, OpOffer, OpParams};
use super::pdu::{self, BhsLengths, Digests, Pdu, op};
use super::scsi::{self, Cdb, Sense};
use crate::error::{Error, Result};
use std::collections::{HashMap, VecDeque};
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest data segment we accept during login and text exchanges.
const LOGIN_MAX_DATA: usize = 65_536;
/// Most login/text round trips before we give up on a target.
const MAX_ROUNDS: usize = 32;
/// Default for [`SessionConfig::read_io_bytes`]: bytes one READ(16) moves.
/// A freshly started tgt 1.0.85 serves 128 KiB commands fastest on
/// loopback: 256 KiB ones (its MaxBurstLength) ran at about half that rate,
/// 1 MiB ones at about 60 % (libiscsi's `iscsi-perf` sees the same).
pub const MAX_IO_BYTES: usize = 128 << 10;
/// Default for [`SessionConfig::read_depth`].
pub const READ_DEPTH: usize = 32;
/// Most bytes one WRITE(16) moves.
pub const MAX_WRITE_BYTES: usize = 1 << 20;
/// Bytes the socket reader buffers. Small on purpose: a header read takes
/// the 48-byte BHS and at most this much of the data behind it; the rest of
/// a Data-In segment is then received straight into the caller's buffer
/// (the buffered reader passes reads larger than itself through), so read
/// data crosses from the kernel once instead of being copied again. With
/// 16 KiB, an eighth of every 128 KiB segment was copied twice (5 % of a
/// whole-LU read's CPU in `memmove`); 4 KiB keeps that to 3 % of the bytes
/// and still takes a small PDU (a status, a NOP-In, a 512-byte read) with
/// its header in one receive.
const RECV_BUFFER: usize = 4 << 10;
/// Reserved tag meaning "no task".
const RESERVED_TAG: u32 = 0xffff_ffff;

/// Where [`Session::stream_reads`] hands each command's data: its first
/// LBA, its buffer and its status.
pub type ReadSink<'a> = dyn FnMut(u64, &[u8], &ScsiStatus) -> Result<()> + 'a;

/// A command that moves data to us, in flight: the caller's index for it
/// and the Data-In bytes it has brought so far.
struct InFlight {
    idx: usize,
    received: usize,
}

/// How to reach and log in to a target.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// `host:port` (IPv6 literals in brackets).
    pub portal: String,
    /// Target name; `None` opens a discovery session.
    pub target: Option<String>,
    /// Our iSCSI name.
    pub initiator_name: String,
    /// CHAP credentials, when the target wants them.
    pub chap: Option<ChapCredentials>,
    /// Operational keys we offer.
    pub offer: OpOffer,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of every read and write on the socket.
    pub io_timeout: Duration,
    /// Bytes per READ(16) command.
    pub read_io_bytes: usize,
    /// READ commands kept outstanding at once.
    pub read_depth: usize,
}

impl SessionConfig {
    /// A configuration with our defaults for `portal` and `target`.
    pub fn new(portal: &str, target: Option<&str>) -> Self {
        SessionConfig {
            portal: portal.to_string(),
            target: target.map(str::to_string),
            initiator_name: default_initiator_name(),
            chap: None,
            offer: OpOffer::default(),
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
            read_io_bytes: MAX_IO_BYTES,
            read_depth: READ_DEPTH,
        }
    }
}

/// `iqn.2026-11.org.kzrescue:<hostname>`.
pub fn default_initiator_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_else(|_| "localhost".into());
    let host: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("iqn.2026-11.org.kzrescue:{host}")
}

/// Outcome of one SCSI command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScsiStatus {
    /// The SCSI status byte.
    pub status: u8,
    /// Sense data, when the target sent some.
    pub sense: Option<Sense>,
    /// Bytes of data actually transferred to us.
    pub received: usize,
}

impl ScsiStatus {
    fn good(&self) -> bool {
        self.status == 0
    }
    /// CHECK CONDITION with sense key UNIT ATTENTION: the command was not
    /// executed and may be reissued.
    pub(crate) fn unit_attention(&self) -> bool {
        self.status == 2 && self.sense.as_ref().is_some_and(|s| s.key == 6)
    }
    /// One line describing a failed status.
    pub fn describe(&self) -> String {
        match &self.sense {
            Some(s) => format!("{} ({})", scsi::status_name(self.status), s),
            None => scsi::status_name(self.status).to_string(),
        }
    }
}

/// A logged-in session.
pub struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// PDUs encoded for the next write (reused).
    out: Vec<u8>,
    cfg: SessionConfig,
    /// Agreed operational parameters.
    pub params: OpParams,
    digests: Digests,
    isid: [u8; 6],
    tsih: u16,
    cmd_sn: u32,
    exp_stat_sn: u32,
    max_cmd_sn: u32,
    next_itt: u32,
    broken: bool,
    /// Keys the target sent at login (for `iscsi inquiry` output).
    pub target_keys: Vec<(String, String)>,
}

fn sn_lt(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000_0000
}

fn io_err(what: &str, cfg: &SessionConfig, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Error::io(
            format!(
                "iSCSI {}: no answer from the target within {} s while {what}",
                cfg.portal,
                cfg.io_timeout.as_secs_f32()
            ),
            e,
        ),
        _ => Error::io(format!("iSCSI {}: {what}", cfg.portal), e),
    }
}

/// Connects to `portal` with a timeout, trying each resolved address.
pub fn connect(portal: &str, connect_timeout: Duration, io_timeout: Duration) -> Result<TcpStream> {
    let addrs: Vec<SocketAddr> = portal
        .to_socket_addrs()
        .map_err(|e| Error::io(format!("iSCSI: resolving portal {portal}"), e))?
        .collect();
    let mut last = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, connect_timeout) {
            Ok(s) => {
                let set = |r: std::io::Result<()>| {
                    r.map_err(|e| Error::io(format!("iSCSI: configuring socket to {a}"), e))
                };
                set(s.set_read_timeout(Some(io_timeout)))?;
                set(s.set_write_timeout(Some(io_timeout)))?;
                set(s.set_nodelay(true))?;
                return Ok(s);
            }
            Err(e) => last = Some((a, e)),
        }
    }
    match last {
        Some((a, e)) => Err(Error::io(
            format!("iSCSI: connecting to {a} (portal {portal})"),
            e,
        )),
        None => Err(Error::Usage(format!(
            "iSCSI: portal {portal} resolves to no address"
        ))),
    }
}

impl Session {
    /// Connects and logs in.
    pub fn login(cfg: &SessionConfig) -> Result<Session> {
        let stream = connect(&cfg.portal, cfg.connect_timeout, cfg.io_timeout)?;
        let writer = stream
            .try_clone()
            .map_err(|e| Error::io(format!("iSCSI {}: cloning socket", cfg.portal), e))?;
        let mut isid = [0u8; 6];
        isid[0] = 0x80; // random ISID format
        let mut r = [0u8; 5];
        getrandom::fill(&mut r)
            .map_err(|e| Error::io("iSCSI: random ISID", std::io::Error::other(e.to_string())))?;
        isid[1..].copy_from_slice(&r);
        let mut s = Session {
            reader: BufReader::with_capacity(RECV_BUFFER, stream),
            writer,
            out: Vec::new(),
            cfg: cfg.clone(),
            params: OpParams::default(),
            digests: Digests::default(),
            isid,
            tsih: 0,
            cmd_sn: 1,
            exp_stat_sn: 0,
            max_cmd_sn: 1,
            next_itt: 1,
            broken: false,
            target_keys: Vec::new(),
        };
        s.do_login()?;
        Ok(s)
    }

    /// The configuration this session was opened with.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// Whether a transport or protocol failure has made this session unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    fn itt(&mut self) -> u32 {
        let t = self.next_itt;
        self.next_itt = self.next_itt.wrapping_add(1);
        if self.next_itt == RESERVED_TAG {
            self.next_itt = 1;
        }
        t
    }

    fn send(&mut self, p: &Pdu, digests: Digests) -> Result<()> {
        self.out.clear();
        p.encode_into(&mut self.out, digests)?;
        self.send_out(p.opcode())
    }

    /// Writes the PDUs gathered in `out` (`opcode` names them in errors).
    fn send_out(&mut self, opcode: u8) -> Result<()> {
        let r = self.writer.write_all(&self.out);
        r.map_err(|e| {
            self.broken = true;
            io_err(
                &format!("sending a {}", pdu::opcode_name(opcode)),
                &self.cfg,
                e,
            )
        })
    }

    fn recv_header(&mut self, max: usize, digests: Digests) -> Result<(Pdu, BhsLengths)> {
        pdu::read_header(&mut self.reader, max, digests)
            .map_err(|e| self.transport(e, "waiting for a PDU"))
    }

    fn recv_data(
        &mut self,
        p: &mut Pdu,
        l: BhsLengths,
        digests: Digests,
        into: Option<&mut [u8]>,
    ) -> Result<()> {
        let r = pdu::read_data(&mut self.reader, p, l, digests, into);
        r.map_err(|e| self.transport(e, "receiving a data segment"))
    }

    fn transport(&mut self, e: Error, what: &str) -> Error {
        self.broken = true;
        match e {
            Error::Io { source, .. } => io_err(what, &self.cfg, source),
            // A PDU cut short on the socket is the target (or the network)
            // closing the connection, not a malformed PDU: say so, with the
            // portal.
            Error::Corrupt {
                structure,
                offset,
                detail,
            } if structure == pdu::STRUCTURE && detail.starts_with(pdu::CLOSED) => io_err(
                what,
                &self.cfg,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("{detail} (byte {offset} of the PDU)"),
                ),
            ),
            other => other,
        }
    }

    fn protocol(&mut self, detail: String) -> Error {
        self.broken = true;
        Error::corrupt(format!("iSCSI session with {}", self.cfg.portal), 0, detail)
    }

    /// Folds the sequence numbers of a target PDU into our state.
    fn track(&mut self, p: &Pdu, has_status: bool) {
        if has_status {
            let stat_sn = p.u32_at(24);
            if !sn_lt(stat_sn.wrapping_add(1), self.exp_stat_sn) {
                self.exp_stat_sn = stat_sn.wrapping_add(1);
            }
        }
        let max = p.u32_at(32);
        if sn_lt(self.max_cmd_sn, max) {
            self.max_cmd_sn = max;
        }
    }

    fn login_pdu(&mut self, csg: u8, nsg: u8, transit: bool, keys: &[(&str, &str)]) -> Pdu {
        let mut p = Pdu::new(op::LOGIN_REQ);
        p.set_immediate();
        let mut f = (csg & 3) << 2;
        if transit {
            f |= 0x80 | (nsg & 3);
        }
        p.set_flags(f);
        p.bhs[2] = 0; // VersionMax
        p.bhs[3] = 0; // VersionMin
        p.bhs[8..14].copy_from_slice(&self.isid);
        p.bhs[14..16].copy_from_slice(&self.tsih.to_be_bytes());
        p.set_itt(0);
        p.bhs[20..22].copy_from_slice(&0u16.to_be_bytes()); // CID
        p.set_u32(24, self.cmd_sn);
        p.set_u32(28, self.exp_stat_sn);
        p.data = login::encode_text(keys);
        p
    }

    /// Sends a login request and gathers the whole (possibly continued)
    /// response. Returns (flags, keys).
    fn login_exchange(&mut self, req: Pdu) -> Result<(u8, Vec<(String, String)>)> {
        let mut req = req;
        let mut text = Vec::new();
        for _ in 0..MAX_ROUNDS {
            self.send(&req, Digests::default())?;
            let (mut rsp, l) = self.recv_header(LOGIN_MAX_DATA, Digests::default())?;
            self.recv_data(&mut rsp, l, Digests::default(), None)?;
            if rsp.opcode() == op::REJECT {
                return Err(self.protocol(format!(
                    "target rejected our Login Request (reason {:#04x})",
                    rsp.bhs[2]
                )));
            }
            if rsp.opcode() != op::LOGIN_RSP {
                return Err(self.protocol(format!(
                    "expected a Login Response during login, got {}",
                    pdu::opcode_name(rsp.opcode())
                )));
            }
            let (class, detail) = (rsp.bhs[36], rsp.bhs[37]);
            if class != 0 {
                self.broken = true;
                let mut msg = format!(
                    "iSCSI login to {} (target {}) failed: {}",
                    self.cfg.portal,
                    self.cfg.target.as_deref().unwrap_or("discovery"),
                    login::login_status_text(class, detail)
                );
                if (class, detail) == (2, 1) {
                    msg.push_str(if self.cfg.chap.is_some() {
                        "; check KZRESCUE_CHAP_USER and the CHAP secret"
                    } else {
                        "; the target may require CHAP: set KZRESCUE_CHAP_USER and KZRESCUE_CHAP_SECRET_FILE"
                    });
                }
                return Err(Error::Refused(msg));
            }
            self.tsih = u16::from_be_bytes([rsp.bhs[14], rsp.bhs[15]]);
            let stat_sn = rsp.u32_at(24);
            self.exp_stat_sn = stat_sn.wrapping_add(1);
            self.max_cmd_sn = rsp.u32_at(32);
            text.extend_from_slice(&rsp.data);
            if text.len() > LOGIN_MAX_DATA * 4 {
                return Err(self.protocol("login response text exceeds 256 KiB".into()));
            }
            if rsp.flags() & 0x40 != 0 {
                // Continue: ask for the rest with an empty request, same stage.
                let csg = (rsp.flags() >> 2) & 3;
                req = self.login_pdu(csg, 0, false, &[]);
                continue;
            }
            let keys = login::parse_text(&text)?;
            return Ok((rsp.flags(), keys));
        }
        Err(self.protocol("login did not finish within 32 exchanges".into()))
    }

    fn do_login(&mut self) -> Result<()> {
        let session_type = if self.cfg.target.is_some() {
            "Normal"
        } else {
            "Discovery"
        };
        let initiator = self.cfg.initiator_name.clone();
        let target = self.cfg.target.clone();
        let chap = self.cfg.chap.clone();
        let auth = if chap.is_some() { "CHAP,None" } else { "None" };
        let mut keys: Vec<(&str, &str)> =
            vec![("InitiatorName", &initiator), ("SessionType", session_type)];
        if let Some(t) = &target {
            keys.push(("TargetName", t));
        }
        keys.push(("AuthMethod", auth));
        // Without CHAP we are ready to leave the security stage at once.
        let req = self.login_pdu(0, 1, chap.is_none(), &keys);
        let (mut flags, mut answers) = self.login_exchange(req)?;
        let mut all = answers.clone();
        let mut chap_sent = false;
        let mut rounds = 0;
        // Security stage.
        while (flags >> 2) & 3 == 0 && !(flags & 0x80 != 0 && flags & 3 == 1) {
            rounds += 1;
            if rounds > MAX_ROUNDS {
                return Err(self.protocol("security negotiation did not finish".into()));
            }
            let method = login::get(&all, "AuthMethod").unwrap_or("None").to_string();
            let req = match method.as_str() {
                "CHAP" => {
                    let Some(creds) = chap.as_ref() else {
                        return Err(Error::Refused(format!(
                            "iSCSI login to {}: target requires CHAP; set KZRESCUE_CHAP_USER and KZRESCUE_CHAP_SECRET_FILE",
                            self.cfg.portal
                        )));
                    };
                    if login::get(&answers, "CHAP_C").is_some() {
                        let (n, r) = login::chap_answer(&answers, creds)?;
                        chap_sent = true;
                        self.login_pdu(0, 1, true, &[("CHAP_N", &n), ("CHAP_R", &r)])
                    } else if !chap_sent {
                        self.login_pdu(0, 1, false, &[("CHAP_A", "5")])
                    } else {
                        return Err(self.protocol(
                            "target neither accepted CHAP_R nor sent a new challenge".into(),
                        ));
                    }
                }
                "None" => self.login_pdu(0, 1, true, &[]),
                "Reject" | "Irrelevant" | "NotUnderstood" => {
                    self.broken = true;
                    return Err(Error::Refused(format!(
                        "iSCSI login to {}: target refused AuthMethod={auth} (answered {method})",
                        self.cfg.portal
                    )));
                }
                other => {
                    return Err(Error::unsupported(
                        "iSCSI AuthMethod",
                        format!("target chose {other:?}"),
                    ));
                }
            };
            let (f, a) = self.login_exchange(req)?;
            flags = f;
            answers = a;
            all.extend(answers.iter().cloned());
        }
        if chap.is_some() && login::get(&all, "AuthMethod") == Some("CHAP") && !chap_sent {
            return Err(
                self.protocol("target left the security stage without a CHAP challenge".into())
            );
        }
        // Operational stage.
        let offer = self.cfg.offer.clone();
        let op_keys: Vec<(&'static str, String)> = if self.cfg.target.is_some() {
            offer.keys()
        } else {
            vec![
                ("HeaderDigest", "None".into()),
                ("DataDigest", "None".into()),
                ("MaxRecvDataSegmentLength", offer.max_recv.to_string()),
            ]
        };
        let refs: Vec<(&str, &str)> = op_keys.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let req = self.login_pdu(1, 3, true, &refs);
        let (mut flags, answers) = self.login_exchange(req)?;
        let mut op_answers = answers;
        let mut rounds = 0;
        while !(flags & 0x80 != 0 && flags & 3 == 3) {
            rounds += 1;
            if rounds > MAX_ROUNDS {
                return Err(self.protocol("operational negotiation did not finish".into()));
            }
            let req = self.login_pdu(1, 3, true, &[]);
            let (f, a) = self.login_exchange(req)?;
            flags = f;
            op_answers.extend(a);
        }
        let params = if self.cfg.target.is_some() {
            offer.agree(&op_answers)?
        } else {
            let mut d = OfferDiscovery::agree(&offer, &op_answers)?;
            d.first_burst = d.first_burst.min(d.max_burst);
            d
        };
        self.digests = Digests {
            header: params.header_digest,
            data: params.data_digest,
        };
        self.params = params;
        all.extend(op_answers);
        self.target_keys = all;
        Ok(())
    }

    /// Receives PDUs until one that is not housekeeping (NOP-In, async
    /// messages) arrives; returns its header and lengths.
    fn next_pdu(&mut self) -> Result<(Pdu, BhsLengths)> {
        loop {
            let max = self.params.our_max_recv as usize;
            let digests = self.digests;
            let (mut p, l) = self.recv_header(max, digests)?;
            match p.opcode() {
                op::NOP_IN if p.itt() == RESERVED_TAG => {
                    self.recv_data(&mut p, l, digests, None)?;
                    self.track(&p, false);
                    let ttt = p.u32_at(20);
                    if ttt != RESERVED_TAG {
                        // The target pings us: answer with a NOP-Out echoing TTT and data.
                        let mut out = Pdu::new(op::NOP_OUT);
                        out.set_immediate();
                        out.set_flags(0x80);
                        out.set_lun_field(p.lun_field());
                        out.set_itt(RESERVED_TAG);
                        out.set_u32(20, ttt);
                        out.set_u32(24, self.cmd_sn);
                        out.set_u32(28, self.exp_stat_sn);
                        out.data = p.data;
                        self.send(&out, digests)?;
                    }
                }
                op::ASYNC => {
                    self.recv_data(&mut p, l, digests, None)?;
                    self.track(&p, true);
                    let event = p.bhs[36];
                    match event {
                        0 | 5 => {} // SCSI async event / vendor: nothing to do
                        1 => {
                            self.broken = true;
                            return Err(Error::io(
                                format!("iSCSI {}: target requested logout", self.cfg.portal),
                                std::io::Error::from(std::io::ErrorKind::ConnectionAborted),
                            ));
                        }
                        2..=4 => {
                            self.broken = true;
                            return Err(Error::io(
                                format!(
                                    "iSCSI {}: target is dropping the connection (async event {event})",
                                    self.cfg.portal
                                ),
                                std::io::Error::from(std::io::ErrorKind::ConnectionAborted),
                            ));
                        }
                        _ => {}
                    }
                }
                op::REJECT => {
                    self.recv_data(&mut p, l, digests, None)?;
                    self.track(&p, true);
                    return Err(
                        self.protocol(format!("target sent Reject, reason {:#04x}", p.bhs[2]))
                    );
                }
                _ => return Ok((p, l)),
            }
        }
    }

    fn scsi_cmd_pdu(
        &mut self,
        lun: [u8; 8],
        cdb: &Cdb,
        itt: u32,
        read: bool,
        write: bool,
        edtl: u32,
    ) -> Pdu {
        let mut p = Pdu::new(op::SCSI_CMD);
        let mut f = 0x80 | 0x01; // Final, SIMPLE task attribute
        if read {
            f |= 0x40;
        }
        if write {
            f |= 0x20;
        }
        p.set_flags(f);
        p.set_lun_field(lun);
        p.set_itt(itt);
        p.set_u32(20, edtl);
        p.set_u32(24, self.cmd_sn);
        p.set_u32(28, self.exp_stat_sn);
        p.bhs[32..48].copy_from_slice(cdb);
        self.cmd_sn = self.cmd_sn.wrapping_add(1);
        p
    }

    /// Runs commands that move data to us, several outstanding at once.
    /// Each `(cdb, start, len)` reads into `buf[start..start+len]`. Returns
    /// each command's status, in order. A command answered with UNIT
    /// ATTENTION is reissued (up to three times).
    pub fn run_reads(
        &mut self,
        lun: [u8; 8],
        cmds: &[(Cdb, usize, usize)],
        buf: &mut [u8],
    ) -> Result<Vec<ScsiStatus>> {
        for &(_, start, len) in cmds {
            if start.checked_add(len).is_none_or(|e| e > buf.len()) {
                return Err(Error::Usage(
                    "iSCSI read: command buffer outside the caller's buffer".into(),
                ));
            }
        }
        let mut results: Vec<Option<ScsiStatus>> = vec![None; cmds.len()];
        let mut retries = vec![0u8; cmds.len()];
        let mut queue: VecDeque<usize> = (0..cmds.len()).collect();
        let mut outstanding = HashMap::new();
        let mut done = 0;
        let depth = self.cfg.read_depth.max(1);
        let mut place = |idx: usize| (cmds[idx].1, cmds[idx].2);
        while done < cmds.len() {
            if self.refill_due(outstanding.len(), depth, queue.len()) {
                let mut next = || queue.pop_front().map(|i| (i, cmds[i].0, cmds[i].2));
                self.send_reads(lun, &mut outstanding, depth, &mut next)?;
            }
            let Some((idx, st)) = self.receive_read(&mut outstanding, buf, &mut place)? else {
                continue;
            };
            if st.unit_attention() && retries[idx] < 3 {
                retries[idx] += 1;
                queue.push_back(idx);
                continue;
            }
            results[idx] = Some(st);
            done += 1;
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or(ScsiStatus {
                    status: 0xff,
                    sense: None,
                    received: 0,
                })
            })
            .collect())
    }

    /// Reads `blocks` blocks of `block_len` bytes from `lba` on, in READ(16)
    /// commands of `per` blocks, keeping up to the read depth outstanding,
    /// and hands each command's data to `sink` in LBA order with its first
    /// LBA and status (`data` is the whole command's buffer; the status says
    /// how much of it arrived). Memory stays at depth × command size
    /// whatever the length: a command takes one of `depth` buffers when its
    /// first Data-In arrives and gives it back once handed on, and the
    /// buffers are taken last-freed first, so while the target answers in
    /// order the same one or two are used over and over and the data is
    /// received into memory still in the CPU's cache (the others are never
    /// touched). A command answered with UNIT ATTENTION is reissued (up to
    /// three times). When `sink` fails, the commands still outstanding are
    /// received and dropped before its error is returned.
    pub fn stream_reads(
        &mut self,
        lun: [u8; 8],
        lba: u64,
        blocks: u64,
        block_len: usize,
        per: u32,
        sink: &mut ReadSink<'_>,
    ) -> Result<()> {
        let per = u64::from(per.max(1));
        let total = usize::try_from(blocks.div_ceil(per))
            .map_err(|_| Error::Usage("iSCSI read: too many commands".into()))?;
        let depth = self.cfg.read_depth.max(1).min(total.max(1));
        let slot = per as usize * block_len;
        // Zeroed lazily by the kernel: a buffer never used is never touched.
        let mut ring = vec![0u8; depth * slot];
        // The buffer each undelivered command uses (by index modulo depth:
        // at most `depth` commands are issued and not yet delivered), and
        // the free ones, last freed on top.
        let mut buffer: Vec<Option<usize>> = vec![None; depth];
        let mut free: Vec<usize> = (0..depth).rev().collect();
        let mut status: Vec<Option<ScsiStatus>> = vec![None; depth];
        let mut retries = vec![0u8; depth];
        let mut reissue: VecDeque<usize> = VecDeque::new();
        let mut outstanding = HashMap::new();
        let (mut issued, mut delivered) = (0usize, 0usize);
        // Command `i`: its first LBA and length in bytes.
        let cmd = |i: usize| {
            let first = i as u64 * per;
            (lba + first, (per.min(blocks - first) as usize) * block_len)
        };
        // The buffer of command `i`, taken from the free ones on first use.
        let take = |buffer: &mut [Option<usize>], free: &mut Vec<usize>, i: usize| {
            *buffer[i % depth].get_or_insert_with(|| free.pop().unwrap_or(i % depth))
        };
        let mut failed: Option<Error> = None;
        while delivered < total || !outstanding.is_empty() {
            // New commands may use the slots of those delivered already.
            let limit = if failed.is_some() {
                0
            } else {
                total.min(delivered + depth)
            };
            let waiting = reissue.len() + limit.saturating_sub(issued);
            if self.refill_due(outstanding.len(), depth, waiting) {
                let mut next = || {
                    let i = reissue.pop_front().or_else(|| {
                        (issued < limit).then(|| {
                            issued += 1;
                            issued - 1
                        })
                    })?;
                    let (l, len) = cmd(i);
                    Some((i, scsi::read16(l, (len / block_len) as u32), len))
                };
                self.send_reads(lun, &mut outstanding, depth, &mut next)?;
            }
            if outstanding.is_empty() {
                // Nothing in flight and nothing to send: only a failure ends here.
                break;
            }
            let mut place = |i: usize| (take(&mut buffer, &mut free, i) * slot, cmd(i).1);
            let Some((i, st)) = self.receive_read(&mut outstanding, &mut ring, &mut place)? else {
                continue;
            };
            if failed.is_some() {
                continue;
            }
            let s = i % depth;
            if st.unit_attention() && retries[s] < 3 {
                retries[s] += 1;
                reissue.push_back(i);
                continue;
            }
            status[s] = Some(st);
            while delivered < total {
                let s = delivered % depth;
                let Some(st) = status[s].take() else { break };
                retries[s] = 0;
                let b = take(&mut buffer, &mut free, delivered);
                let (first, len) = cmd(delivered);
                let r = sink(first, &ring[b * slot..b * slot + len], &st);
                buffer[s] = None;
                free.push(b);
                if let Err(e) = r {
                    failed = Some(e);
                    reissue.clear();
                    break;
                }
                delivered += 1;
            }
        }
        match failed {
            Some(e) => Err(e),
            None if delivered < total => Err(self.protocol(format!(
                "sequential read stopped after {delivered} of {total} commands"
            ))),
            None => Ok(()),
        }
    }

    /// Whether to send more READs now: when nothing is in flight, or once a
    /// quarter of the window is free (or what is left to send fits), so
    /// commands leave several to a write, which the target then also
    /// reads in one go.
    fn refill_due(&self, outstanding: usize, depth: usize, waiting: usize) -> bool {
        let batch = (depth / 4).max(1);
        waiting > 0 && (outstanding == 0 || depth.saturating_sub(outstanding) >= batch.min(waiting))
    }

    /// Sends the READs `next` hands out (index, CDB, bytes) while the
    /// depth and the target's command window allow, in one write.
    fn send_reads(
        &mut self,
        lun: [u8; 8],
        outstanding: &mut HashMap<u32, InFlight>,
        depth: usize,
        next: &mut dyn FnMut() -> Option<(usize, Cdb, usize)>,
    ) -> Result<()> {
        self.out.clear();
        loop {
            let window_open = !sn_lt(self.max_cmd_sn, self.cmd_sn);
            if outstanding.len() >= depth || (!window_open && !outstanding.is_empty()) {
                break;
            }
            let Some((idx, cdb, len)) = next() else { break };
            let itt = self.itt();
            let p = self.scsi_cmd_pdu(lun, &cdb, itt, len > 0, false, len as u32);
            p.encode_into(&mut self.out, self.digests)?;
            outstanding.insert(itt, InFlight { idx, received: 0 });
        }
        if self.out.is_empty() {
            Ok(())
        } else {
            self.send_out(op::SCSI_CMD)
        }
    }

    /// Receives one PDU of the READs in `outstanding`; Data-In lands in
    /// `buf` at the range `place(index)` gives (asked at each Data-In). Returns the command's index
    /// and status once it is complete (it then leaves `outstanding`).
    fn receive_read(
        &mut self,
        outstanding: &mut HashMap<u32, InFlight>,
        buf: &mut [u8],
        place: &mut dyn FnMut(usize) -> (usize, usize),
    ) -> Result<Option<(usize, ScsiStatus)>> {
        let (mut p, l) = self.next_pdu()?;
        let itt = p.itt();
        let Some(task) = outstanding.get_mut(&itt) else {
            return Err(self.protocol(format!(
                "{} for unknown task tag {itt:#x}",
                pdu::opcode_name(p.opcode())
            )));
        };
        let digests = self.digests;
        let status = match p.opcode() {
            op::DATA_IN => {
                let (start, len) = place(task.idx);
                let off = p.u32_at(40) as usize;
                let n = l.data;
                if off.checked_add(n).is_none_or(|e| e > len) {
                    return Err(self.protocol(format!(
                        "Data-In of {n} bytes at buffer offset {off:#x} exceeds the {len}-byte transfer"
                    )));
                }
                self.recv_data(
                    &mut p,
                    l,
                    digests,
                    Some(&mut buf[start + off..start + off + n]),
                )?;
                task.received += n;
                let has_status = p.flags() & 0x01 != 0;
                self.track(&p, has_status);
                if !has_status {
                    return Ok(None);
                }
                ScsiStatus {
                    status: p.bhs[3],
                    sense: None,
                    received: 0,
                }
            }
            op::SCSI_RSP => {
                self.recv_data(&mut p, l, digests, None)?;
                self.track(&p, true);
                if p.bhs[2] != 0 {
                    return Err(self.protocol(format!(
                        "SCSI Response code {:#04x} (command not completed at the target)",
                        p.bhs[2]
                    )));
                }
                let sense = if p.data.len() >= 2 {
                    let sl = u16::from_be_bytes([p.data[0], p.data[1]]) as usize;
                    match p.data.get(2..2 + sl) {
                        Some(s) if sl > 0 => scsi::parse_sense(s).ok(),
                        _ => None,
                    }
                } else {
                    None
                };
                ScsiStatus {
                    status: p.bhs[3],
                    sense,
                    received: 0,
                }
            }
            other => {
                return Err(self.protocol(format!(
                    "unexpected {} (opcode {other:#04x}) during a read",
                    pdu::opcode_name(other)
                )));
            }
        };
        let Some(task) = outstanding.remove(&itt) else {
            return Ok(None);
        };
        Ok(Some((
            task.idx,
            ScsiStatus {
                received: task.received,
                ..status
            },
        )))
    }

    /// One command that moves at most `alloc` bytes to us; returns the
    /// status and the data received.
    pub fn command_in(
        &mut self,
        lun: [u8; 8],
        cdb: Cdb,
        alloc: usize,
    ) -> Result<(ScsiStatus, Vec<u8>)> {
        let mut buf = vec![0u8; alloc];
        let st = self.run_reads(lun, &[(cdb, 0, alloc)], &mut buf)?;
        let st = st.into_iter().next().unwrap_or(ScsiStatus {
            status: 0xff,
            sense: None,
            received: 0,
        });
        buf.truncate(st.received.min(alloc));
        Ok((st, buf))
    }

    /// Runs a command that moves data to us and fails unless its status is GOOD.
    pub fn command_in_ok(
        &mut self,
        lun: [u8; 8],
        cdb: Cdb,
        alloc: usize,
        what: &str,
    ) -> Result<Vec<u8>> {
        let (st, data) = self.command_in(lun, cdb, alloc)?;
        if !st.good() {
            return Err(Error::io(
                format!("iSCSI {} {what}: {}", self.target_label(), st.describe()),
                std::io::Error::other("SCSI command failed"),
            ));
        }
        Ok(data)
    }

    fn target_label(&self) -> String {
        format!(
            "{}/{}",
            self.cfg.portal,
            self.cfg.target.as_deref().unwrap_or("-")
        )
    }

    /// Sends one WRITE-type command with `data` (immediate data, unsolicited
    /// Data-Out and R2T-solicited Data-Out as negotiated). Returns the
    /// status. On a transport failure the session is broken and the
    /// caller learns nothing about whether the data reached the medium.
    pub fn command_out(&mut self, lun: [u8; 8], cdb: Cdb, data: &[u8]) -> Result<ScsiStatus> {
        let itt = self.itt();
        let mut p = self.scsi_cmd_pdu(lun, &cdb, itt, false, !data.is_empty(), data.len() as u32);
        let seg = (self.params.their_max_recv as usize).max(512);
        let first_burst = (self.params.first_burst as usize).min(data.len());
        let mut sent = 0usize;
        if self.params.immediate_data && !data.is_empty() {
            let n = first_burst.min(seg);
            p.data = data[..n].to_vec();
            sent = n;
        }
        let unsolicited_end = if self.params.initial_r2t {
            sent
        } else {
            first_burst
        };
        if sent >= unsolicited_end {
            // No unsolicited Data-Out follows: F stays set.
        }
        self.send(&p, self.digests)?;
        // Unsolicited Data-Out up to FirstBurstLength.
        let mut data_sn = 0u32;
        while sent < unsolicited_end {
            let n = (unsolicited_end - sent).min(seg);
            let last = sent + n == unsolicited_end;
            let out = self.data_out(
                lun,
                itt,
                RESERVED_TAG,
                data_sn,
                sent,
                &data[sent..sent + n],
                last,
            );
            self.send(&out, self.digests)?;
            data_sn += 1;
            sent += n;
        }
        loop {
            let (mut p, l) = self.next_pdu()?;
            if p.itt() != itt {
                return Err(self.protocol(format!(
                    "{} for unknown task tag {:#x} during a write",
                    pdu::opcode_name(p.opcode()),
                    p.itt()
                )));
            }
            let digests = self.digests;
            match p.opcode() {
                op::R2T => {
                    self.recv_data(&mut p, l, digests, None)?;
                    self.track(&p, false);
                    let ttt = p.u32_at(20);
                    let off = p.u32_at(40) as usize;
                    let want = p.u32_at(44) as usize;
                    if want == 0 || off.checked_add(want).is_none_or(|e| e > data.len()) {
                        return Err(self.protocol(format!(
                            "R2T asks for {want} bytes at offset {off:#x} of a {}-byte write",
                            data.len()
                        )));
                    }
                    let mut pos = off;
                    let mut sn = 0u32;
                    while pos < off + want {
                        let n = (off + want - pos).min(seg);
                        let last = pos + n == off + want;
                        let out = self.data_out(lun, itt, ttt, sn, pos, &data[pos..pos + n], last);
                        self.send(&out, digests)?;
                        sn += 1;
                        pos += n;
                    }
                }
                op::SCSI_RSP => {
                    self.recv_data(&mut p, l, digests, None)?;
                    self.track(&p, true);
                    if p.bhs[2] != 0 {
                        return Err(self
                            .protocol(format!("SCSI Response code {:#04x} to a write", p.bhs[2])));
                    }
                    let sense = if p.data.len() >= 2 {
                        let sl = u16::from_be_bytes([p.data[0], p.data[1]]) as usize;
                        p.data
                            .get(2..2 + sl)
                            .filter(|s| !s.is_empty())
                            .and_then(|s| scsi::parse_sense(s).ok())
                    } else {
                        None
                    };
                    return Ok(ScsiStatus {
                        status: p.bhs[3],
                        sense,
                        received: 0,
                    });
                }
                other => {
                    return Err(self.protocol(format!(
                        "unexpected {} (opcode {other:#04x}) during a write",
                        pdu::opcode_name(other)
                    )));
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn data_out(
        &self,
        lun: [u8; 8],
        itt: u32,
        ttt: u32,
        data_sn: u32,
        offset: usize,
        data: &[u8],
        last: bool,
    ) -> Pdu {
        let mut p = Pdu::new(op::DATA_OUT);
        p.set_flags(if last { 0x80 } else { 0 });
        p.set_lun_field(lun);
        p.set_itt(itt);
        p.set_u32(20, ttt);
        p.set_u32(28, self.exp_stat_sn);
        p.set_u32(36, data_sn);
        p.set_u32(40, offset as u32);
        p.data = data.to_vec();
        p
    }

    /// SendTargets=All on this (discovery) session.
    pub fn send_targets(&mut self) -> Result<Vec<DiscoveredTarget>> {
        let mut text = Vec::new();
        let mut ttt = RESERVED_TAG;
        let itt = self.itt();
        let mut first = true;
        for _ in 0..MAX_ROUNDS * 8 {
            let mut p = Pdu::new(op::TEXT_REQ);
            p.set_flags(0x80);
            p.set_itt(itt);
            p.set_u32(20, ttt);
            p.set_u32(24, self.cmd_sn);
            p.set_u32(28, self.exp_stat_sn);
            if first {
                p.data = login::encode_text(&[("SendTargets", "All")]);
                first = false;
            }
            self.cmd_sn = self.cmd_sn.wrapping_add(1);
            self.send(&p, self.digests)?;
            let (mut r, l) = self.next_pdu()?;
            if r.opcode() != op::TEXT_RSP || r.itt() != itt {
                return Err(self.protocol(format!(
                    "expected a Text Response to SendTargets, got {}",
                    pdu::opcode_name(r.opcode())
                )));
            }
            let digests = self.digests;
            self.recv_data(&mut r, l, digests, None)?;
            self.track(&r, true);
            text.extend_from_slice(&r.data);
            if text.len() > 4 << 20 {
                return Err(self.protocol("SendTargets answer exceeds 4 MiB".into()));
            }
            if r.flags() & 0x40 != 0 || r.flags() & 0x80 == 0 {
                ttt = r.u32_at(20);
                continue;
            }
            let pairs = login::parse_text(&text)?;
            return login::parse_send_targets(&pairs);
        }
        Err(self.protocol("SendTargets answer did not end".into()))
    }

    /// NOP-Out ping; waits for the matching NOP-In.
    pub fn nop(&mut self) -> Result<()> {
        let itt = self.itt();
        let mut p = Pdu::new(op::NOP_OUT);
        p.set_immediate();
        p.set_flags(0x80);
        p.set_itt(itt);
        p.set_u32(20, RESERVED_TAG);
        p.set_u32(24, self.cmd_sn);
        p.set_u32(28, self.exp_stat_sn);
        p.data = b"kzrescue".to_vec();
        self.send(&p, self.digests)?;
        let (mut r, l) = self.next_pdu()?;
        let digests = self.digests;
        self.recv_data(&mut r, l, digests, None)?;
        if r.opcode() != op::NOP_IN || r.itt() != itt {
            return Err(self.protocol(format!(
                "expected NOP-In for a ping, got {}",
                pdu::opcode_name(r.opcode())
            )));
        }
        self.track(&r, true);
        if r.data != b"kzrescue" {
            return Err(self.protocol("NOP-In did not echo the ping data".into()));
        }
        Ok(())
    }

    /// Logs out (close the session) and waits for the response.
    pub fn logout(mut self) -> Result<()> {
        let itt = self.itt();
        let mut p = Pdu::new(op::LOGOUT_REQ);
        p.set_immediate();
        p.set_flags(0x80); // reason 0: close the session
        p.set_itt(itt);
        p.set_u32(24, self.cmd_sn);
        p.set_u32(28, self.exp_stat_sn);
        self.send(&p, self.digests)?;
        let (mut r, l) = self.next_pdu()?;
        let digests = self.digests;
        self.recv_data(&mut r, l, digests, None)?;
        if r.opcode() != op::LOGOUT_RSP {
            return Err(self.protocol(format!(
                "expected a Logout Response, got {}",
                pdu::opcode_name(r.opcode())
            )));
        }
        if r.bhs[2] != 0 {
            return Err(self.protocol(format!("logout failed with response {:#04x}", r.bhs[2])));
        }
        Ok(())
    }
}

/// Discovery sessions agree only on MaxRecvDataSegmentLength.
struct OfferDiscovery;

impl OfferDiscovery {
    fn agree(offer: &OpOffer, answers: &[(String, String)]) -> Result<OpParams> {
        let o = OpOffer {
            header_digest: login::DigestPref::None,
            data_digest: login::DigestPref::None,
            ..offer.clone()
        };
        o.agree(answers)
    }
}
