//! Looking at storage itself, as `kzrescue uri` and `kzrescue iscsi` do:
//! what a storage URI says and maps to on this machine, what an iSCSI
//! portal offers and what its LUs answer to INQUIRY, and copying an LU (or
//! any disk) out to a file.

use crate::error::{Error, Result};
use crate::source::Source;
pub use crate::source::iscsi::login::{ChapCredentials, DigestPref, DiscoveredTarget};
pub use crate::source::iscsi::scsi::{Designator, device_type_name};
use crate::source::iscsi::{self, LuSelector};
pub use crate::source::iscsi::{IscsiOptions, LunInfo, parse_digest, parse_timeout};
use crate::source::uri::{self, AccessOptions};
pub use crate::source::uri::{IscsiLu, Mapped, NfsMount, StorageUri, map};
use crate::zone::comstar;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// `schema` of `uri parse --json` ([`parse_doc`]).
pub const SCHEMA_PARSE: &str = "kzrescue.uri/1";
/// `schema` of `uri map --json` (a [`Mapped`]; without --via-iscsi).
pub const SCHEMA_MAP: &str = "kzrescue.uri-map/1";
/// `schema` of `iscsi discover --json` ([`Discovery::json`]).
pub const SCHEMA_DISCOVER: &str = "kzrescue.iscsi-discover/1";
/// `schema` of `iscsi inquiry --json` ([`LuReport::json`]).
pub const SCHEMA_INQUIRY: &str = "kzrescue.iscsi-inquiry/1";

/// `host[:port]` with the iSCSI port (3260) added when none is given.
pub fn portal_with_port(p: &str) -> String {
    let has_port = if p.starts_with('[') {
        p.contains("]:")
    } else {
        p.contains(':')
    };
    if has_port {
        p.to_string()
    } else {
        format!("{p}:{}", uri::ISCSI_PORT)
    }
}

/// The `uri parse --json` document (`kzrescue.uri/1`): the URI's parts,
/// its normalised form as `uri`, and the Solaris device path it maps to
/// there as `mapped-dev` (for `dev:` URIs).
pub fn parse_doc(u: &StorageUri) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(u).map_err(|e| Error::Usage(format!("JSON output: {e}")))?;
    if let Some(o) = v.as_object_mut() {
        o.insert("uri".into(), u.normalize().into());
        if let Some(p) = u.solaris_path() {
            o.insert("mapped-dev".into(), p.into());
        }
    }
    Ok(v)
}

/// The parts of a URI as `suriadm parse` lists them: (field, value).
pub fn parse_fields(u: &StorageUri) -> Vec<(&'static str, String)> {
    let mut r = vec![
        ("uri-type", u.uri_type().to_string()),
        ("uri", u.normalize()),
    ];
    match u {
        StorageUri::Dev { path } => r.push(("path", format!("/dev/{path}"))),
        StorageUri::File { path } => r.push(("path", path.clone())),
        StorageUri::Lu {
            initiator,
            target,
            luname,
        } => {
            if let Some(i) = initiator {
                r.push(("initiator", i.normalized()));
            }
            if let Some(t) = target {
                r.push(("target", t.normalized()));
            }
            r.push(("luname", luname.normalized()));
        }
        StorageUri::Iscsi { host, port, lu } => {
            if let Some(h) = host {
                r.push(("hostname", h.clone()));
                r.push(("port", port.unwrap_or(uri::ISCSI_PORT).to_string()));
            }
            match lu {
                IscsiLu::Luname { luname } => r.push(("luname", luname.normalized())),
                IscsiLu::TargetLun { target, lun } => {
                    r.push(("target", target.clone()));
                    r.push(("lun", lun.to_string()));
                }
            }
        }
        StorageUri::Nfs {
            user,
            group,
            host,
            port,
            path,
        } => {
            r.push(("user", user.clone()));
            r.push(("group", group.clone()));
            r.push(("hostname", host.clone()));
            if let Some(p) = port {
                r.push(("port", p.to_string()));
            }
            r.push(("path", path.clone()));
        }
    }
    if let Some(p) = u.solaris_path() {
        r.push(("mapped-dev", format!("{p} (on Solaris)")));
    }
    r
}

/// The parts of a URI as `kzrescue uri parse` prints them: one
/// `field: value` line each, the names right-aligned.
pub fn parse_text(u: &StorageUri) -> String {
    let mut s = String::new();
    for (k, v) in parse_fields(u) {
        let _ = writeln!(s, "{k:>12}: {v}");
    }
    s
}

/// What a URI maps to, in one line: the local path, or
/// `iscsi PORTAL luname NAME` / `iscsi PORTAL target IQN lun N`.
pub fn mapped_line(m: &Mapped) -> String {
    match m {
        Mapped::Path { path } => path.display().to_string(),
        Mapped::Iscsi { portal, lu } => match lu {
            IscsiLu::Luname { luname } => format!("iscsi {portal} luname {}", luname.normalized()),
            IscsiLu::TargetLun { target, lun } => {
                format!("iscsi {portal} target {target} lun {lun}")
            }
        },
    }
}

/// The initiator name when none is given: the configured one, else this
/// machine's default (`iqn.2026-11.org.kzrescue:HOSTNAME`).
pub fn initiator_name(access: &AccessOptions) -> String {
    access
        .iscsi
        .initiator_name
        .clone()
        .unwrap_or_else(iscsi::session::default_initiator_name)
}

/// What a portal offers (`kzrescue iscsi discover`).
#[derive(Debug, Clone)]
pub struct Discovery {
    /// The portal, with its port.
    pub portal: String,
    /// The targets it offers.
    pub targets: Vec<DiscoveredTarget>,
}

impl Discovery {
    /// The `iscsi discover --json` document (without its `schema`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({ "portal": self.portal, "targets": self.targets })
    }

    /// One `ADDRESS TARGET` line per address of each target (`- TARGET`
    /// for a target without one).
    pub fn text(&self) -> String {
        let mut s = String::new();
        for t in &self.targets {
            for addr in &t.addresses {
                let _ = writeln!(s, "{addr} {}", t.name);
            }
            if t.addresses.is_empty() {
                let _ = writeln!(s, "- {}", t.name);
            }
        }
        s
    }
}

/// The zvol route (`uri map --via-iscsi`) for the zvols `storage` names:
/// [`comstar::plan`] with `rescue_host` (required) and `initiator` (default:
/// the one `access()` configures, else this machine's).
pub fn zvol_route(
    storage: &[String],
    rescue_host: Option<&str>,
    initiator: Option<&str>,
    zone: Option<&str>,
    access: &dyn Fn() -> Result<AccessOptions>,
) -> Result<comstar::Route> {
    let host = rescue_host.ok_or_else(|| {
        Error::Usage(
            "--via-iscsi needs --rescue-host ADDR: the Solaris host's address as this \
             machine reaches it"
                .into(),
        )
    })?;
    comstar::plan(&comstar::RouteRequest {
        storage: storage.to_vec(),
        rescue_host: host.to_string(),
        initiator: match initiator {
            Some(i) => i.to_string(),
            None => initiator_name(&access()?),
        },
        zone: zone.map(str::to_string),
    })
}

/// The targets a portal (`host[:port]`) offers: SendTargets discovery.
pub fn discover(portal: &str, access: &AccessOptions) -> Result<Discovery> {
    let portal = portal_with_port(portal);
    let targets = iscsi::discover(&access.iscsi.session(&portal, None))?;
    Ok(Discovery { portal, targets })
}

/// What the LUs a URI or a portal names answer (`kzrescue iscsi inquiry`).
#[derive(Debug, Clone)]
pub struct LuReport {
    /// The URI or portal as asked.
    pub query: String,
    /// Each LU with the name of its target.
    pub lus: Vec<(String, LunInfo)>,
}

impl LuReport {
    /// The `iscsi inquiry --json` document (without its `schema`).
    pub fn json(&self) -> serde_json::Value {
        inquiry_doc(&self.query, &self.lus)
    }

    /// Each LU for a person: type, identity, capacity, write protection,
    /// designators and LU names.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (target, i) in &self.lus {
            let _ = writeln!(s, "{target} LUN {}:", i.lun);
            let _ = writeln!(
                s,
                "  type      {} ({:#04x}), qualifier {}",
                device_type_name(i.inquiry.device_type),
                i.inquiry.device_type,
                i.inquiry.qualifier
            );
            let _ = writeln!(
                s,
                "  vendor    {:?}  product {:?}  revision {:?}",
                i.inquiry.vendor, i.inquiry.product, i.inquiry.revision
            );
            if let Some(c) = i.capacity {
                let _ = writeln!(
                    s,
                    "  capacity  {} blocks of {} bytes ({} bytes)",
                    c.last_lba + 1,
                    c.block_len,
                    c.bytes().unwrap_or(0)
                );
            }
            match i.write_protected {
                Some(true) => s.push_str("  write-protected yes (MODE SENSE WP bit)\n"),
                Some(false) => s.push_str("  write-protected no\n"),
                None => {}
            }
            for d in &i.designators {
                let (kind, assoc, val) = designator_text(d);
                let n = d.value.len();
                let _ = writeln!(s, "  id        {kind} ({assoc}, {n} bytes): {val}");
            }
            for n in &i.lu_names {
                let _ = writeln!(s, "  luname    {n}");
            }
        }
        s
    }
}

/// INQUIRY, VPD 0x83, capacity and write protection of the LU an
/// `iscsi:` URI names, or (`what` = `host[:port]`) of every LU of every
/// target behind that portal: (target name, LU).
pub fn inquire(what: &str, access: &AccessOptions) -> Result<LuReport> {
    let mut found = LuReport {
        query: what.to_string(),
        lus: Vec::new(),
    };
    if uri::is_uri(what) {
        let u = StorageUri::parse(what)?;
        let Mapped::Iscsi { portal, lu } = uri::map(&u, access)? else {
            return Err(Error::Usage(format!("{what}: not an iscsi: URI")));
        };
        let cfg = access.iscsi.session(&portal, None);
        let sel = match lu {
            IscsiLu::Luname { luname } => LuSelector::Name(luname.normalized()),
            IscsiLu::TargetLun { target, lun } => LuSelector::TargetLun { target, lun },
        };
        let (mut s, lun, mut info) = iscsi::locate(&cfg, &sel)?;
        info.write_protected = iscsi::write_protected(&mut s, lun)?;
        let target = s.config().target.clone().unwrap_or_default();
        let _ = s.logout();
        found.lus.push((target, info));
        return Ok(found);
    }
    let cfg = access.iscsi.session(&portal_with_port(what), None);
    for t in iscsi::discover(&cfg)? {
        let mut c = cfg.clone();
        c.target = Some(t.name.clone());
        let mut s = iscsi::Session::login(&c)?;
        for lun in iscsi::report_luns(&mut s)? {
            let mut info = iscsi::lun_info(&mut s, lun)?;
            if info.inquiry.device_type == 0 && info.inquiry.qualifier == 0 {
                info.write_protected = iscsi::write_protected(&mut s, lun)?;
            }
            found.lus.push((t.name.clone(), info));
        }
        let _ = s.logout();
    }
    Ok(found)
}

/// A VPD 0x83 designator in words: its type (`NAA`, `EUI-64`, …), what
/// it identifies (`LU`, `port`, `device`) and its value (hex for binary).
pub fn designator_text(d: &Designator) -> (&'static str, &'static str, String) {
    let kind = match d.designator_type {
        1 => "T10 vendor",
        2 => "EUI-64",
        3 => "NAA",
        4 => "relative port",
        5 => "port group",
        8 => "SCSI name",
        _ => "other",
    };
    let assoc = ["LU", "port", "device", "?"][(d.association & 3) as usize];
    let val = if d.code_set == 1 {
        hex::encode(&d.value)
    } else {
        String::from_utf8_lossy(&d.value).into_owned()
    };
    (kind, assoc, val)
}

/// The `iscsi inquiry --json` document's `lus`: each LU with its `target`.
pub fn inquiry_doc(what: &str, found: &[(String, LunInfo)]) -> serde_json::Value {
    let v: Vec<serde_json::Value> = found
        .iter()
        .map(|(t, i)| {
            let mut v = serde_json::to_value(i).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("target".into(), t.clone().into());
            }
            v
        })
        .collect();
    serde_json::json!({ "query": what, "lus": v })
}

/// What a copy moved, and how long it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Copied {
    /// Bytes copied.
    pub bytes: u64,
    /// Time taken.
    pub elapsed: Duration,
}

impl Copied {
    /// Throughput in MiB/s.
    pub fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / (1 << 20) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// `read N bytes in S s (T MiB/s)`.
    pub fn summary(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let (n, rate) = (self.bytes, self.mib_per_s());
        format!("read {n} bytes in {secs:.3} s ({rate:.1} MiB/s)")
    }
}

/// Where [`copy_out`] copies to.
pub enum CopyTo<'a> {
    /// Nowhere: read and throw away (to measure the throughput).
    Nowhere,
    /// A writer (standard output).
    Writer(&'a mut dyn std::io::Write),
    /// A new file (refused when it exists).
    NewFile(&'a std::path::Path),
}

/// Opens the disk `spec` names read-only (an `iscsi:` URI, any target) and
/// copies a range of it as [`copy`] does, to `to` (a new file is created
/// once the disk has opened).
pub fn copy_out(
    spec: &str,
    access: &AccessOptions,
    offset: u64,
    length: Option<u64>,
    chunk: usize,
    to: CopyTo<'_>,
) -> Result<Copied> {
    let src = crate::target::open_source(spec, false, access)?;
    let mut file;
    let out: Option<&mut dyn std::io::Write> = match to {
        CopyTo::Nowhere => None,
        CopyTo::Writer(w) => Some(w),
        CopyTo::NewFile(p) => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
                .map_err(|e| Error::io(format!("create {}", p.display()), e))?;
            file = std::io::BufWriter::new(f);
            Some(&mut file)
        }
    };
    copy(src.as_ref(), offset, length, chunk, out)
}

/// Copies `length` bytes (default: to the end) of `src` from `offset` to
/// `out` (or nowhere, to measure) through [`Source::stream`]: `chunk` bytes
/// (clamped to 512 B–256 MiB) per read where the source has no stream of
/// its own; an iSCSI LU keeps its READs in flight across the whole range.
/// A range past the end is refused before anything is read.
pub fn copy(
    src: &dyn Source,
    offset: u64,
    length: Option<u64>,
    chunk: usize,
    mut out: Option<&mut dyn std::io::Write>,
) -> Result<Copied> {
    let size = src.size();
    let end = match length {
        Some(l) => offset
            .checked_add(l)
            .filter(|&e| e <= size)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--offset {offset} --length {l} reaches past the end ({size} bytes)"
                ))
            })?,
        None => size,
    };
    if offset > end {
        return Err(Error::Usage(format!(
            "--offset {offset} is past the end ({size} bytes)"
        )));
    }
    let chunk = chunk.clamp(512, 256 << 20);
    let t = Instant::now();
    let werr = |e| Error::io("writing the output", e);
    src.stream(
        offset,
        end - offset,
        chunk,
        &mut |piece| match out.as_mut() {
            Some(w) => w.write_all(piece).map_err(werr),
            None => Ok(()),
        },
    )?;
    if let Some(w) = out.as_mut() {
        w.flush().map_err(werr)?;
    }
    Ok(Copied {
        bytes: end - offset,
        elapsed: t.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemSource;

    #[test]
    fn copy_takes_the_range_and_refuses_past_the_end() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let src = MemSource::new(&bytes);
        let mut out = Vec::new();
        let c = copy(&src, 1000, Some(3000), 512, Some(&mut out)).unwrap();
        assert_eq!((c.bytes, &out[..]), (3000, &bytes[1000..4000]));
        assert_eq!(copy(&src, 0, None, 1, None).unwrap().bytes, 5000);
        let e = copy(&src, 4000, Some(1001), 512, None).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Usage);
        assert!(copy(&src, 5001, None, 512, None).is_err());
    }

    #[test]
    fn discovery_lists_every_address_of_every_target() {
        let t = |name: &str, addresses: &[&str]| DiscoveredTarget {
            name: name.into(),
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
        };
        let d = Discovery {
            portal: "h:3260".into(),
            targets: vec![t("iqn.a", &["10.0.0.1:3260,1"]), t("iqn.b", &[])],
        };
        assert_eq!(d.text(), "10.0.0.1:3260,1 iqn.a\n- iqn.b\n");
        assert_eq!(d.json()["portal"], "h:3260");
        assert_eq!(d.json()["targets"][1]["name"], "iqn.b");
    }

    #[test]
    fn portals_get_the_iscsi_port() {
        assert_eq!(portal_with_port("h"), "h:3260");
        assert_eq!(portal_with_port("h:1"), "h:1");
        assert_eq!(portal_with_port("[::1]"), "[::1]:3260");
        assert_eq!(portal_with_port("[::1]:5"), "[::1]:5");
    }

    #[test]
    fn parse_fields_name_the_parts() {
        let u = StorageUri::parse("iscsi://h:3261/target.iqn.2000-01.com.x:t,lun.3").unwrap();
        let f = parse_fields(&u);
        assert_eq!(f[0], ("uri-type", "iscsi".to_string()));
        assert!(f.contains(&("port", "3261".to_string())), "{f:?}");
        assert!(f.contains(&("lun", "3".to_string())), "{f:?}");
    }
}
