//! `kzrescue scan <device>`: every ZFS vdev on a device, found by its
//! labels rather than by the partition table (see `kzrescue::scan` and
//! `formats/scan.md`). Text by default; `--json` prints the library's report
//! (schema `kzrescue.scan/2`). A progress bar goes to stderr on a terminal.
//!
//! Exit status: 0 every vdev found is described by the table and has four
//! labels; 1 something to repair (no table, a disagreeing table, missing
//! labels, a bound hit); 2 an error.

use super::target::parse_sector_size;
use super::{EXIT_OK, EXIT_PROBLEMS};
use indicatif::{ProgressBar, ProgressStyle};
use kzrescue::Result;
use kzrescue::scan::{self, ScanOptions};
use std::io::IsTerminal;

/// Arguments of `kzrescue scan`.
#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// Image file, block device or storage URI (the whole disk).
    pub target: String,
    /// Sector size for the proposed partition entries (512 or 4096); by
    /// default the device's, else the one its GPT remnants use, else 512.
    #[arg(long, value_name = "BYTES", value_parser = parse_sector_size)]
    pub sector_size: Option<u32>,
    /// Print JSON (schema `kzrescue.scan/2`) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A progress bar for a scan on stderr when it is a terminal (else hidden);
/// [`ScanBar::tick`] is the scan's progress callback.
pub struct ScanBar(ProgressBar);

impl Default for ScanBar {
    /// The bar, not yet drawn.
    fn default() -> ScanBar {
        if !std::io::stderr().is_terminal() {
            return ScanBar(ProgressBar::hidden());
        }
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "scan {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        ScanBar(b)
    }
}

impl ScanBar {
    /// `done` of `total` bytes scanned.
    pub fn tick(&self, done: u64, total: u64) {
        self.0.set_length(total);
        self.0.set_position(done);
        if done >= total {
            self.0.finish_and_clear();
        }
    }
}

impl Drop for ScanBar {
    /// Cleared when a scan stops early (an error).
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Runs the subcommand.
pub fn run(a: &ScanArgs) -> Result<u8> {
    let access = super::context::get().access()?;
    let bar = ScanBar::default();
    let opts = ScanOptions {
        sector_size: a.sector_size,
    };
    let r = scan::scan_spec(&a.target, opts, &access, &mut |d, t| bar.tick(d, t))?;
    super::out::print(a.json, scan::SCHEMA, &r.json(&a.target), || {
        r.text(&a.target)
    })?;
    Ok(if r.needs_work() {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    })
}
