//! One-shot diagnosis of a kernel zone's boot devices, and the repair plan
//! that follows from it.
//!
//! [`diagnose`] takes the zone configuration, opens every boot device (or the
//! image a `--map` puts in its place), and checks, in the order an admin
//! would: can the storage be opened; the partition table and the pool's
//! slice; the four labels; `phys_path`/`path`/`devid` against what the guest
//! expects (`/zvnex/zvblk@<id>:<letter>`), for every mirror child in every
//! label of every disk; pool state and the last importing host; whether the
//! pool is live right now; and the host data. Each [`Finding`] has a
//! severity, one sentence in the admin's words, and the exact command that
//! fixes it. The phys_path check runs the very planner the repair uses, so
//! "diagnose says it is wrong" and "repair would change it" cannot disagree.

mod code;
mod device;
mod hostdata;
mod physpath;
mod procedure;
mod text;

pub use code::Code;
pub use hostdata::reserved_partition;
pub use physpath::{expected_fields, physpath_plan};
pub use procedure::{ProcedureStep, post_rollback_procedure};

use crate::error::{Error, Result};
use crate::hostdata::HostKey;
use crate::repair::liveness;
use crate::shell::quote;
use crate::target::DiskSlice;
use crate::zfs::label::{LabelRead, LabelStatus};
use crate::zone::ZoneConfig;
use crate::zone::zvblk::UnitRadix;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// The JSON schema of a [`Diagnosis`].
pub const SCHEMA: &str = "kzrescue.diagnose/3";

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A check that passed.
    Ok,
    /// Something worth knowing that needs no action.
    Info,
    /// Not wrong today, but worth acting on.
    Warning,
    /// Wrong, and `kzrescue repair` can fix it.
    Repairable,
    /// Wrong, and kzrescue cannot (or must not) fix it as things stand.
    Unrepairable,
}

/// One result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The stable code (`KZ-PHYS-001`): what scripts key on.
    pub code: Code,
    /// The zonecfg device id it is about (`None`: the zone as a whole).
    pub device: Option<u32>,
    /// For a zone-wide finding about several boot devices (one fix for
    /// both sides of a mirror): their ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<u32>,
    /// The check that made it (`open`, `partition`, `recovery`, `labels`,
    /// `phys_path`, `mirror`, `pool`, `liveness`, `hostdata`, `config`,
    /// `zvol-route`): [`Code::check`].
    pub check: &'static str,
    /// How bad.
    pub severity: Severity,
    /// One sentence in the admin's words.
    pub message: String,
    /// The exact command that fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    /// A zone-wide finding without a fix.
    pub fn new(code: Code, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            code,
            device: None,
            devices: Vec::new(),
            check: code.check(),
            severity,
            message: message.into(),
            fix: None,
        }
    }

    /// This finding, about boot device `device`.
    pub fn on(mut self, device: Option<u32>) -> Finding {
        self.device = device;
        self
    }

    /// This finding, fixed by `fix`.
    pub fn fix(mut self, fix: Option<String>) -> Finding {
        self.fix = fix;
        self
    }
}

/// What was found on one boot device.
#[derive(Debug, Clone, Serialize, Default)]
pub struct DeviceReport {
    /// zonecfg `id`.
    pub id: Option<u32>,
    /// zonecfg `bootpri`.
    pub bootpri: Option<u32>,
    /// `storage` as configured, templates expanded.
    pub storage: String,
    /// What was opened for it (the storage itself, or a `--map` override).
    pub opened: Option<String>,
    /// Partition table kind.
    pub table: Option<String>,
    /// Slice holding the pool and its minor letter.
    pub slice: Option<u32>,
    /// Minor letter of that slice.
    pub letter: Option<char>,
    /// The phys_path the guest expects.
    pub expected_phys_path: Option<String>,
    /// Labels that are valid.
    pub valid_labels: Vec<usize>,
    /// Pool name.
    pub pool: Option<String>,
    /// Pool guid.
    pub pool_guid: Option<u64>,
    /// This disk's leaf guid.
    pub guid: Option<u64>,
    /// Highest label txg.
    pub label_txg: Option<u64>,
    /// Pool state number in the labels (0 active, 1 exported, 2 destroyed).
    pub pool_state: Option<u64>,
    /// Last importing host's hostid, from the labels.
    pub hostid: Option<u64>,
    /// Last importing host's name, from the labels.
    pub hostname: Option<String>,
    /// This leaf's phys_path in the first valid label.
    pub phys_path: Option<String>,
    /// This leaf's path.
    pub path: Option<String>,
    /// This leaf's devid.
    pub devid: Option<String>,
    /// Host-data verdict name.
    pub hostdata: Option<String>,
    /// Host-data owner (hostid, hostname) when readable.
    pub hostdata_owner: Option<(String, String)>,
}

/// The whole diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// JSON schema name.
    pub schema: &'static str,
    /// Zone name.
    pub zone: Option<String>,
    /// Brand.
    pub brand: Option<String>,
    /// Per boot device.
    pub devices: Vec<DeviceReport>,
    /// Every finding, in check order.
    pub findings: Vec<Finding>,
    /// The best uberblock txg seen by the liveness check.
    pub best_txg: Option<u64>,
    /// Whose host data the zone uses, as far as kzrescue can tell:
    /// `kzrescue` (with the reason) or `oracle` (nothing says kzrescue's).
    pub hostdata_format: String,
    /// When the host data is Oracle's: what makes a rolled-back zone boot
    /// on its Solaris host, step by step, filled in from the configuration
    /// (empty when the zone uses kzrescue's host data).
    pub post_rollback: Vec<ProcedureStep>,
    /// The exit code (see [`Diagnosis::exit_code`]); `exit` in JSON, the
    /// one name every document uses for it.
    #[serde(rename = "exit")]
    pub exit_code: u8,
}

/// Exit code: healthy.
pub const EXIT_HEALTHY: u8 = 0;
/// Exit code: problems that `kzrescue repair` can fix.
pub const EXIT_REPAIRABLE: u8 = 1;
/// Exit code: problems kzrescue cannot fix (or an operational error).
pub const EXIT_UNREPAIRABLE: u8 = 2;
/// Exit code: the pool is live (imported somewhere); nothing may be repaired.
pub const EXIT_LIVE: u8 = 3;

impl Diagnosis {
    fn compute_exit(&self) -> u8 {
        let live = self.findings.iter().any(|f| f.code == Code::LiveActive);
        let worst = self.findings.iter().map(|f| f.severity).max();
        if live {
            EXIT_LIVE
        } else {
            match worst {
                Some(Severity::Unrepairable) => EXIT_UNREPAIRABLE,
                Some(Severity::Repairable) => EXIT_REPAIRABLE,
                _ => EXIT_HEALTHY,
            }
        }
    }

    /// Findings that `repair` acts on.
    pub fn repairable(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Repairable)
    }
}

/// Options of [`diagnose`].
#[derive(Debug, Clone)]
pub struct DiagnoseOptions {
    /// The configuration file, as the user named it (used in fix commands).
    pub config_file: String,
    /// Zone name when the configuration does not carry it (export text).
    pub zone: Option<String>,
    /// Directory of zone key files (`/etc/zones/keys`); the key is `<dir>/<zone>`.
    pub keys_dir: Option<PathBuf>,
    /// The hostid of the host that wants to run the zone.
    pub hostid: Option<u32>,
    /// `URI=PATH` overrides: open PATH where the configuration says URI.
    pub maps: Vec<(String, String)>,
    /// Value of `%{global-rootzpool}`.
    pub global_rootzpool: String,
    /// How to spell unit addresses of ids ≥ 10.
    pub radix: UnitRadix,
    /// Wait between the two uberblock reads; zero skips the liveness check.
    pub liveness_interval: Duration,
    /// Logical sector size to assume.
    pub sector_size: Option<u32>,
    /// Accept a key file readable by others.
    pub insecure_key_perms: bool,
    /// The zone uses kzrescue's host data (`--hostdata kzrescue`): a disk
    /// without it is then a problem to repair. Otherwise kzrescue assumes
    /// so only when the zone's key file was found and read, or a kzrescue
    /// copy is on the disk; without either, the host data is Oracle's (which
    /// kzrescue cannot read) and its absence is no finding.
    pub hostdata_kzrescue: bool,
    /// How to reach boot devices named by URI.
    pub access: crate::target::AccessOptions,
}

/// One `--map URI=PATH` override of [`DiagnoseOptions::maps`]: (URI, PATH),
/// both non-empty. The URI itself may contain `=` only in nfs user/group
/// parts, never before its scheme's `:`; the split is at the last `=`.
pub fn parse_map(s: &str) -> Result<(String, String)> {
    let bad = || Error::Usage(format!("{s:?} is not URI=PATH"));
    let (u, p) = s.rsplit_once('=').ok_or_else(bad)?;
    if u.is_empty() || p.is_empty() {
        return Err(bad());
    }
    Ok((u.to_string(), p.to_string()))
}

impl Default for DiagnoseOptions {
    fn default() -> Self {
        DiagnoseOptions {
            config_file: String::new(),
            zone: None,
            keys_dir: None,
            hostid: None,
            maps: Vec::new(),
            global_rootzpool: "rpool".into(),
            radix: UnitRadix::Hex,
            liveness_interval: liveness::DEFAULT_INTERVAL,
            sector_size: None,
            insecure_key_perms: false,
            hostdata_kzrescue: false,
            access: crate::target::AccessOptions::default(),
        }
    }
}

/// A boot device that was opened and whose labels were read.
pub struct OpenedDevice {
    /// Index into [`Diagnosis::devices`].
    pub index: usize,
    /// zonecfg id.
    pub id: u32,
    /// What was opened (path or URI).
    pub spec: String,
    /// The resolved vdev.
    pub vdev: DiskSlice,
    /// Its labels.
    pub labels: Vec<LabelRead>,
}

/// What a scan advised for a boot device whose partition table (or
/// labels) could not give the pool's slice.
#[derive(Debug, Clone)]
pub struct DeviceAdvice {
    /// zonecfg id.
    pub id: u32,
    /// What was opened (path or URI).
    pub spec: String,
    /// The sector size diagnose was told to assume (the scan's own
    /// detection otherwise).
    pub sector_size: Option<u32>,
    /// The advice, in order.
    pub advice: Vec<crate::recovery::Advice>,
}

/// Everything [`diagnose`] learned, for the repair to act on.
pub struct Session {
    /// The report.
    pub diagnosis: Diagnosis,
    /// Devices that opened and carry labels of the zone's pool.
    pub opened: Vec<OpenedDevice>,
    /// Devices whose pool slice could not be found, with what a scan of
    /// each advised.
    pub recovery: Vec<DeviceAdvice>,
    /// The key used for the host-data checks, if one was found.
    pub key: Option<HostKey>,
    /// Where that key lives (or would live).
    pub key_path: Option<PathBuf>,
}

/// Normalizes a storage URI for comparison (suri rules: iSCSI and `lu:` are
/// case-insensitive; a default `:3260` port is dropped).
fn normalize_uri(u: &str) -> String {
    let lower = u.to_ascii_lowercase();
    if lower.starts_with("iscsi:") || lower.starts_with("lu:") {
        lower.replace(":3260/", "/")
    } else {
        u.to_string()
    }
}

impl DiagnoseOptions {
    /// The `--zone-config … --map …` arguments that reproduce this run.
    pub fn repair_args(&self) -> String {
        let mut s = format!("--zone-config {}", quote(&self.config_file));
        if let Some(z) = &self.zone {
            s.push_str(&format!(" --zone {}", quote(z)));
        }
        if let Some(k) = &self.keys_dir {
            s.push_str(&format!(" --keys {}", quote(&k.display().to_string())));
        }
        if let Some(h) = self.hostid {
            s.push_str(&format!(" --hostid {h:08x}"));
        }
        for (u, p) in &self.maps {
            s.push_str(&format!(" --map {}", quote(&format!("{u}={p}"))));
        }
        if self.hostdata_kzrescue {
            s.push_str(" --hostdata kzrescue");
        }
        s
    }

    fn open_spec(&self, storage: &str) -> String {
        let n = normalize_uri(storage);
        for (u, p) in &self.maps {
            if normalize_uri(u) == n {
                return p.clone();
            }
        }
        storage.to_string()
    }
}

fn first_valid(labels: &[LabelRead]) -> Option<&LabelRead> {
    labels.iter().find(|l| l.status == LabelStatus::Valid)
}

/// The brand and boot-device findings of the configuration itself.
fn check_config(cfg: &ZoneConfig, boot_devices: usize) -> Vec<Finding> {
    let mut out = Vec::new();
    if !cfg.is_kernel_zone() {
        out.push(Finding::new(
            Code::ConfNotKernelZone,
            Severity::Unrepairable,
            format!(
                "brand is {:?}, not solaris-kz: this is not a kernel zone, and kzrescue only rescues kernel-zone boot disks",
                cfg.brand().unwrap_or("(none)")
            ),
        ));
    }
    if boot_devices == 0 && cfg.is_kernel_zone() {
        out.push(Finding::new(
            Code::ConfNoBootDevice,
            Severity::Unrepairable,
            "the configuration has no boot device (no `device` resource with `bootpri`)",
        ));
    }
    out
}

/// Refuses `--map` entries that name no boot device of the zone (a typo
/// there would otherwise diagnose the real device, or nothing, silently).
fn check_maps(cfg: &ZoneConfig, zone: Option<&str>, opts: &DiagnoseOptions) -> Result<()> {
    let storages: Vec<String> = cfg
        .boot_devices()?
        .iter()
        .filter_map(|d| d.expanded_storage(zone, &opts.global_rootzpool).ok())
        .map(|s| normalize_uri(&s))
        .collect();
    for (u, p) in &opts.maps {
        if !storages.contains(&normalize_uri(u)) {
            return Err(Error::Usage(format!(
                "--map {u}={p}: {u} is not the storage of any boot device of the zone ({})",
                if storages.is_empty() {
                    "it has none".to_string()
                } else {
                    storages.join(", ")
                }
            )));
        }
    }
    Ok(())
}

/// The zvol route (crate::zone::comstar): boot devices that are zvols on
/// the Solaris host and could not be opened here get the host commands
/// that lend them to this machine over iSCSI.
fn check_zvol_route(
    zone: Option<&str>,
    devices: &[DeviceReport],
    findings: &[Finding],
) -> Option<Finding> {
    let unopened: Vec<String> = devices
        .iter()
        .filter(|d| {
            d.opened.as_deref() == Some(d.storage.as_str())
                && findings
                    .iter()
                    .any(|f| f.code == Code::OpenFailed && f.device == d.id)
        })
        .map(|d| d.storage.clone())
        .collect();
    let (message, fix) = crate::zone::comstar::diagnose_hint(zone, &unopened)?;
    Some(Finding::new(Code::RouteZvol, Severity::Info, message).fix(Some(fix)))
}

/// All boot devices must hold the same pool.
fn check_same_pool(opened: &[OpenedDevice], devices: &[DeviceReport]) -> Option<Finding> {
    let pools: Vec<Option<u64>> = opened.iter().map(|o| devices[o.index].pool_guid).collect();
    let first = pools.first().copied().flatten()?;
    if pools.iter().all(|p| *p == Some(first)) {
        return None;
    }
    let list: Vec<String> = opened
        .iter()
        .map(|o| {
            format!(
                "device {} → {}",
                o.id,
                devices[o.index].pool.as_deref().unwrap_or("?")
            )
        })
        .collect();
    Some(Finding::new(
        Code::MirrorPools,
        Severity::Unrepairable,
        format!(
            "the boot devices do not hold one pool ({})",
            list.join(", ")
        ),
    ))
}

/// Whether the pool is live right now: the uberblock rings of every opened
/// device read twice, the interval apart. Returns the finding and the best
/// txg seen.
fn check_liveness(opened: &[OpenedDevice], interval: Duration) -> Option<(Finding, Option<u64>)> {
    if opened.is_empty() || interval.is_zero() {
        return None;
    }
    let watched: Vec<liveness::Watched<'_>> = opened
        .iter()
        .map(|o| liveness::Watched {
            vdev: o.vdev.source.as_ref(),
            ashift: first_valid(&o.labels).and_then(|l| l.ashift()),
        })
        .collect();
    Some(match liveness::check(&watched, interval) {
        Ok(q) => (
            Finding::new(
                Code::LiveQuiet,
                Severity::Ok,
                format!(
                    "the pool is not being written (uberblock rings unchanged over {:.1} s, active txg {})",
                    q.interval.as_secs_f64(),
                    q.best_txg.map_or("none".into(), |t| t.to_string())
                ),
            ),
            q.best_txg,
        ),
        Err(e) => (
            Finding::new(
                Code::LiveActive,
                Severity::Unrepairable,
                format!(
                    "{e}; do not repair until the zone is halted and the pool exported everywhere"
                ),
            ),
            None,
        ),
    })
}

/// Diagnoses the zone `cfg` describes: the checks in the order an admin
/// would run them, each giving findings with a stable [`Code`]. Fails (as a
/// usage error) only for what the caller passed wrongly: a configuration
/// without parsable devices, a `--map` that names no boot device.
pub fn diagnose(cfg: &ZoneConfig, opts: &DiagnoseOptions) -> Result<Session> {
    let zone = cfg.name.clone().or_else(|| opts.zone.clone());
    let boot = cfg.boot_devices()?;
    check_maps(cfg, zone.as_deref(), opts)?;
    let mut findings = check_config(cfg, boot.len());
    let mut devices = Vec::new();
    let mut opened: Vec<OpenedDevice> = Vec::new();
    let mut recovery = Vec::new();
    for dev in &boot {
        let c = device::check_device(dev, devices.len(), zone.as_deref(), opts);
        devices.push(c.report);
        findings.extend(c.findings);
        opened.extend(c.opened);
        recovery.extend(c.recovery);
    }
    findings.extend(check_zvol_route(zone.as_deref(), &devices, &findings));
    let mirror = check_same_pool(&opened, &devices);
    let same_pool = mirror.is_none();
    findings.extend(mirror);
    let mut best_txg = None;
    if let Some((f, txg)) = check_liveness(&opened, opts.liveness_interval) {
        findings.push(f);
        best_txg = txg;
    }
    if same_pool {
        let disks = physpath::plan_disks(&opened, &devices);
        findings.extend(physpath::check_physpath(&disks, &devices, opts.radix));
    }
    let key = hostdata::find_key(zone.as_deref(), opts);
    for o in &opened {
        let f = hostdata::check_hostdata(o, &mut devices[o.index], &key, zone.as_deref(), opts);
        findings.push(f);
    }
    let kz_reason = hostdata::zone_uses_kzrescue(&opened, key.key.is_some(), opts);
    let post_rollback = if kz_reason.is_none() && cfg.is_kernel_zone() {
        post_rollback_procedure(
            zone.as_deref().unwrap_or("ZONE"),
            &devices
                .iter()
                .map(|d| d.storage.clone())
                .collect::<Vec<_>>(),
            &format!("kzrescue repair {} --write", opts.repair_args()),
        )
    } else {
        Vec::new()
    };
    let mut diagnosis = Diagnosis {
        schema: SCHEMA,
        zone,
        brand: cfg.brand().map(str::to_string),
        devices,
        findings,
        best_txg,
        hostdata_format: match kz_reason {
            Some(why) => format!("kzrescue ({why})"),
            None => "oracle (nothing says kzrescue's; kzrescue cannot read it)".into(),
        },
        post_rollback,
        exit_code: 0,
    };
    diagnosis.exit_code = diagnosis.compute_exit();
    Ok(Session {
        diagnosis,
        opened,
        recovery,
        key: key.key,
        key_path: key.path,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_map;
    use crate::error::ErrorKind;

    #[test]
    fn a_map_splits_at_the_last_equals_sign() {
        let m = parse_map("nfs://u=1:g@h/a=/tmp/x.img").unwrap();
        assert_eq!(m, ("nfs://u=1:g@h/a".into(), "/tmp/x.img".into()));
        for bad in ["dev:x", "=p", "dev:x="] {
            let e = parse_map(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Usage, "{bad}");
            assert_eq!(e.to_string(), format!("{bad:?} is not URI=PATH"));
        }
    }
}
