//! A kernel zone's boot disk as the host-data commands see it: the disk,
//! its Solaris reserved partition (slice 8) and the judgement of both
//! copies, gathered into a [`Report`] — what `hostdata show` and `hostdata
//! check` print — and the text renderings of host data.

use super::store::{self, Assessment, CopyId};
use super::{HostData, HostKey, Verdict, format_time};
use crate::error::{Error, Result};
use crate::partition::{self, Partition, PartitionTable};
use crate::source::SharedSource;
use crate::target::AccessOptions;
use crate::zfs::nvlist::json::NvJson;
use crate::zfs::nvlist::{NvList, NvPair};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// The boot disk a host-data command names.
#[derive(Debug, Clone, Default)]
pub struct DiskRequest {
    /// Image file, block device or storage URI of the zone's boot disk.
    pub target: String,
    /// Logical sector size to assume (512 or 4096) instead of detecting it.
    pub sector_size: Option<u32>,
    /// How to reach a URI.
    pub access: AccessOptions,
}

/// A boot disk and where its reserved partition is, if it has one.
pub struct HostDataDisk {
    /// The whole disk, opened read-only.
    pub disk: SharedSource,
    /// Its partition table.
    pub table: PartitionTable,
    /// The reserved partition, when it can hold host data.
    pub reserved: Option<Partition>,
    /// The reserved partition when it is too small to hold host data.
    pub too_small: Option<Partition>,
}

impl HostDataDisk {
    /// Opens the disk read-only and finds its reserved partition.
    pub fn open(r: &DiskRequest) -> Result<Self> {
        let disk = crate::target::open_source(&r.target, false, &r.access)?;
        let table = partition::read(disk.as_ref(), r.sector_size)?;
        let mut reserved = store::reserved_partition(&table, &disk.name())?.cloned();
        let too_small = reserved.take_if(|p| p.len < store::MIN_PARTITION);
        if let Some(p) = &reserved
            && p.start.saturating_add(p.len) > disk.size()
        {
            return Err(Error::OutOfBounds {
                what: format!("{} reserved partition {}", disk.name(), p.label()),
                offset: p.start,
                len: p.len,
                size: disk.size(),
            });
        }
        Ok(HostDataDisk {
            disk,
            table,
            reserved,
            too_small,
        })
    }

    /// Why the disk has no place for host data (readers say "no host
    /// data", writers refuse with this).
    pub fn no_place(&self) -> String {
        let disk = &self.disk;
        if let Some(p) = &self.too_small {
            // §3.1: a reserved partition below the guard and two slots holds
            // no host data.
            return format!(
                "{} reserved partition {} is {} bytes, smaller than the {} bytes host data needs (a 64 KiB guard and two 64 KiB slots): there is no place for host data on this disk",
                disk.name(),
                p.label(),
                p.len,
                store::MIN_PARTITION
            );
        }
        format!(
            "{} has no Solaris reserved partition (GPT type {}, slice 8): there is no place for host data on this disk",
            disk.name(),
            store::RESERVED_GUID
        )
    }

    /// Both copies judged with `key` (`None`: no place for host data).
    pub fn assess(&self, key: Option<&HostKey>) -> Result<Option<Assessment>> {
        match &self.reserved {
            None => Ok(None),
            Some(p) => Ok(Some(store::assess(
                self.disk.as_ref(),
                p.start,
                p.len,
                key,
            )?)),
        }
    }

    /// Both copies judged with `key`, or a refusal naming why the disk has
    /// no place for host data (for the writers).
    pub fn assess_for_write(&self, key: Option<&HostKey>) -> Result<Assessment> {
        self.assess(key)?
            .ok_or_else(|| Error::Refused(self.no_place()))
    }
}

/// Where the reserved partition is.
#[derive(Debug, Clone, Serialize)]
pub struct ReservedDoc {
    /// Solaris slice number (8).
    pub slice: u32,
    /// First byte on the disk.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
}

/// One copy as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CopyDoc {
    /// Which copy.
    pub copy: CopyId,
    /// Offset of its slot on the disk.
    pub offset: u64,
    /// Its state's short name.
    pub state: &'static str,
    /// One line about it.
    pub detail: String,
    /// Its header's generation.
    pub generation: Option<u64>,
    /// Its header's key id.
    pub key_id: Option<String>,
}

/// The host data of a disk as `hostdata show`/`check` report it (the
/// fields of `kzrescue.hostdata/2` up to `serving`; the decoded payload is
/// [`Report::host_data`]).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The disk.
    pub target: String,
    /// Always kzrescue's own format, and it says so.
    pub format: &'static str,
    /// The reserved partition, when there is room for host data.
    pub reserved_partition: Option<ReservedDoc>,
    /// The verdict.
    #[serde(serialize_with = "verdict_name")]
    pub verdict: Verdict,
    /// The verdict's exit code.
    pub exit: u8,
    /// The verdict in words.
    pub explanation: String,
    /// Id of the key given.
    pub key_id: Option<String>,
    /// Both copies (none without a place for host data).
    pub copies: Vec<CopyDoc>,
    /// The copy that serves.
    pub serving: Option<CopyId>,
    /// The judgement the report was made from; in JSON, `host_data`: the
    /// serving copy's payload ([`HostDataDoc`]).
    #[serde(rename = "host_data", serialize_with = "serving_payload")]
    pub assessment: Option<Assessment>,
}

fn serving_payload<S: serde::Serializer>(
    a: &Option<Assessment>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    let best = a.as_ref().and_then(|a| a.best());
    best.map(|(_, _, d)| HostDataDoc(d)).serialize(s)
}

/// A decoded payload as `kzrescue.hostdata/2` shows it: every pair of
/// formats/hostdata.md §5.2 in stored order, the OpenBoot variables as
/// `{name, value}`, unknown pairs under `other_pairs` (nvlist values mapped
/// as in `kzrescue.label/1`).
pub struct HostDataDoc<'a>(pub &'a HostData);

#[derive(Serialize)]
struct PayloadJson<'a> {
    payload_version: u32,
    zonename: &'a str,
    owner_hostid: u32,
    owner_hostname: &'a str,
    state: &'a str,
    be_name: &'a str,
    be_uuid: &'a str,
    last_update: i64,
    tod_offset_ns: i64,
    suspend: SuspendJson<'a>,
    obp_vars: Vec<ObpVarJson<'a>>,
    generation: u64,
    other_pairs: NvJson<'a>,
}

#[derive(Serialize)]
struct SuspendJson<'a> {
    suspended: bool,
    image: &'a str,
    time: i64,
    other_pairs: NvJson<'a>,
}

#[derive(Serialize)]
struct ObpVarJson<'a> {
    name: &'a str,
    value: &'a str,
}

impl Serialize for HostDataDoc<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let d = self.0;
        let list = |pairs: &[NvPair]| NvList {
            pairs: pairs.to_vec(),
            ..NvList::new()
        };
        let (top, suspend) = (list(&d.extra), list(&d.suspend.extra));
        PayloadJson {
            payload_version: super::payload::PAYLOAD_VERSION,
            zonename: &d.zonename,
            owner_hostid: d.owner_hostid,
            owner_hostname: &d.owner_hostname,
            state: &d.state,
            be_name: &d.be_name,
            be_uuid: &d.be_uuid,
            last_update: d.last_update,
            tod_offset_ns: d.tod_offset_ns,
            suspend: SuspendJson {
                suspended: d.suspend.suspended,
                image: &d.suspend.image,
                time: d.suspend.time,
                other_pairs: NvJson(&suspend),
            },
            obp_vars: (d.obp_vars.iter())
                .map(|(name, value)| ObpVarJson { name, value })
                .collect(),
            generation: d.generation,
            other_pairs: NvJson(&top),
        }
        .serialize(s)
    }
}

fn verdict_name<S: serde::Serializer>(v: &Verdict, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

/// Judges the host data of `d` with `key`; `hostid` is the host that wants
/// the zone (an owner that differs is reported).
pub fn inspect(d: &HostDataDisk, key: Option<&HostKey>, hostid: Option<u32>) -> Result<Report> {
    let a = d.assess(key)?;
    let v = match &a {
        None => Verdict::NoHostData {
            reason: d.no_place(),
        },
        Some(a) => super::verdict(a, hostid),
    };
    let best = a.as_ref().and_then(|a| a.best());
    Ok(Report {
        target: d.disk.name(),
        format: "kzrescue host data v1 (not Oracle's format)",
        reserved_partition: d.reserved.as_ref().map(|p| ReservedDoc {
            slice: p.slice,
            start: p.start,
            len: p.len,
        }),
        exit: v.exit_code(),
        explanation: explain(&v, a.as_ref(), d),
        key_id: key.map(|k| k.id().to_string()),
        copies: a.as_ref().map(copies).unwrap_or_default(),
        serving: best.map(|b| b.0),
        verdict: v,
        assessment: a.clone(),
    })
}

/// `hostdata show`: the disk judged with the zone's key (read from
/// `key_file`; `insecure_perms` accepts one that group or others can
/// read); `exit` is 0 whenever a valid copy serves (formats/hostdata.md §7).
pub fn show(d: &DiskRequest, key_file: &Path, insecure_perms: bool) -> Result<Report> {
    let key = super::keyfile::read_keyfile(key_file, insecure_perms)?.key;
    let mut r = inspect(&HostDataDisk::open(d)?, Some(&key), None)?;
    if r.host_data().is_some() {
        r.exit = 0;
    }
    Ok(r)
}

/// `hostdata check`: the disk judged with the zone's key, when a key file
/// is given, for the host `hostid` (an owner that differs is reported).
pub fn check(
    d: &DiskRequest,
    key_file: Option<&Path>,
    insecure_perms: bool,
    hostid: Option<u32>,
) -> Result<Report> {
    let key = match key_file {
        Some(p) => Some(super::keyfile::read_keyfile(p, insecure_perms)?.key),
        None => None,
    };
    inspect(&HostDataDisk::open(d)?, key.as_ref(), hostid)
}

fn copies(a: &Assessment) -> Vec<CopyDoc> {
    a.copies
        .iter()
        .map(|c| CopyDoc {
            copy: c.copy,
            offset: c.offset,
            state: c.state.kind(),
            detail: c.describe(),
            generation: c.state.header().map(|h| h.generation),
            key_id: c.state.header().map(|h| h.key_id.to_string()),
        })
        .collect()
}

fn explain(v: &Verdict, a: Option<&Assessment>, d: &HostDataDisk) -> String {
    match v {
        Verdict::Healthy => "both copies are valid and agree".into(),
        Verdict::Degraded { serving, why, .. } => {
            format!("the {} copy serves; {why}", serving.name())
        }
        Verdict::NoHostData { reason } => reason.clone(),
        Verdict::KeyNotAvailable => {
            "host data is present but no key was given (--key FILE); nothing can be read or verified beyond the CRCs".into()
        }
        Verdict::KeyIncorrect { stored, given } => format!(
            "Encryption key is incorrect: host data is sealed with key id {stored}, the given key has id {given} (the disk was re-initialised or rolled back to an older key; use the matching key file, or `kzrescue hostdata init` for a new key and new host data)"
        ),
        Verdict::CorruptOrTampered => {
            let copies = a
                .map(|a| {
                    a.copies
                        .iter()
                        .map(|c| format!("{}: {}", c.copy.name(), c.describe()))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            format!(
                "could not read host data from any copy on {} ({copies})",
                d.disk.name()
            )
        }
        Verdict::OwnedByAnotherHost => a
            .and_then(|a| a.best())
            .map(|(_, _, d)| {
                format!(
                    "zone {} is in use by host with hostid {:08x} ({})",
                    d.zonename, d.owner_hostid, d.owner_hostname
                )
            })
            .unwrap_or_default(),
    }
}

impl Report {
    /// The copy that serves: which, its generation, its host data.
    pub fn best(&self) -> Option<(CopyId, u64, &HostData)> {
        let (c, h, d) = self.assessment.as_ref()?.best()?;
        Some((c, h.generation, d))
    }

    /// The decoded host data of the serving copy.
    pub fn host_data(&self) -> Option<&HostData> {
        self.best().map(|b| b.2)
    }

    /// The report as `hostdata show` prints it: the disk and the key's id,
    /// both copies, and the serving copy with its host data.
    pub fn show_text(&self) -> String {
        let mut s = format!(
            "host data on {} (kzrescue format v1, not Oracle's), key id {}\n",
            self.target,
            self.key_id.as_deref().unwrap_or_default()
        );
        s.push_str(&self.copies_text());
        if let Some((copy, generation, d)) = self.best() {
            let _ = writeln!(s, "serving: {} copy, generation {generation}", copy.name());
            s.push_str(&host_data_text(d));
        }
        s
    }

    /// The line `hostdata show` adds on stderr: the verdict when no copy
    /// serves, a warning when only one does.
    pub fn show_note(&self) -> Option<String> {
        if self.best().is_none() {
            return Some(format!(
                "kzrescue: {}: {}",
                self.verdict.name(),
                self.explanation
            ));
        }
        matches!(self.verdict, Verdict::Degraded { .. })
            .then(|| format!("warning: {}", self.explanation))
    }

    /// The report as `hostdata check` prints it: the verdict, both
    /// copies, and, when another host owns the zone, what to do about it
    /// (`target`: the disk as the user named it).
    pub fn check_text(&self, target: &str) -> String {
        let mut s = format!("{}: {}\n", self.verdict.name(), self.explanation);
        s.push_str(&self.copies_text());
        if let (Verdict::OwnedByAnotherHost, Some(d)) = (&self.verdict, self.host_data()) {
            s.push_str(&super::owner_message(&d.zonename, d, target));
            s.push('\n');
        }
        s
    }

    /// The reserved partition and one line per copy.
    pub fn copies_text(&self) -> String {
        let mut s = String::new();
        if let Some(p) = &self.reserved_partition {
            let _ = writeln!(
                s,
                "reserved partition: s{} at bytes {:#x}+{:#x}",
                p.slice, p.start, p.len
            );
        }
        for c in &self.copies {
            let _ = writeln!(
                s,
                "  {:<7} copy at {:#x}: {}",
                c.copy.name(),
                c.offset,
                c.detail
            );
        }
        s
    }
}

/// Host data as `hostdata show` and the writers' plans print it, one
/// field a line.
pub fn host_data_text(d: &HostData) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(s, "  {k:<23} {v}");
    };
    line("zone name:", &d.zonename);
    line("owner hostid:", &format_args!("{:08x}", d.owner_hostid));
    line("owner hostname:", &d.owner_hostname);
    line("last known state:", &d.state);
    line("boot environment name:", &d.be_name);
    line("boot environment uuid:", &d.be_uuid);
    line(
        "last update time:",
        &format_args!("{} UTC ({})", format_time(d.last_update), d.last_update),
    );
    let tod = d.tod_offset_ns.unsigned_abs();
    let sign = if d.tod_offset_ns < 0 { "-" } else { "" };
    line(
        "TOD offset:",
        &format_args!("{sign}{}.{:09} s", tod / 1_000_000_000, tod % 1_000_000_000),
    );
    let image = if d.suspend.image.is_empty() {
        String::new()
    } else {
        format!(
            " (image {}, at {})",
            d.suspend.image,
            format_time(d.suspend.time)
        )
    };
    let yes = if d.suspend.suspended { "yes" } else { "no" };
    line("suspended:", &format_args!("{yes}{image}"));
    if d.obp_vars.is_empty() {
        line("OBP variables:", &"none");
    }
    for (i, (k, v)) in d.obp_vars.iter().enumerate() {
        line(
            if i == 0 { "OBP variables:" } else { "" },
            &format_args!("{k}={v}"),
        );
    }
    line("generation:", &d.generation);
    if !d.extra.is_empty() {
        let names: Vec<&str> = d.extra.iter().map(|p| p.name.as_str()).collect();
        line("other pairs:", &names.join(", "));
    }
    s
}
