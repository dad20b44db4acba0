//! `kzrescue timeline <targets…>`: every pool state still on disk, newest
//! first, with what changed in each; plus the helpers the `changes` and
//! `deleted` summaries share.

use super::datasets::DeviceArgs;
use kzrescue::Result;
use kzrescue::forensic::timeline;

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
