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

use crate::error::{Error, Result};
use crate::hostdata::{self, HostKey, Verdict, keyfile, store};
use crate::partition::Partition;
use crate::repair::{liveness, plan};
use crate::source::SharedSource;
use crate::target::{self, TargetOptions, Vdev};
use crate::zfs::label::{self, LabelRead, LabelStatus};
use crate::zone::ZoneConfig;
use crate::zone::zvblk::{self, UnitRadix};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// The zonecfg device id it is about (`None`: the zone as a whole).
    pub device: Option<u32>,
    /// A stable name of the check (`open`, `partition`, `labels`, `phys_path`,
    /// `mirror`, `pool`, `liveness`, `hostdata`, `config`).
    pub check: &'static str,
    /// How bad.
    pub severity: Severity,
    /// One sentence in the admin's words.
    pub message: String,
    /// The exact command that fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
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
    /// The exit code (see [`Diagnosis::exit_code`]).
    pub exit_code: u8,
}

/// One step of the post-rollback procedure of a zone whose host data is
/// Oracle's. The commands are Oracle's documented ones (README, "After a
/// rollback"); kzrescue runs none of them except its own.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProcedureStep {
    /// Step number, from 1.
    pub step: usize,
    /// Where it runs: `storage` (the system serving the zvol/LU), `host`
    /// (the zone's Solaris host) or `kzrescue`.
    pub on: &'static str,
    /// The command, filled in where the configuration says; `<…>` marks what
    /// only the admin knows.
    pub command: String,
    /// Why, in one sentence.
    pub why: String,
    /// Whether kzrescue does this step itself (the labels).
    pub kzrescue_does_it: bool,
    /// The documentation the step follows.
    pub source: &'static str,
}

const DOC_ROLLBACK: &str = "Oracle, Managing Devices in Oracle Solaris 11.4, \"How to Perform ZFS Rollback\" (https://docs.oracle.com/cd/E37838_01/html/E61015/graoz.html)";
const DOC_STMFADM: &str =
    "stmfadm(8) (https://docs.oracle.com/cd/E88353_01/html/E72487/stmfadm-8.html)";
const DOC_HOSTDATA: &str = "Oracle, Creating and Using Oracle Solaris Kernel Zones, \"Kernel Zone Host Data and Host ID\" (https://docs.oracle.com/cd/E53394_01/html/E54751/gocho.html)";
const DOC_ZONEADM: &str =
    "zoneadm(8) (https://docs.oracle.com/cd/E88353_01/html/E72487/zoneadm-8.html)";

/// The post-rollback procedure for zone `zone` whose boot devices are
/// `storage` (configured URIs): with an iSCSI/FC LU, the COMSTAR steps
/// around `zfs rollback` on the storage server; with a local zvol, the
/// rollback alone; then the labels (kzrescue) and the host data and boot
/// (the Solaris host).
pub fn post_rollback_procedure(
    zone: &str,
    storage: &[String],
    repair_cmd: &str,
) -> Vec<ProcedureStep> {
    use crate::source::uri::{IscsiLu, StorageUri};
    let mut steps: Vec<ProcedureStep> = Vec::new();
    let mut add = |on: &'static str, command: String, why: &str, kz: bool, source: &'static str| {
        steps.push(ProcedureStep {
            step: steps.len() + 1,
            on,
            command,
            why: why.to_string(),
            kzrescue_does_it: kz,
            source,
        })
    };
    add(
        "host",
        format!("zoneadm -z {} halt", sh(zone)),
        "the zone must not run while its storage is rolled back",
        false,
        DOC_ZONEADM,
    );
    for uri in storage {
        let parsed = StorageUri::parse(uri).ok();
        let guid = match &parsed {
            Some(StorageUri::Iscsi {
                lu: IscsiLu::Luname { luname },
                ..
            })
            | Some(StorageUri::Lu { luname, .. }) => Some(luname.id.to_ascii_uppercase()),
            _ => None,
        };
        let zvol = match &parsed {
            Some(StorageUri::Dev { path }) => path
                .strip_prefix("zvol/dsk/")
                .or_else(|| path.strip_prefix("zvol/rdsk/"))
                .map(str::to_string),
            _ => None,
        };
        let lu_backed = matches!(
            parsed,
            Some(StorageUri::Iscsi { .. }) | Some(StorageUri::Lu { .. })
        );
        if lu_backed {
            let g = guid.clone().unwrap_or_else(|| "<LU GUID>".into());
            add(
                "storage",
                format!("stmfadm delete-lu -k {g}"),
                &format!(
                    "unload the LU behind {uri} from COMSTAR while keeping its views (-k); its data stays intact"
                ),
                false,
                DOC_ROLLBACK,
            );
            add(
                "storage",
                "zfs rollback <pool>/<zvol backing the LU>@<snapshot>".to_string(),
                "the rollback itself",
                false,
                DOC_ROLLBACK,
            );
            add(
                "storage",
                "stmfadm import-lu /dev/zvol/rdsk/<pool>/<zvol backing the LU>".to_string(),
                &format!(
                    "re-register the LU from the metadata on the zvol: it comes back with the same GUID {g}, so the zone's storage URI still names it"
                ),
                false,
                DOC_ROLLBACK,
            );
            add(
                "storage",
                format!(
                    "stmfadm list-view -l {g}   # only if no view is listed: stmfadm add-view {g}"
                ),
                "the views kept by delete-lu -k make the LU visible to the host again; add-view is needed only if they were lost",
                false,
                DOC_STMFADM,
            );
        } else {
            let z = zvol.unwrap_or_else(|| "<pool>/<zvol>".into());
            add(
                "storage",
                format!("zfs rollback {z}@<snapshot>"),
                &format!("the rollback of the zvol behind {uri}"),
                false,
                DOC_ROLLBACK,
            );
        }
    }
    add(
        "kzrescue",
        repair_cmd.to_string(),
        "the vdev labels: phys_path/path as the zone sees its boot device (what kzrescue checks and repairs offline, journalled)",
        true,
        "README, The safety model",
    );
    add(
        "host",
        format!("zoneadm -z {} detach", sh(zone)),
        "attach works on a detached (configured) zone; skip this if zoneadm list -cv already shows the zone as configured",
        false,
        DOC_ZONEADM,
    );
    add(
        "host",
        format!("zoneadm -z {} attach -x initialize-hostdata", sh(zone)),
        "the rolled-back disk carries the host data of the snapshot's time, sealed under a key the host may no longer have: new host data (use -x force-takeover instead when the key is intact and only the owner changed); both defeat the in-use check, so be sure the zone runs nowhere else",
        false,
        DOC_HOSTDATA,
    );
    add(
        "host",
        format!("zoneadm -z {} boot", sh(zone)),
        "boot the zone",
        false,
        DOC_ZONEADM,
    );
    steps
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
        let live = self
            .findings
            .iter()
            .any(|f| f.check == "liveness" && f.severity == Severity::Unrepairable);
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
    pub vdev: Vdev,
    /// Its labels.
    pub labels: Vec<LabelRead>,
}

/// Everything [`diagnose`] learned, for the repair to act on.
pub struct Session {
    /// The report.
    pub diagnosis: Diagnosis,
    /// Devices that opened and carry labels of the zone's pool.
    pub opened: Vec<OpenedDevice>,
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

/// The shell-quoted form of an argument, for fix commands.
fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:@,=%+".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl DiagnoseOptions {
    /// The `--zone-config … --map …` arguments that reproduce this run.
    pub fn repair_args(&self) -> String {
        let mut s = format!("--zone-config {}", sh(&self.config_file));
        if let Some(z) = &self.zone {
            s.push_str(&format!(" --zone {}", sh(z)));
        }
        if let Some(k) = &self.keys_dir {
            s.push_str(&format!(" --keys {}", sh(&k.display().to_string())));
        }
        if let Some(h) = self.hostid {
            s.push_str(&format!(" --hostid {h:08x}"));
        }
        for (u, p) in &self.maps {
            s.push_str(&format!(" --map {}", sh(&format!("{u}={p}"))));
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

/// Diagnoses the zone `cfg` describes.
pub fn diagnose(cfg: &ZoneConfig, opts: &DiagnoseOptions) -> Result<Session> {
    let zone = cfg.name.clone().or_else(|| opts.zone.clone());
    let mut findings = Vec::new();
    let mut devices = Vec::new();
    let mut opened: Vec<OpenedDevice> = Vec::new();
    let push = |findings: &mut Vec<Finding>,
                device: Option<u32>,
                check: &'static str,
                severity: Severity,
                message: String,
                fix: Option<String>| {
        findings.push(Finding {
            device,
            check,
            severity,
            message,
            fix,
        })
    };

    if !cfg.is_kernel_zone() {
        push(
            &mut findings,
            None,
            "config",
            Severity::Unrepairable,
            format!(
                "brand is {:?}, not solaris-kz: this is not a kernel zone, and kzrescue only rescues kernel-zone boot disks",
                cfg.brand().unwrap_or("(none)")
            ),
            None,
        );
    }
    let boot = cfg.boot_devices()?;
    if boot.is_empty() && cfg.is_kernel_zone() {
        push(
            &mut findings,
            None,
            "config",
            Severity::Unrepairable,
            "the configuration has no boot device (no `device` resource with `bootpri`)".into(),
            None,
        );
    }

    // 1. Open each boot device, its partition table, its labels.
    for dev in &boot {
        let id = dev.id;
        let mut rep = DeviceReport {
            id,
            bootpri: dev.bootpri,
            ..Default::default()
        };
        let storage = match dev.expanded_storage(zone.as_deref(), &opts.global_rootzpool) {
            Ok(s) => s,
            Err(e) => {
                push(
                    &mut findings,
                    id,
                    "config",
                    Severity::Unrepairable,
                    e.to_string(),
                    None,
                );
                devices.push(rep);
                continue;
            }
        };
        rep.storage = storage.clone();
        let Some(id_num) = id else {
            push(
                &mut findings,
                None,
                "config",
                Severity::Unrepairable,
                format!(
                    "boot device {storage} has no id, so its guest path /zvnex/zvblk@<id> is unknown"
                ),
                None,
            );
            devices.push(rep);
            continue;
        };
        let spec = opts.open_spec(&storage);
        rep.opened = Some(spec.clone());
        let topts = TargetOptions {
            slice: None,
            sector_size: opts.sector_size,
            write: false,
            access: opts.access.clone(),
        };
        let vdev = match target::open_vdev(&spec, &topts) {
            Ok(v) => v,
            Err(e) => {
                let map_hint = if spec == storage {
                    format!(" (to use a copy, add --map {}=PATH)", sh(&storage))
                } else {
                    String::new()
                };
                push(
                    &mut findings,
                    id,
                    "open",
                    Severity::Unrepairable,
                    format!("boot device {id_num} ({storage}) cannot be used: {e}{map_hint}"),
                    None,
                );
                // A damaged table: what a scan of the device finds, and the fix.
                if matches!(e, Error::Corrupt { .. } | Error::Usage(_)) {
                    for a in crate::recovery::advise(&spec, opts.sector_size, &opts.access) {
                        push(
                            &mut findings,
                            id,
                            "recovery",
                            Severity::Unrepairable,
                            a.message,
                            a.fix,
                        );
                    }
                }
                devices.push(rep);
                continue;
            }
        };
        rep.table = Some(format!("{:?}", vdev.table.kind));
        if let Some(p) = &vdev.partition {
            rep.slice = Some(p.slice);
            rep.letter = Some(p.letter);
            rep.expected_phys_path =
                Some(zvblk::phys_path(u64::from(id_num), p.letter, opts.radix));
            push(
                &mut findings,
                id,
                "partition",
                Severity::Ok,
                format!(
                    "{} partition table; the pool is in slice {} (minor {})",
                    format!("{:?}", vdev.table.kind).to_uppercase(),
                    p.slice,
                    p.letter
                ),
                None,
            );
        } else {
            push(
                &mut findings,
                id,
                "partition",
                Severity::Warning,
                format!(
                    "{spec} has no partition table: a kernel zone's boot disk is GPT-labelled with the pool in a slice, so the guest path cannot be derived"
                ),
                None,
            );
            for a in crate::recovery::advise(&spec, opts.sector_size, &opts.access) {
                push(
                    &mut findings,
                    id,
                    "recovery",
                    Severity::Unrepairable,
                    a.message,
                    a.fix,
                );
            }
        }
        let labels = label::read_labels(vdev.source.as_ref());
        let valid: Vec<usize> = labels
            .iter()
            .filter(|l| l.status == LabelStatus::Valid)
            .map(|l| l.index)
            .collect();
        rep.valid_labels = valid.clone();
        let cmp = label::compare(&labels);
        match valid.len() {
            0 => {
                push(
                    &mut findings,
                    id,
                    "labels",
                    Severity::Unrepairable,
                    format!(
                        "no valid ZFS label on {}: this is not (or no longer) a pool disk",
                        vdev.describe()
                    ),
                    None,
                );
                devices.push(rep);
                continue;
            }
            1 => push(
                &mut findings,
                id,
                "labels",
                Severity::Unrepairable,
                format!(
                    "only label {} of 4 is valid; ZFS can still import, but kzrescue will not rewrite a pool with a single good label unless forced (kzrescue label {} shows why)",
                    valid[0],
                    sh(&spec)
                ),
                Some(crate::recovery::label_repair_command(&spec)),
            ),
            n => {
                let bad: Vec<String> = labels
                    .iter()
                    .filter(|l| l.status != LabelStatus::Valid)
                    .map(|l| format!("L{} {}", l.index, l.status.name()))
                    .collect();
                let (sev, msg) = match n {
                    4 => (Severity::Ok, "all 4 labels are valid".to_string()),
                    n if n >= plan::MIN_VALID_LABELS => (
                        Severity::Warning,
                        format!("{n} of 4 labels are valid ({})", bad.join(", ")),
                    ),
                    n => (
                        Severity::Unrepairable,
                        format!(
                            "only {n} of 4 labels are valid ({}); ZFS can still import, but kzrescue rewrites labels only with --force when fewer than {} are valid (kzrescue label {} shows why)",
                            bad.join(", "),
                            plan::MIN_VALID_LABELS,
                            sh(&spec)
                        ),
                    ),
                };
                push(
                    &mut findings,
                    id,
                    "labels",
                    sev,
                    msg,
                    (n < 4).then(|| crate::recovery::label_repair_command(&spec)),
                );
            }
        }
        for d in &cmp.disagreements {
            push(
                &mut findings,
                id,
                "labels",
                Severity::Warning,
                format!("valid labels disagree: {d:?}"),
                None,
            );
        }
        if let Some(l) = first_valid(&labels)
            && let Some(c) = &l.config
        {
            rep.pool = c.get_str("name").map(str::to_string);
            rep.pool_guid = c.get_u64("pool_guid");
            rep.guid = c.get_u64("guid");
            rep.pool_state = c.get_u64("state");
            rep.hostid = c.get_u64("hostid");
            rep.hostname = c.get_str("hostname").map(str::to_string);
            rep.label_txg = labels
                .iter()
                .filter(|l| l.status == LabelStatus::Valid)
                .filter_map(|l| l.u64("txg"))
                .max();
            if let (Some(tree), Some(g)) = (c.get_list("vdev_tree"), rep.guid)
                && let Some(leaf) = crate::zfs::vdev_tree::find_guid(tree, g)
            {
                rep.phys_path = leaf.phys_path().map(str::to_string);
                rep.path = leaf.path().map(str::to_string);
                rep.devid = leaf.devid().map(str::to_string);
            }
        }
        match rep.pool_state {
            Some(2) => push(
                &mut findings,
                id,
                "pool",
                Severity::Unrepairable,
                format!(
                    "pool {} is marked DESTROYED in the labels",
                    rep.pool.as_deref().unwrap_or("?")
                ),
                None,
            ),
            Some(s) => {
                let who = match (&rep.hostname, rep.hostid) {
                    (Some(h), Some(i)) => format!(", last imported by {h} (hostid {i:08x})"),
                    (Some(h), None) => format!(", last imported by {h}"),
                    (None, Some(i)) => format!(", last imported by hostid {i:08x}"),
                    _ => String::new(),
                };
                let state = match s {
                    0 => "ACTIVE",
                    1 => "EXPORTED",
                    3 => "SPARE",
                    4 => "L2CACHE",
                    _ => "unknown",
                };
                push(
                    &mut findings,
                    id,
                    "pool",
                    Severity::Info,
                    format!(
                        "pool {} (guid {}) is {state} at label txg {}{who}",
                        rep.pool.as_deref().unwrap_or("?"),
                        rep.pool_guid.unwrap_or(0),
                        rep.label_txg.unwrap_or(0)
                    ),
                    None,
                );
            }
            None => {}
        }
        let index = devices.len();
        devices.push(rep);
        opened.push(OpenedDevice {
            index,
            id: id_num,
            spec,
            vdev,
            labels,
        });
    }

    // The zvol route (crate::zone::comstar): boot devices that are zvols on
    // the Solaris host and could not be opened here get the host commands
    // that lend them to this machine over iSCSI.
    let unopened: Vec<String> = devices
        .iter()
        .filter(|d| {
            d.opened.as_deref() == Some(d.storage.as_str())
                && findings
                    .iter()
                    .any(|f| f.check == "open" && f.device == d.id)
        })
        .map(|d| d.storage.clone())
        .collect();
    if let Some((message, fix)) = crate::zone::comstar::diagnose_hint(zone.as_deref(), &unopened) {
        push(
            &mut findings,
            None,
            "zvol-route",
            Severity::Info,
            message,
            Some(fix),
        );
    }

    // 2. All boot devices must hold the same pool.
    let pools: Vec<Option<u64>> = opened.iter().map(|o| devices[o.index].pool_guid).collect();
    if let Some(first) = pools.first().copied().flatten()
        && pools.iter().any(|p| *p != Some(first))
    {
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
        push(
            &mut findings,
            None,
            "mirror",
            Severity::Unrepairable,
            format!(
                "the boot devices do not hold one pool ({})",
                list.join(", ")
            ),
            None,
        );
    }

    // 3. Is the pool live right now?
    let mut best_txg = None;
    if !opened.is_empty() && !opts.liveness_interval.is_zero() {
        let watched: Vec<liveness::Watched<'_>> = opened
            .iter()
            .map(|o| liveness::Watched {
                vdev: o.vdev.source.as_ref(),
                ashift: first_valid(&o.labels).and_then(|l| l.ashift()),
            })
            .collect();
        match liveness::check(&watched, opts.liveness_interval) {
            Ok(q) => {
                best_txg = q.best_txg;
                push(
                    &mut findings,
                    None,
                    "liveness",
                    Severity::Ok,
                    format!(
                        "the pool is not being written (uberblock rings unchanged over {:.1} s, active txg {})",
                        q.interval.as_secs_f64(),
                        q.best_txg.map_or("none".into(), |t| t.to_string())
                    ),
                    None,
                );
            }
            Err(e) => push(
                &mut findings,
                None,
                "liveness",
                Severity::Unrepairable,
                format!(
                    "{e}; do not repair until the zone is halted and the pool exported everywhere"
                ),
                None,
            ),
        }
    }

    // 4. phys_path / path / devid, through the repair planner.
    let same_pool = !findings
        .iter()
        .any(|f| f.check == "mirror" && f.severity == Severity::Unrepairable);
    let plan_disks: Vec<&OpenedDevice> = opened
        .iter()
        .filter(|o| o.vdev.partition.is_some() && devices[o.index].valid_labels.len() >= 2)
        .collect();
    // Disks with fewer valid labels than a rewrite needs are still checked
    // (their labels finding already says a repair needs --force).
    let force_check = plan_disks
        .iter()
        .any(|o| devices[o.index].valid_labels.len() < plan::MIN_VALID_LABELS);
    if same_pool && !plan_disks.is_empty() {
        match physpath_plan(&plan_disks, opts.radix, force_check) {
            Ok(p) if p.is_noop() => {
                for o in &plan_disks {
                    push(
                        &mut findings,
                        Some(o.id),
                        "phys_path",
                        Severity::Ok,
                        format!(
                            "phys_path is {} and path {} in every label, as the zone expects",
                            devices[o.index]
                                .expected_phys_path
                                .as_deref()
                                .unwrap_or("?"),
                            zvblk::guest_path(u64::from(o.id), devices[o.index].slice.unwrap_or(0))
                        ),
                        None,
                    );
                }
            }
            Ok(p) => {
                let fix = Some(physpath_command(&plan_disks, opts.radix));
                for (i, o) in plan_disks.iter().enumerate() {
                    let guid = p.disks.get(i).map(|d| d.guid);
                    // What changes anywhere about this disk's own leaf.
                    let mine: Vec<&plan::FieldChange> = p
                        .changes
                        .iter()
                        .filter(|c| Some(c.leaf_guid) == guid)
                        .collect();
                    let dev = &devices[o.index];
                    let expected = dev.expected_phys_path.as_deref().unwrap_or("?");
                    let guest = zvblk::guest_path(u64::from(o.id), dev.slice.unwrap_or(0));
                    let field = |f: &str| mine.iter().find(|c| c.field == f).copied();
                    let change = |c: &plan::FieldChange| {
                        format!(
                            "{} {} → {}",
                            c.field,
                            c.before
                                .as_deref()
                                .map_or("(absent)".into(), |v| format!("{v:?}")),
                            c.after
                                .as_deref()
                                .map_or("(removed)".into(), |v| format!("{v:?}"))
                        )
                    };
                    let labels_touched: std::collections::BTreeSet<(usize, usize)> =
                        mine.iter().map(|c| (c.disk, c.label)).collect();
                    let copies = format!(
                        "{} label copies on {} disk(s) to rewrite",
                        labels_touched.len(),
                        labels_touched
                            .iter()
                            .map(|(d, _)| d)
                            .collect::<std::collections::BTreeSet<_>>()
                            .len()
                    );
                    match (field("phys_path"), field("path"), field("devid")) {
                        (None, None, None) => push(
                            &mut findings,
                            Some(o.id),
                            "phys_path",
                            Severity::Ok,
                            format!(
                                "phys_path is {expected} and path {guest} in every label, as the zone expects"
                            ),
                            None,
                        ),
                        (Some(_), _, _) => push(
                            &mut findings,
                            Some(o.id),
                            "phys_path",
                            Severity::Repairable,
                            format!(
                                "the zone cannot find its root pool at boot: the zone's kernel looks the root pool's device up by the leaf's phys_path label field, which must be {expected} (the zvblk device of zonecfg id {}, slice {} → minor {}); the labels name this disk as the pool was last seen outside the zone: {} ({copies})",
                                o.id,
                                dev.slice.unwrap_or(0),
                                dev.letter.unwrap_or('?'),
                                [field("phys_path"), field("path"), field("devid")]
                                    .into_iter()
                                    .flatten()
                                    .map(change)
                                    .collect::<Vec<_>>()
                                    .join("; "),
                            ),
                            fix.clone(),
                        ),
                        (None, Some(c), _) => push(
                            &mut findings,
                            Some(o.id),
                            "phys_path",
                            Severity::Repairable,
                            format!(
                                "phys_path is {expected} as the zone expects, but the leaf's path label field is not the guest's {guest}: {} ({copies}); the zone's ZFS falls back to path when the phys_path lookup fails, so a wrong path loses that fallback",
                                change(c)
                            ),
                            fix.clone(),
                        ),
                        (None, None, Some(c)) => push(
                            &mut findings,
                            Some(o.id),
                            "phys_path",
                            Severity::Warning,
                            format!(
                                "phys_path is {expected} and path {guest} as the zone expects; the leaf still carries a host devid ({}): the zone boots by phys_path, and a devid that does not resolve in the guest only costs a failed lookup (removing it: {copies})",
                                change(c)
                            ),
                            fix.clone(),
                        ),
                    }
                }
                for w in &p.warnings {
                    push(
                        &mut findings,
                        None,
                        "mirror",
                        Severity::Warning,
                        w.clone(),
                        None,
                    );
                }
            }
            Err(e) => push(
                &mut findings,
                None,
                "phys_path",
                Severity::Unrepairable,
                format!("the labels cannot be repaired safely: {e}"),
                None,
            ),
        }
    }

    // 5. Host data.
    let key_path = zone
        .as_deref()
        .zip(opts.keys_dir.as_deref())
        .map(|(z, d)| d.join(z));
    let mut key = None;
    let mut key_problem = None;
    if let Some(p) = &key_path {
        if p.exists() {
            match keyfile::read_keyfile(p, opts.insecure_key_perms) {
                Ok(k) => key = Some(k.key),
                Err(e) => key_problem = Some(e.to_string()),
            }
        } else {
            key_problem = Some(format!("no key file {}", p.display()));
        }
    }
    for o in &opened {
        let v = hostdata_verdict(&o.vdev, key.as_ref(), opts.hostid);
        let rep = &mut devices[o.index];
        let (sev, msg, fix) = match &v {
            Err(e) => (
                Severity::Unrepairable,
                format!("host data cannot be read: {e}"),
                None,
            ),
            Ok((v, a)) => {
                rep.hostdata = Some(v.name().to_string());
                if let Some((_, _, d)) = a.as_ref().and_then(|a| a.best()) {
                    rep.hostdata_owner =
                        Some((format!("{:08x}", d.owner_hostid), d.owner_hostname.clone()));
                }
                let kz = kzrescue_hostdata(opts, key.is_some(), a.as_ref());
                hostdata_finding(
                    v,
                    a.as_ref(),
                    zone.as_deref(),
                    key_problem.as_deref(),
                    opts,
                    kz,
                    &o.spec,
                )
            }
        };
        push(&mut findings, Some(o.id), "hostdata", sev, msg, fix);
    }

    let kz_reason = kzrescue_hostdata(
        opts,
        key.is_some(),
        opened
            .iter()
            .find_map(|o| hostdata_verdict(&o.vdev, None, None).ok().and_then(|v| v.1))
            .as_ref(),
    );
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
        schema: "kzrescue.diagnose/1",
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
        key,
        key_path,
    })
}

/// The repair planner's view of the expected fields of these disks.
pub fn physpath_plan(disks: &[&OpenedDevice], radix: UnitRadix, force: bool) -> Result<plan::Plan> {
    let inputs: Vec<plan::DiskInput> = disks
        .iter()
        .map(|o| {
            let p = o
                .vdev
                .partition
                .as_ref()
                .ok_or_else(|| Error::Usage(format!("{} has no partition table", o.spec)))?;
            Ok(plan::DiskInput {
                name: o.spec.clone(),
                disk: o.vdev.disk.clone(),
                vdev: o.vdev.source.clone(),
                vdev_start: p.start,
                fields: expected_fields(o.id, p, radix),
            })
        })
        .collect::<Result<_>>()?;
    plan::plan(&inputs, plan::PlanOptions { force })
}

/// What the guest's own ZFS would record for device `id` whose pool is in
/// slice `p`: the zvblk phys_path, the guest's `/dev/dsk/c1d<id>s<n>` path,
/// and no devid (the guest's devid string is not documented; a host-side
/// devid left behind only costs a failed lookup, but removing it is what the
/// guest's first import would leave once it refreshes the field).
pub fn expected_fields(id: u32, p: &Partition, radix: UnitRadix) -> plan::LeafFields {
    plan::LeafFields {
        phys_path: zvblk::phys_path(u64::from(id), p.letter, radix),
        path: Some(zvblk::guest_path(u64::from(id), p.slice)),
        devid: plan::DevidChange::Clear,
    }
}

fn physpath_command(disks: &[&OpenedDevice], radix: UnitRadix) -> String {
    let mut s = String::from("kzrescue physpath set");
    for o in disks {
        s.push(' ');
        s.push_str(&sh(&o.spec));
    }
    for o in disks {
        s.push_str(&format!(" --device-id {}", o.id));
    }
    for o in disks {
        if let Some(p) = &o.vdev.partition {
            s.push_str(&format!(
                " --path {}",
                zvblk::guest_path(u64::from(o.id), p.slice)
            ));
        }
    }
    s.push_str(" --clear-devid");
    if radix == UnitRadix::Decimal {
        s.push_str(" --decimal-unit");
    }
    s.push_str(" --write");
    s
}

/// The reserved partition of a disk, if it has exactly one.
pub fn reserved_partition(vdev: &Vdev) -> Option<&Partition> {
    store::reserved_partition(&vdev.table, &vdev.disk.name())
        .ok()
        .flatten()
}

type HostdataView = (Verdict, Option<store::Assessment>);

fn hostdata_verdict(
    vdev: &Vdev,
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

#[allow(clippy::too_many_arguments)]
fn hostdata_finding(
    v: &Verdict,
    a: Option<&store::Assessment>,
    zone: Option<&str>,
    key_problem: Option<&str>,
    opts: &DiagnoseOptions,
    kzrescue: Option<&str>,
    spec: &str,
) -> (Severity, String, Option<String>) {
    let repair = format!("kzrescue repair {}", opts.repair_args());
    let reinit = Some(format!("{repair} --reinit-hostdata --write"));
    let zone_s = zone.unwrap_or("ZONE");
    match v {
        Verdict::Healthy => (
            Severity::Ok,
            "host data: both copies valid under the zone's key".into(),
            None,
        ),
        Verdict::Degraded { serving, why, .. } => (
            Severity::Repairable,
            format!("host data: the {} copy serves, but {why}", serving.name()),
            Some(format!(
                "{repair} --takeover --hostname NAME --write   (rewrites both copies; keeps the key)"
            )),
        ),
        Verdict::NoHostData { reason } => {
            let Some(a) = a else {
                return (Severity::Warning, format!("host data: {reason}"), None);
            };
            let unknown: Vec<String> = store::unknown_slots(a)
                .iter()
                .map(|u| u.describe(spec))
                .collect();
            let oracle = format!(
                "kzrescue cannot read Oracle's host data (its format is not public; see formats/hostdata.md), so it cannot judge it; on the Solaris host `zoneadm -z {zone_s} attach -x initialize-hostdata` re-creates it"
            );
            match (kzrescue, unknown.is_empty()) {
                (Some(why), true) => (
                    Severity::Repairable,
                    format!(
                        "host data: no kzrescue host data on this disk ({reason}), though this zone uses kzrescue's host data ({why}); `kzrescue hostdata check` reports no-host-data (exit 10) until it is initialised"
                    ),
                    reinit,
                ),
                (Some(why), false) => (
                    Severity::Unrepairable,
                    format!(
                        "host data: this zone uses kzrescue's host data ({why}), but the host-data slots hold bytes kzrescue cannot identify: {}; kzrescue writes over them only with --force (journalled)",
                        unknown.join("; ")
                    ),
                    Some(format!("{repair} --reinit-hostdata --force --write")),
                ),
                (None, true) => (
                    Severity::Info,
                    format!(
                        "host data: no kzrescue host data on this disk (both slots empty); {oracle} (give --hostdata kzrescue if this zone uses kzrescue's host data)"
                    ),
                    None,
                ),
                (None, false) => (
                    Severity::Info,
                    format!(
                        "host data: the slots hold data that is not kzrescue's, as Oracle's host data would: {}; {oracle}",
                        unknown.join("; ")
                    ),
                    None,
                ),
            }
        }
        Verdict::KeyNotAvailable => (
            Severity::Repairable,
            format!(
                "host data is present but the zone's key is not available ({}); Solaris marks such a zone unavailable",
                key_problem.unwrap_or("give --keys DIR holding the key file")
            ),
            reinit,
        ),
        Verdict::KeyIncorrect { stored, given } => (
            Severity::Repairable,
            format!(
                "Encryption key is incorrect: host data is sealed under key id {stored}, the zone's key file ({}) has key id {given} — typical after a rollback or a re-initialization elsewhere",
                opts.keys_dir
                    .as_ref()
                    .map(|d| d.join(zone_s).display().to_string())
                    .unwrap_or_default()
            ),
            reinit,
        ),
        Verdict::CorruptOrTampered => (
            Severity::Repairable,
            "host data: neither copy verifies (corrupt or tampered) under the zone's key".into(),
            reinit,
        ),
        Verdict::OwnedByAnotherHost => {
            let owner = a
                .and_then(|a| a.best())
                .map(|(_, _, d)| {
                    format!(
                        "zone {} is in use by host with hostid {:08x} ({}), last known state {}, last update {}",
                        zone_s,
                        d.owner_hostid,
                        d.owner_hostname,
                        d.state,
                        hostdata::format_time(d.last_update)
                    )
                })
                .unwrap_or_else(|| "owned by another host".into());
            (
                Severity::Repairable,
                format!("{owner}; take it over only if the zone is not running there"),
                Some(format!("{repair} --takeover --hostname NAME --write")),
            )
        }
    }
}

/// Where a repair saves the undo journal of device `id`.
pub fn journal_path(dir: &Path, zone: &str, id: u32, what: &str, stamp: u64) -> PathBuf {
    dir.join(format!("kzrescue-{zone}-dev{id}-{what}-{stamp}.journal"))
}

/// Opens `spec` again for writing (the repair reopens what diagnose read).
pub fn reopen_for_write(
    o: &OpenedDevice,
    sector_size: Option<u32>,
    access: &crate::target::AccessOptions,
) -> Result<Vdev> {
    let slice = o.vdev.partition.as_ref().map(|p| p.slice);
    target::open_vdev(
        &o.spec,
        &TargetOptions {
            slice,
            sector_size,
            write: true,
            access: access.clone(),
        },
    )
}

/// The whole disk of a vdev (for host-data writes, whose offsets are on it).
pub fn disk_of(v: &Vdev) -> SharedSource {
    v.disk.clone()
}

#[cfg(test)]
mod procedure_tests {
    use super::*;

    #[test]
    fn iscsi_lu_steps_carry_the_guid_and_say_who_does_what() {
        let s = post_rollback_procedure(
            "kz1",
            &["iscsi://10.0.0.5/luname.naa.600144f0a613c900000054521d550001".to_string()],
            "kzrescue repair --zone-config kz1.cfg --write",
        );
        let cmds: Vec<&str> = s.iter().map(|p| p.command.as_str()).collect();
        assert_eq!(cmds[0], "zoneadm -z kz1 halt");
        assert_eq!(
            cmds[1],
            "stmfadm delete-lu -k 600144F0A613C900000054521D550001"
        );
        assert!(cmds[2].starts_with("zfs rollback "));
        assert!(cmds[3].starts_with("stmfadm import-lu /dev/zvol/rdsk/"));
        assert!(cmds[4].contains("add-view 600144F0A613C900000054521D550001"));
        assert_eq!(
            s.iter().filter(|p| p.kzrescue_does_it).count(),
            1,
            "only the labels are kzrescue's"
        );
        assert!(cmds.contains(&"zoneadm -z kz1 attach -x initialize-hostdata"));
        assert_eq!(cmds.last(), Some(&"zoneadm -z kz1 boot"));
        assert!(s.iter().enumerate().all(|(i, p)| p.step == i + 1));
        // A local zvol: the rollback alone, named from the URI.
        let z = post_rollback_procedure(
            "kz1",
            &["dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0".to_string()],
            "kzrescue repair --write",
        );
        assert!(
            z.iter()
                .any(|p| p.command == "zfs rollback rpool/VARSHARE/zones/kz1/disk0@<snapshot>")
        );
        assert!(!z.iter().any(|p| p.command.starts_with("stmfadm")));
    }
}
