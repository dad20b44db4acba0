//! `kzrescue cat <targets…> DATASET[@SNAP]:/path/file`: a file's bytes on
//! stdout (symlinks print their target), read offline.

use super::datasets::{PoolArgs, open_fs, split_spec};
use super::ls::targets_and_spec;
use kzrescue::zfs::zpl::FileType;
use kzrescue::{Error, Result};
use std::io::Write;

/// Arguments of `kzrescue cat`.
#[derive(clap::Args, Debug)]
pub struct CatArgs {
    /// The pool's devices, then `DATASET[@SNAP]:/path/file`.
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
}

/// Runs the subcommand.
pub fn run(args: &CatArgs) -> Result<u8> {
    let (targets, spec) = targets_and_spec(&args.args);
    let (ds, path) = split_spec(spec);
    let o = args.pool.open(targets)?;
    let fs = open_fs(&o, &ds)?;
    let warned = super::datasets::warn_fs(&fs);
    let obj = fs.lookup(&path)?;
    let (dn, z) = fs.znode(obj)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    match z.file_type() {
        FileType::File if z.size > args.max_file_size => {
            return Err(Error::Refused(format!(
                "{path} claims {} bytes, more than --max-file-size {} (its default is 64G): \
                 pass a larger --max-file-size to stream it",
                z.size, args.max_file_size
            )));
        }
        FileType::File => fs.read_file(&dn, z.size, |b| out.write_all(b))?,
        FileType::Symlink => {
            let t = fs.readlink(&dn, &z)?;
            out.write_all(&t)
                .map_err(|e| Error::io("write stdout", e))?;
        }
        t => return Err(Error::Usage(format!("{path} is a {t:?}, not a file"))),
    }
    out.flush().map_err(|e| Error::io("write stdout", e))?;
    Ok(if warned {
        super::EXIT_PROBLEMS
    } else {
        super::EXIT_OK
    })
}
