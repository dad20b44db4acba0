//! `kzrescue label repair` and `kzrescue partitions restore`: the writers of
//! the recovery below the labels. The plans come from the library
//! (`kzrescue::zfs::relabel`, `kzrescue::partition::restore`); this file
//! prints them and hands them to the one repair pipeline (`repair::apply`:
//! preflight, journal, write in order, flush, read back).

use super::target::parse_sector_size;
use super::{EXIT_OK, EXIT_PROBLEMS};
use kzrescue::recovery::{self, RestoreFrom, WriteOptions, WriterRun};
use kzrescue::target::TargetOptions;
use kzrescue::zfs::relabel::RelabelOptions;
use kzrescue::{Error, Result};
use std::path::PathBuf;

/// Arguments of `kzrescue label repair`.
#[derive(clap::Args, Debug)]
pub struct LabelRepairArgs {
    /// The disks (or vdev files) whose labels to repair; each is repaired
    /// from its own surviving labels only (mirror children never from each other).
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Use this Solaris slice instead of the one ZFS slice.
    #[arg(long, value_name = "N", value_parser = super::bounds::parse_slice)]
    pub slice: Option<u32>,
    /// Logical sector size (512 or 4096); detected by default.
    #[arg(long, value_name = "BYTES", value_parser = parse_sector_size)]
    pub sector_size: Option<u32>,
    /// Only recompute the checksum of labels whose nvlist is intact.
    #[arg(long)]
    pub reseal_only: bool,
    /// The undo journal's exact path (must not exist); default: a name in
    /// --journal-dir.
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    #[command(flatten)]
    pub w: super::write::WriteArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `kzrescue partitions restore`.
#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The whole disk (image, block device or storage URI).
    pub target: String,
    /// What to rebuild from: `backup` (the backup GPT, or the backup Sun
    /// labels of an SMI disk), `primary` (the primary GPT) or `scan` (a fresh
    /// Solaris GPT around the vdev a scan finds).
    #[arg(long, value_parser = ["backup", "primary", "scan"])]
    pub from: String,
    /// Logical sector size (512 or 4096); by default the device's, else the
    /// one the surviving GPT uses, else 512.
    #[arg(long, value_name = "BYTES", value_parser = parse_sector_size)]
    pub sector_size: Option<u32>,
    /// With `--from scan` on a disk holding several vdevs: the start (bytes)
    /// of the one to lay the table around.
    #[arg(long, value_name = "BYTES")]
    pub vdev_start: Option<u64>,
    /// The undo journal's exact path (must not exist); default: a name in
    /// --journal-dir.
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    #[command(flatten)]
    pub w: super::write::WriteArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `kzrescue label repair`.
pub fn run_label_repair(a: &LabelRepairArgs) -> Result<u8> {
    let tx = a.w.tx_options()?;
    let topts = TargetOptions {
        slice: a.slice,
        sector_size: a.sector_size,
        write: false,
        access: super::context::get().access()?,
    };
    let ropts = RelabelOptions {
        reseal_only: a.reseal_only,
    };
    let journal =
        |pool: &str| (a.journal.clone()).unwrap_or_else(|| a.w.journal_path("label-repair", pool));
    let w = WriteOptions {
        tx,
        write: a.w.writing(),
        journal: &journal,
    };
    finish(
        &a.w,
        a.json,
        recovery::label_repair(&a.targets, &topts, ropts, w)?,
    )
}

/// Prints a writer's report (and the dry-run note on stderr); its exit code.
fn finish(w: &super::write::WriteArgs, as_json: bool, run: WriterRun) -> Result<u8> {
    if as_json {
        if let Err(e) = super::out::stream_json(&run.report.doc) {
            eprintln!("kzrescue: {e}");
        }
    } else {
        print!("{}", run.report.text);
    }
    if run.dry_run {
        eprintln!("{}", w.dry_run_note());
    }
    Ok(if run.problems { EXIT_PROBLEMS } else { EXIT_OK })
}

/// Runs `kzrescue partitions restore`.
pub fn run_restore(a: &RestoreArgs) -> Result<u8> {
    let from = RestoreFrom::parse(&a.from)
        .ok_or_else(|| Error::Usage(format!("--from {}: backup, primary or scan", a.from)))?;
    let access = super::context::get().access()?;
    let journal = |disk: &str| {
        (a.journal.clone()).unwrap_or_else(|| a.w.journal_path("partitions-restore", disk))
    };
    let w = WriteOptions {
        tx: a.w.tx_options()?,
        write: a.w.writing(),
        journal: &journal,
    };
    let bar = super::scan::ScanBar::default();
    let (ss, start) = (a.sector_size, a.vdev_start);
    let progress = &mut |d, t| bar.tick(d, t);
    let run = recovery::restore(&a.target, from, ss, start, &access, w, progress)?;
    finish(&a.w, a.json, run)
}
