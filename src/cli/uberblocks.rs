//! `kzrescue uberblocks <target>`: the `zdb -lu` view (labels and their
//! uberblock rings) with each slot's checksum and the active uberblock
//! marked; `--json` gives schema `kzrescue.uberblocks/2`.

use super::target::TargetArgs;
use kzrescue::Result;
use kzrescue::zfs::report::UberblockReport;

/// Arguments of `kzrescue uberblocks`.
#[derive(clap::Args, Debug)]
pub struct UberblocksArgs {
    /// The disk or vdev (`disk.img`, `disk.img --slice 1`, a bare pool file).
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON (schema `kzrescue.uberblocks/2`; integers as strings
    /// unless --json-int) instead of zdb-style text.
    #[arg(long)]
    pub json: bool,
}

/// Runs the subcommand.
pub fn run(args: &UberblocksArgs) -> Result<u8> {
    let v = args.target.open(false)?;
    let report = UberblockReport::read(v.source.as_ref(), v.describe(), v.start());
    let schema = UberblockReport::SCHEMA;
    super::out::print(args.json, schema, &report.json(), || report.text())?;
    for p in report.problems() {
        eprintln!("kzrescue: {p}");
    }
    Ok(report.verdict().exit_code())
}
