//! `kzrescue timeline <targets…>`: every pool state still on disk, newest
//! first, with what changed in each; plus the helpers the `changes` and
//! `deleted` summaries share.

use super::datasets::notice;
use kzrescue::Result;
use kzrescue::forensic::{History, timeline};

/// The devices of a pool (every state of which is read).
#[derive(clap::Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Use this Solaris slice on every disk instead of the one ZFS slice.
    #[arg(long, value_name = "N")]
    pub slice: Option<u32>,
    /// Logical sector size of the disks (512 or 4096); detected by default.
    #[arg(long, value_name = "BYTES", value_parser = super::target::parse_sector_size)]
    pub sector_size: Option<u32>,
}

impl DeviceArgs {
    /// Opens every state of the pool on `targets`; notes go to stderr.
    pub fn history(&self, targets: &[String]) -> Result<History> {
        let opts = kzrescue::read::PoolOptions {
            slice: self.slice,
            sector_size: self.sector_size,
            txg: None,
            access: super::context::get().access()?,
        };
        History::open_targets(targets, &opts, &mut notice)
    }
}

/// Arguments of `kzrescue timeline`.
#[derive(clap::Args, Debug)]
pub struct TimelineArgs {
    /// The pool's devices (mirror sides, raidz members, stripes): image
    /// files, block devices or storage URIs.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub dev: DeviceArgs,
    /// Print JSON (schema `kzrescue.timeline/2`; integers as strings unless
    /// --json-int).
    #[arg(long)]
    pub json: bool,
}

/// Prints a forensic report: its JSON document (which carries its own
/// `schema`; integers as strings unless `--json-int`), or its text and
/// then its notes and read errors on stderr. The exit status: problems
/// found when reads failed.
pub fn print<T: serde::Serialize>(
    json: bool,
    doc: &T,
    text: impl FnOnce(&T) -> String,
    notes: &[String],
    errors: &[String],
) -> Result<u8> {
    if json {
        super::out::stream_json(doc)?;
    } else {
        super::out::print_text(&text(doc))?;
        for n in notes {
            eprintln!("kzrescue: note: {n}");
        }
        for e in errors {
            eprintln!("kzrescue: {e}");
        }
    }
    Ok(if errors.is_empty() {
        super::EXIT_OK
    } else {
        super::EXIT_PROBLEMS
    })
}

/// Runs the subcommand.
pub fn run(args: &TimelineArgs) -> Result<u8> {
    let t = timeline(&args.dev.history(&args.targets)?);
    if args.json {
        super::out::stream_json(&t)?;
    } else {
        super::out::print_text(&t.text())?;
    }
    Ok(super::EXIT_OK)
}
