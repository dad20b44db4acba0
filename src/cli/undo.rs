//! `kzrescue undo JOURNAL`: put back the bytes a repair overwrote (like
//! e2undo). Without `--write` it shows what would be restored and exits 0.

use super::write::WriteArgs;
use kzrescue::repair::undo::{UndoRequest, undo};
use kzrescue::{Error, Result};
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

/// Runs `kzrescue undo …`.
pub fn run(a: UndoArgs) -> Result<u8> {
    if a.w.journal_dir.is_some() {
        return Err(Error::Usage(
            "undo writes no journal (the journal it reads is the record): --journal-dir does \
             not apply"
                .into(),
        ));
    }
    let r = undo(&UndoRequest {
        journal: a.journal.clone(),
        targets: a.target.clone(),
        force: a.force,
        write: a.w.writing(),
        tx: a.w.tx_options()?,
    })?;
    if a.json {
        super::out::print_json(SCHEMA, &r.json()?)?;
    } else {
        print!("{}", r.text());
    }
    if r.dry_run() {
        eprintln!("{}", a.w.dry_run_note());
    }
    Ok(r.exit)
}
