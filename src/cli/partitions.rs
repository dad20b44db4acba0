//! `kzrescue partitions <target>`: the partition table of a disk.
//!
//! Text output: one header line (table kind, sector size, device size), the
//! GPT header or Sun label details, notes, then one line per partition with
//! its Solaris slice, minor letter, first and last LBA, size, type name, type
//! GUID (GPT) or tag (VTOC) and name. The pool slice `kzrescue label` would
//! use is marked `*`.
//!
//! JSON output (`--json`, stable): an object with
//! `target` (string), `kind` ("gpt" | "smi-vtoc" | "x86-vtoc" | "none"),
//! `sector_size`, `disk_size` (bytes), `notes` (array of strings),
//! `gpt` (null or {disk_guid, used_backup, header_lba, alternate_lba,
//! first_usable_lba, last_usable_lba, entries_lba, num_entries, entry_size,
//! revision: [major, minor]}), `vtoc` (null or {label_offset, ascii_label,
//! volume, version, sane, nparts, ncyl, acyl, pcyl, nhead, nsect, fdisk: null
//! or {number, active, kind, start_lba, sectors}}), `pool_slice` (the slice
//! number chosen automatically, or null with `pool_slice_error` saying why),
//! and `partitions`: an array of {index, slice, letter, start, len,
//! first_lba, last_lba, type_guid, unique_guid, tag, flags, type_name, name}
//! (bytes for start/len, sectors of `sector_size` for the LBAs).

use super::{EXIT_OK, EXIT_PROBLEMS};
use kzrescue::Result;
use kzrescue::partition::report::TableReport;
use kzrescue::target::table_report;

/// Arguments of `kzrescue partitions`: list the table of TARGET, or, with
/// the `restore` subcommand, rebuild it. A target file literally named
/// `restore` is reached as `./restore`.
#[derive(clap::Args, Debug)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "A target file literally named `restore` is given as `./restore`."
)]
pub struct PartitionsArgs {
    #[command(subcommand)]
    action: Option<PartitionsCommand>,
    /// Image file, block device or storage URI (file:, dev:, lu:, iscsi:,
    /// nfs:): a whole disk (the ZFS slice is found in its GPT or VTOC) or a
    /// bare vdev file.
    #[arg(required = true)]
    target: Option<String>,
    /// Use this Solaris slice (GPT entry N+1, VTOC slice N) instead of the
    /// one ZFS slice.
    #[arg(long, value_name = "N", value_parser = super::bounds::parse_slice)]
    slice: Option<u32>,
    /// Logical sector size of the disk (512 or 4096); detected by default.
    #[arg(long, value_name = "BYTES", value_parser = super::target::parse_sector_size)]
    sector_size: Option<u32>,
    /// Print JSON (schema in the command's documentation) instead of text.
    #[arg(long)]
    json: bool,
}

/// The writer under `kzrescue partitions`.
#[derive(clap::Subcommand, Debug)]
enum PartitionsCommand {
    /// Rebuild a lost partition table: the primary GPT from the backup, the
    /// backup from the primary, a fresh Solaris GPT from a scan, or a VTOC
    /// from its backup labels (journalled; dry run by default).
    Restore(super::recover::RestoreArgs),
}

/// Runs the subcommand; exits 1 when the table has notes (damage worked around).
pub fn run(args: &PartitionsArgs) -> Result<u8> {
    let target = match (&args.action, &args.target) {
        (Some(PartitionsCommand::Restore(a)), _) => return super::recover::run_restore(a),
        (None, Some(t)) => t,
        (None, None) => {
            return Err(kzrescue::Error::Usage(
                "partitions: a TARGET is required".into(),
            ));
        }
    };
    let access = super::context::get().access()?;
    let report = table_report(target, args.sector_size, args.slice, &access)?;
    super::out::print(args.json, TableReport::SCHEMA, &report.json(), || {
        report.text()
    })?;
    Ok(if report.has_notes() {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    })
}
