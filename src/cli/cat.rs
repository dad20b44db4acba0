//! `kzrescue cat <targets…> DATASET[@SNAP]:/path/file`: a file's bytes on
//! stdout, read offline. A symlink is named as one (exit 2) unless
//! `--follow`, which resolves it inside the dataset only.

use super::datasets::{PoolArgs, notice};
use kzrescue::{Error, Result};
use std::io::Write;

/// Arguments of `kzrescue cat`.
#[derive(clap::Args, Debug)]
pub struct CatArgs {
    /// The pool's devices (image files, block devices or storage URIs), then `DATASET[@SNAP]:/path/file`.
    #[arg(required = true, num_args = 2.., value_name = "TARGET… SPEC")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Refuse a file claiming more than this many bytes (suffixes K, M, G,
    /// T, P, E): a hostile size on a one-block file would stream zeros for
    /// hours. Raise it to read a file that really is that large.
    #[arg(long, value_name = "BYTES", default_value = "64G",
          value_parser = super::bounds::parse_size)]
    pub max_file_size: u64,
    /// Read what a symlink points to, resolved inside the dataset (an
    /// absolute target from the dataset's root, `..` never above it, at
    /// most 40 links) — never a file of the machine running kzrescue.
    #[arg(long)]
    pub follow: bool,
}

/// Runs the subcommand.
pub fn run(args: &CatArgs) -> Result<u8> {
    let (p, warned) = args.pool.place(&args.args)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let (path, max) = (&p.spec.path, args.max_file_size);
    kzrescue::read::cat(&p.fs, path, args.follow, max, &mut notice, &mut out)?;
    out.flush().map_err(|e| Error::io("write stdout", e))?;
    Ok(if warned {
        super::EXIT_PROBLEMS
    } else {
        super::EXIT_OK
    })
}
