//! `kzrescue datasets <targets…>`: every dataset and snapshot of the pool,
//! like `zdb -d`, read offline; plus the pool-opening helpers the other
//! forensic subcommands share.

use kzrescue::Result;
use kzrescue::forensic::History;
use kzrescue::read::{Notice, PoolOptions, open_pool};
use kzrescue::zfs::spa::OpenPool;

/// The pool's devices: which slice of each disk, and its sector size.
/// Every read command flattens it (through [`PoolArgs`] when it reads one
/// state of the pool).
#[derive(clap::Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Use this Solaris slice on every disk instead of the one ZFS slice.
    #[arg(long, value_name = "N", value_parser = super::bounds::parse_slice)]
    pub slice: Option<u32>,
    /// Logical sector size of the disks (512 or 4096); detected by default.
    #[arg(long, value_name = "BYTES", value_parser = super::target::parse_sector_size)]
    pub sector_size: Option<u32>,
}

impl DeviceArgs {
    /// The library's options for these devices, reading the pool as of
    /// `txg` (the newest state when `None`).
    pub fn options(&self, txg: Option<u64>) -> Result<PoolOptions> {
        Ok(PoolOptions {
            slice: self.slice,
            sector_size: self.sector_size,
            txg,
            access: super::context::get().access()?,
        })
    }

    /// Opens every state of the pool on `targets`; notes go to stderr.
    pub fn history(&self, targets: &[String]) -> Result<History> {
        History::open_targets(targets, &self.options(None)?, &mut notice)
    }
}

/// How to find and open the pool: its devices and the state to read.
#[derive(clap::Args, Debug, Clone)]
pub struct PoolArgs {
    #[command(flatten)]
    pub dev: DeviceArgs,
    /// Read the pool as of this txg (the newest uberblock at or before it).
    #[arg(long, value_name = "N")]
    pub txg: Option<u64>,
}

impl PoolArgs {
    /// The library's options for these arguments.
    pub fn options(&self) -> Result<PoolOptions> {
        self.dev.options(self.txg)
    }

    /// Opens the pool on the devices of `args` ("TARGET… SPEC") and the
    /// file system SPEC names; notes and the file system's warnings go to
    /// stderr (true in the second value when there were warnings).
    pub fn place(&self, args: &[String]) -> Result<(kzrescue::read::Place, bool)> {
        let (targets, spec) = kzrescue::read::split_targets(args);
        let p = kzrescue::read::open_place(targets, spec, &self.options()?, &mut notice)?;
        let warned = !p.fs.warnings.is_empty();
        Ok((p, warned))
    }

    /// Opens every target read-only and assembles the pool; notes and
    /// warnings go to stderr.
    pub fn open(&self, targets: &[String]) -> Result<OpenPool> {
        open_pool(targets, &self.options()?, &mut notice)
    }
}

/// Says a notice of the library on stderr.
pub fn notice(n: Notice) {
    match n {
        Notice::Warning(w) => eprintln!("kzrescue: warning: {w}"),
        Notice::Note(n) => eprintln!("kzrescue: note: {n}"),
        Notice::Problem(e) => eprintln!("kzrescue: {e}"),
    }
}

/// Arguments of `kzrescue datasets`.
#[derive(clap::Args, Debug)]
pub struct DatasetsArgs {
    /// The pool's devices (mirror sides, raidz members, stripes): image
    /// files, block devices or storage URIs.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Print JSON (schema `kzrescue.datasets/2`; integers as strings unless
    /// --json-int).
    #[arg(long)]
    pub json: bool,
}

/// Runs the subcommand.
pub fn run(args: &DatasetsArgs) -> Result<u8> {
    let c = kzrescue::read::catalog(&args.pool.open(&args.targets)?);
    if args.json {
        super::out::print_json("kzrescue.datasets/2", &c.json())?;
    } else {
        super::out::print_text(&c.text())?;
        for e in &c.errors {
            eprintln!("kzrescue: {e}");
        }
    }
    Ok(if c.errors.is_empty() {
        super::EXIT_OK
    } else {
        super::EXIT_PROBLEMS
    })
}
