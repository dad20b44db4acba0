//! The target arguments every disk-reading subcommand shares.

use kzrescue::Result;
use kzrescue::target::{DiskSlice, TargetOptions, open_vdev};

/// A disk or vdev to work on, and how to find the pool slice on it.
#[derive(clap::Args, Debug, Clone)]
pub struct TargetArgs {
    /// Image file, block device or storage URI (file:, dev:, lu:, iscsi:,
    /// nfs:): a whole disk (the ZFS slice is found in its GPT or VTOC) or a
    /// bare vdev.
    pub target: String,
    /// Use this Solaris slice (GPT entry N+1, VTOC slice N) instead of the
    /// one ZFS slice.
    #[arg(long, value_name = "N", value_parser = super::bounds::parse_slice)]
    pub slice: Option<u32>,
    /// Logical sector size of the disk (512 or 4096); detected by default.
    #[arg(long, value_name = "BYTES", value_parser = parse_sector_size)]
    pub sector_size: Option<u32>,
}

// Used by the label, uberblocks and repair subcommands.
#[allow(dead_code)]
impl TargetArgs {
    /// The options these arguments give, with `write` for repairing paths.
    pub fn options(&self, write: bool) -> Result<TargetOptions> {
        Ok(TargetOptions {
            slice: self.slice,
            sector_size: self.sector_size,
            write,
            access: super::context::get().access()?,
        })
    }

    /// Opens the target and resolves its vdev.
    pub fn open(&self, write: bool) -> Result<DiskSlice> {
        let v = open_vdev(&self.target, &self.options(write)?)?;
        if let Some(w) = v.shortfall() {
            eprintln!("kzrescue: warning: {w}");
        }
        Ok(v)
    }
}

/// Accepts 512 and 4096.
pub use kzrescue::partition::parse_sector_size;
