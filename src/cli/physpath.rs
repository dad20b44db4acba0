//! `kzrescue physpath`: show the leaf paths in the labels of a disk (or of
//! every disk of a mirror, side by side), and `kzrescue physpath set`:
//! rewrite them the way a kernel zone expects.

use super::target::parse_sector_size;
use super::write::WriteArgs;
use kzrescue::Result;
use kzrescue::repair::physpath::{self, SetRequest, SetWrite};
use kzrescue::target::TargetOptions;
use kzrescue::zone::zvblk::UnitRadix;
use std::path::PathBuf;

/// `schema` of `physpath --json`.
pub const SCHEMA_SHOW: &str = "kzrescue.physpath/1";
/// `schema` of `physpath set --json`.
pub const SCHEMA_SET: &str = "kzrescue.physpath-set/1";

/// Arguments of `kzrescue physpath`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PhysPathArgs {
    #[command(subcommand)]
    set: Option<PhysPathCommand>,
    /// The disk(s): an image file, a block device or a storage URI (a whole
    /// disk, whose ZFS slice is found in its partition table, or a bare
    /// vdev); several are the disks of one mirror, shown side by side.
    #[arg(required = true, value_name = "TARGET")]
    targets: Vec<String>,
    #[command(flatten)]
    common: CommonTarget,
    /// Print JSON (schema kzrescue.physpath/1).
    #[arg(long)]
    json: bool,
}

/// Target options shared by both forms.
#[derive(clap::Args, Debug, Clone, Default)]
struct CommonTarget {
    /// Use this Solaris slice instead of the disk's one ZFS slice.
    #[arg(long, value_name = "N", value_parser = super::bounds::parse_slice)]
    slice: Option<u32>,
    /// Logical sector size of the disk (512 or 4096); detected by default.
    #[arg(long, value_name = "BYTES", value_parser = parse_sector_size)]
    sector_size: Option<u32>,
}

impl CommonTarget {
    fn options(&self) -> Result<TargetOptions> {
        Ok(TargetOptions {
            slice: self.slice,
            sector_size: self.sector_size,
            write: false,
            access: super::context::get().access()?,
        })
    }
}

#[derive(clap::Subcommand, Debug)]
enum PhysPathCommand {
    /// Rewrite this disk's leaf (phys_path, optionally path and devid) in
    /// every label; several targets are the disks of one mirror.
    Set(SetArgs),
}

/// Arguments of `kzrescue physpath set`.
#[derive(clap::Args, Debug)]
struct SetArgs {
    /// The disk(s): one, or every disk of a mirrored root pool (image files,
    /// block devices or storage URIs).
    #[arg(required = true, value_name = "TARGET")]
    targets: Vec<String>,
    #[command(flatten)]
    common: CommonTarget,
    /// zonecfg device id of each target, in order (`--device-id 0 1`, or
    /// the flag once per target): sets phys_path to
    /// /zvnex/zvblk@<id>:<letter of the pool's slice on that disk>.
    #[arg(long, value_name = "N", num_args = 1.., conflicts_with = "phys_path")]
    device_id: Vec<u64>,
    /// Write the unit address of ids ≥ 10 in decimal (default: hex, the
    /// illumos unit-address custom; Oracle does not document which).
    #[arg(long)]
    decimal_unit: bool,
    /// phys_path verbatim, one per target.
    #[arg(long, value_name = "P")]
    phys_path: Vec<String>,
    /// Also set `path` (the guest's view, e.g. /dev/dsk/c1d0s1), one per target.
    #[arg(long, value_name = "P")]
    path: Vec<String>,
    /// Set `devid`, one per target.
    #[arg(long, value_name = "V", conflicts_with = "clear_devid")]
    devid: Vec<String>,
    /// Remove `devid` (a stale one only costs a fallback; a malformed one is fatal).
    #[arg(long)]
    clear_devid: bool,
    #[command(flatten)]
    w: WriteArgs,
    /// The undo journal to create (must not exist; default: in the journal
    /// directory, kzrescue-physpath-<pool>-<unix seconds>.kzj).
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// Accept a single valid label, labels that disagree in txg, or an odd devid.
    #[arg(long)]
    force: bool,
    /// Print JSON (schema kzrescue.physpath-set/1).
    #[arg(long)]
    json: bool,
}

/// Runs `kzrescue physpath …`.
pub fn run(args: PhysPathArgs) -> Result<u8> {
    match args.set {
        Some(PhysPathCommand::Set(s)) => set(s),
        None => show(&args.targets, &args.common, args.json),
    }
}

fn show(specs: &[String], common: &CommonTarget, as_json: bool) -> Result<u8> {
    let shown = kzrescue::zone::physpath::read(specs, &common.options()?)?;
    if as_json {
        super::out::print_json(SCHEMA_SHOW, &shown.doc(shown.exit_code()))?;
    } else {
        print!("{}", shown.text());
    }
    Ok(shown.exit_code())
}

fn set(a: SetArgs) -> Result<u8> {
    let tx = a.w.tx_options()?;
    let req = SetRequest {
        targets: a.targets.clone(),
        open: a.common.options()?,
        device_id: a.device_id.clone(),
        radix: if a.decimal_unit {
            UnitRadix::Decimal
        } else {
            UnitRadix::Hex
        },
        phys_path: a.phys_path.clone(),
        path: a.path.clone(),
        devid: a.devid.clone(),
        clear_devid: a.clear_devid,
        force: a.force,
    };
    let planned = physpath::plan_set(&req)?;
    if !a.json {
        print!("{}", planned.text());
    }
    for w in &planned.plan.warnings {
        eprintln!("warning: {w}");
    }
    let journal =
        |pool: &str| (a.journal.clone()).unwrap_or_else(|| a.w.journal_path("physpath", pool));
    let how = SetWrite {
        write: a.w.writing(),
        tx,
        purpose: std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        journal: &journal,
    };
    let r = planned.carry_out(&how)?;
    if a.json {
        super::out::print_json(SCHEMA_SET, &r.json()?)?;
    } else {
        print!("{}", r.text());
    }
    if r.result == physpath::SetResult::DryRun {
        eprintln!("{}", a.w.dry_run_note());
    }
    Ok(r.exit)
}
