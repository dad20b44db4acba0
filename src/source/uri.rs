//! Solaris storage URIs (suri(7)): parsing, normalization as `suriadm
//! normalize` does it, mapping to a local object, and opening as a
//! [`Source`](super::Source).
//!
//! Forms accepted (scheme names are case-insensitive):
//! - `dev:dsk/c0t0d0s0`, `dev:/dev/dsk/c0t0d0s0`, `dev:///dev/dsk/c0t0d0s0`,
//!   `dev:zvol/dsk/rpool/kz1`, `dev:chassis/SYS/HD1/disk`
//! - `file:///abs/path` (also `file:/abs/path`)
//! - `lu:luname.naa.<ID>`, `lu:luname.eui.<ID>`,
//!   `lu:initiator.naa.<ID>,target.naa.<ID>,luname.naa.<ID>`
//! - `iscsi://host[:port]/luname.naa.<ID>`, `iscsi:///luname.naa.<ID>`,
//!   `iscsi://host[:port]/target.<IQN>,lun.<N>` (host may be `[v6]`)
//! - `nfs://user:group@host[:port]/path/file`

use crate::error::{Error, Result};
use crate::source::iscsi::{self, IscsiSource, LuSelector};
use crate::source::{FileSource, OpenMode, SharedSource};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Default iSCSI port, dropped by normalization.
pub const ISCSI_PORT: u16 = 3260;

/// A SCSI logical-unit name as written in URIs: `naa.<hex>` or `eui.<hex>`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LuName {
    /// `naa` or `eui` (lower case).
    pub kind: String,
    /// The hex digits as written (case preserved; compare lower-cased).
    pub id: String,
}

impl LuName {
    fn parse(s: &str, what: &str, at: usize) -> Result<LuName> {
        let bad = |d: String| uri_err(what, at, d);
        let (kind, id) = s
            .split_once('.')
            .ok_or_else(|| bad(format!("{s:?} is not naa.<ID> or eui.<ID>")))?;
        let kind_l = kind.to_ascii_lowercase();
        if kind_l != "naa" && kind_l != "eui" {
            return Err(bad(format!(
                "designator type {kind:?}: only naa and eui are supported"
            )));
        }
        if !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!("ID {id:?} is not hexadecimal")));
        }
        let ok_len = if kind_l == "naa" {
            matches!(id.len(), 16 | 32)
        } else {
            matches!(id.len(), 16 | 24 | 32)
        };
        if !ok_len {
            return Err(bad(format!(
                "{kind_l} ID of {} hex digits (64 or 128 bits expected)",
                id.len()
            )));
        }
        Ok(LuName {
            kind: kind_l,
            id: id.to_string(),
        })
    }

    /// `naa.<hex>` in lower case, as designators are compared.
    pub fn normalized(&self) -> String {
        format!("{}.{}", self.kind, self.id.to_ascii_lowercase())
    }
}

impl std::fmt::Display for LuName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.kind, self.id)
    }
}

/// The logical unit an iSCSI URI names.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum IscsiLu {
    /// `luname.naa.<ID>`.
    Luname {
        /// The LU name.
        luname: LuName,
    },
    /// `target.<IQN>,lun.<N>`.
    TargetLun {
        /// Target iSCSI name.
        target: String,
        /// LUN number.
        lun: u64,
    },
}

/// A parsed storage URI.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "uri-type", rename_all = "kebab-case")]
pub enum StorageUri {
    /// `dev:` — a path under `/dev` (kept relative, without `/dev/`).
    Dev {
        /// Path relative to `/dev`, e.g. `dsk/c0t0d0s0`, `zvol/dsk/rpool/kz1`.
        path: String,
    },
    /// `file:` — a plain file.
    File {
        /// Absolute path.
        path: String,
    },
    /// `lu:` — an FC/SAS logical unit.
    Lu {
        /// Initiator port (`naa.…`), in the path-pinning form.
        initiator: Option<LuName>,
        /// Target port (`naa.…`), in the path-pinning form.
        target: Option<LuName>,
        /// The LU name.
        luname: LuName,
    },
    /// `iscsi:` — an iSCSI logical unit.
    Iscsi {
        /// Host name or address (IPv6 without brackets); none for `iscsi:///…`.
        host: Option<String>,
        /// Port, when written.
        port: Option<u16>,
        /// Which LU.
        lu: IscsiLu,
    },
    /// `nfs:` — a file on an NFS share (kernel zones only).
    Nfs {
        /// User name or id.
        user: String,
        /// Group name or id.
        group: String,
        /// Server.
        host: String,
        /// Port, when written.
        port: Option<u16>,
        /// Path on the server (share path and file).
        path: String,
    },
}

fn uri_err(what: &str, at: usize, detail: impl std::fmt::Display) -> Error {
    Error::corrupt(format!("storage URI {what}"), at as u64, detail)
}

fn portable_component(c: &str) -> bool {
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Splits `host[:port]` (host may be `[v6]`).
fn parse_authority(a: &str, at: usize) -> Result<(String, Option<u16>)> {
    if a.is_empty() {
        return Err(uri_err("authority", at, "empty host"));
    }
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let close = rest
            .find(']')
            .ok_or_else(|| uri_err("authority", at, "'[' without ']'"))?;
        let h = &rest[..close];
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(uri_err(
                "authority",
                at + 1,
                format!("{h:?} is not an IPv6 address"),
            ));
        }
        let after = &rest[close + 1..];
        let port = match after {
            "" => None,
            p if p.starts_with(':') => Some(&p[1..]),
            _ => return Err(uri_err("authority", at + close + 2, "junk after ']'")),
        };
        (h.to_string(), port)
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (a.to_string(), None),
        }
    };
    // Unbracketed hosts are names or IPv4 addresses (no ':'); an IPv6
    // address was checked inside its brackets above.
    let bracketed = a.starts_with('[');
    if host.is_empty()
        || (!bracketed
            && !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')))
    {
        return Err(uri_err("authority", at, format!("bad host {host:?}")));
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| uri_err("authority", at, format!("bad port {p:?}")))?,
        ),
    };
    Ok((host, port))
}

/// Parses `HOST`, `HOST:PORT`, `[V6]` or `[V6]:PORT` as written in an
/// iSCSI URI's authority (IPv6 returned without brackets).
pub fn parse_host_port(a: &str) -> Result<(String, Option<u16>)> {
    parse_authority(a, 0)
}

/// A host as written in a URI: IPv6 literals in brackets.
pub fn host_for_uri(h: &str) -> String {
    if h.contains(':') {
        format!("[{h}]")
    } else {
        h.to_string()
    }
}

impl StorageUri {
    /// Parses a storage URI. Errors name the part and its byte offset.
    pub fn parse(s: &str) -> Result<StorageUri> {
        let colon = s.find(':').ok_or_else(|| {
            uri_err(
                "scheme",
                0,
                format!("{s:?} has no scheme (dev:, file:, lu:, iscsi:, nfs:)"),
            )
        })?;
        let scheme = s[..colon].to_ascii_lowercase();
        let rest = &s[colon + 1..];
        let at = colon + 1;
        match scheme.as_str() {
            "dev" => Self::parse_dev(rest, at),
            "file" => Self::parse_file(rest, at),
            "lu" => Self::parse_lu(rest, at),
            "iscsi" => Self::parse_iscsi(rest, at),
            "nfs" => Self::parse_nfs(rest, at),
            _ => Err(uri_err(
                "scheme",
                0,
                format!(
                    "unknown scheme {:?} (dev, file, lu, iscsi, nfs)",
                    &s[..colon]
                ),
            )),
        }
    }

    fn parse_dev(rest: &str, at: usize) -> Result<StorageUri> {
        // dev:rel, dev:/dev/rel, dev:///dev/rel, dev://dev/rel (11.4 text: dev://<absolute path>)
        let trimmed = rest.trim_start_matches('/');
        let skipped = rest.len() - trimmed.len();
        let rel = if skipped > 0 {
            trimmed.strip_prefix("dev/").ok_or_else(|| {
                uri_err(
                    "dev path",
                    at + skipped,
                    format!("absolute path {rest:?} is not under /dev"),
                )
            })?
        } else {
            trimmed
        };
        let base = at + rest.len() - rel.len();
        if rel.is_empty() {
            return Err(uri_err("dev path", base, "empty device path"));
        }
        let mut off = base;
        for c in rel.split('/') {
            if !portable_component(c) || c == "." || c == ".." {
                return Err(uri_err(
                    "dev path",
                    off,
                    format!(
                        "component {c:?}: only 0-9 a-z A-Z . _ - are allowed (and not . or ..)"
                    ),
                ));
            }
            off += c.len() + 1;
        }
        Ok(StorageUri::Dev {
            path: rel.to_string(),
        })
    }

    fn parse_file(rest: &str, at: usize) -> Result<StorageUri> {
        let path = if let Some(r) = rest.strip_prefix("//") {
            // file://[authority]/path: only an empty authority (or localhost) is meaningful here.
            let slash = r
                .find('/')
                .ok_or_else(|| uri_err("file path", at + 2, "no absolute path"))?;
            let auth = &r[..slash];
            if !(auth.is_empty() || auth.eq_ignore_ascii_case("localhost") || auth.contains('@')) {
                return Err(uri_err(
                    "file authority",
                    at + 2,
                    format!("{auth:?}: a file URI names a local file"),
                ));
            }
            &r[slash..]
        } else {
            rest
        };
        if !path.starts_with('/') {
            return Err(uri_err(
                "file path",
                at,
                format!("{path:?} is not absolute"),
            ));
        }
        if path.split('/').any(|c| c == "..") {
            return Err(uri_err("file path", at, "'..' components are not allowed"));
        }
        Ok(StorageUri::File {
            path: path.to_string(),
        })
    }

    fn parse_lu(rest: &str, at: usize) -> Result<StorageUri> {
        let parts: Vec<&str> = rest.split(',').collect();
        let field = |p: &str, name: &str, off: usize| -> Result<LuName> {
            let lower = p.to_ascii_lowercase();
            let v = lower
                .strip_prefix(&format!("{name}."))
                .map(|_| &p[name.len() + 1..])
                .ok_or_else(|| {
                    uri_err(
                        "lu",
                        off,
                        format!("expected {name}.<type>.<ID>, found {p:?}"),
                    )
                })?;
            LuName::parse(v, name, off + name.len() + 1)
        };
        match parts.as_slice() {
            [l] => Ok(StorageUri::Lu {
                initiator: None,
                target: None,
                luname: field(l, "luname", at)?,
            }),
            [i, t, l] => {
                let initiator = field(i, "initiator", at)?;
                let target = field(t, "target", at + i.len() + 1)?;
                let luname = field(l, "luname", at + i.len() + t.len() + 2)?;
                if initiator.kind != "naa" || target.kind != "naa" {
                    return Err(uri_err("lu", at, "initiator and target ports are naa IDs"));
                }
                Ok(StorageUri::Lu {
                    initiator: Some(initiator),
                    target: Some(target),
                    luname,
                })
            }
            _ => Err(uri_err(
                "lu",
                at,
                "expected luname.<ID> or initiator.<ID>,target.<ID>,luname.<ID>",
            )),
        }
    }

    fn parse_iscsi(rest: &str, at: usize) -> Result<StorageUri> {
        let r = rest
            .strip_prefix("//")
            .ok_or_else(|| uri_err("iscsi", at, "expected iscsi://[host[:port]]/…"))?;
        let slash = r
            .find('/')
            .ok_or_else(|| uri_err("iscsi", at + 2, "no /luname… or /target… part"))?;
        let auth = &r[..slash];
        let (host, port) = if auth.is_empty() {
            (None, None)
        } else {
            let (h, p) = parse_authority(auth, at + 2)?;
            (Some(h), p)
        };
        let lu_at = at + 2 + slash + 1;
        let lu = &r[slash + 1..];
        let lower = lu.to_ascii_lowercase();
        let lu = if lower.starts_with("luname.") {
            IscsiLu::Luname {
                luname: LuName::parse(&lu[7..], "luname", lu_at + 7)?,
            }
        } else if lower.starts_with("target.") {
            let (t, l) = lu
                .rsplit_once(',')
                .ok_or_else(|| uri_err("iscsi target", lu_at, "expected target.<IQN>,lun.<N>"))?;
            let target = &t[7..];
            if target.is_empty() || target.contains(['/', ',', ' ']) {
                return Err(uri_err(
                    "iscsi target",
                    lu_at + 7,
                    format!("bad target name {target:?}"),
                ));
            }
            let lun_at = lu_at + t.len() + 1;
            let n = l
                .get(..4)
                .filter(|p| p.eq_ignore_ascii_case("lun."))
                .map(|_| &l[4..])
                .ok_or_else(|| {
                    uri_err(
                        "iscsi lun",
                        lun_at,
                        format!("expected lun.<N>, found {l:?}"),
                    )
                })?;
            let lun = n
                .parse::<u64>()
                .ok()
                .filter(|&v| v < 16384)
                .ok_or_else(|| {
                    uri_err(
                        "iscsi lun",
                        lun_at + 4,
                        format!("{n:?} is not a LUN number (0..16383)"),
                    )
                })?;
            IscsiLu::TargetLun {
                target: target.to_string(),
                lun,
            }
        } else {
            return Err(uri_err(
                "iscsi",
                lu_at,
                format!("expected luname.… or target.…, found {lu:?}"),
            ));
        };
        Ok(StorageUri::Iscsi { host, port, lu })
    }

    fn parse_nfs(rest: &str, at: usize) -> Result<StorageUri> {
        let r = rest
            .strip_prefix("//")
            .ok_or_else(|| uri_err("nfs", at, "expected nfs://user:group@host[:port]/path"))?;
        let slash = r
            .find('/')
            .ok_or_else(|| uri_err("nfs", at + 2, "no path"))?;
        let auth = &r[..slash];
        let (cred, hostport) = auth
            .rsplit_once('@')
            .ok_or_else(|| uri_err("nfs authority", at + 2, "expected user:group@host"))?;
        let (user, group) = cred
            .split_once(':')
            .ok_or_else(|| uri_err("nfs authority", at + 2, "expected user:group before '@'"))?;
        for (v, n) in [(user, "user"), (group, "group")] {
            if !portable_component(v) {
                return Err(uri_err("nfs authority", at + 2, format!("bad {n} {v:?}")));
            }
        }
        let (host, port) = parse_authority(hostport, at + 2 + cred.len() + 1)?;
        let path = &r[slash..];
        if path.len() < 2 || path.ends_with('/') || path.split('/').any(|c| c == "..") {
            return Err(uri_err(
                "nfs path",
                at + 2 + slash,
                format!("{path:?} does not name a file"),
            ));
        }
        Ok(StorageUri::Nfs {
            user: user.into(),
            group: group.into(),
            host,
            port,
            path: path.into(),
        })
    }

    /// The scheme: `dev`, `file`, `lu`, `iscsi` or `nfs`.
    pub fn uri_type(&self) -> &'static str {
        match self {
            StorageUri::Dev { .. } => "dev",
            StorageUri::File { .. } => "file",
            StorageUri::Lu { .. } => "lu",
            StorageUri::Iscsi { .. } => "iscsi",
            StorageUri::Nfs { .. } => "nfs",
        }
    }

    /// The normalized form, as `suriadm normalize` writes it: `dev:` loses
    /// leading slashes and `/dev/`; `lu:` and `iscsi:` are lower-cased and
    /// `iscsi:` drops an explicit `:3260`.
    pub fn normalize(&self) -> String {
        match self {
            StorageUri::Dev { path } => format!("dev:{path}"),
            StorageUri::File { path } => format!("file://{path}"),
            StorageUri::Lu {
                initiator,
                target,
                luname,
            } => match (initiator, target) {
                (Some(i), Some(t)) => format!(
                    "lu:initiator.{},target.{},luname.{}",
                    i.normalized(),
                    t.normalized(),
                    luname.normalized()
                ),
                _ => format!("lu:luname.{}", luname.normalized()),
            },
            StorageUri::Iscsi { host, port, lu } => {
                let mut s = String::from("iscsi://");
                if let Some(h) = host {
                    s += &host_for_uri(&h.to_ascii_lowercase());
                    if let Some(p) = port.filter(|&p| p != ISCSI_PORT) {
                        s += &format!(":{p}");
                    }
                }
                s += &match lu {
                    IscsiLu::Luname { luname } => format!("/luname.{}", luname.normalized()),
                    IscsiLu::TargetLun { target, lun } => {
                        format!("/target.{},lun.{lun}", target.to_ascii_lowercase())
                    }
                };
                s
            }
            StorageUri::Nfs {
                user,
                group,
                host,
                port,
                path,
            } => {
                let p = port.map(|p| format!(":{p}")).unwrap_or_default();
                format!("nfs://{user}:{group}@{}{p}{path}", host_for_uri(host))
            }
        }
    }

    /// The ZFS volume a `dev:` URI names (`dev:zvol/dsk/POOL/VOL` or
    /// `…/rdsk/…`): `POOL/VOL`.
    pub fn zvol_dataset(&self) -> Option<String> {
        let StorageUri::Dev { path } = self else {
            return None;
        };
        let rest = path
            .strip_prefix("zvol/dsk/")
            .or_else(|| path.strip_prefix("zvol/rdsk/"))?;
        // A dataset has a pool and at least one more component.
        rest.contains('/').then(|| rest.to_string())
    }

    /// The device path Solaris would map this URI to (for information:
    /// controller numbers of LUs are host-specific and shown as `c#`).
    pub fn solaris_path(&self) -> Option<String> {
        match self {
            StorageUri::Dev { path } => Some(format!("/dev/{path}")),
            StorageUri::File { path } => Some(path.clone()),
            StorageUri::Lu { luname, .. }
            | StorageUri::Iscsi {
                lu: IscsiLu::Luname { luname },
                ..
            } => Some(format!("/dev/dsk/c#t{}d0", luname.id.to_ascii_uppercase())),
            _ => None,
        }
    }
}

impl std::fmt::Display for StorageUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.normalize())
    }
}

/// Where an `nfs:` URI's share is mounted locally: `host:/export=/mnt/x`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NfsMount {
    /// NFS server as written in URIs.
    pub host: String,
    /// Exported directory on the server.
    pub export: String,
    /// Local mount point.
    pub mountpoint: PathBuf,
}

impl NfsMount {
    /// Parses `host:/export=/local/dir`.
    pub fn parse(s: &str) -> Result<NfsMount> {
        let bad = || {
            Error::Usage(format!(
                "NFS mount {s:?}: expected host:/export=/local/mountpoint"
            ))
        };
        let (remote, local) = s.split_once('=').ok_or_else(bad)?;
        let (host, export) = remote.rsplit_once(":/").ok_or_else(bad)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || local.is_empty() {
            return Err(bad());
        }
        Ok(NfsMount {
            host: host.to_string(),
            export: format!("/{}", export.trim_end_matches('/')),
            mountpoint: PathBuf::from(local),
        })
    }
}

pub use super::Vars;

/// How to reach storage a URI or path names: what the URI cannot say by
/// itself (local NFS mounts, a default portal) and the iSCSI initiator's
/// settings. Built once by the caller and passed down.
#[derive(Clone, Debug, Default)]
pub struct AccessOptions {
    /// Known NFS mounts.
    pub nfs_mounts: Vec<NfsMount>,
    /// Portal for host-less `iscsi:///…` URIs (`host[:port]`).
    pub iscsi_portal: Option<String>,
    /// The iSCSI initiator's settings.
    pub iscsi: iscsi::IscsiOptions,
}

impl AccessOptions {
    /// The documented environment fallbacks, looked up through `var` (the
    /// caller's view of the environment: the library reads none itself):
    /// `KZRESCUE_NFS_MOUNT` (mounts separated by `;`),
    /// `KZRESCUE_ISCSI_PORTAL` and the initiator's variables
    /// ([`iscsi::IscsiOptions::from_vars`]).
    pub fn from_vars(var: Vars<'_>) -> Result<AccessOptions> {
        let text = |k: &str| var(k).and_then(|v| v.into_string().ok());
        let mut o = AccessOptions::default();
        if let Some(m) = text("KZRESCUE_NFS_MOUNT") {
            for part in m.split(';').filter(|p| !p.is_empty()) {
                o.nfs_mounts.push(NfsMount::parse(part)?);
            }
        }
        o.iscsi_portal = text("KZRESCUE_ISCSI_PORTAL").filter(|s| !s.is_empty());
        o.iscsi = iscsi::IscsiOptions::from_vars(var)?;
        Ok(o)
    }
}

/// What a URI maps to on this machine.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Mapped {
    /// A local path (file or device).
    Path {
        /// The path opened.
        path: PathBuf,
    },
    /// An iSCSI logical unit reached by the built-in initiator.
    Iscsi {
        /// `host:port` of the portal.
        portal: String,
        /// Which LU.
        lu: IscsiLu,
    },
}

/// Local paths that may hold the object a `dev:` URI names, best first:
/// the Solaris path itself, then its Linux equivalents.
pub fn dev_candidates(rel: &str) -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from(format!("/dev/{rel}"))];
    let comps: Vec<&str> = rel.split('/').collect();
    match comps.as_slice() {
        ["zvol", "dsk" | "rdsk", rest @ ..] if !rest.is_empty() => {
            v.push(PathBuf::from(format!("/dev/zvol/{}", rest.join("/"))));
        }
        ["dsk" | "rdsk", disk] => {
            if let Some((wwn, slice)) = ctd_wwn(disk) {
                let base = format!("/dev/disk/by-id/wwn-0x{wwn}");
                match slice {
                    // EFI slice N is GPT partition N+1.
                    Some(s) => v.push(PathBuf::from(format!("{base}-part{}", s + 1))),
                    None => v.push(PathBuf::from(base)),
                }
            }
        }
        _ => {}
    }
    v
}

/// `c0t<WWN>d0[sN]` → (wwn lower-case, slice).
fn ctd_wwn(disk: &str) -> Option<(String, Option<u32>)> {
    let d = disk.strip_prefix('c')?;
    let ctl_end = d.find('t')?;
    if ctl_end == 0 || !d[..ctl_end].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = &d[ctl_end + 1..];
    let dpos = rest.rfind('d')?;
    let wwn = &rest[..dpos];
    if !matches!(wwn.len(), 16 | 32) || !wwn.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let tail = &rest[dpos + 1..];
    let (_, slice) = match tail.split_once('s') {
        Some((lun, s)) => (lun, Some(s.parse::<u32>().ok()?)),
        None => (tail, None),
    };
    Some((wwn.to_ascii_lowercase(), slice))
}

/// Local paths where Linux shows an LU with this name.
pub fn lu_candidates(l: &LuName) -> Vec<PathBuf> {
    let id = l.id.to_ascii_lowercase();
    let mut v = vec![PathBuf::from(format!("/dev/disk/by-id/wwn-0x{id}"))];
    match l.kind.as_str() {
        "naa" => v.push(PathBuf::from(format!("/dev/disk/by-id/scsi-3{id}"))),
        _ => v.push(PathBuf::from(format!("/dev/disk/by-id/nvme-eui.{id}"))),
    }
    v
}

fn first_existing(uri: &StorageUri, cands: Vec<PathBuf>) -> Result<Mapped> {
    for c in &cands {
        if c.exists() {
            return Ok(Mapped::Path { path: c.clone() });
        }
    }
    Err(Error::Usage(format!(
        "{}: no such device here (looked for {})",
        uri.normalize(),
        cands
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Maps a URI to a local path or an iSCSI LU. Changes nothing on the system.
pub fn map(uri: &StorageUri, opts: &AccessOptions) -> Result<Mapped> {
    match uri {
        StorageUri::File { path } => Ok(Mapped::Path {
            path: PathBuf::from(path),
        }),
        StorageUri::Dev { path } => first_existing(uri, dev_candidates(path)),
        StorageUri::Lu { luname, .. } => first_existing(uri, lu_candidates(luname)),
        StorageUri::Iscsi { host, port, lu } => {
            let portal = match host {
                Some(h) => format!("{}:{}", host_for_uri(h), port.unwrap_or(ISCSI_PORT)),
                None => {
                    let p = opts.iscsi_portal.clone().ok_or_else(|| {
                        Error::Usage(format!(
                            "{}: the URI names no portal (Solaris uses static or iSNS discovery for this form); \
                             give one with --iscsi-portal HOST[:PORT] or KZRESCUE_ISCSI_PORTAL",
                            uri.normalize()
                        ))
                    })?;
                    if p.starts_with('[') && p.contains("]:")
                        || !p.starts_with('[') && p.contains(':')
                    {
                        p
                    } else {
                        format!("{p}:{ISCSI_PORT}")
                    }
                }
            };
            Ok(Mapped::Iscsi {
                portal,
                lu: lu.clone(),
            })
        }
        StorageUri::Nfs { host, path, .. } => {
            for m in &opts.nfs_mounts {
                if !m.host.eq_ignore_ascii_case(host) {
                    continue;
                }
                let rest = if m.export == "/" {
                    Some(path.as_str())
                } else {
                    path.strip_prefix(&m.export)
                };
                if let Some(rest) = rest.filter(|r| r.starts_with('/')) {
                    return Ok(Mapped::Path {
                        path: m.mountpoint.join(rest.trim_start_matches('/')),
                    });
                }
            }
            Err(Error::Usage(format!(
                "{}: kzrescue does not mount NFS itself; mount the share and say where with \
                 --nfs-mount {host}:/EXPORT=/LOCAL/DIR (or KZRESCUE_NFS_MOUNT)",
                uri.normalize()
            )))
        }
    }
}

/// Whether `spec` looks like a storage URI rather than a path.
pub fn is_uri(spec: &str) -> bool {
    let Some((scheme, _)) = spec.split_once(':') else {
        return false;
    };
    matches!(
        scheme.to_ascii_lowercase().as_str(),
        "dev" | "file" | "lu" | "iscsi" | "nfs"
    )
}

/// Opens a URI as a source (read-only unless `write`).
pub fn open(uri: &StorageUri, write: bool, opts: &AccessOptions) -> Result<SharedSource> {
    match map(uri, opts)? {
        Mapped::Path { path } => open_path(&path, write),
        Mapped::Iscsi { portal, lu } => {
            let cfg = opts.iscsi.session(&portal, None);
            let sel = match lu {
                IscsiLu::Luname { luname } => LuSelector::Name(luname.normalized()),
                IscsiLu::TargetLun { target, lun } => LuSelector::TargetLun { target, lun },
            };
            Ok(Arc::new(IscsiSource::open(
                &uri.normalize(),
                &cfg,
                &sel,
                write,
            )?))
        }
    }
}

fn open_path(path: &Path, write: bool) -> Result<SharedSource> {
    let mode = if write {
        OpenMode::ReadWrite
    } else {
        OpenMode::ReadOnly
    };
    Ok(Arc::new(FileSource::open(path, mode)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctd() {
        assert_eq!(
            ctd_wwn("c0t600144F0DBF8AF19000052E820D60003d0s0"),
            Some(("600144f0dbf8af19000052e820d60003".into(), Some(0)))
        );
        assert_eq!(ctd_wwn("c0t0d0"), None);
    }
}
