//! `kzrescue cat <targets…> DATASET[@SNAP]:/path/file`: a file's bytes on
//! stdout, read offline. A symlink is named as one (exit 2) unless
//! `--follow`, which resolves it inside the dataset only.

use super::datasets::{PoolArgs, notice};
use kzrescue::read::follow;
use kzrescue::zfs::zpl::FileType;
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
    let (fs, path) = (&p.fs, &p.spec.path);
    let (obj, path) = if args.follow {
        follow(fs, path, &mut notice)?
    } else {
        (fs.lookup(path)?, path.clone())
    };
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
            return Err(Error::Usage(format!(
                "{path} is a symbolic link to {}; pass --follow to read what it points to \
                 (resolved inside the dataset)",
                String::from_utf8_lossy(&t)
            )));
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
