//! `kzrescue changes <targets…> DATASET --since TXG|@SNAP [--until TXG]`:
//! the files of a dataset changed in a txg window, found from birth txgs.

use super::datasets::emit;
use super::timeline::{DeviceArgs, json, utc, when};
use kzrescue::Result;
use kzrescue::forensic::changes::{ChangeKind, ChangesQuery, Since, changes};

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

fn kind_word(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::Created => "created",
        ChangeKind::Deleted => "deleted",
        ChangeKind::Content => "content",
        ChangeKind::Metadata => "metadata",
        ChangeKind::Renamed => "renamed",
        ChangeKind::Accessed => "accessed",
    }
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
    if args.json {
        json(&r)?;
    } else {
        emit(&format!(
            "Changes in {} (pool {} on {})",
            r.dataset,
            r.pool,
            r.devices.join(", ")
        ))?;
        let end = |e: &kzrescue::forensic::changes::WindowEnd| {
            format!(
                "txg {} ({}){}",
                e.txg,
                when(&e.when),
                e.state
                    .as_ref()
                    .map(|s| format!(", read from {s}"))
                    .unwrap_or_else(|| ", no state of it reads".into())
            )
        };
        emit(&format!("  after  {}", end(&r.since)))?;
        emit(&format!("  up to  {}", end(&r.until)))?;
        let c = &r.counts;
        emit(&format!(
            "  {} objects: {} created, {} deleted, {} content, {} metadata, {} renamed, {} accessed only",
            r.changes.len(),
            c.created,
            c.deleted,
            c.content,
            c.metadata,
            c.renamed,
            c.accessed
        ))?;
        emit(&format!(
            "  read: {} dnode blocks and {} indirect blocks born in the window; {} older subtrees skipped",
            r.dnode_blocks, r.indirect_blocks, r.pruned
        ))?;
        if !r.errors.is_empty() {
            emit(&format!(
                "  NOT VERIFIED: {} reads failed (on stderr); what they hide is not listed",
                r.errors.len()
            ))?;
        }
        emit("")?;
        emit(&format!(
            "{:<24} {:>10}  {:<23}  {:>8}  {:>10}  PATH",
            "WHAT", "TXG", "TIME", "OBJECT", "SIZE"
        ))?;
        for ch in &r.changes {
            let what: Vec<&str> = ch.what.iter().map(|k| kind_word(*k)).collect();
            let t = match ch.when.time {
                Some(t) if ch.txg_exact => utc(t),
                Some(t) => format!("by {}", utc(t)),
                None => when(&ch.when),
            };
            let path = match (&ch.path, &ch.old_path) {
                (Some(p), Some(o)) => format!("{p} (was {o})"),
                (Some(p), None) => p.clone(),
                (None, Some(o)) => format!("{o} (deleted)"),
                (None, None) => format!("(object {}, no path)", ch.object),
            };
            emit(&format!(
                "{:<24} {:>9}{} {:<23}  {:>8}  {:>10}  {}{}",
                what.join(","),
                ch.txg,
                if ch.txg_exact { " " } else { "≤" },
                t,
                ch.object,
                ch.size,
                path,
                if ch.kind == kzrescue::zfs::zpl::FileType::Dir && !path.ends_with('/') {
                    "/"
                } else {
                    ""
                }
            ))?;
            if let Some(s) = &ch.sha256 {
                emit(&format!("{:>26}sha256 {s}", ""))?;
            }
            if let Some(s) = &ch.sha256_before {
                emit(&format!("{:>26}before {s}", ""))?;
            }
            if let Some(e) = &ch.error {
                emit(&format!("{:>26}error: {e}", ""))?;
            }
        }
        super::timeline::say(&r.notes, &r.errors);
    }
    Ok(super::timeline::exit(&r.errors))
}
