//! The zvol route: the Solaris host-side commands that lend a kernel zone's
//! zvol to a rescue machine as an iSCSI logical unit, read-only first, and
//! take it back afterwards.
//!
//! A kernel zone's boot disk is normally a zvol on its host
//! (`dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0`). Rather than copy it
//! out and back, COMSTAR exports the zvol's raw device as a SCSI logical unit
//! (`stmfadm create-lu -p wp=true`), a host group admits only the rescue
//! machine's initiator (`stmfadm create-hg`, `add-hg-member`, `add-view -h`),
//! and an iSCSI target with its own portal group carries it (`itadm
//! create-tpg`, `create-target`). kzrescue reaches the LU by its name
//! (`iscsi://HOST/luname.naa.GUID`), and the teardown removes view, LU,
//! target, portal group and host group again; the zvol and its data never
//! move. [`plan`] turns the request into typed [`Step`]s; [`render_text`]
//! prints them as a commented shell sequence. formats/zvol-route.md cites the
//! Oracle documentation of every command and option used here.

use crate::error::{Error, Result};
use crate::source::uri::{self, StorageUri};
use Machine::{RescueMachine as R, SolarisHost as H};
use serde::Serialize;

/// JSON schema name of a [`Route`].
pub const SCHEMA: &str = "kzrescue.zvol-route/2";

/// Oracle's documentation of each command (cited in formats/zvol-route.md).
pub mod doc {
    /// zoneadm(8), Oracle Solaris 11.4.
    pub const ZONEADM: &str = "https://docs.oracle.com/cd/E88353_01/html/E72487/zoneadm-8.html";
    /// `zoneadm list -p` fields, Oracle Solaris 11.2 zones guide.
    pub const ZONEADM_LIST_P: &str = "https://docs.oracle.com/cd/E36784_01/html/E37628/glhoc.html";
    /// `zonecfg export -f`, Introduction to Oracle Solaris Zones (11.2).
    pub const ZONECFG: &str =
        "https://docs.oracle.com/cd/E36784_01/html/E36848/z.config.ov-15.html";
    /// stmfadm(8), Oracle Solaris 11.4.
    pub const STMFADM: &str = "https://docs.oracle.com/cd/E88353_01/html/E72487/stmfadm-8.html";
    /// "How to Create a Logical Unit", Managing Devices in Oracle Solaris 11.4.
    pub const CREATE_LU: &str = "https://docs.oracle.com/cd/E37838_01/html/E61015/gkgmv.html";
    /// "Making SCSI Logical Units Available", Managing Devices in Oracle Solaris 11.3.
    pub const MAKE_AVAILABLE: &str = "http://docs.oracle.com/cd/E53394_01/html/E54782/glecu.html";
    /// itadm(1M), Oracle Solaris 11.1.
    pub const ITADM: &str = "https://docs.oracle.com/cd/E26502_01/html/E29031/itadm-1m.html";
    /// svcadm(8), Oracle Solaris 11.4.
    pub const SVCADM: &str = "https://docs.oracle.com/cd/E88353_01/html/E72487/svcadm-8.html";
    /// suri(7): the iSCSI storage URI forms, Oracle Solaris 11.4.
    pub const SURI: &str = "https://docs.oracle.com/cd/E88353_01/html/E37853/suri-7.html";
}

/// What the route needs to know.
#[derive(Debug, Clone, Default)]
pub struct RouteRequest {
    /// The zvols, as `dev:` URIs naming `/dev/zvol/{dsk,rdsk}/POOL/VOL`.
    pub storage: Vec<String>,
    /// The Solaris host's address as the rescue machine reaches it: `HOST`,
    /// `HOST:PORT`, `[V6]` or `[V6]:PORT`. It becomes the target portal and
    /// the host part of the `iscsi:` URI.
    pub rescue_host: String,
    /// The rescue machine's iSCSI initiator name (`iqn.…`, `eui.…`).
    pub initiator: String,
    /// The kernel zone using the zvols (enables the halt/boot steps).
    pub zone: Option<String>,
}

/// Where a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Machine {
    /// The Solaris host that holds the zvol (as root).
    SolarisHost,
    /// The machine that runs kzrescue.
    RescueMachine,
}

/// The stages of the route, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The zone must not run while its disk is lent out.
    StopZone,
    /// Export the zvol, write-protected, to the rescue initiator only.
    Export,
    /// Read it from the rescue machine.
    Inspect,
    /// Only when a repair must write: lift write protection, repair, restore it.
    Repair,
    /// Remove view, LU, target, portal group and host group; keep the zvol.
    Teardown,
    /// Start the zone again.
    BootZone,
}

impl Phase {
    fn title(self) -> &'static str {
        match self {
            Phase::StopZone => "Stop the zone",
            Phase::Export => "Export the zvol, write-protected, to the rescue machine only",
            Phase::Inspect => "Read it from the rescue machine",
            Phase::Repair => "Only when a repair has to write",
            Phase::Teardown => "Take it all down again (the zvol and its data stay)",
            Phase::BootZone => "Start the zone again",
        }
    }
}

/// One command of the route.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// A stable name (`zone-state`, `create-lu`, `add-view`, …).
    pub id: &'static str,
    /// Which logical unit (index into [`Route::lus`]) for per-LU steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lu: Option<usize>,
    /// The stage.
    pub phase: Phase,
    /// Where it runs.
    pub on: Machine,
    /// The command as arguments; `$GUID…` stands for a value an earlier step
    /// printed (see [`Step::sets`]).
    pub argv: Vec<String>,
    /// The command as one shell line (bash on the rescue machine).
    pub command: String,
    /// The shell variable this line sets from the command's output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sets: Option<String>,
    /// When to run it, if not always.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// What it does and why, in the admin's words.
    pub why: String,
    /// The documentation of the command.
    pub doc: &'static str,
}

/// One zvol lent out as one LU.
#[derive(Debug, Clone, Serialize)]
pub struct ZvolLu {
    /// The `dev:` URI as the zone configuration writes it.
    pub storage: String,
    /// The ZFS volume, `POOL/VOL`.
    pub dataset: String,
    /// The raw device COMSTAR serves, `/dev/zvol/rdsk/POOL/VOL`.
    pub raw_device: String,
    /// The shell variable holding the LU's GUID once `create-lu` has run.
    pub guid_var: String,
    /// The URI kzrescue opens, with `$GUID…` for the GUID.
    pub uri: String,
    /// The `--map` argument for diagnose/repair (`STORAGE=URI`).
    pub map: String,
}

/// The whole route.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The kernel zone.
    pub zone: Option<String>,
    /// The target portal, `HOST:PORT` as itadm takes it.
    pub portal: String,
    /// The only initiator admitted.
    pub initiator: String,
    /// The STMF host group holding it.
    pub host_group: String,
    /// The iSCSI target portal group.
    pub tpg: String,
    /// The iSCSI target's node name.
    pub target: String,
    /// The zvols.
    pub lus: Vec<ZvolLu>,
    /// Every command, in order.
    pub steps: Vec<Step>,
}

/// A Solaris zone name: a letter or digit, then letters, digits, `_`, `-`, `.`
/// (at most 64 characters).
fn check_zone_name(z: &str) -> Result<()> {
    let ok = !z.is_empty()
        && z.len() <= 64
        && z.as_bytes()[0].is_ascii_alphanumeric()
        && z.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "--zone {z:?} is not a zone name (letters, digits, _ - . ; at most 64)"
        )))
    }
}

/// An iSCSI initiator name as `add-hg-member` takes it: `iqn.…`, `eui.…` or
/// `naa.…` (RFC 3720 names are case-insensitive and stored lower-case).
fn check_initiator(n: &str) -> Result<()> {
    let lower = n.to_ascii_lowercase();
    let typed = ["iqn.", "eui.", "naa."]
        .iter()
        .any(|p| lower.starts_with(p) && lower.len() > p.len());
    let chars = n
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    if typed && chars && n.len() <= 223 {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "--initiator {n:?} is not an iSCSI initiator name (iqn.YYYY-MM.domain:…, eui.…, naa.…)"
        )))
    }
}

/// Lower-case letters, digits, `.` and `-`, for names kzrescue makes up.
fn name_part(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(64);
    out
}

/// `"$GUID"` as a shell word.
fn var(name: &str) -> String {
    format!("\"${name}\"")
}

struct Builder {
    steps: Vec<Step>,
}

impl Builder {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: &'static str,
        lu: Option<usize>,
        phase: Phase,
        on: Machine,
        argv: &[&str],
        when: Option<&str>,
        why: String,
        doc: &'static str,
    ) {
        let command = argv
            .iter()
            .map(|a| {
                // Arguments are validated names; only `$VAR` words need quotes.
                if let Some(name) = a.strip_prefix('$') {
                    var(name)
                } else if a.contains('$') {
                    format!("\"{a}\"")
                } else {
                    a.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        self.steps.push(Step {
            id,
            lu,
            phase,
            on,
            argv: argv.iter().map(|s| s.to_string()).collect(),
            command,
            sets: None,
            when: when.map(str::to_string),
            why,
            doc,
        });
    }

    /// Like [`Builder::push`], for a command whose output sets `$name`; the
    /// shell line keeps what `filter` (a sed script) extracts.
    #[allow(clippy::too_many_arguments)]
    fn push_capture(
        &mut self,
        id: &'static str,
        lu: Option<usize>,
        phase: Phase,
        on: Machine,
        argv: &[&str],
        name: &str,
        filter: &str,
        why: String,
        doc: &'static str,
    ) {
        self.push(id, lu, phase, on, argv, None, why, doc);
        if let Some(s) = self.steps.last_mut() {
            s.command = format!("{name}=$({} | sed -n '{filter}')", s.command);
            s.sets = Some(name.to_string());
        }
    }
}

/// Builds the route for `req`. Every `storage` must be a `dev:` URI of a zvol.
pub fn plan(req: &RouteRequest) -> Result<Route> {
    if req.storage.is_empty() {
        return Err(Error::Usage(
            "the zvol route needs at least one dev: URI".into(),
        ));
    }
    if let Some(z) = &req.zone {
        check_zone_name(z)?;
    }
    check_initiator(&req.initiator)?;
    let (host, port) = uri::parse_host_port(&req.rescue_host).map_err(|e| {
        Error::Usage(format!(
            "--rescue-host {:?}: {e} (give the Solaris host's address as HOST, HOST:PORT or [IPv6]:PORT)",
            req.rescue_host
        ))
    })?;
    let port = port.unwrap_or(uri::ISCSI_PORT);
    let host_uri = uri::host_for_uri(&host);
    let portal = format!("{host_uri}:{port}");
    // suri(7): an explicit default port is dropped from the URI.
    let authority = if port == uri::ISCSI_PORT {
        host_uri.clone()
    } else {
        portal.clone()
    };

    let mut lus: Vec<ZvolLu> = Vec::new();
    for s in &req.storage {
        let u = StorageUri::parse(s)?;
        let dataset = u.zvol_dataset().ok_or_else(|| {
            Error::Usage(format!(
                "{s}: the zvol route exports ZFS volumes (dev:/dev/zvol/dsk/POOL/VOL); \
                 this URI names {}",
                u.solaris_path().unwrap_or_else(|| u.normalize())
            ))
        })?;
        if lus.iter().any(|l| l.dataset == dataset) {
            return Err(Error::Usage(format!(
                "{s}: the zvol {dataset} is named twice"
            )));
        }
        let guid_var = if req.storage.len() == 1 {
            "GUID".to_string()
        } else {
            format!("GUID{}", lus.len() + 1)
        };
        let uri = format!("iscsi://{authority}/luname.naa.${guid_var}");
        lus.push(ZvolLu {
            storage: s.clone(),
            raw_device: format!("/dev/zvol/rdsk/{dataset}"),
            dataset,
            map: format!("{s}={uri}"),
            uri,
            guid_var,
        });
    }

    let base = match &req.zone {
        Some(z) => name_part(z),
        None => name_part(lus[0].dataset.rsplit('/').next().unwrap_or("zvol")),
    };
    let group = format!("kzrescue-{base}");
    let tpg = group.clone();
    let target = format!("iqn.1986-03.com.sun:02:kzrescue.{base}");
    let zone_cfg = req.zone.as_ref().map(|z| format!("{z}.zonecfg"));
    let maps: Vec<String> = lus.iter().map(|l| l.map.clone()).collect();

    let zone_args: Vec<String> = match (&req.zone, &zone_cfg) {
        (Some(z), Some(c)) => vec![
            "--zone-config".into(),
            c.clone(),
            "--zone".into(),
            z.clone(),
        ],
        _ => Vec::new(),
    };
    let c = Ctx {
        req,
        zone_args,
        portal,
        lus,
        group,
        tpg,
        target,
        zone_cfg,
        maps,
    };
    let mut b = Builder { steps: Vec::new() };
    stop_zone(&mut b, &c)?;
    export(&mut b, &c)?;
    inspect(&mut b, &c)?;
    write_access(&mut b, &c)?;
    teardown(&mut b, &c)?;
    boot_zone(&mut b, &c)?;
    let Ctx {
        portal,
        lus,
        group,
        tpg,
        target,
        ..
    } = c;
    Ok(Route {
        schema: SCHEMA,
        zone: req.zone.clone(),
        portal,
        initiator: req.initiator.clone(),
        host_group: group,
        tpg,
        target,
        lus,
        steps: b.steps,
    })
}

/// What every phase of the route is built from.
struct Ctx<'a> {
    req: &'a RouteRequest,
    /// The zone's `diagnose`/`repair` arguments (none without a zone).
    zone_args: Vec<String>,
    portal: String,
    lus: Vec<ZvolLu>,
    group: String,
    tpg: String,
    target: String,
    zone_cfg: Option<String>,
    maps: Vec<String>,
}

/// The zone must not run meanwhile.
fn stop_zone(b: &mut Builder, c: &Ctx<'_>) -> Result<()> {
    let Ctx { req, zone_cfg, .. } = c;
    // 1. The zone must not run meanwhile.
    if let Some(z) = &req.zone {
        b.push(
            "zone-state",
            None,
            Phase::StopZone,
            H,
            &["zoneadm", "-z", z, "list", "-p"],
            None,
            "One line about the zone; its third field is the state. Go on when it is \
             `installed` (or `unavailable`); any other state (`running`, `ready`, \
             `shutting_down`, `down`) means the zone still holds its disk: halt it first."
                .into(),
            doc::ZONEADM_LIST_P,
        );
        b.push(
            "zone-halt",
            None,
            Phase::StopZone,
            H,
            &["zoneadm", "-z", z, "halt"],
            Some("the state was not `installed` or `unavailable`"),
            format!(
                "Stops the kernel zone at once (`zoneadm -z {z} shutdown` is the orderly way \
                 while its guest still answers). Afterwards `zoneadm -z {z} list -p` must say \
                 `installed`."
            ),
            doc::ZONEADM,
        );
        let out = zone_cfg.clone().unwrap_or_default();
        b.push(
            "zone-config",
            None,
            Phase::StopZone,
            H,
            &["zonecfg", "-z", z, "export", "-f", &out],
            None,
            format!(
                "The zone's configuration for `kzrescue diagnose --zone-config`; copy {out} \
                 to the rescue machine."
            ),
            doc::ZONECFG,
        );
    }
    Ok(())
}

/// Each zvol registered as a write-protected logical unit, and checked.
fn create_lus(b: &mut Builder, lus: &[ZvolLu]) {
    for (i, l) in lus.iter().enumerate() {
        b.push_capture(
            "create-lu",
            Some(i),
            Phase::Export,
            H,
            &["stmfadm", "create-lu", "-p", "wp=true", &l.raw_device],
            &l.guid_var,
            "s/^Logical unit created: //p",
            format!(
                "Registers the zvol {} as a SCSI logical unit, write-protected: every WRITE \
                 is refused by the host itself. The LU's metadata goes into a property of the \
                 zvol, not onto its blocks, so LU block 0 is zvol byte 0. The GUID is known \
                 only now: create-lu prints `Logical unit created: <GUID>`, and this line keeps \
                 it in ${} for the steps below. (If create-lu says the zvol is already an LU \
                 from an earlier round, `stmfadm import-lu {}` brings it back under its old GUID; \
                 then `stmfadm modify-lu -p wp=true <GUID>`.)",
                l.dataset, l.guid_var, l.raw_device
            ),
            doc::STMFADM,
        );
        b.push(
            "check-lu",
            Some(i),
            Phase::Export,
            H,
            &["stmfadm", "list-lu", "-v", &format!("${}", l.guid_var)],
            None,
            format!(
                "Shows the new LU: its data file is {} and write protection is enabled.",
                l.raw_device
            ),
            doc::CREATE_LU,
        );
    }
}

/// Export, write-protected, to one initiator.
fn export(b: &mut Builder, c: &Ctx<'_>) -> Result<()> {
    let Ctx {
        req,
        portal,
        lus,
        group,
        tpg,
        target,
        ..
    } = c;
    // 2. Export, write-protected, to one initiator.
    b.push(
        "services",
        None,
        Phase::Export,
        H,
        &[
            "svcadm",
            "enable",
            "-r",
            "-s",
            "svc:/network/iscsi/target:default",
        ],
        None,
        "Starts the iSCSI target service and what it depends on (the STMF framework); \
         nothing changes when they already run."
            .into(),
        doc::SVCADM,
    );
    create_lus(b, lus);
    b.push(
        "create-hg",
        None,
        Phase::Export,
        H,
        &["stmfadm", "create-hg", group],
        None,
        "A host group for the rescue machine alone.".into(),
        doc::STMFADM,
    );
    b.push(
        "add-hg-member",
        None,
        Phase::Export,
        H,
        &["stmfadm", "add-hg-member", "-g", group, &req.initiator],
        None,
        "Its only member: the rescue machine's initiator name. (An initiator can belong to \
         one host group only; if this name is already in another, add-hg-member says so.)"
            .into(),
        doc::STMFADM,
    );
    for (i, l) in lus.iter().enumerate() {
        b.push(
            "add-view",
            Some(i),
            Phase::Export,
            H,
            &[
                "stmfadm",
                "add-view",
                "-h",
                group,
                &format!("${}", l.guid_var),
            ],
            None,
            "Makes the LU visible to that host group only; without -h every initiator that \
             logs in would see it. It becomes view entry 0 of this new LU."
                .into(),
            doc::MAKE_AVAILABLE,
        );
    }
    b.push(
        "create-tpg",
        None,
        Phase::Export,
        H,
        &["itadm", "create-tpg", tpg, portal],
        None,
        format!(
            "A target portal group: the target listens on {portal} only, the address the \
             rescue machine reaches."
        ),
        doc::ITADM,
    );
    b.push(
        "create-target",
        None,
        Phase::Export,
        H,
        &["itadm", "create-target", "-n", target, "-t", tpg],
        None,
        "The iSCSI target on that portal group; the rescue machine finds the LU behind it \
         by the LU's name."
            .into(),
        doc::ITADM,
    );
    Ok(())
}

/// Read it from the rescue machine.
fn inspect(b: &mut Builder, c: &Ctx<'_>) -> Result<()> {
    let Ctx {
        req,
        zone_args,
        lus,
        maps,
        ..
    } = c;
    // 3. Read it from the rescue machine.
    b.push(
        "rescue-initiator",
        None,
        Phase::Inspect,
        R,
        &[
            "export",
            &format!("KZRESCUE_INITIATOR_NAME={}", req.initiator),
        ],
        None,
        "kzrescue logs in under the name the host group admits.".into(),
        doc::SURI,
    );
    for (i, l) in lus.iter().enumerate() {
        b.push_read(i, l);
        b.push(
            "inquiry",
            Some(i),
            Phase::Inspect,
            R,
            &["kzrescue", "iscsi", "inquiry", &l.uri],
            None,
            format!(
                "Finds the LU of {} by its name through SendTargets discovery and shows what \
                 it says about itself, including `write-protected yes`.",
                l.dataset
            ),
            doc::SURI,
        );
    }
    let mut diag: Vec<&str> = vec!["kzrescue"];
    if req.zone.is_some() {
        diag.push("diagnose");
        diag.extend(zone_args.iter().map(String::as_str));
        for m in maps {
            diag.push("--map");
            diag.push(m);
        }
        b.push(
            "diagnose",
            None,
            Phase::Inspect,
            R,
            &diag,
            None,
            "Diagnoses the zone with its disk read in place, read-only; the liveness check \
             (two uberblock reads) runs against the LU. It prints the exact repair command \
             when there is something to repair."
                .into(),
            doc::SURI,
        );
    } else {
        for (i, l) in lus.iter().enumerate() {
            b.push(
                "label",
                Some(i),
                Phase::Inspect,
                R,
                &["kzrescue", "label", &l.uri],
                None,
                "Reads the pool's labels in place, read-only (with --zone, the route runs \
                 `kzrescue diagnose` here instead)."
                    .into(),
                doc::SURI,
            );
        }
    }
    Ok(())
}

/// Only when a repair writes.
fn write_access(b: &mut Builder, c: &Ctx<'_>) -> Result<()> {
    let Ctx {
        req,
        zone_args,
        lus,
        maps,
        ..
    } = c;
    // 4. Only when a repair writes.
    for (i, l) in lus.iter().enumerate() {
        b.push(
            "unprotect",
            Some(i),
            Phase::Repair,
            H,
            &[
                "stmfadm",
                "modify-lu",
                "-p",
                "wp=false",
                &format!("${}", l.guid_var),
            ],
            Some("a repair has to write"),
            "Lifts write protection. Until then kzrescue refuses every write plan on this LU \
             before the first byte (exit 3), naming this command."
                .into(),
            doc::STMFADM,
        );
    }
    if req.zone.is_some() {
        let mut rep: Vec<&str> = vec!["kzrescue", "repair"];
        rep.extend(zone_args.iter().map(String::as_str));
        for m in maps {
            rep.push("--map");
            rep.push(m);
        }
        rep.push("--write");
        b.push(
            "repair",
            None,
            Phase::Repair,
            R,
            &rep,
            Some("a repair has to write"),
            "The repair diagnose proposed (run it with --dry-run first to see the exact \
             diff); every byte it overwrites goes into an undo journal first, and \
             `kzrescue undo JOURNAL --write` over the same URI puts them back."
                .into(),
            doc::SURI,
        );
    }
    for (i, l) in lus.iter().enumerate() {
        b.push(
            "reprotect",
            Some(i),
            Phase::Repair,
            H,
            &[
                "stmfadm",
                "modify-lu",
                "-p",
                "wp=true",
                &format!("${}", l.guid_var),
            ],
            Some("write protection was lifted"),
            "Write protection back on, for a last read-only look.".into(),
            doc::STMFADM,
        );
    }
    Ok(())
}

/// Teardown, keeping the zvol.
fn teardown(b: &mut Builder, c: &Ctx<'_>) -> Result<()> {
    let Ctx {
        lus,
        group,
        tpg,
        target,
        ..
    } = c;
    // 5. Teardown, keeping the zvol.
    for (i, l) in lus.iter().enumerate() {
        b.push(
            "remove-view",
            Some(i),
            Phase::Teardown,
            H,
            &[
                "stmfadm",
                "remove-view",
                "-l",
                &format!("${}", l.guid_var),
                "0",
            ],
            None,
            format!(
                "Removes view entry 0, the one add-view made (`stmfadm list-view -l ${}` \
                 lists the entries).",
                l.guid_var
            ),
            doc::STMFADM,
        );
        b.push(
            "delete-lu",
            Some(i),
            Phase::Teardown,
            H,
            &["stmfadm", "delete-lu", &format!("${}", l.guid_var)],
            None,
            format!(
                "Unregisters the LU. The zvol {} and every byte on it stay; nothing is \
                 destroyed.",
                l.dataset
            ),
            doc::STMFADM,
        );
    }
    b.push(
        "delete-target",
        None,
        Phase::Teardown,
        H,
        &["itadm", "delete-target", "-f", target],
        None,
        "Removes the target (-f takes it offline first should a session still be open).".into(),
        doc::ITADM,
    );
    b.push(
        "delete-tpg",
        None,
        Phase::Teardown,
        H,
        &["itadm", "delete-tpg", tpg],
        None,
        "Removes its portal group.".into(),
        doc::ITADM,
    );
    b.push(
        "delete-hg",
        None,
        Phase::Teardown,
        H,
        &["stmfadm", "delete-hg", group],
        None,
        "Removes the host group. The target service stays enabled (other LUs may use it).".into(),
        doc::STMFADM,
    );
    Ok(())
}

/// The zone runs again.
fn boot_zone(b: &mut Builder, c: &Ctx<'_>) -> Result<()> {
    let Ctx { req, .. } = c;
    // 6. The zone runs again.
    if let Some(z) = &req.zone {
        b.push(
            "zone-boot",
            None,
            Phase::BootZone,
            H,
            &["zoneadm", "-z", z, "boot"],
            Some("the zone ran before, or should run now"),
            "Boots the zone from its own disk again.".into(),
            doc::ZONEADM,
        );
    }
    Ok(())
}

impl Builder {
    /// The rescue machine cannot see the host's shell variables: it reads
    /// the GUID the admin copies over.
    fn push_read(&mut self, i: usize, l: &ZvolLu) {
        let prompt = format!("GUID that create-lu printed for {}: ", l.dataset);
        self.steps.push(Step {
            id: "rescue-guid",
            lu: Some(i),
            phase: Phase::Inspect,
            on: Machine::RescueMachine,
            argv: vec![
                "read".into(),
                "-r".into(),
                "-p".into(),
                prompt.clone(),
                l.guid_var.clone(),
            ],
            command: format!("read -r -p '{prompt}' {}", l.guid_var),
            sets: Some(l.guid_var.clone()),
            when: None,
            why: format!(
                "The LU's GUID (32 hex digits) from the host, into ${} here.",
                l.guid_var
            ),
            doc: doc::STMFADM,
        });
    }
}

/// Wraps `text` into `# `-comment lines of at most `width` columns.
fn comment(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::from("#");
    for w in text.split_whitespace() {
        if line.len() + 1 + w.len() > width && line.len() > 1 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(w);
    }
    if line.len() > 1 {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The route as a commented shell sequence, phase by phase.
pub fn render_text(r: &Route) -> String {
    let mut s = String::new();
    let what = match &r.zone {
        Some(z) => format!("kernel zone {z}"),
        None => "a zvol".to_string(),
    };
    s += &format!("# kzrescue: the zvol route for {what}\n");
    s += &comment(
        &format!(
            "Lends {} to the rescue machine as iSCSI LU(s), write-protected, visible to the \
             initiator {} only, through the portal {}; the zvol and its data stay on the \
             host. Run the host steps as root on the Solaris host, the rescue steps (bash) on \
             the rescue machine.",
            r.lus
                .iter()
                .map(|l| l.dataset.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            r.initiator,
            r.portal
        ),
        96,
    );
    let mut phase = None;
    let mut n = 0;
    for st in &r.steps {
        if phase != Some((st.phase, st.on)) {
            n += 1;
            let on = match st.on {
                Machine::SolarisHost => "on the Solaris host",
                Machine::RescueMachine => "on the rescue machine",
            };
            s += &format!("\n# == {n}. {} ({on})\n", st.phase.title());
            phase = Some((st.phase, st.on));
        }
        s += &comment(&st.why, 96);
        if let Some(w) = &st.when {
            s += &format!("# (only when {w})\n");
        }
        s += &st.command;
        s.push('\n');
    }
    s += "\n# == The URI and the --map argument (GUID: what create-lu printed)\n";
    for l in &r.lus {
        s += &format!("#   {}\n", l.uri);
        s += &format!("#   --map \"{}\"\n", l.map);
    }
    s
}

/// What `diagnose` adds when boot devices that are zvols on the Solaris host
/// cannot be opened here: one sentence, and the `kzrescue uri map
/// --via-iscsi` command that prints the route for all of them. `storage` are
/// the `dev:` URIs that failed to open (non-zvols are ignored); `None` when
/// none of them is a zvol.
pub fn diagnose_hint(zone: Option<&str>, storage: &[String]) -> Option<(String, String)> {
    let zvols: Vec<(&String, String)> = storage
        .iter()
        .filter_map(|s| {
            let u = StorageUri::parse(s).ok()?;
            Some((s, u.zvol_dataset()?))
        })
        .collect();
    if zvols.is_empty() {
        return None;
    }
    let names: Vec<&str> = zvols.iter().map(|(_, d)| d.as_str()).collect();
    let message = format!(
        "{} {} on the Solaris host, not here; instead of copying {} out and back, lend {} to \
         this machine as {} (the zvol stays where it is): the fix \
         prints the host commands (halt the zone, stmfadm/itadm export, teardown, boot) and \
         the --map argument to use",
        if zvols.len() == 1 {
            "the boot disk is the zvol"
        } else {
            "the boot disks are the zvols"
        },
        names.join(", "),
        if zvols.len() == 1 { "it" } else { "them" },
        if zvols.len() == 1 { "it" } else { "them" },
        if zvols.len() == 1 {
            "a write-protected iSCSI LU"
        } else {
            "write-protected iSCSI LUs"
        },
    );
    let mut fix = String::from("kzrescue uri map");
    for (s, _) in &zvols {
        fix.push(' ');
        fix.push_str(s);
    }
    fix.push_str(" --via-iscsi --rescue-host SOLARIS-HOST-ADDRESS");
    if let Some(z) = zone.filter(|z| check_zone_name(z).is_ok()) {
        fix.push_str(&format!(" --zone {z}"));
    }
    Some((message, fix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> RouteRequest {
        RouteRequest {
            storage: vec!["dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0".into()],
            rescue_host: "192.0.2.10".into(),
            initiator: "iqn.2026-11.org.kzrescue:rescue".into(),
            zone: Some("kz1".into()),
        }
    }

    #[test]
    fn order_of_the_route() {
        let r = plan(&req()).unwrap();
        let ids: Vec<&str> = r.steps.iter().map(|s| s.id).collect();
        let pos = |id: &str| ids.iter().position(|&x| x == id).unwrap();
        assert_eq!(ids[0], "zone-state");
        assert_eq!(*ids.last().unwrap(), "zone-boot");
        assert!(pos("zone-halt") < pos("create-lu"));
        assert!(pos("create-lu") < pos("add-view"));
        assert!(pos("create-hg") < pos("add-view"));
        assert!(pos("create-tpg") < pos("create-target"));
        assert!(pos("remove-view") < pos("delete-lu"));
        assert!(pos("delete-target") < pos("delete-tpg"));
        let create = &r.steps[pos("create-lu")];
        assert_eq!(create.argv[2..4], ["-p".to_string(), "wp=true".into()]);
        assert_eq!(create.sets.as_deref(), Some("GUID"));
        assert_eq!(
            create.argv.last().unwrap(),
            "/dev/zvol/rdsk/rpool/VARSHARE/zones/kz1/disk0"
        );
        assert_eq!(
            r.lus[0].uri, "iscsi://192.0.2.10/luname.naa.$GUID",
            "default port dropped"
        );
        // No step destroys the zvol.
        assert!(
            !r.steps
                .iter()
                .any(|s| s.argv.iter().any(|a| a == "destroy"))
        );
    }

    #[test]
    fn ports_ipv6_and_several_zvols() {
        let mut q = req();
        q.rescue_host = "[2001:db8::7]:3261".into();
        q.storage
            .push("dev:zvol/rdsk/rpool/VARSHARE/zones/kz1/disk1".into());
        let r = plan(&q).unwrap();
        assert_eq!(r.portal, "[2001:db8::7]:3261");
        assert_eq!(r.lus[1].uri, "iscsi://[2001:db8::7]:3261/luname.naa.$GUID2");
        assert_eq!(
            r.lus[1].raw_device,
            "/dev/zvol/rdsk/rpool/VARSHARE/zones/kz1/disk1"
        );
        assert_eq!(r.steps.iter().filter(|s| s.id == "create-lu").count(), 2);
        assert_eq!(r.steps.iter().filter(|s| s.id == "create-hg").count(), 1);
    }

    #[test]
    fn refusals() {
        let mut q = req();
        q.storage = vec!["dev:dsk/c0t0d0".into()];
        assert!(plan(&q).unwrap_err().to_string().contains("ZFS volumes"));
        let mut q = req();
        q.initiator = "rescue; rm -rf /".into();
        assert!(matches!(plan(&q), Err(Error::Usage(_))));
        let mut q = req();
        q.zone = Some("kz1;reboot".into());
        assert!(matches!(plan(&q), Err(Error::Usage(_))));
        let mut q = req();
        q.rescue_host = "host name".into();
        assert!(matches!(plan(&q), Err(Error::Usage(_))));
    }

    #[test]
    fn hint_only_for_zvols() {
        assert!(diagnose_hint(Some("kz1"), &["dev:dsk/c0t0d0".into()]).is_none());
        let (m, fix) =
            diagnose_hint(Some("kz1"), &["dev:/dev/zvol/dsk/rpool/z/kz1/disk0".into()]).unwrap();
        assert!(m.contains("rpool/z/kz1/disk0"), "{m}");
        assert_eq!(
            fix,
            "kzrescue uri map dev:/dev/zvol/dsk/rpool/z/kz1/disk0 --via-iscsi \
             --rescue-host SOLARIS-HOST-ADDRESS --zone kz1"
        );
    }
}
