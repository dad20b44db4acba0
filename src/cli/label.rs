//! `kzrescue label <target>`: the four vdev labels, as `zdb -l` shows them,
//! plus each label's checksum verdict; `--json` for scripts
//! (schema `kzrescue.label/2`, see `formats/json-schema.md`).

use super::target::TargetArgs;
use kzrescue::Result;
use kzrescue::zfs::report::LabelReport;

/// Arguments of `kzrescue label`: show the labels of TARGET, or, with the
/// `repair` subcommand, rebuild them. A target file literally named `repair`
/// is reached as `./repair`.
#[derive(clap::Args, Debug)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "A target file literally named `repair` is given as `./repair`."
)]
pub struct LabelArgs {
    #[command(subcommand)]
    pub action: Option<LabelCommand>,
    /// Image file, block device or storage URI (file:, dev:, lu:, iscsi:,
    /// nfs:): a whole disk (the ZFS slice is found in its GPT or VTOC) or a
    /// bare vdev.
    #[arg(required = true)]
    pub target: Option<String>,
    /// Use this Solaris slice (GPT entry N+1, VTOC slice N) instead of the
    /// one ZFS slice.
    #[arg(long, value_name = "N", value_parser = super::bounds::parse_slice)]
    pub slice: Option<u32>,
    /// Logical sector size of the disk (512 or 4096); detected by default.
    #[arg(long, value_name = "BYTES", value_parser = super::target::parse_sector_size)]
    pub sector_size: Option<u32>,
    /// Print JSON (schema `kzrescue.label/2`; integers as strings unless
    /// --json-int) instead of zdb-style text.
    #[arg(long)]
    pub json: bool,
}

/// The writers under `kzrescue label`.
#[derive(clap::Subcommand, Debug)]
pub enum LabelCommand {
    /// Rebuild vdev labels that are missing or fail their checksum from a
    /// valid label of the same vdev (journalled; dry run by default).
    Repair(super::recover::LabelRepairArgs),
}

/// Runs the subcommand.
pub fn run(args: &LabelArgs) -> Result<u8> {
    let target = match (&args.action, &args.target) {
        (Some(LabelCommand::Repair(a)), _) => return super::recover::run_label_repair(a),
        (None, Some(t)) => TargetArgs {
            target: t.clone(),
            slice: args.slice,
            sector_size: args.sector_size,
        },
        (None, None) => return Err(kzrescue::Error::Usage("label: a TARGET is required".into())),
    };
    let v = target.open(false)?;
    let report = LabelReport::read(v.source.as_ref(), v.describe(), v.start(), false);
    super::out::print(args.json, LabelReport::SCHEMA, &report.json(), || {
        report.text()
    })?;
    for p in report.problems() {
        eprintln!("kzrescue: {p}");
    }
    Ok(report.verdict().exit_code())
}
