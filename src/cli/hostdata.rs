//! `kzrescue hostdata show|check|init|takeover`: kernel-zone host data in
//! kzrescue's own format (formats/hostdata.md; not Oracle's).

use super::target::parse_sector_size;
use super::write::WriteArgs;
use kzrescue::hostdata::store::{self, Assessment, CopyId};
use kzrescue::hostdata::{self, HostData, HostKey, InitOptions, Verdict, keyfile};
use kzrescue::partition::{self, Partition, PartitionTable};
use kzrescue::repair::apply::TargetPlan;
use kzrescue::repair::transaction::{Committed, Existing, NewFile, Transaction};
use kzrescue::source::SharedSource;
use kzrescue::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Host data subcommands.
#[derive(clap::Args, Debug)]
pub struct HostdataArgs {
    #[command(subcommand)]
    cmd: HostdataCmd,
}

#[derive(clap::Subcommand, Debug)]
enum HostdataCmd {
    /// Decrypt, verify and print the host data.
    Show(ShowArgs),
    /// One verdict with its own exit code: healthy 0, no host data 10, key not
    /// available 11, key incorrect 12, corrupt or tampered 13, owned by another
    /// host 14, degraded (one copy serves) 15.
    Check(CheckArgs),
    /// New random key and fresh host data in both copies (like
    /// `zoneadm attach -x initialize-hostdata`).
    Init(InitArgs),
    /// Keep the key, make this host the owner, bump the generation (like
    /// `zoneadm attach -x force-takeover`).
    Takeover(TakeoverArgs),
}

/// The disk holding the host data.
#[derive(clap::Args, Debug, Clone)]
struct DiskArgs {
    /// Image file, block device or storage URI of a kernel zone's boot disk
    /// (its GPT must have the Solaris reserved partition, slice 8).
    target: String,
    /// Logical sector size of the disk (512 or 4096); detected by default.
    #[arg(long, value_name = "BYTES", value_parser = parse_sector_size)]
    sector_size: Option<u32>,
}

#[derive(clap::Args, Debug, Clone)]
struct KeyArgs {
    /// Accept a key file that group or others can read.
    #[arg(long)]
    insecure_key_perms: bool,
}

#[derive(clap::Args, Debug)]
struct ShowArgs {
    #[command(flatten)]
    disk: DiskArgs,
    /// The zone's key file (kzrescue key file or zonecfg export with a keysource).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[command(flatten)]
    key_opts: KeyArgs,
    /// JSON output (schema kzrescue.hostdata/2).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    #[command(flatten)]
    disk: DiskArgs,
    /// The zone's key file; without it the verdict is at best "key not available".
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    #[command(flatten)]
    key_opts: KeyArgs,
    /// hostid of the host that wants the zone (hex); an owner that differs is reported.
    #[arg(long, value_name = "H", value_parser = super::bounds::parse_hostid)]
    hostid: Option<u32>,
    /// JSON output (schema kzrescue.hostdata/2).
    #[arg(long)]
    json: bool,
}

/// How a host-data writer writes: the shared flags, and the one journal.
#[derive(clap::Args, Debug)]
struct HdWrite {
    #[command(flatten)]
    w: WriteArgs,
    /// The undo journal to create (must not exist; default: in the journal
    /// directory, kzrescue-hostdata-<zone>-<unix seconds>.kzj).
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct InitArgs {
    #[command(flatten)]
    disk: DiskArgs,
    /// The zone's name.
    #[arg(long, value_name = "NAME")]
    zone: String,
    /// Where to write the new key (mode 0600), e.g. /etc/zones/keys/<zone>.
    #[arg(long, value_name = "FILE")]
    key_out: PathBuf,
    /// Owner hostid (hex); none when omitted.
    #[arg(long, value_name = "H", value_parser = super::bounds::parse_hostid, requires = "hostname")]
    hostid: Option<u32>,
    /// Owner host name.
    #[arg(long, value_name = "N", requires = "hostid")]
    hostname: Option<String>,
    /// Last known state to record (default installed).
    #[arg(long, value_name = "STATE")]
    state: Option<String>,
    /// Boot environment name to record.
    #[arg(long, value_name = "NAME", default_value = "")]
    be_name: String,
    /// Boot environment UUID to record.
    #[arg(long, value_name = "UUID", default_value = "")]
    be_uuid: String,
    /// Replace an existing key file (the old one is kept as FILE.old), and
    /// write over slot bytes that are not kzrescue host data (journalled).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    w: HdWrite,
}

#[derive(clap::Args, Debug)]
struct TakeoverArgs {
    #[command(flatten)]
    disk: DiskArgs,
    /// The zone's key file.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[command(flatten)]
    key_opts: KeyArgs,
    /// The new owner's hostid (hex).
    #[arg(long, value_name = "H", value_parser = super::bounds::parse_hostid)]
    hostid: u32,
    /// The new owner's host name.
    #[arg(long, value_name = "N")]
    hostname: String,
    /// Write over slot bytes that are not kzrescue host data (journalled).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    w: HdWrite,
}

/// Runs a hostdata subcommand; returns the exit code.
pub fn run(args: &HostdataArgs) -> Result<u8> {
    match &args.cmd {
        HostdataCmd::Show(a) => show(a),
        HostdataCmd::Check(a) => check(a),
        HostdataCmd::Init(a) => init(a),
        HostdataCmd::Takeover(a) => takeover(a),
    }
}

/// The disk and where its reserved partition is, if it has one.
struct Place {
    disk: SharedSource,
    table: PartitionTable,
    reserved: Option<Partition>,
    /// The reserved partition when it is too small to hold host data.
    too_small: Option<Partition>,
}

fn open(d: &DiskArgs, write: bool) -> Result<Place> {
    let disk = kzrescue::target::open_source(&d.target, write, &super::context::get().access()?)?;
    let table = partition::read(disk.as_ref(), d.sector_size)?;
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
    Ok(Place {
        disk,
        table,
        reserved,
        too_small,
    })
}

fn no_place(place: &Place) -> String {
    let disk = &place.disk;
    if let Some(p) = &place.too_small {
        // §3.1: a reserved partition below the guard and two slots holds no
        // host data; readers say "no host data", writers refuse.
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

fn assess(place: &Place, key: Option<&HostKey>) -> Result<Option<Assessment>> {
    match &place.reserved {
        None => Ok(None),
        Some(p) => Ok(Some(store::assess(
            place.disk.as_ref(),
            p.start,
            p.len,
            key,
        )?)),
    }
}

fn read_key(path: &Path, k: &KeyArgs) -> Result<HostKey> {
    Ok(keyfile::read_keyfile(path, k.insecure_key_perms)?.key)
}

#[derive(Serialize)]
struct CopyJson {
    copy: CopyId,
    offset: u64,
    state: &'static str,
    detail: String,
    generation: Option<u64>,
    key_id: Option<String>,
}

#[derive(Serialize)]
struct ReservedJson {
    slice: u32,
    start: u64,
    len: u64,
}

/// `schema` of `hostdata show --json` and `hostdata check --json`
/// (formats/json-schema.md): /2 prints integers as strings by default.
pub const SCHEMA: &str = "kzrescue.hostdata/2";

#[derive(Serialize)]
struct ReportJson<'a> {
    target: String,
    format: &'static str,
    reserved_partition: Option<ReservedJson>,
    verdict: &'static str,
    exit: u8,
    explanation: String,
    key_id: Option<String>,
    copies: Vec<CopyJson>,
    serving: Option<CopyId>,
    host_data: Option<HostDataJson<'a>>,
}

/// One OpenBoot variable (§5.2 `obp_vars`), in stored order.
#[derive(Serialize)]
struct ObpVarJson<'a> {
    name: &'a str,
    value: &'a str,
}

/// `suspend`: the three known pairs and the unknown ones.
#[derive(Serialize)]
struct SuspendJson<'a> {
    suspended: bool,
    image: &'a str,
    time: i64,
    other_pairs: super::label::NvJson<'a>,
}

/// The decoded payload: every pair of formats/hostdata.md §5.2, unknown
/// pairs under `other_pairs` (nvlist values mapped as in `kzrescue.label/1`).
#[derive(Serialize)]
struct HostDataJson<'a> {
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
    other_pairs: super::label::NvJson<'a>,
}

/// Holds the unknown pairs of a payload as nvlists so that they can be
/// shown with the label JSON mapping.
struct Others {
    top: kzrescue::zfs::nvlist::NvList,
    suspend: kzrescue::zfs::nvlist::NvList,
}

impl Others {
    fn of(d: &HostData) -> Others {
        let mut top = kzrescue::zfs::nvlist::NvList::new();
        top.pairs = d.extra.clone();
        let mut suspend = kzrescue::zfs::nvlist::NvList::new();
        suspend.pairs = d.suspend.extra.clone();
        Others { top, suspend }
    }
}

fn host_data_json<'a>(d: &'a HostData, o: &'a Others) -> HostDataJson<'a> {
    HostDataJson {
        payload_version: hostdata::payload::PAYLOAD_VERSION,
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
            other_pairs: super::label::NvJson(&o.suspend),
        },
        obp_vars: d
            .obp_vars
            .iter()
            .map(|(name, value)| ObpVarJson { name, value })
            .collect(),
        generation: d.generation,
        other_pairs: super::label::NvJson(&o.top),
    }
}

fn explain(v: &Verdict, a: Option<&Assessment>, place: &Place) -> String {
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
            format!("could not read host data from any copy on {} ({copies})", place.disk.name())
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

fn report<'a>(
    place: &Place,
    a: Option<&'a Assessment>,
    v: &Verdict,
    key: Option<&HostKey>,
    others: &'a Option<Others>,
) -> ReportJson<'a> {
    let best = a.and_then(|a| a.best());
    ReportJson {
        target: place.disk.name(),
        format: "kzrescue host data v1 (not Oracle's format)",
        reserved_partition: place.reserved.as_ref().map(|p| ReservedJson {
            slice: p.slice,
            start: p.start,
            len: p.len,
        }),
        verdict: v.name(),
        exit: v.exit_code(),
        explanation: explain(v, a, place),
        key_id: key.map(|k| k.id().to_string()),
        copies: a
            .map(|a| {
                a.copies
                    .iter()
                    .map(|c| CopyJson {
                        copy: c.copy,
                        offset: c.offset,
                        state: c.state.kind(),
                        detail: c.describe(),
                        generation: c.state.header().map(|h| h.generation),
                        key_id: c.state.header().map(|h| h.key_id.to_string()),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        serving: best.map(|b| b.0),
        host_data: best
            .zip(others.as_ref())
            .map(|(b, o)| host_data_json(b.2, o)),
    }
}

fn print_copies(r: &ReportJson) {
    if let Some(p) = &r.reserved_partition {
        println!(
            "reserved partition: s{} at bytes {:#x}+{:#x}",
            p.slice, p.start, p.len
        );
    }
    for c in &r.copies {
        println!(
            "  {:<7} copy at {:#x}: {}",
            match c.copy {
                CopyId::Primary => "primary",
                CopyId::Backup => "backup",
            },
            c.offset,
            c.detail
        );
    }
}

fn print_host_data(d: &HostData) {
    println!("  zone name:              {}", d.zonename);
    println!("  owner hostid:           {:08x}", d.owner_hostid);
    println!("  owner hostname:         {}", d.owner_hostname);
    println!("  last known state:       {}", d.state);
    println!("  boot environment name:  {}", d.be_name);
    println!("  boot environment uuid:  {}", d.be_uuid);
    println!(
        "  last update time:       {} UTC ({})",
        hostdata::format_time(d.last_update),
        d.last_update
    );
    println!(
        "  TOD offset:             {}.{:09} s",
        if d.tod_offset_ns < 0 { "-" } else { "" }.to_string()
            + &(d.tod_offset_ns.unsigned_abs() / 1_000_000_000).to_string(),
        d.tod_offset_ns.unsigned_abs() % 1_000_000_000
    );
    println!(
        "  suspended:              {}{}",
        if d.suspend.suspended { "yes" } else { "no" },
        if d.suspend.image.is_empty() {
            String::new()
        } else {
            format!(
                " (image {}, at {})",
                d.suspend.image,
                hostdata::format_time(d.suspend.time)
            )
        }
    );
    if d.obp_vars.is_empty() {
        println!("  OBP variables:          none");
    } else {
        for (i, (k, v)) in d.obp_vars.iter().enumerate() {
            let head = if i == 0 { "OBP variables:" } else { "" };
            println!("  {head:<23} {k}={v}");
        }
    }
    println!("  generation:             {}", d.generation);
    if !d.extra.is_empty() {
        let names: Vec<&str> = d.extra.iter().map(|p| p.name.as_str()).collect();
        println!("  other pairs:            {}", names.join(", "));
    }
}

fn judge(
    place: &Place,
    key: Option<&HostKey>,
    hostid: Option<u32>,
) -> Result<(Option<Assessment>, Verdict)> {
    let a = assess(place, key)?;
    let v = match &a {
        None => Verdict::NoHostData {
            reason: no_place(place),
        },
        Some(a) => hostdata::verdict(a, hostid),
    };
    Ok((a, v))
}

fn show(args: &ShowArgs) -> Result<u8> {
    let key = read_key(&args.key, &args.key_opts)?;
    let place = open(&args.disk, false)?;
    let (a, v) = judge(&place, Some(&key), None)?;
    let others = a.as_ref().and_then(|a| a.best()).map(|b| Others::of(b.2));
    let mut r = report(&place, a.as_ref(), &v, Some(&key), &others);
    if args.json {
        // `show` exits 0 whenever a valid copy serves (§7), and says so in `exit`.
        if r.host_data.is_some() {
            r.exit = 0;
        }
        super::out::print_json(SCHEMA, &r)?;
        return Ok(r.exit);
    }
    println!(
        "host data on {} (kzrescue format v1, not Oracle's), key id {}",
        r.target,
        key.id()
    );
    print_copies(&r);
    match (a.as_ref().and_then(|a| a.best()), &v) {
        (Some((copy, h, d)), _) => {
            println!("serving: {} copy, generation {}", copy.name(), h.generation);
            print_host_data(d);
            if let Verdict::Degraded { .. } = v {
                eprintln!("warning: {}", r.explanation);
            }
            Ok(0)
        }
        (None, _) => {
            eprintln!("kzrescue: {}: {}", v.name(), r.explanation);
            Ok(v.exit_code())
        }
    }
}

fn check(args: &CheckArgs) -> Result<u8> {
    let key = match &args.key {
        Some(p) => Some(read_key(p, &args.key_opts)?),
        None => None,
    };
    let place = open(&args.disk, false)?;
    let (a, v) = judge(&place, key.as_ref(), args.hostid)?;
    let others = a.as_ref().and_then(|a| a.best()).map(|b| Others::of(b.2));
    let r = report(&place, a.as_ref(), &v, key.as_ref(), &others);
    if args.json {
        super::out::print_json(SCHEMA, &r)?;
        return Ok(v.exit_code());
    }
    println!("{}: {}", v.name(), r.explanation);
    print_copies(&r);
    if let (Verdict::OwnedByAnotherHost, Some((_, _, d))) = (&v, a.as_ref().and_then(|a| a.best()))
    {
        println!(
            "{}",
            hostdata::owner_message(&d.zonename, d, &args.disk.target)
        );
    }
    Ok(v.exit_code())
}

/// `--journal FILE`, or the journal directory's file named for `zone`.
fn journal_path(w: &HdWrite, zone: &str) -> PathBuf {
    w.journal
        .clone()
        .unwrap_or_else(|| w.w.journal_path("hostdata", zone))
}

fn show_plan(
    place: &Place,
    a: &Assessment,
    writes: &[store::CopyWrite],
    data: &HostData,
    key: &HostKey,
) {
    println!(
        "plan for {} (kzrescue host data v1, not Oracle's format):",
        place.disk.name()
    );
    for (i, w) in writes.iter().enumerate() {
        let used = w.new.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        println!(
            "  step {}: {} slot, bytes {:#x}+{:#x}: {} -> generation {}, key id {}, {} bytes sealed + zero fill",
            i + 1,
            w.copy.name(),
            w.offset,
            w.new.len(),
            a.copy(w.copy).describe(),
            data.generation,
            key.id(),
            used
        );
    }
    println!("new host data:");
    print_host_data(data);
}

/// The transaction of a host-data write: the slots of `place`'s reserved
/// partition (one journal), and the pool slice watched for liveness — host
/// data lives outside the pool, but a live pool means a running zone, whose
/// host data must not change under it.
fn transaction<'a>(
    place: &Place,
    target: &str,
    writes: &[store::CopyWrite],
    w: &HdWrite,
    zone: &str,
    purpose: &str,
) -> Result<Transaction<'a>> {
    let mut tx = Transaction::new(purpose, w.w.tx_options()?);
    tx.group(
        "host data",
        Some(journal_path(w, zone)),
        vec![TargetPlan {
            path: target.to_string(),
            source: place.disk.clone(),
            phases: hostdata::to_phases(writes),
        }],
    );
    match place.table.zfs_slice() {
        Ok(p) => tx.watch(target, p.start, p.len, None),
        Err(_) => eprintln!(
            "note: {} has no single ZFS slice to watch for a live pool",
            place.disk.name()
        ),
    }
    Ok(tx)
}

/// Prints what a committed host-data transaction did.
fn print_outcome(done: &Committed) {
    if let Some(q) = &done.liveness {
        super::physpath::print_liveness(q);
    }
    for f in &done.files {
        println!(
            "{} written to {} (mode 0600){}",
            f.what,
            f.path.display(),
            match &f.kept_old_as {
                Some(o) => format!(", the old one kept as {}", o.display()),
                None => String::new(),
            }
        );
    }
    match done.groups.first() {
        Some(g) if g.writes > 0 => println!(
            "wrote {} slot(s), {} bytes, each flushed and read back; undo journal: {}",
            g.writes,
            g.bytes,
            g.journal
                .as_ref()
                .map_or(String::new(), |j| j.display().to_string())
        ),
        _ => println!("nothing to write: both slots already hold these bytes"),
    }
}

fn init(args: &InitArgs) -> Result<u8> {
    keyfile::check_zone_name(&args.zone)?;
    if args.key_out.symlink_metadata().is_ok() && !args.force {
        return Err(Error::Refused(format!(
            "key file {} exists; not overwriting it without --force (it may hold the only copy of a key)",
            args.key_out.display()
        )));
    }
    let writing = args.w.w.writing();
    let place = open(&args.disk, false)?;
    let Some(a) = assess(&place, None)? else {
        return Err(Error::Refused(no_place(&place)));
    };
    let key = HostKey::generate()?;
    let opts = InitOptions {
        hostid: args.hostid.unwrap_or(0),
        hostname: args.hostname.clone().unwrap_or_default(),
        state: args.state.clone(),
        be_name: args.be_name.clone(),
        be_uuid: args.be_uuid.clone(),
    };
    if !opts.hostname.is_empty() {
        check_hostname(&opts.hostname)?;
    }
    let warnings = store::refuse_unknown(&a, &place.disk.name(), args.force)?;
    let (data, writes) = hostdata::plan_init(&a, &key, &args.zone, &opts, hostdata::now())?;
    show_plan(&place, &a, &writes, &data, &key);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    // Key file first (a disk sealed under a key nobody has would be lost),
    // then the slots; the transaction checks both can be written before it
    // writes either.
    let mut tx = transaction(
        &place,
        &args.disk.target,
        &writes,
        &args.w,
        &args.zone,
        "hostdata init",
    )?;
    let (zone, force) = (args.zone.clone(), args.force);
    let key_id = key.id();
    tx.file(NewFile {
        path: args.key_out.clone(),
        what: format!("new key (id {key_id})"),
        existing: if force {
            Existing::Replace
        } else {
            Existing::Refuse
        },
        write: Box::new(move |p: &Path| keyfile::write_keyfile(p, &zone, &key, force)),
    });
    if !writing {
        tx.dry_run()?;
        println!(
            "the new key would go to {} (mode 0600); no key file made",
            args.key_out.display()
        );
        eprintln!("{}", args.w.w.dry_run_note());
        return Ok(0);
    }
    let done = tx.commit()?;
    print_outcome(&done);
    Ok(0)
}

fn check_hostname(h: &str) -> Result<()> {
    if h.is_empty() || h.len() > 255 || h.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Usage(format!(
            "host name {h:?} must be 1-255 characters without blanks"
        )));
    }
    Ok(())
}

fn takeover(args: &TakeoverArgs) -> Result<u8> {
    check_hostname(&args.hostname)?;
    let key = read_key(&args.key, &args.key_opts)?;
    let writing = args.w.w.writing();
    let place = open(&args.disk, false)?;
    let Some(a) = assess(&place, Some(&key))? else {
        return Err(Error::Refused(no_place(&place)));
    };
    if let Some((_, _, d)) = a.best() {
        println!(
            "current owner: hostid {:08x} ({}), state {}, last update {} UTC",
            d.owner_hostid,
            d.owner_hostname,
            d.state,
            hostdata::format_time(d.last_update)
        );
    }
    let warnings = store::refuse_unknown(&a, &place.disk.name(), args.force)?;
    let (data, writes) =
        hostdata::plan_takeover(&a, &key, args.hostid, &args.hostname, hostdata::now())?;
    show_plan(&place, &a, &writes, &data, &key);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let tx = transaction(
        &place,
        &args.disk.target,
        &writes,
        &args.w,
        &data.zonename,
        "hostdata takeover",
    )?;
    if !writing {
        tx.dry_run()?;
        eprintln!("{}", args.w.w.dry_run_note());
        return Ok(0);
    }
    let done = tx.commit()?;
    print_outcome(&done);
    Ok(0)
}
