//! `kzrescue changes <targets…> DATASET --since TXG|@SNAP [--until TXG]`:
//! the files of a dataset changed in a txg window, found from birth txgs.

use super::datasets::DeviceArgs;
use kzrescue::Result;
use kzrescue::forensic::changes::{ChangesQuery, ChangesReport, Since, changes};

/// Arguments of `kzrescue changes`.
#[derive(clap::Args, Debug)]
pub struct ChangesArgs {
    /// The pool's devices (image files, block devices or storage URIs), then the dataset (`pool/fs`).
    #[arg(required = true, num_args = 2.., value_name = "TARGET… DATASET")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub dev: DeviceArgs,
    /// Start of the window (exclusive): a txg, or a snapshot `@SNAP`.
    #[arg(long, value_name = "TXG|@SNAP")]
    pub since: String,
    /// End of the window (inclusive): a txg (default: the head).
    #[arg(long, value_name = "TXG")]
    pub until: Option<u64>,
    /// SHA-256 of each changed file's contents (before and after).
    #[arg(long)]
    pub hash: bool,
    /// Print JSON (schema `kzrescue.changes/2`; integers as strings unless
    /// --json-int).
    #[arg(long)]
    pub json: bool,
}

/// Runs the subcommand.
pub fn run(args: &ChangesArgs) -> Result<u8> {
    let (targets, dataset) = kzrescue::read::split_targets(&args.args);
    let h = args.dev.history(targets)?;
    let r = changes(
        &h,
        &ChangesQuery {
            dataset: dataset.to_string(),
            since: Since::parse(&args.since)?,
            until: args.until,
            hash: args.hash,
        },
    )?;
    super::timeline::print(args.json, &r, ChangesReport::text, &r.notes, &r.errors)
}
