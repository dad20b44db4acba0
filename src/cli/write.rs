//! The flags every writing command shares, with one meaning everywhere.
//!
//! Without `--write` a writer only shows what it would write (a dry run,
//! exit 0 when the plan is sound); `--dry-run` says so explicitly and wins
//! over `--write`. Journals go to `--journal-dir` (or
//! `KZRESCUE_JOURNAL_DIR`, or the current directory) under the name
//! [`kzrescue::repair::journal::default_file_name`] gives.

use kzrescue::Result;
use kzrescue::repair::journal;
use kzrescue::repair::transaction::TxOptions;
use std::path::PathBuf;

/// `--dry-run`, `--write`/`-y`, `--journal-dir`, `--liveness-interval`.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Writing")]
pub struct WriteArgs {
    /// Show exactly what would be written, write nothing (the default
    /// without --write).
    #[arg(long)]
    pub dry_run: bool,
    /// Write: preflight, liveness check, undo journal, writes in ZFS order,
    /// flush, read-back (`kzrescue undo JOURNAL --write` restores).
    #[arg(long, short = 'y')]
    pub write: bool,
    /// Directory for the undo journal (also KZRESCUE_JOURNAL_DIR; default:
    /// the current directory). Journals are named
    /// kzrescue-<command>-<name>-<unix seconds>.kzj.
    #[arg(long, value_name = "DIR")]
    pub journal_dir: Option<PathBuf>,
    /// Seconds between the two reads of the uberblock rings that show the
    /// pool quiet on the device (0–3600; 0 skips the check).
    #[arg(long, value_name = "SECS", default_value_t = 3.0, value_parser = super::bounds::parse_interval)]
    pub liveness_interval: f64,
}

impl WriteArgs {
    /// Whether to write (`--write` without `--dry-run`).
    pub fn writing(&self) -> bool {
        self.write && !self.dry_run
    }

    /// The directory journals go to.
    pub fn journal_dir(&self) -> PathBuf {
        self.journal_dir
            .clone()
            .or_else(|| std::env::var_os("KZRESCUE_JOURNAL_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The path of a journal `command` names itself for `name`.
    pub fn journal_path(&self, command: &str, name: &str) -> PathBuf {
        journal::default_path(&self.journal_dir(), command, name)
    }

    /// The transaction options these flags and the global options give.
    pub fn tx_options(&self) -> Result<TxOptions> {
        Ok(TxOptions::from_interval_secs(self.liveness_interval)?
            .with_access(&super::context::get().access()?)
            .with_pause(super::context::get().pause()))
    }

    /// The line a dry run ends with on stderr.
    pub fn dry_run_note(&self) -> &'static str {
        if self.dry_run {
            "dry run: nothing written"
        } else {
            "dry run: nothing written; add --write (-y) to write"
        }
    }
}
