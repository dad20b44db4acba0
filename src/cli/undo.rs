//! `kzrescue undo JOURNAL`: put back the bytes a repair overwrote (like
//! e2undo). Without `--write` it shows what would be restored and exits 0.

use super::EXIT_OK;
use super::write::WriteArgs;
use kzrescue::repair::journal::{Journal, RangeState};
use kzrescue::repair::transaction::Transaction;
use kzrescue::source::SharedSource;
use kzrescue::target::{self, TargetOptions, open_source};
use kzrescue::{Error, Result};
use serde_json::json;
use std::path::PathBuf;

/// `schema` of `undo --json`.
pub const SCHEMA: &str = "kzrescue.undo/1";

/// Arguments of `kzrescue undo`.
///
/// Without --write (or with --dry-run) undo shows every range of the
/// journal, its state on the target now and how many would be restored, and
/// exits 0; --write restores them (liveness check first, each range flushed
/// and read back). Undo writes no journal of its own: --journal-dir is
/// refused.
#[derive(clap::Args, Debug)]
pub struct UndoArgs {
    /// The undo journal a repair wrote (kzrescue-<command>-<name>-<secs>.kzj).
    journal: PathBuf,
    #[command(flatten)]
    w: WriteArgs,
    /// Open this disk instead of the path recorded in the journal (once per
    /// journal target, in order), e.g. after the image moved.
    #[arg(long, value_name = "PATH")]
    target: Vec<String>,
    /// Accept a target whose identity (device and inode) differs from the
    /// recorded one, e.g. a copy; its bytes must still match the journal.
    #[arg(long)]
    force: bool,
    /// Print JSON (schema kzrescue.undo/1).
    #[arg(long)]
    json: bool,
}

fn state_name(s: RangeState) -> &'static str {
    match s {
        RangeState::Old => "old",
        RangeState::New => "new",
        RangeState::Torn => "torn",
        RangeState::Foreign { .. } => "foreign",
    }
}

/// Runs `kzrescue undo …`.
pub fn run(a: UndoArgs) -> Result<u8> {
    if a.w.journal_dir.is_some() {
        return Err(Error::Usage(
            "undo writes no journal (the journal it reads is the record): --journal-dir does \
             not apply"
                .into(),
        ));
    }
    let journal = Journal::read(&a.journal)?;
    let paths: Vec<String> = if a.target.is_empty() {
        journal.targets.iter().map(|t| t.path.clone()).collect()
    } else if a.target.len() == journal.targets.len() {
        a.target.clone()
    } else {
        return Err(Error::Usage(format!(
            "the journal names {} target(s); --target is given {} time(s)",
            journal.targets.len(),
            a.target.len()
        )));
    };
    let opts = a.w.tx_options()?;
    let sources: Vec<SharedSource> = paths
        .iter()
        .map(|p| open_source(p, false, &super::context::get().access()?))
        .collect::<Result<_>>()?;
    let mut tx = Transaction::new(journal.purpose.clone(), opts.clone());
    let checks = tx.restore(&a.journal, &journal, &paths, &sources, a.force)?;
    let pending: usize = checks.iter().map(|c| c.to_restore()).sum();
    let mut liveness = None;
    let writing = a.w.writing();
    let restored = if writing && pending > 0 {
        if !opts.liveness_interval.is_zero() {
            for p in &paths {
                // The pool's slice (or the whole device when it has no
                // partition table); a target without one is not watched.
                if let Ok(v) = target::open_vdev(
                    p,
                    &TargetOptions {
                        access: super::context::get().access()?,
                        ..TargetOptions::default()
                    },
                ) {
                    let start = v.partition.as_ref().map_or(0, |p| p.start);
                    tx.watch(p, start, v.source.size(), None);
                }
            }
        }
        let done = tx.commit()?;
        liveness = done.liveness;
        done.groups.iter().map(|g| g.writes).sum()
    } else {
        0
    };
    if a.json {
        let doc = json!({
            "exit": EXIT_OK,
            "journal": a.journal.display().to_string(),
            "purpose": journal.purpose,
            "created": journal.created,
            "targets": checks.iter().map(|c| json!({
                "path": c.path,
                "identity_matches": c.identity_matches,
                "ranges": c.ranges.iter().map(|(what, off, len, st)| json!({
                    "what": what, "offset": off, "length": len, "state": state_name(*st),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "to_restore": pending,
            "liveness": liveness.as_ref().map(super::physpath::liveness_json),
            "restored": restored,
            "written": writing,
        });
        super::out::print_json(SCHEMA, &doc)?;
    } else {
        println!(
            "journal {} ({}), {} target(s)",
            a.journal.display(),
            journal.purpose,
            journal.targets.len()
        );
        for c in &checks {
            println!(
                "{}{}",
                c.path,
                if c.identity_matches {
                    ""
                } else {
                    " (a different file or device than recorded; --force)"
                }
            );
            for (what, off, len, st) in &c.ranges {
                println!("  {off:#x} +{len:#x} {what}: {}", state_name(*st));
            }
        }
        if let Some(q) = &liveness {
            super::physpath::print_liveness(q);
        }
        if pending == 0 {
            println!("nothing to restore: every range already holds its original bytes");
        } else if writing {
            println!("restored {restored} range(s), each flushed and read back");
        } else {
            println!("{pending} range(s) would be restored");
        }
    }
    if !writing && pending > 0 {
        eprintln!("{}", a.w.dry_run_note());
    }
    Ok(EXIT_OK)
}
