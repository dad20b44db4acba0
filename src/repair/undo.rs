//! `undo` as one workflow: read a journal, check every target against it
//! (the very disk, each range old, new, torn or foreign), and — when asked
//! to write — put the old bytes back through the one repair
//! [`Transaction`] (liveness check first, each range flushed and read
//! back). Undo writes no journal of its own: the journal it reads is the
//! record.

use super::journal::{Journal, RangeState};
use super::report::{LivenessReport, liveness_text};
use super::transaction::{Transaction, TxOptions};
use crate::error::{Error, Result};
use crate::source::SharedSource;
use crate::target::{TargetOptions, open_source, open_vdev};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// What `undo` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct UndoRequest {
    /// The undo journal a repair wrote.
    pub journal: PathBuf,
    /// Disks to open instead of the paths the journal records (one per
    /// journal target, in order; none: the recorded paths).
    pub targets: Vec<String>,
    /// Accept a target whose identity differs from the recorded one (its
    /// bytes must still match the journal).
    pub force: bool,
    /// Restore (else only show what would be restored).
    pub write: bool,
    /// The transaction's options.
    pub tx: TxOptions,
}

/// A journal range and its state on the target now.
#[derive(Debug, Clone, Serialize)]
pub struct RangeDoc {
    /// Bytes.
    pub length: usize,
    /// Offset on the target.
    pub offset: u64,
    /// `old`, `new`, `torn` or `foreign`.
    pub state: &'static str,
    /// What the range is.
    pub what: String,
}

/// One journal target as found.
#[derive(Debug, Clone, Serialize)]
pub struct TargetDoc {
    /// Whether it is the recorded file or device (same identity).
    pub identity_matches: bool,
    /// The path opened.
    pub path: String,
    /// Its ranges, in journal order.
    pub ranges: Vec<RangeDoc>,
}

/// The report of `undo` (`kzrescue.undo/1`, keys in alphabetical order).
#[derive(Debug, Clone, Serialize)]
pub struct UndoReport {
    /// When the journal was made (Unix seconds).
    pub created: u64,
    /// Always 0: a refusal is an error.
    pub exit: u8,
    /// The journal read.
    pub journal: String,
    /// The liveness check, when one ran.
    pub liveness: Option<LivenessReport>,
    /// What the journal undoes.
    pub purpose: String,
    /// Ranges restored.
    pub restored: usize,
    /// Per journal target.
    pub targets: Vec<TargetDoc>,
    /// Ranges that do not hold their old bytes.
    pub to_restore: usize,
    /// Whether undo was asked to write.
    pub written: bool,
    /// The liveness check as text.
    #[serde(skip)]
    pub liveness_text: Option<String>,
}

fn state_name(s: RangeState) -> &'static str {
    match s {
        RangeState::Old => "old",
        RangeState::New => "new",
        RangeState::Torn => "torn",
        RangeState::Foreign { .. } => "foreign",
    }
}

/// Reads the journal, checks its targets and (with `write`, when anything
/// is to restore) restores them.
pub fn undo(r: &UndoRequest) -> Result<UndoReport> {
    let journal = Journal::read(&r.journal)?;
    let paths: Vec<String> = if r.targets.is_empty() {
        journal.targets.iter().map(|t| t.path.clone()).collect()
    } else if r.targets.len() == journal.targets.len() {
        r.targets.clone()
    } else {
        return Err(Error::Usage(format!(
            "the journal names {} target(s); --target is given {} time(s)",
            journal.targets.len(),
            r.targets.len()
        )));
    };
    let sources: Vec<SharedSource> = paths
        .iter()
        .map(|p| open_source(p, false, &r.tx.access))
        .collect::<Result<_>>()?;
    let mut tx = Transaction::new(journal.purpose.clone(), r.tx.clone());
    let checks = tx.restore(&r.journal, &journal, &paths, &sources, r.force)?;
    let pending: usize = checks.iter().map(|c| c.to_restore()).sum();
    let mut liveness = None;
    let mut restored = 0;
    if r.write && pending > 0 {
        if !r.tx.liveness_interval.is_zero() {
            watch(&mut tx, &paths, &r.tx);
        }
        let done = tx.commit()?;
        liveness = done.liveness;
        restored = done.groups.iter().map(|g| g.writes).sum();
    }
    let targets = checks
        .iter()
        .map(|c| TargetDoc {
            identity_matches: c.identity_matches,
            path: c.path.clone(),
            ranges: c
                .ranges
                .iter()
                .map(|(what, offset, length, st)| RangeDoc {
                    length: *length,
                    offset: *offset,
                    state: state_name(*st),
                    what: what.clone(),
                })
                .collect(),
        })
        .collect();
    Ok(UndoReport {
        created: journal.created,
        exit: 0,
        journal: r.journal.display().to_string(),
        liveness: liveness.as_ref().map(LivenessReport::of),
        purpose: journal.purpose,
        restored,
        targets,
        to_restore: pending,
        written: r.write,
        liveness_text: liveness.as_ref().map(liveness_text),
    })
}

/// Watches the pool's slice of every target (or the whole device when it
/// has no partition table); a target that does not open as a vdev is not
/// watched.
fn watch(tx: &mut Transaction<'_>, paths: &[String], o: &TxOptions) {
    let opts = TargetOptions {
        access: o.access.clone(),
        ..TargetOptions::default()
    };
    for p in paths {
        if let Ok(v) = open_vdev(p, &opts) {
            let start = v.partition.as_ref().map_or(0, |p| p.start);
            tx.watch(p, start, v.source.size(), None);
        }
    }
}

impl UndoReport {
    /// The `kzrescue.undo/1` document (without its `schema`).
    pub fn json(&self) -> Result<serde_json::Value> {
        super::report::sorted_json(self)
    }

    /// Whether this was a dry run with something to restore (it ends
    /// with the dry-run note).
    pub fn dry_run(&self) -> bool {
        !self.written && self.to_restore > 0
    }

    /// The report as text.
    pub fn text(&self) -> String {
        let mut s = format!(
            "journal {} ({}), {} target(s)\n",
            self.journal,
            self.purpose,
            self.targets.len()
        );
        for t in &self.targets {
            let other = " (a different file or device than recorded; --force)";
            let _ = writeln!(
                s,
                "{}{}",
                t.path,
                if t.identity_matches { "" } else { other }
            );
            for r in &t.ranges {
                let _ = writeln!(
                    s,
                    "  {:#x} +{:#x} {}: {}",
                    r.offset, r.length, r.what, r.state
                );
            }
        }
        if let Some(l) = &self.liveness_text {
            s.push_str(l);
        }
        let _ = writeln!(
            s,
            "{}",
            match (self.to_restore, self.written) {
                (0, _) => "nothing to restore: every range already holds its original bytes".into(),
                (_, true) => format!(
                    "restored {} range(s), each flushed and read back",
                    self.restored
                ),
                (n, false) => format!("{n} range(s) would be restored"),
            }
        );
        s
    }
}
