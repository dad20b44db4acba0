//! The host-data check of `diagnose`: what the reserved partition (slice 8)
//! of each boot device holds, judged under the zone's key.

use super::{Code, DeviceReport, DiagnoseOptions, Finding, OpenedDevice, Severity};
use crate::error::Result;
use crate::hostdata::{self, HostKey, Verdict, keyfile, store};
use crate::partition::Partition;
use crate::target::DiskSlice;
use std::path::PathBuf;

/// The reserved partition of a disk, if it has exactly one.
pub fn reserved_partition(vdev: &DiskSlice) -> Option<&Partition> {
    store::reserved_partition(&vdev.table, &vdev.disk.name())
        .ok()
        .flatten()
}

type HostdataView = (Verdict, Option<store::Assessment>);

fn hostdata_verdict(
    vdev: &DiskSlice,
    key: Option<&HostKey>,
    hostid: Option<u32>,
) -> Result<HostdataView> {
    let Some(p) = reserved_partition(vdev) else {
        return Ok((
            Verdict::NoHostData {
                reason: format!(
                    "{} has no Solaris reserved partition (slice 8): there is no place for host data on this disk",
                    vdev.disk.name()
                ),
            },
            None,
        ));
    };
    let a = store::assess(vdev.disk.as_ref(), p.start, p.len, key)?;
    let v = hostdata::verdict(&a, hostid);
    Ok((v, Some(a)))
}

/// Whether this zone's host data is kzrescue's, and why: `--hostdata
/// kzrescue`, the zone's key file was found and read, or a kzrescue copy is
/// on the disk. `None`: nothing says so (the host data is then presumably
/// Oracle's, which kzrescue cannot read).
fn kzrescue_hostdata(
    opts: &DiagnoseOptions,
    key_found: bool,
    a: Option<&store::Assessment>,
) -> Option<&'static str> {
    if opts.hostdata_kzrescue {
        Some("--hostdata kzrescue")
    } else if key_found {
        Some("the zone's kzrescue key file was given")
    } else if a.is_some_and(|a| {
        a.copies
            .iter()
            .any(|c| !matches!(c.state, store::CopyState::Empty | store::CopyState::Foreign))
    }) {
        Some("a kzrescue copy is on the disk")
    } else {
        None
    }
}

/// The zone's key, as far as it can be read.
pub(super) struct KeyLookup {
    /// The key, when its file was found and read.
    pub key: Option<HostKey>,
    /// Where it lives (or would live): `<keys dir>/<zone>`.
    pub path: Option<PathBuf>,
    /// Why there is no key, when there is none.
    pub problem: Option<String>,
}

/// Reads the zone's key file from `--keys DIR`.
pub(super) fn find_key(zone: Option<&str>, opts: &DiagnoseOptions) -> KeyLookup {
    let path = zone.zip(opts.keys_dir.as_deref()).map(|(z, d)| d.join(z));
    let mut key = None;
    let mut problem = None;
    if let Some(p) = &path {
        if p.exists() {
            match keyfile::read_keyfile(p, opts.insecure_key_perms) {
                Ok(k) => key = Some(k.key),
                Err(e) => problem = Some(e.to_string()),
            }
        } else {
            problem = Some(format!("no key file {}", p.display()));
        }
    }
    KeyLookup { key, path, problem }
}

/// The host-data finding of one opened device; fills in the device
/// report's `hostdata` and `hostdata_owner`.
pub(super) fn check_hostdata(
    o: &OpenedDevice,
    rep: &mut DeviceReport,
    key: &KeyLookup,
    zone: Option<&str>,
    opts: &DiagnoseOptions,
) -> Finding {
    let (v, a) = match hostdata_verdict(&o.vdev, key.key.as_ref(), opts.hostid) {
        Err(e) => {
            return Finding::new(
                Code::HostUnreadable,
                Severity::Unrepairable,
                format!("host data cannot be read: {e}"),
            )
            .on(Some(o.id));
        }
        Ok(va) => va,
    };
    rep.hostdata = Some(v.name().to_string());
    if let Some((_, _, d)) = a.as_ref().and_then(|a| a.best()) {
        rep.hostdata_owner = Some((format!("{:08x}", d.owner_hostid), d.owner_hostname.clone()));
    }
    let ctx = Context {
        a: a.as_ref(),
        zone: zone.unwrap_or("ZONE"),
        key_problem: key.problem.as_deref(),
        opts,
        kzrescue: kzrescue_hostdata(opts, key.key.is_some(), a.as_ref()),
        spec: &o.spec,
        repair: format!("kzrescue repair {}", opts.repair_args()),
    };
    ctx.finding(&v).on(Some(o.id))
}

/// Whose host data the zone uses (`Some(why)`: kzrescue's), judged from
/// the options, the key and the first opened disk that has a reserved
/// partition.
pub(super) fn zone_uses_kzrescue(
    opened: &[OpenedDevice],
    key_found: bool,
    opts: &DiagnoseOptions,
) -> Option<&'static str> {
    kzrescue_hostdata(
        opts,
        key_found,
        opened
            .iter()
            .find_map(|o| hostdata_verdict(&o.vdev, None, None).ok().and_then(|v| v.1))
            .as_ref(),
    )
}

/// What a host-data finding is written from.
struct Context<'a> {
    a: Option<&'a store::Assessment>,
    zone: &'a str,
    key_problem: Option<&'a str>,
    opts: &'a DiagnoseOptions,
    kzrescue: Option<&'static str>,
    spec: &'a str,
    repair: String,
}

impl Context<'_> {
    fn reinit(&self) -> Option<String> {
        Some(format!("{} --reinit-hostdata --write", self.repair))
    }

    fn finding(&self, v: &Verdict) -> Finding {
        let repairable =
            |code, msg: String, fix| Finding::new(code, Severity::Repairable, msg).fix(fix);
        match v {
            Verdict::Healthy => Finding::new(
                Code::HostOk,
                Severity::Ok,
                "host data: both copies valid under the zone's key",
            ),
            Verdict::Degraded { serving, why, .. } => repairable(
                Code::HostDegraded,
                format!("host data: the {} copy serves, but {why}", serving.name()),
                Some(format!(
                    "{} --takeover --hostname NAME --write   (rewrites both copies; keeps the key)",
                    self.repair
                )),
            ),
            Verdict::NoHostData { reason } => self.no_hostdata(reason),
            Verdict::KeyNotAvailable => repairable(
                Code::HostNoKey,
                format!(
                    "host data is present but the zone's key is not available ({}); Solaris marks such a zone unavailable",
                    self.key_problem
                        .unwrap_or("give --keys DIR holding the key file")
                ),
                self.reinit(),
            ),
            Verdict::KeyIncorrect { stored, given } => repairable(
                Code::HostKeyIncorrect,
                format!(
                    "Encryption key is incorrect: host data is sealed under key id {stored}, the zone's key file ({}) has key id {given} — typical after a rollback or a re-initialization elsewhere",
                    self.opts
                        .keys_dir
                        .as_ref()
                        .map(|d| d.join(self.zone).display().to_string())
                        .unwrap_or_default()
                ),
                self.reinit(),
            ),
            Verdict::CorruptOrTampered => repairable(
                Code::HostCorrupt,
                "host data: neither copy verifies (corrupt or tampered) under the zone's key"
                    .into(),
                self.reinit(),
            ),
            Verdict::OwnedByAnotherHost => repairable(
                Code::HostOtherOwner,
                format!(
                    "{}; take it over only if the zone is not running there",
                    self.owner()
                ),
                Some(format!(
                    "{} --takeover --hostname NAME --write",
                    self.repair
                )),
            ),
        }
    }

    fn owner(&self) -> String {
        self.a
            .and_then(|a| a.best())
            .map(|(_, _, d)| {
                format!(
                    "zone {} is in use by host with hostid {:08x} ({}), last known state {}, last update {}",
                    self.zone,
                    d.owner_hostid,
                    d.owner_hostname,
                    d.state,
                    hostdata::format_time(d.last_update)
                )
            })
            .unwrap_or_else(|| "owned by another host".into())
    }

    fn no_hostdata(&self, reason: &str) -> Finding {
        let Some(a) = self.a else {
            return Finding::new(
                Code::HostNoReserved,
                Severity::Warning,
                format!("host data: {reason}"),
            );
        };
        let unknown: Vec<String> = store::unknown_slots(a)
            .iter()
            .map(|u| u.describe(self.spec))
            .collect();
        let oracle = format!(
            "kzrescue cannot read Oracle's host data (its format is not public; see formats/hostdata.md), so it cannot judge it; on the Solaris host `zoneadm -z {} attach -x initialize-hostdata` re-creates it",
            self.zone
        );
        match (self.kzrescue, unknown.is_empty()) {
            (Some(why), true) => Finding::new(
                Code::HostMissing,
                Severity::Repairable,
                format!(
                    "host data: no kzrescue host data on this disk ({reason}), though this zone uses kzrescue's host data ({why}); `kzrescue hostdata check` reports no-host-data (exit 10) until it is initialised"
                ),
            )
            .fix(self.reinit()),
            (Some(why), false) => Finding::new(
                Code::HostUnknownBytes,
                Severity::Unrepairable,
                format!(
                    "host data: this zone uses kzrescue's host data ({why}), but the host-data slots hold bytes kzrescue cannot identify: {}; kzrescue writes over them only with --force (journalled)",
                    unknown.join("; ")
                ),
            )
            .fix(Some(format!("{} --reinit-hostdata --force --write", self.repair))),
            (None, true) => Finding::new(
                Code::HostOracleEmpty,
                Severity::Info,
                format!(
                    "host data: no kzrescue host data on this disk (both slots empty); {oracle} (give --hostdata kzrescue if this zone uses kzrescue's host data)"
                ),
            ),
            (None, false) => Finding::new(
                Code::HostOracle,
                Severity::Info,
                format!(
                    "host data: the slots hold data that is not kzrescue's, as Oracle's host data would: {}; {oracle}",
                    unknown.join("; ")
                ),
            ),
        }
    }
}
