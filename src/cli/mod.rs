//! Command-line interface: argument parsing, text and JSON output.
//!
//! The library returns data; only code below `src/cli/` prints. Each
//! subcommand lives in its own file. Add a subcommand with a variant of
//! [`Command`], its line in [`deferred`] and a match arm in `dispatch`.

use clap::{Parser, Subcommand};

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
// Shared by every command.
mod bounds;
pub mod context;
mod out;
pub mod target;
pub mod write;

// Inspecting a disk: partition table, labels, uberblocks, storage URIs.
mod label;
mod partitions;
mod uberblocks;
mod uri;
// Repairing a disk: leaf paths, host data, undo, zone diagnose/repair,
// recovery below the labels.
mod diagnose;
mod hostdata;
mod physpath;
mod recover;
mod repair;
mod scan;
mod undo;
// Reading a pool's files and history.
mod cat;
mod changes;
mod datasets;
mod deleted;
mod export;
mod ls;
mod manifest;
mod timeline;
// About the program: the demo, completions and man pages.
mod demo;
mod docs;

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
    #[command(flatten)]
    global: context::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

// `defer`: each subcommand's arguments are declared only when that
// subcommand is parsed, so `--version` and every command pay for their own
// argument tree, not for all twenty (see [`command`]).
#[derive(Subcommand)]
#[command(defer = true)]
enum Command {
    /// List the partition table (GPT, SMI or x86 VTOC) with Solaris slices and minor letters;
    /// `partitions restore` rebuilds a lost one.
    Partitions(partitions::PartitionsArgs),
    /// Show the four vdev labels as `zdb -l` does, with checksum verdicts; `label repair`
    /// rebuilds damaged ones.
    Label(label::LabelArgs),
    /// Show the uberblock rings as `zdb -lu` does, with the active one marked.
    Uberblocks(uberblocks::UberblocksArgs),
    /// Show or rewrite the leaf paths (phys_path, path, devid) in a disk's vdev labels.
    Physpath(physpath::PhysPathArgs),
    /// Restore the bytes a repair overwrote, from its undo journal.
    Undo(undo::UndoArgs),
    /// Kernel-zone host data (kzrescue's own format): show, check, init, takeover.
    Hostdata(hostdata::HostdataArgs),
    /// Storage URIs (suri): parse, normalize, map to a local device or iSCSI LU.
    Uri(uri::UriArgs),
    /// The built-in iSCSI initiator: SendTargets discovery, INQUIRY of LUs.
    Iscsi(uri::IscsiArgs),
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
    /// Every pool state still on disk (each distinct uberblock), newest first,
    /// with the datasets and snapshots each changed.
    Timeline(timeline::TimelineArgs),
    /// Files of a dataset changed in a txg window (`--since TXG|@SNAP`), from birth txgs.
    Changes(changes::ChangesArgs),
    /// Files an older state (uberblock or snapshot) holds and the head does not; orphans.
    Deleted(deleted::DeletedArgs),
    /// Diagnose a kernel zone from its configuration: every boot device's
    /// labels, phys_path, pool, liveness and host data, with the fixing command.
    Diagnose(diagnose::DiagnoseArgs),
    /// Repair what `diagnose` finds (phys_path on every boot device; host data
    /// only with --reinit-hostdata or --takeover), journalled, then diagnose again.
    Repair(repair::RepairArgs),
    /// Run diagnose → repair → diagnose on a bundled real image (needs nothing
    /// but this binary).
    Demo(demo::DemoArgs),
    /// Print a shell completion script generated from the CLI definition.
    Completions(docs::CompletionsArgs),
    /// Write man pages generated from the CLI definition.
    Manpage(docs::ManpageArgs),
    /// Find every ZFS vdev on a device by its labels, without trusting the partition table.
    Scan(scan::ScanArgs),
}

/// The argument types of the subcommands, by name: [`command`] declares each
/// one's arguments only when that subcommand is parsed. A subcommand added to
/// [`Command`] needs its line here too (a test checks).
fn deferred(cmd: clap::Command) -> clap::Command {
    use clap::Command as C;
    // The derive's own deferral would let the argument struct's doc comment
    // replace the variant's `about`; this keeps the variant's.
    fn args<T: clap::Args>(c: C) -> C {
        let (about, long) = (c.get_about().cloned(), c.get_long_about().cloned());
        // The global options join each subcommand here, when it is parsed,
        // instead of clap copying all eight into every subcommand up front.
        // (first, as clap's `global` would put them; then back to the
        // default help heading for the subcommand's own)
        let globals = <context::GlobalArgs as clap::Args>::augment_args(c);
        let c = T::augment_args(globals.next_help_heading(None::<&str>))
            .about(None::<&str>)
            .long_about(None::<&str>);
        let c = match about {
            Some(a) => c.about(a),
            None => c,
        };
        match long {
            Some(l) => c.long_about(l),
            None => c,
        }
    }
    type Augment = fn(C) -> C;
    let table: &[(&str, Augment)] = &[
        ("partitions", args::<partitions::PartitionsArgs>),
        ("label", args::<label::LabelArgs>),
        ("uberblocks", args::<uberblocks::UberblocksArgs>),
        ("physpath", args::<physpath::PhysPathArgs>),
        ("undo", args::<undo::UndoArgs>),
        ("hostdata", args::<hostdata::HostdataArgs>),
        ("uri", args::<uri::UriArgs>),
        ("iscsi", args::<uri::IscsiArgs>),
        ("datasets", args::<datasets::DatasetsArgs>),
        ("ls", args::<ls::LsArgs>),
        ("cat", args::<cat::CatArgs>),
        ("export", args::<export::ExportArgs>),
        ("manifest", args::<manifest::ManifestArgs>),
        ("timeline", args::<timeline::TimelineArgs>),
        ("changes", args::<changes::ChangesArgs>),
        ("deleted", args::<deleted::DeletedArgs>),
        ("diagnose", args::<diagnose::DiagnoseArgs>),
        ("repair", args::<repair::RepairArgs>),
        ("demo", args::<demo::DemoArgs>),
        ("completions", args::<docs::CompletionsArgs>),
        ("manpage", args::<docs::ManpageArgs>),
        ("scan", args::<scan::ScanArgs>),
    ];
    cmd.mut_subcommands(|s| match table.iter().find(|(n, _)| *n == s.get_name()) {
        Some(&(_, f)) => s.defer(f),
        None => s,
    })
}

/// The command-line definition: the top level and every subcommand's name
/// and summary; a subcommand's arguments are declared when it is parsed.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    // At the top level the global options are plain options: each
    // subcommand declares its own copy in [`deferred`] (clap's `global`
    // would clone them into all twenty-two subcommands at start-up); clap
    // still carries the values between the levels (see [`parse`]).
    let top = deferred(Cli::command());
    let ids: Vec<_> = top
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.get_id().clone())
        .collect();
    ids.into_iter()
        .fold(top, |c, id| c.mut_arg(id, |a| a.global(false)))
}

/// Parses arguments, runs the subcommand, maps errors to exit codes.
pub fn run() -> u8 {
    let result = match parse(&command().get_matches()) {
        Ok(c) => dispatch(c),
        Err(e) => e.exit(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kzrescue: {e}");
            match e {
                kzrescue::Error::Refused(_) => EXIT_REFUSED,
                _ => EXIT_ERROR,
            }
        }
    }
}

/// The parsed command line. The global options given after the
/// subcommand's name reach the top level too: clap carries the values of an
/// argument that is `global` anywhere to every level of the matches (the one
/// given last, deepest, wins).
fn parse(matches: &clap::ArgMatches) -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    Cli::from_arg_matches(matches)
}

fn dispatch(cli: Cli) -> Result<u8, kzrescue::Error> {
    context::init(cli.global);
    match cli.command {
        Command::Partitions(a) => partitions::run(&a),
        Command::Label(a) => label::run(&a),
        Command::Uberblocks(a) => uberblocks::run(&a),
        Command::Physpath(a) => physpath::run(a),
        Command::Undo(a) => undo::run(a),
        Command::Hostdata(a) => hostdata::run(&a),
        Command::Uri(a) => uri::run_uri(&a),
        Command::Iscsi(a) => uri::run_iscsi(&a),
        Command::Datasets(a) => datasets::run(&a),
        Command::Ls(a) => ls::run(&a),
        Command::Cat(a) => cat::run(&a),
        Command::Manifest(a) => manifest::run(&a),
        Command::Export(a) => export::run(&a),
        Command::Timeline(a) => timeline::run(&a),
        Command::Changes(a) => changes::run(&a),
        Command::Deleted(a) => deleted::run(&a),
        Command::Diagnose(a) => diagnose::run_diagnose(&a),
        Command::Repair(a) => repair::run_repair(&a),
        Command::Demo(a) => demo::run(&a),
        Command::Completions(a) => docs::completions(&a),
        Command::Manpage(a) => docs::manpage(&a),
        Command::Scan(a) => scan::run(&a),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand's arguments come from the table, under the variant's
    /// summary (the one the top-level help lists).
    #[test]
    fn deferred_table_covers_every_subcommand() {
        let mut derived = super::Cli::command();
        derived.build();
        let listed = super::command();
        let mut lazy = super::command();
        lazy.build();
        let names = |c: &clap::Command| {
            c.get_subcommands()
                .map(|s| s.get_name().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&derived), names(&lazy));
        let subs = derived.get_subcommands().zip(lazy.get_subcommands());
        for ((d, l), top) in subs.zip(listed.get_subcommands()) {
            let args = |c: &clap::Command| {
                c.get_arguments()
                    .map(|a| a.get_id().to_string())
                    .collect::<Vec<_>>()
            };
            assert!(!args(l).is_empty(), "{} has no arguments", l.get_name());
            assert_eq!(args(d), args(l), "{}", l.get_name());
            assert_eq!(names(d), names(l), "{}", l.get_name());
            let about = |c: &clap::Command| c.get_about().map(|a| a.to_string());
            assert!(about(top).is_some(), "{}", l.get_name());
            assert_eq!(about(l), about(top), "{}", l.get_name());
        }
    }
}
