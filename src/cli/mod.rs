//! Command-line interface: argument parsing, text and JSON output.
//!
//! The library returns data; only code below `src/cli/` prints. Each
//! subcommand lives in its own file. Add a subcommand by adding a variant in
//! its capability's region of [`Command`] and a match arm in [`run`]; keep the
//! region markers so that parallel work merges cleanly.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

// Text output escapes terminal control characters (see `out.rs`): these
// shadow the standard macros in every module below.
macro_rules! print {
    ($($t:tt)*) => { ::std::print!("{}", $crate::cli::out::escape(&format!($($t)*))) };
}
macro_rules! println {
    () => { ::std::println!() };
    ($($t:tt)*) => { ::std::println!("{}", $crate::cli::out::escape(&format!($($t)*))) };
}
macro_rules! eprintln {
    () => { ::std::eprintln!() };
    ($($t:tt)*) => { ::std::eprintln!("{}", $crate::cli::out::escape(&format!($($t)*))) };
}
mod bounds;
mod out;

// --- modules: read path
mod label;
mod partitions;
pub mod target;
mod uberblocks;
mod zdbfmt;
// --- modules: physpath / undo
mod physpath;
mod undo;
// --- modules: hostdata
mod hostdata;
// --- modules: iscsi / uri
mod uri;
// --- modules: forensics
mod cat;
mod datasets;
mod export;
mod ls;
mod manifest;
// --- modules: forensic history
mod changes;
mod deleted;
mod timeline;
// --- modules: zone config / diagnose / repair / demo
mod demo;
mod docs;
mod rescue;
// --- modules: recovery below the labels
mod recover;
mod scan;

/// Exit status: success, nothing wrong found.
pub const EXIT_OK: u8 = 0;
/// Exit status: the command ran and found problems (repairable ones for `diagnose`).
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit status: operational error (bad arguments, unreadable target, corrupt input).
pub const EXIT_ERROR: u8 = 2;
/// Exit status: a write was refused for safety (live pool, disagreeing labels…).
pub const EXIT_REFUSED: u8 = 3;

/// Offline rescue and inspection of Solaris kernel-zone root disks.
#[derive(Parser)]
#[command(name = "kzrescue", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // --- commands: read path
    /// List the partition table (GPT, SMI or x86 VTOC) with Solaris slices and minor letters.
    Partitions(partitions::PartitionsArgs),
    /// Show the four vdev labels as `zdb -l` does, with checksum verdicts.
    Label(label::LabelArgs),
    /// Show the uberblock rings as `zdb -lu` does, with the active one marked.
    Uberblocks(uberblocks::UberblocksArgs),
    // --- commands: physpath / undo
    /// Show or rewrite the leaf paths (phys_path, path, devid) in a disk's vdev labels.
    Physpath(physpath::PhysPathArgs),
    /// Restore the bytes a repair overwrote, from its undo journal.
    Undo(undo::UndoArgs),
    // --- commands: hostdata
    /// Kernel-zone host data (kzrescue's own format): show, check, init, takeover.
    Hostdata(hostdata::HostdataArgs),
    // --- commands: iscsi / uri
    /// Storage URIs (suri): parse, normalize, map to a local device or iSCSI LU.
    Uri(uri::UriArgs),
    /// The built-in iSCSI initiator: SendTargets discovery, INQUIRY of LUs.
    Iscsi(uri::IscsiArgs),
    // --- commands: forensics
    /// List every dataset and snapshot of a pool, like `zdb -d`, offline.
    Datasets(datasets::DatasetsArgs),
    /// List a directory of a dataset or snapshot (`DATASET[@SNAP]:/path`).
    Ls(ls::LsArgs),
    /// Write a file of a dataset or snapshot to stdout.
    Cat(cat::CatArgs),
    /// Copy files of a dataset or snapshot out, to a directory or a tar archive.
    Export(export::ExportArgs),
    /// Integrity manifest of a dataset (paths, modes, owners, SHA-256), or `manifest diff BASE NOW`.
    Manifest(manifest::ManifestArgs),
    // --- commands: forensic history
    /// Every pool state still on disk (each distinct uberblock), newest first,
    /// with the datasets and snapshots each changed.
    Timeline(timeline::TimelineArgs),
    /// Files of a dataset changed in a txg window (`--since TXG|@SNAP`), from birth txgs.
    Changes(changes::ChangesArgs),
    /// Files an older state (uberblock or snapshot) holds and the head does not; orphans.
    Deleted(deleted::DeletedArgs),
    // --- commands: zone config / diagnose / repair / demo
    /// Diagnose a kernel zone from its configuration: every boot device's
    /// labels, phys_path, pool, liveness and host data, with the fixing command.
    Diagnose(rescue::DiagnoseArgs),
    /// Repair what `diagnose` finds (phys_path on every boot device; host data
    /// only with --reinit-hostdata or --takeover), journalled, then diagnose again.
    Repair(rescue::RepairArgs),
    /// Run diagnose → repair → diagnose on a bundled real image (needs nothing
    /// but this binary).
    Demo(demo::DemoArgs),
    /// Print a shell completion script generated from the CLI definition.
    Completions(docs::CompletionsArgs),
    /// Write man pages generated from the CLI definition.
    Manpage(docs::ManpageArgs),
    // --- commands: recovery below the labels
    /// Find every ZFS vdev on a device by its labels, without trusting the partition table.
    Scan(scan::ScanArgs),
}

/// Parses arguments, runs the subcommand, maps errors to exit codes.
pub fn run() -> ExitCode {
    // --- intercept: recovery writers (`label repair`, `partitions restore`)
    let result: Result<u8, kzrescue::Error> = match recover::intercept() {
        Some(r) => r,
        None => dispatch(Cli::parse()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("kzrescue: {e}");
            ExitCode::from(match e {
                kzrescue::Error::Refused(_) => EXIT_REFUSED,
                _ => EXIT_ERROR,
            })
        }
    }
}

fn dispatch(cli: Cli) -> Result<u8, kzrescue::Error> {
    match cli.command {
        // --- dispatch: read path
        Command::Partitions(a) => partitions::run(&a),
        Command::Label(a) => label::run(&a),
        Command::Uberblocks(a) => uberblocks::run(&a),
        // --- dispatch: physpath / undo
        Command::Physpath(a) => physpath::run(a),
        Command::Undo(a) => undo::run(a),
        // --- dispatch: hostdata
        Command::Hostdata(a) => hostdata::run(&a),
        // --- dispatch: iscsi / uri
        Command::Uri(a) => uri::run_uri(&a),
        Command::Iscsi(a) => uri::run_iscsi(&a),
        // --- dispatch: forensics
        Command::Datasets(a) => datasets::run(&a),
        Command::Ls(a) => ls::run(&a),
        Command::Cat(a) => cat::run(&a),
        Command::Manifest(a) => manifest::run(&a),
        Command::Export(a) => export::run(&a),
        // --- dispatch: forensic history
        Command::Timeline(a) => timeline::run(&a),
        Command::Changes(a) => changes::run(&a),
        Command::Deleted(a) => deleted::run(&a),
        // --- dispatch: zone config / diagnose / repair / demo
        Command::Diagnose(a) => rescue::run_diagnose(&a),
        Command::Repair(a) => rescue::run_repair(&a),
        Command::Demo(a) => demo::run(&a),
        Command::Completions(a) => docs::completions(&a),
        Command::Manpage(a) => docs::manpage(&a),
        // --- dispatch: recovery below the labels
        Command::Scan(a) => scan::run(&a),
    }
}
