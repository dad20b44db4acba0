//! `kzrescue hostdata show|check|init|takeover`: kernel-zone host data in
//! kzrescue's own format (formats/hostdata.md; not Oracle's).

use super::target::parse_sector_size;
use super::write::WriteArgs;
use kzrescue::Result;
use kzrescue::hostdata::inspect;
use kzrescue::hostdata::{HostData, InitOptions};
use kzrescue::repair::hostdata::{self as writer, DiskRequest, HostDataWrite};
use std::path::PathBuf;

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

impl DiskArgs {
    fn request(&self) -> Result<DiskRequest> {
        Ok(DiskRequest {
            target: self.target.clone(),
            sector_size: self.sector_size,
            access: super::context::get().access()?,
        })
    }
}

/// `schema` of `hostdata show --json` and `hostdata check --json`
/// (formats/json-schema.md): /2 prints integers as strings by default.
pub const SCHEMA: &str = "kzrescue.hostdata/2";

fn show(args: &ShowArgs) -> Result<u8> {
    let insecure = args.key_opts.insecure_key_perms;
    let r = inspect::show(&args.disk.request()?, &args.key, insecure)?;
    if args.json {
        super::out::print_json(SCHEMA, &r)?;
    } else {
        print!("{}", r.show_text());
        if let Some(n) = r.show_note() {
            eprintln!("{n}");
        }
    }
    Ok(r.exit)
}

fn check(args: &CheckArgs) -> Result<u8> {
    let (key, insecure) = (args.key.as_deref(), args.key_opts.insecure_key_perms);
    let r = inspect::check(&args.disk.request()?, key, insecure, args.hostid)?;
    if args.json {
        super::out::print_json(SCHEMA, &r)?;
    } else {
        print!("{}", r.check_text(&args.disk.target));
    }
    Ok(r.exit)
}

fn init(args: &InitArgs) -> Result<u8> {
    let req = writer::InitRequest {
        zone: args.zone.clone(),
        key_out: args.key_out.clone(),
        options: InitOptions {
            hostid: args.hostid.unwrap_or(0),
            hostname: args.hostname.clone().unwrap_or_default(),
            state: args.state.clone(),
            be_name: args.be_name.clone(),
            be_uuid: args.be_uuid.clone(),
        },
        force: args.force,
    };
    write(writer::plan_init(&args.disk.request()?, &req)?, &args.w)
}

fn takeover(args: &TakeoverArgs) -> Result<u8> {
    let req = writer::TakeoverRequest {
        key: args.key.clone(),
        insecure_key_perms: args.key_opts.insecure_key_perms,
        hostid: args.hostid,
        hostname: args.hostname.clone(),
        force: args.force,
    };
    let owner = &mut |d: &HostData| println!("{}", writer::owner_line(d));
    write(
        writer::plan_takeover(&args.disk.request()?, &req, owner)?,
        &args.w,
    )
}

/// Shows the plan, then runs its transaction (or its dry run).
fn write(plan: HostDataWrite, w: &HdWrite) -> Result<u8> {
    print!("{}", plan.text());
    for n in plan.notes() {
        eprintln!("{n}");
    }
    let journal = (w.journal.clone()).unwrap_or_else(|| w.w.journal_path("hostdata", plan.zone()));
    let done = plan.carry_out(journal, w.w.tx_options()?, w.w.writing())?;
    print!("{done}");
    if !w.w.writing() {
        eprintln!("{}", w.w.dry_run_note());
    }
    Ok(0)
}
