//! A built-in iSCSI initiator (RFC 7143) and the [`Source`] it provides:
//! a LUN opened by its target name and LUN number, or found by its SCSI
//! logical-unit name (the NAA designator of VPD page 0x83) after
//! SendTargets discovery.
//!
//! Synchronous, std networking only. Reads are split into READ(16)
//! commands (128 KiB, 32 outstanding by default, sent in batches); data
//! lands directly in the caller's buffer. A read that loses the connection is retried
//! once on a fresh login. Writes are never retried: a lost connection
//! during a write is reported with the exact byte ranges that were
//! acknowledged, in flight, and not sent.
//!
//! Write protection is honoured: an LU opened for writing is first asked
//! for its WP bit (MODE SENSE); a write-protected LU is refused before any
//! write with the host command that lifts the protection, and a WRITE
//! answered with DATA PROTECT ends the write cleanly, never retried.

pub mod login;
pub mod pdu;
pub mod scsi;
pub mod session;

use crate::error::{Error, Result};
use crate::source::{ReadPath, Source, check_bounds};
use login::{ChapCredentials, DigestPref, DiscoveredTarget};
use scsi::{Capacity, Designator, Inquiry};
pub use session::{ScsiStatus, Session, SessionConfig};
use std::cell::Cell;
use std::sync::Mutex;
use std::time::Duration;

/// Which logical unit to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LuSelector {
    /// By SCSI logical-unit name, `naa.<hex>` or `eui.<hex>` (lower case).
    Name(String),
    /// By target name and LUN number.
    TargetLun {
        /// Target iSCSI name (e.g. `iqn.…`).
        target: String,
        /// LUN number.
        lun: u64,
    },
}

/// Initiator settings every command shares, built once by the caller (the
/// CLI from its global options, falling back to [`IscsiOptions::from_vars`])
/// and passed down; nothing below reads the environment.
#[derive(Clone, Debug, Default)]
pub struct IscsiOptions {
    /// Our iSCSI name; default `iqn.2026-11.org.kzrescue:<hostname>`.
    pub initiator_name: Option<String>,
    /// CHAP credentials, when the target wants them.
    pub chap: Option<ChapCredentials>,
    /// Timeout of every socket read and write (connect: at most 10 s of it).
    pub timeout: Option<Duration>,
    /// Header and data digest preference.
    pub digest: Option<DigestPref>,
    /// Bytes per READ(16) command.
    pub read_io_bytes: Option<usize>,
    /// READ commands kept outstanding at once.
    pub read_depth: Option<usize>,
}

impl IscsiOptions {
    /// The documented environment fallbacks: `KZRESCUE_CHAP_USER` +
    /// `KZRESCUE_CHAP_SECRET_FILE`/`KZRESCUE_CHAP_SECRET`,
    /// `KZRESCUE_ISCSI_TIMEOUT` (seconds, default 30), `KZRESCUE_ISCSI_DIGEST`
    /// (`none`, `crc32c` or `prefer`), `KZRESCUE_INITIATOR_NAME`,
    /// `KZRESCUE_ISCSI_READ_KIB` (KiB per READ(16), default 128) and
    /// `KZRESCUE_ISCSI_QUEUE_DEPTH` (READs in flight, default 32).
    ///
    /// Looked up through `vars`, the caller's view of the environment.
    pub fn from_vars(vars: crate::source::Vars<'_>) -> Result<IscsiOptions> {
        let var = |k: &str| {
            vars(k)
                .and_then(|v| v.into_string().ok())
                .filter(|v| !v.is_empty())
        };
        let mut o = IscsiOptions {
            initiator_name: var("KZRESCUE_INITIATOR_NAME"),
            chap: ChapCredentials::from_vars(vars)?,
            ..IscsiOptions::default()
        };
        if let Some(t) = var("KZRESCUE_ISCSI_TIMEOUT") {
            o.timeout = Some(
                parse_timeout(&t)
                    .map_err(|e| Error::Usage(format!("KZRESCUE_ISCSI_TIMEOUT={t:?}: {e}")))?,
            );
        }
        if let Some(d) = var("KZRESCUE_ISCSI_DIGEST") {
            o.digest = Some(
                parse_digest(&d)
                    .map_err(|e| Error::Usage(format!("KZRESCUE_ISCSI_DIGEST={d:?}: {e}")))?,
            );
        }
        for (name, slot, lo, hi, unit) in [
            (
                "KZRESCUE_ISCSI_READ_KIB",
                &mut o.read_io_bytes,
                1usize,
                16384usize,
                1024usize,
            ),
            ("KZRESCUE_ISCSI_QUEUE_DEPTH", &mut o.read_depth, 1, 128, 1),
        ] {
            if let Some(v) = var(name) {
                let n: usize = v
                    .parse()
                    .ok()
                    .filter(|n| (lo..=hi).contains(n))
                    .ok_or_else(|| {
                        Error::Usage(format!("{name}={v:?}: a number in {lo}..={hi}"))
                    })?;
                *slot = Some(n * unit);
            }
        }
        Ok(o)
    }

    /// Options given explicitly win over `self` (the fallbacks).
    pub fn overridden_by(self, explicit: IscsiOptions) -> IscsiOptions {
        IscsiOptions {
            initiator_name: explicit.initiator_name.or(self.initiator_name),
            chap: explicit.chap.or(self.chap),
            timeout: explicit.timeout.or(self.timeout),
            digest: explicit.digest.or(self.digest),
            read_io_bytes: explicit.read_io_bytes.or(self.read_io_bytes),
            read_depth: explicit.read_depth.or(self.read_depth),
        }
    }

    /// The session configuration for `portal` (and `target`; `None` for a
    /// discovery session) with these settings over our defaults.
    pub fn session(&self, portal: &str, target: Option<&str>) -> SessionConfig {
        let mut cfg = SessionConfig::new(portal, target);
        if let Some(n) = &self.initiator_name {
            cfg.initiator_name = n.clone();
        }
        cfg.chap = self.chap.clone();
        if let Some(t) = self.timeout {
            cfg.io_timeout = t;
            cfg.connect_timeout = t.min(Duration::from_secs(10));
        }
        if let Some(d) = self.digest {
            cfg.offer.header_digest = d;
            cfg.offer.data_digest = d;
        }
        if let Some(n) = self.read_io_bytes {
            cfg.read_io_bytes = n;
        }
        if let Some(n) = self.read_depth {
            cfg.read_depth = n;
        }
        cfg
    }
}

/// Seconds, more than 0 and less than a day.
pub fn parse_timeout(t: &str) -> std::result::Result<Duration, String> {
    t.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && *s < 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| "not a number of seconds between 0 and 86400".to_string())
}

/// `none`, `crc32c` (required) or `prefer` (CRC32C if the target agrees).
pub fn parse_digest(d: &str) -> std::result::Result<DigestPref, String> {
    match d.to_ascii_lowercase().as_str() {
        "none" => Ok(DigestPref::None),
        "crc32c" => Ok(DigestPref::Require),
        "prefer" => Ok(DigestPref::Prefer),
        _ => Err("use none, crc32c or prefer".to_string()),
    }
}

/// SendTargets discovery on `cfg.portal` (a discovery session).
pub fn discover(cfg: &SessionConfig) -> Result<Vec<DiscoveredTarget>> {
    let mut c = cfg.clone();
    c.target = None;
    let mut s = Session::login(&c)?;
    let t = s.send_targets()?;
    let _ = s.logout();
    Ok(t)
}

/// What one LUN of a target says about itself.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LunInfo {
    /// LUN number.
    pub lun: u64,
    /// Standard INQUIRY data.
    pub inquiry: Inquiry,
    /// VPD page 0x83 designators in wire order (empty when not supported).
    pub designators: Vec<Designator>,
    /// NAA/EUI logical-unit names derived from them.
    pub lu_names: Vec<String>,
    /// READ CAPACITY(16), for block devices.
    pub capacity: Option<Capacity>,
    /// The WP bit of MODE SENSE, when asked ([`write_protected`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_protected: Option<bool>,
}

/// Whether LU `lun` reports itself write-protected: the WP bit of the mode
/// parameter header, from MODE SENSE(6) or, when the target rejects that,
/// MODE SENSE(10). `None` when it answers neither.
pub fn write_protected(s: &mut Session, lun: u64) -> Result<Option<bool>> {
    let l = scsi::encode_lun(lun)?;
    let (st, d) = s.command_in(l, scsi::mode_sense6(scsi::ALL_MODE_PAGES, 255), 255)?;
    if st.status == 0 {
        return scsi::parse_mode_wp(&d, false).map(Some);
    }
    let (st, d) = s.command_in(l, scsi::mode_sense10(scsi::ALL_MODE_PAGES, 1024), 1024)?;
    if st.status == 0 {
        return scsi::parse_mode_wp(&d, true).map(Some);
    }
    Ok(None)
}

/// The command that lifts an LU's write protection on the host serving it,
/// chosen by who answers INQUIRY: COMSTAR (Solaris `stmfadm`, the LU's GUID
/// is its NAA name), Linux tgt (`tgtadm`), or both forms when unknown.
pub fn lift_write_protect_hint(inq: &Inquiry, lu_name: Option<&str>, lun: u64) -> String {
    let guid = lu_name
        .and_then(|n| n.strip_prefix("naa."))
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| "<GUID>".into());
    let comstar = format!("stmfadm modify-lu -p wp=false {guid}");
    let tgt = format!(
        "tgtadm --lld iscsi --op update --mode logicalunit --tid <TID> --lun {lun} --params readonly=0"
    );
    if inq.vendor == "SUN" && inq.product.starts_with("COMSTAR") {
        format!("on the Solaris host: `{comstar}`")
    } else if inq.vendor == "IET" {
        format!("on the Linux tgt host: `{tgt}`")
    } else {
        format!(
            "on the host serving it (Solaris COMSTAR: `{comstar}`; Linux tgt: `{tgt}`; \
             otherwise the target's own write-protect setting)"
        )
    }
}

/// REPORT LUNS on a logged-in session.
pub fn report_luns(s: &mut Session) -> Result<Vec<u64>> {
    let data = s.command_in_ok([0; 8], scsi::report_luns(16_384), 16_384, "REPORT LUNS")?;
    scsi::parse_report_luns(&data)
}

/// INQUIRY (standard and page 0x83) and, for block devices, READ CAPACITY(16).
pub fn lun_info(s: &mut Session, lun: u64) -> Result<LunInfo> {
    let l = scsi::encode_lun(lun)?;
    let inq = s.command_in_ok(
        l,
        scsi::inquiry(None, 255),
        255,
        &format!("LUN {lun} INQUIRY"),
    )?;
    let inquiry = scsi::parse_inquiry(&inq)?;
    let (st, vpd) = s.command_in(l, scsi::inquiry(Some(0x83), 1024), 1024)?;
    let designators = if st.status == 0 {
        scsi::parse_vpd83(&vpd)?
    } else {
        Vec::new()
    };
    let capacity = if inquiry.device_type == 0 && inquiry.qualifier == 0 {
        let d = s.command_in_ok(
            l,
            scsi::read_capacity16(),
            32,
            &format!("LUN {lun} READ CAPACITY(16)"),
        )?;
        Some(scsi::parse_capacity16(&d)?)
    } else {
        None
    };
    Ok(LunInfo {
        lun,
        lu_names: scsi::lu_names(&designators),
        inquiry,
        designators,
        capacity,
        write_protected: None,
    })
}

/// An iSCSI logical unit as a [`Source`].
pub struct IscsiSource {
    name: String,
    cfg: SessionConfig,
    lun: u64,
    lun_field: [u8; 8],
    lu_name: Option<String>,
    inquiry: Inquiry,
    capacity: Capacity,
    size: u64,
    write: bool,
    session: Mutex<Option<Session>>,
}

impl std::fmt::Debug for IscsiSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IscsiSource({})", self.name)
    }
}

impl IscsiSource {
    /// Logs in and opens the LU `sel` behind `cfg.portal`. `name` is used in
    /// messages (normally the URI). For [`LuSelector::Name`] all targets the
    /// portal reports are searched.
    pub fn open(
        name: &str,
        cfg: &SessionConfig,
        sel: &LuSelector,
        write: bool,
    ) -> Result<IscsiSource> {
        let (mut session, lun, info) = locate(cfg, sel)?;
        if info.inquiry.qualifier != 0 || info.inquiry.device_type != 0 {
            return Err(Error::unsupported(
                "iSCSI logical unit",
                format!(
                    "{name}: LUN {lun} is a {} device (qualifier {}), not a block device",
                    scsi::device_type_name(info.inquiry.device_type),
                    info.inquiry.qualifier
                ),
            ));
        }
        let capacity = info.capacity.ok_or_else(|| {
            Error::unsupported("iSCSI logical unit", format!("{name}: no capacity"))
        })?;
        let size = capacity.bytes().unwrap_or(0);
        let lu_name = info
            .lu_names
            .iter()
            .find(|n| n.starts_with("naa.") && n.len() == 36)
            .or(info.lu_names.first())
            .cloned();
        if write && write_protected(&mut session, lun)? == Some(true) {
            let _ = session.logout();
            return Err(Error::Refused(format!(
                "iSCSI {name}: the logical unit {} is write-protected by its target (the WP bit \
                 of MODE SENSE), so kzrescue writes nothing to it; lift the protection {}, \
                 then run this command again",
                lu_name.as_deref().unwrap_or("(unnamed)"),
                lift_write_protect_hint(&info.inquiry, lu_name.as_deref(), lun)
            )));
        }
        let cfg = session.config().clone();
        Ok(IscsiSource {
            name: name.to_string(),
            cfg,
            lun,
            lun_field: scsi::encode_lun(lun)?,
            lu_name,
            inquiry: info.inquiry,
            capacity,
            size,
            write,
            session: Mutex::new(Some(session)),
        })
    }

    /// The target name in use.
    pub fn target(&self) -> &str {
        self.cfg.target.as_deref().unwrap_or("")
    }

    /// The LUN number in use.
    pub fn lun(&self) -> u64 {
        self.lun
    }

    /// Logical block size and last LBA.
    pub fn capacity(&self) -> Capacity {
        self.capacity
    }

    /// Sends a NOP-Out ping.
    pub fn ping(&self) -> Result<()> {
        self.with_session(|s| s.nop())
    }

    /// Logs the session out (dropping the source without this just closes
    /// the TCP connection).
    pub fn logout(&self) -> Result<()> {
        let s = self.session.lock().map_err(|_| poisoned())?.take();
        match s {
            Some(s) => s.logout(),
            None => Ok(()),
        }
    }

    fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> Result<T>) -> Result<T> {
        let mut g = self.session.lock().map_err(|_| poisoned())?;
        if g.as_ref().is_none_or(|s| s.is_broken()) {
            *g = None;
            *g = Some(Session::login(&self.cfg)?);
        }
        let s = g.as_mut().ok_or_else(poisoned)?;
        let r = f(s);
        if s.is_broken() {
            *g = None;
        }
        r
    }

    /// Reads whole blocks `[lba, lba + buf.len()/block)` into `buf`.
    fn read_blocks(&self, lba: u64, buf: &mut [u8]) -> Result<()> {
        let bl = self.capacity.block_len as usize;
        let lun = self.lun_field;
        let run = |s: &mut Session, buf: &mut [u8]| -> Result<()> {
            let per = (self.cfg.read_io_bytes.clamp(512, 16 << 20) / bl).max(1) * bl;
            let mut cmds = Vec::with_capacity(buf.len().div_ceil(per));
            let mut pos = 0usize;
            while pos < buf.len() {
                let n = per.min(buf.len() - pos);
                let l = lba + (pos / bl) as u64;
                cmds.push((scsi::read16(l, (n / bl) as u32), pos, n));
                pos += n;
            }
            let st = s.run_reads(lun, &cmds, buf)?;
            for (i, st) in st.iter().enumerate() {
                let (_, start, len) = cmds[i];
                self.check_read(lba * bl as u64 + start as u64, len, st)?;
            }
            Ok(())
        };
        self.with_relogin(&mut |s| run(s, buf), &|| true, &|| "read failed".into())
    }

    /// Runs the read `f` on the session. When it fails because the session
    /// was lost and `may_retry` agrees, logs in again and runs it once more;
    /// a second loss is final, and its error names the read (`what`, asked
    /// before the retry) and both failures.
    fn with_relogin(
        &self,
        f: &mut dyn FnMut(&mut Session) -> Result<()>,
        may_retry: &dyn Fn() -> bool,
        what: &dyn Fn() -> String,
    ) -> Result<()> {
        match self.with_session(|s| f(s)) {
            Err(e) if may_retry() && self.session_lost() => {
                let failed = what();
                self.with_session(|s| f(s)).map_err(|e2| {
                    Error::io(
                        format!(
                            "iSCSI {}: {failed} ({e}); retry after re-login failed too",
                            self.name
                        ),
                        std::io::Error::other(e2.to_string()),
                    )
                })
            }
            r => r,
        }
    }

    /// Fails unless the READ(16) of `len` bytes at byte `at` ended GOOD
    /// with all its bytes.
    fn check_read(&self, at: u64, len: usize, st: &ScsiStatus) -> Result<()> {
        if st.status != 0 {
            return Err(Error::io(
                format!(
                    "iSCSI {}: READ(16) of {len} bytes at {at:#x}: {}",
                    self.name,
                    st.describe()
                ),
                std::io::Error::other("SCSI command failed"),
            ));
        }
        if st.received != len {
            return Err(Error::io(
                format!(
                    "iSCSI {}: READ(16) at {at:#x} returned {} of {len} bytes",
                    self.name, st.received
                ),
                std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
            ));
        }
        Ok(())
    }

    /// Streams `[pos, end)` through `s` (see [`Source::stream`]), moving
    /// `pos` past each byte `sink` has taken. `sink_failed` says whether an
    /// error came from `sink` (never retried) rather than from the target
    /// or the session.
    fn stream_with(
        &self,
        s: &mut Session,
        pos: &Cell<u64>,
        end: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
        sink_failed: &Cell<bool>,
    ) -> Result<()> {
        let bl = u64::from(self.capacity.block_len);
        let per = (self.cfg.read_io_bytes.clamp(512, 16 << 20) as u64 / bl).max(1) as u32;
        let lba = pos.get() / bl;
        let blocks = end.div_ceil(bl) - lba;
        s.stream_reads(
            self.lun_field,
            lba,
            blocks,
            bl as usize,
            per,
            &mut |first, data, st| {
                let at = first * bl;
                self.check_read(at, data.len(), st)?;
                // The first and last commands may reach past the range.
                let lo = (pos.get() - at) as usize;
                let hi = data.len().min((end - at) as usize);
                if let Err(e) = sink(&data[lo..hi]) {
                    sink_failed.set(true);
                    return Err(e);
                }
                pos.set(at + hi as u64);
                Ok(())
            },
        )
    }

    /// The whole logical blocks under `len` bytes at `offset`, after the
    /// bounds check; `None` for an empty range.
    fn span(&self, offset: u64, len: usize) -> Result<Option<Span>> {
        check_bounds(&|| self.name.clone(), offset, len, self.size)?;
        if len == 0 {
            return Ok(None);
        }
        let bl = u64::from(self.capacity.block_len);
        let end = offset + len as u64;
        let lba = offset / bl;
        let blocks = end.div_ceil(bl) - lba;
        Ok(Some(Span {
            lba,
            blocks: blocks as usize,
            block_len: bl as usize,
            skip: (offset - lba * bl) as usize,
            exact: offset.is_multiple_of(bl) && end.is_multiple_of(bl),
        }))
    }

    fn session_lost(&self) -> bool {
        self.session.lock().map(|g| g.is_none()).unwrap_or(true)
    }

    /// Writes whole blocks. On failure says which bytes were acknowledged.
    fn write_blocks(&self, lba: u64, data: &[u8]) -> Result<()> {
        let bl = self.capacity.block_len as usize;
        let per = (session::MAX_WRITE_BYTES / bl).max(1) * bl;
        let base = lba * bl as u64;
        let mut done = 0usize;
        let mut reissued = 0;
        let lun = self.lun_field;
        while done < data.len() {
            let n = per.min(data.len() - done);
            let cdb = scsi::write16(lba + (done / bl) as u64, (n / bl) as u32);
            let chunk = &data[done..done + n];
            let r = self.with_session(|s| s.command_out(lun, cdb, chunk));
            let fail = |why: String| {
                let a = base + done as u64;
                let mut msg = format!(
                    "iSCSI {}: write of {:#x}..{:#x} failed: {why}; ",
                    self.name,
                    base,
                    base + data.len() as u64
                );
                if done > 0 {
                    msg += &format!("bytes {base:#x}..{a:#x} were written and acknowledged; ");
                } else {
                    msg += "no byte was acknowledged; ";
                }
                msg += &format!(
                    "bytes {a:#x}..{:#x} were in flight (state unknown)",
                    a + n as u64
                );
                if done + n < data.len() {
                    msg += &format!(
                        "; bytes {:#x}..{:#x} were not sent",
                        a + n as u64,
                        base + data.len() as u64
                    );
                }
                msg
            };
            match r {
                Ok(st) if st.status == 0 => done += n,
                // not executed (SAM): reissue, as for reads, a few times
                Ok(st) if st.unit_attention() && reissued < 3 => reissued += 1,
                // DATA PROTECT: the LU refuses writes; a clean refusal, never retried.
                Ok(st) if st.status == 2 && st.sense.as_ref().is_some_and(|s| s.key == 7) => {
                    return Err(Error::Refused(format!(
                        "{}; the logical unit refused the write (DATA PROTECT): lift its \
                         write protection {} — kzrescue does not retry a refused write",
                        fail(st.describe()),
                        lift_write_protect_hint(&self.inquiry, self.lu_name.as_deref(), self.lun)
                    )));
                }
                Ok(st) => {
                    return Err(Error::io(
                        fail(st.describe()),
                        std::io::Error::other("SCSI write failed"),
                    ));
                }
                Err(e) => {
                    return Err(Error::io(
                        fail(e.to_string()),
                        std::io::Error::other("iSCSI write failed"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A byte range widened to whole logical blocks.
struct Span {
    /// First block.
    lba: u64,
    /// Blocks covered.
    blocks: usize,
    /// Bytes per block.
    block_len: usize,
    /// Where the range starts in the first block.
    skip: usize,
    /// Whether the range is exactly these blocks.
    exact: bool,
}

fn poisoned() -> Error {
    Error::io(
        "iSCSI session lock",
        std::io::Error::other("poisoned by an earlier panic"),
    )
}

/// Logs in to the target holding `sel` and describes the LU: returns the
/// session, the LUN number and what the LU says about itself.
pub fn locate(cfg: &SessionConfig, sel: &LuSelector) -> Result<(Session, u64, LunInfo)> {
    match sel {
        LuSelector::TargetLun { target, lun } => {
            let mut c = cfg.clone();
            c.target = Some(target.clone());
            let mut s = Session::login(&c)?;
            let info = lun_info(&mut s, *lun)?;
            Ok((s, *lun, info))
        }
        LuSelector::Name(want) => find_by_name(cfg, want),
    }
}

fn find_by_name(cfg: &SessionConfig, want: &str) -> Result<(Session, u64, LunInfo)> {
    let want = want.to_ascii_lowercase();
    let targets = discover(cfg)?;
    let mut seen = Vec::new();
    for t in &targets {
        let mut c = cfg.clone();
        c.target = Some(t.name.clone());
        let mut s = Session::login(&c)?;
        for lun in report_luns(&mut s)? {
            let info = lun_info(&mut s, lun)?;
            if info.lu_names.contains(&want) {
                return Ok((s, lun, info));
            }
            for n in &info.lu_names {
                seen.push(format!("{} LUN {lun}: {n}", t.name));
            }
        }
        let _ = s.logout();
    }
    Err(Error::Usage(format!(
        "iSCSI {}: no logical unit named {want} among {} target(s){}",
        cfg.portal,
        targets.len(),
        if seen.is_empty() {
            String::new()
        } else {
            format!(" (found {})", seen.join("; "))
        }
    )))
}

impl Source for IscsiSource {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let Some(span) = self.span(offset, buf.len())? else {
            return Ok(());
        };
        if span.exact {
            return self.read_blocks(span.lba, buf);
        }
        let mut tmp = vec![0u8; span.blocks * span.block_len];
        self.read_blocks(span.lba, &mut tmp)?;
        buf.copy_from_slice(&tmp[span.skip..span.skip + buf.len()]);
        Ok(())
    }
    fn stream(
        &self,
        offset: u64,
        len: u64,
        _chunk: usize,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let end = super::range_end(&|| self.name.clone(), offset, len, self.size)?;
        if len == 0 {
            return Ok(());
        }
        let pos = Cell::new(offset);
        let sink_failed = Cell::new(false);
        // A retry goes on from the first byte not yet handed out; an error
        // of the sink is never retried.
        self.with_relogin(
            &mut |s| self.stream_with(s, &pos, end, sink, &sink_failed),
            &|| !sink_failed.get() && pos.get() < end,
            &|| format!("read failed at {:#x}", pos.get()),
        )
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        if !self.write {
            return Err(Error::Refused(format!(
                "{} is open read-only (write at {offset:#x})",
                self.name
            )));
        }
        let Some(span) = self.span(offset, buf.len())? else {
            return Ok(());
        };
        if span.exact {
            return self.write_blocks(span.lba, buf);
        }
        // Read-modify-write of the partial blocks at either end.
        let bl = span.block_len;
        let mut tmp = vec![0u8; span.blocks * bl];
        self.read_blocks(span.lba, &mut tmp[..bl])?;
        if span.blocks > 1 {
            let tail = tmp.len() - bl;
            self.read_blocks(span.lba + span.blocks as u64 - 1, &mut tmp[tail..])?;
        }
        tmp[span.skip..span.skip + buf.len()].copy_from_slice(buf);
        self.write_blocks(span.lba, &tmp)
    }
    fn flush(&self) -> Result<()> {
        if !self.write {
            return Ok(());
        }
        let lun = self.lun_field;
        // Never retried: after a lost connection nothing says whether the
        // target's cache reached the medium.
        let unsure = "the writes since the last successful flush were acknowledged but are not \
                      known to be on stable storage";
        let st = self
            .with_session(|s| s.command_in(lun, scsi::synchronize_cache(), 0))
            .map_err(|e| {
                Error::io(
                    format!(
                        "iSCSI {}: SYNCHRONIZE CACHE failed ({e}); {unsure}",
                        self.name
                    ),
                    std::io::Error::other("iSCSI flush failed"),
                )
            })?
            .0;
        if st.status != 0 {
            return Err(Error::io(
                format!(
                    "iSCSI {}: SYNCHRONIZE CACHE: {}; {unsure}",
                    self.name,
                    st.describe()
                ),
                std::io::Error::other("SCSI command failed"),
            ));
        }
        Ok(())
    }
    fn writable(&self) -> bool {
        self.write
    }
    fn logical_sector_size(&self) -> Option<u32> {
        Some(self.capacity.block_len)
    }
    fn read_uncached(&self, offset: u64, buf: &mut [u8]) -> Result<ReadPath> {
        // read_at sends READ(16) for every call; nothing is cached here.
        self.read_at(offset, buf)?;
        Ok(ReadPath::Lu)
    }
    fn identity(&self) -> String {
        match &self.lu_name {
            Some(n) => n.clone(),
            None => format!("iscsi:{},lun.{}", self.target(), self.lun),
        }
    }
}

impl Drop for IscsiSource {
    fn drop(&mut self) {
        if let Ok(mut g) = self.session.lock()
            && let Some(s) = g.take()
            && !s.is_broken()
        {
            let _ = s.logout();
        }
    }
}
