//! `kzrescue deleted <targets…> DATASET [--since TXG|@SNAP]`: files an
//! older state of the dataset holds and its head does not, and objects no
//! directory reaches; with the command that recovers each.

use super::datasets::DeviceArgs;
use kzrescue::Result;
use kzrescue::forensic::deleted::{DeletedQuery, deleted};

/// Arguments of `kzrescue deleted`.
#[derive(clap::Args, Debug)]
pub struct DeletedArgs {
    /// The pool's devices (image files, block devices or storage URIs), then the dataset (`pool/fs`).
    #[arg(required = true, num_args = 2.., value_name = "TARGET… DATASET")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub dev: DeviceArgs,
    /// Only older states from this txg, or this snapshot `@SNAP`, on.
    #[arg(long, value_name = "TXG|@SNAP")]
    pub since: Option<String>,
    /// Print JSON (schema `kzrescue.deleted/2`; integers as strings unless
    /// --json-int).
    #[arg(long)]
    pub json: bool,
}

/// Runs the subcommand.
pub fn run(args: &DeletedArgs) -> Result<u8> {
    let (targets, dataset) = kzrescue::read::split_targets(&args.args);
    let h = args.dev.history(targets)?;
    let since = args
        .since
        .as_deref()
        .map(kzrescue::forensic::Since::parse)
        .transpose()?;
    let r = deleted(
        &h,
        &DeletedQuery {
            dataset: dataset.to_string(),
            since,
        },
    )?;
    let text = |r: &kzrescue::forensic::DeletedReport| r.text(targets);
    super::timeline::print(args.json, &r, text, &r.notes, &r.errors)
}
