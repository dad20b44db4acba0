//! `kzrescue export <targets…> DATASET[@SNAP][:/path] --to DIR | --tar FILE`:
//! copies files out of a dataset or snapshot offline, with modes, owners
//! (when run as root), times and symlinks; a progress bar on stderr. The
//! copy is confined to the destination (see `kzrescue::export` and
//! SECURITY.md): hostile names are refused (or escaped with
//! `--escape-names`), duplicates are not written over, symlinks are never
//! followed.

use super::datasets::PoolArgs;
use indicatif::{ProgressBar, ProgressStyle};
use kzrescue::export::{self, Destination, Options, Request};

use kzrescue::{Error, Result};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `kzrescue export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The pool's devices (image files, block devices or storage URIs), then `DATASET[@SNAP][:/path]`.
    #[arg(required = true, num_args = 2.., value_name = "TARGET… SPEC")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Write the files under this directory (created if missing; must be empty).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "tar",
        required_unless_present = "tar"
    )]
    pub to: Option<PathBuf>,
    /// Write a tar archive instead (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub tar: Option<PathBuf>,
    /// Write names no directory can hold (empty, `.`, `..`, with `/` or NUL)
    /// in an escaped form (`/` → %2F, NUL → %00, `%` → %25, dots → %2E,
    /// empty → %) and report each, instead of refusing them.
    #[arg(long)]
    pub escape_names: bool,
    /// Leave out of a tar archive the contents of files claiming more than
    /// this many bytes (suffixes K, M, G, T; `--to` writes them sparse).
    #[arg(long, value_name = "BYTES", default_value = "64G",
          value_parser = super::bounds::parse_size)]
    pub max_file_size: u64,
    /// Export object N instead of a path (a file lands as `object-N`): a
    /// deleted file of an older state (`--txg`, `@SNAP`), or an orphan.
    #[arg(long, value_name = "N")]
    pub object: Option<u64>,
}

/// The progress bar on stderr.
struct Bar(ProgressBar);

impl export::Progress for Bar {
    fn total(&self, bytes: u64) {
        self.0.set_length(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

fn bar() -> Bar {
    let b = ProgressBar::new(0);
    b.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Bar(b)
}

/// Runs the subcommand.
pub fn run(args: &ExportArgs) -> Result<u8> {
    let (p, warned) = args.pool.place(&args.args)?;
    let req = Request {
        path: &p.spec.path,
        object: args.object,
        opts: Options::for_this_process(args.escape_names, args.max_file_size),
    };
    let pb = bar();
    let dest = match (&args.to, &args.tar) {
        (Some(dir), _) => Destination::Dir(dir),
        (None, Some(t)) if t.as_os_str() == "-" => Destination::Tar(Box::new(|| {
            Ok(Box::new(std::io::BufWriter::new(std::io::stdout())) as Box<dyn Write>)
        })),
        (None, Some(t)) => Destination::tar_file(t),
        (None, None) => return Err(Error::Usage("export needs --to DIR or --tar FILE".into())),
    };
    let o = export::export(&p.fs, &req, dest, &pb)?;
    pb.0.finish_and_clear();
    for e in &o.report.problems {
        eprintln!("kzrescue: {e}");
    }
    eprintln!("kzrescue: {}", o.summary());
    Ok(if o.is_clean() && !warned {
        super::EXIT_OK
    } else {
        super::EXIT_PROBLEMS
    })
}
